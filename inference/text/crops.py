"""Cutting each detected line out of the image as an upright, straightened strip."""

from __future__ import annotations

import cv2
import numpy as np


def border_colour(image: np.ndarray) -> tuple[float, ...]:
    """The image's likely background colour, per channel (one value for a grey image): the
    median of its outermost pixels."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    return tuple(float(v) for v in np.atleast_1d(np.median(border, axis=0)))


def crop_line(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Perspective-warp the quadrilateral `box` (tl, tr, br, bl) to a rectangle.

    Strips much taller than wide are vertical text: they are turned 90 degrees so that the
    recogniser, which reads left to right, sees the characters in order.
    """
    strip = warp(image, box)
    if is_vertical(box):
        strip = np.ascontiguousarray(np.rot90(strip))  # top to bottom becomes left to right
    return strip


def warp(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The quadrilateral `box` (tl, tr, br, bl) warped to a rectangle, never turned."""
    width, height = _warp_size(box)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(box.astype(np.float32), target)
    return cv2.warpPerspective(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)


def _warp_size(box: np.ndarray) -> tuple[int, int]:
    width = int(max(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[2] - box[3])))
    height = int(max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2])))
    return max(width, 1), max(height, 1)


def is_vertical(box: np.ndarray) -> bool:
    """Does crop_line turn this line's strip (vertical text, read top to bottom)?"""
    width, height = _warp_size(box)
    return height / width >= 1.5


def span_quad(box: np.ndarray, start: float, end: float) -> np.ndarray:
    """The part of a line between fractions `start` and `end` of its reading length, as 4
    corners in the box's own order (tl, tr, br, bl). A line is read along its top edge, or
    down its left edge when its strip was turned (vertical text)."""
    tl, tr, br, bl = box.astype(np.float64)
    if is_vertical(box):
        return np.array([tl + (bl - tl) * start, tr + (br - tr) * start, tr + (br - tr) * end, tl + (bl - tl) * end])
    return np.array([tl + (tr - tl) * start, tl + (tr - tl) * end, bl + (br - bl) * end, bl + (br - bl) * start])


def reframed(box: np.ndarray, ends: float, sides: float) -> np.ndarray:
    """The line's box moved out by `ends` of its thickness at both ends of its text, and by
    `sides` of it on both sides across the text (negative: in), corners in the box's own order.
    A vertical line's text runs down its left edge (span_quad)."""
    tl, tr, br, bl = corners = box.astype(np.float64)
    vertical = is_vertical(box)
    along, across = (bl - tl, tr - tl) if vertical else (tr - tl, bl - tl)
    # Per corner (tl, tr, br, bl): which way it moves along the text and across it.
    along_sign, across_sign = np.array([-1, 1, 1, -1]), np.array([-1, -1, 1, 1])
    if vertical:
        along_sign, across_sign = across_sign, along_sign
    thick = length(box) if vertical else thickness(box)  # across the text
    unit_along = along / max(float(np.linalg.norm(along)), 1e-9)
    unit_across = across / max(float(np.linalg.norm(across)), 1e-9)
    return (
        corners + along_sign[:, None] * unit_along * ends * thick + across_sign[:, None] * unit_across * sides * thick
    )


def fills_image(box: np.ndarray, height: int, width: int) -> bool:
    """Is this line the whole image: a crop someone already made around one line?

    Users send such crops (a plate, a form field, a caption). Read whole, they keep their edge
    pixels; cut along the detected box, whose corners were clipped to the image, they are
    warped into a slanted quadrilateral and often lose their first character. Reading them
    whole takes the plate set from 54.7% to 61.5% exact and crops' CER from 0.82% to 0.76%.

    The line's bounding box must cover 80% of the image and the line itself half of it, so
    that a diagonal line (whose bounding box is the whole image) is still cut out and turned.
    """
    left, top = box.min(axis=0)
    right, bottom = box.max(axis=0)
    image_area = float(height * width)
    bounding_area = float((min(right + 1, width) - max(left, 0)) * (min(bottom + 1, height) - max(top, 0)))
    return bounding_area >= 0.8 * image_area and cv2.contourArea(box.astype(np.float32)) >= 0.5 * image_area


def image_box(height: int, width: int) -> np.ndarray:
    """The whole image as a box (tl, tr, br, bl) for crop_line."""
    return np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)


# A strip cut around one line: its thickest whole line spans at least STRIP_SPAN of its width,
# and it is at most STRIP_LINES times as high as that line (a loose crop has margins of up to
# ~40% of the line height on each side, plus slivers of its neighbours).
STRIP_LINES = 3.0
STRIP_SPAN = 0.6


def length(box: np.ndarray) -> float:
    """A line's extent along its text: the mean length of its top and bottom edges."""
    return float((np.linalg.norm(box[1] - box[0]) + np.linalg.norm(box[2] - box[3])) / 2)


def thickness(box: np.ndarray) -> float:
    """A line's height across its text: the mean length of its left and right edges."""
    return float((np.linalg.norm(box[3] - box[0]) + np.linalg.norm(box[2] - box[1])) / 2)


# A line that may be a cut piece (see edge_fragments) is kept only when read at least this
# surely. Calibrated on the bench (docs/decisions.md, what `score` means), under 0.9 a reading is exact
# at most 64% of the time; the cut pieces of rendered and XFUND crops read 0.61-0.82, the small
# top row of a tight two-row plate 0.93-0.98.
SURE_READING = 0.9


def edge_fragments(boxes: np.ndarray, height: int, width: int, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Which lines are pieces of neighbouring lines that the image's top or bottom edge cut.

    A user's crop of one line (a form field, a receipt line) often takes in a sliver of the
    lines above and below it. The enlarged image makes those strokes detectable, and they are
    read as garbage appended to the answer. Such a piece touches the top or bottom edge and is
    thinner than `ratio` times the thickest line. The rule applies only to a strip cut around a
    line: its thickest line runs across most of the image (`STRIP_SPAN` of its width) and the
    image is under `STRIP_LINES` times as high as that line. In a page or a street photo, a
    thin line at the edge is as likely to be real text (one TD500 photo, a sign taking half its
    height, lost a real line and recall fell 0.951 -> 0.946 without the span condition).

    Returns two masks. `certain`: pieces beside a thickest line that stands clear of the top
    and bottom edges; nothing whole can be that thin and touch the edge there. `unless_sure`:
    pieces in an image whose thickest line touches an edge too (a tight crop, whose margin can be
    thinner than the unclipped box, or a plate). There a thin line at the edge may be whole (the
    small top row of a two-row plate), so it is dropped only if its reading is unsure
    (`SURE_READING`).
    """
    none = np.zeros(len(boxes), bool)
    if len(boxes) < 2:
        return none, none
    tops, bottoms = boxes[:, :, 1].min(axis=1), boxes[:, :, 1].max(axis=1)
    touching = (tops <= 1) | (bottoms >= height - 2)
    thick = np.array([thickness(box) for box in boxes])
    line = int(thick.argmax())
    if height > STRIP_LINES * thick[line] or length(boxes[line]) < STRIP_SPAN * width:
        return none, none
    pieces = touching & (thick < ratio * thick[line])
    if touching[line]:
        return none, pieces
    return pieces, none
