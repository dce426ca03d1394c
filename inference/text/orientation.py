"""Which way up a page is, and its reading order in that direction.

Nothing here looks at pixels: it uses the detected boxes and the line classifier's 0/180
decisions, which the pipeline has anyway, so an upright page costs nothing more.

- Most line length in boxes much taller than wide (crops.is_vertical): the text runs in
  columns. Either the page is turned a quarter (scanned sideways) or it is vertical text
  (signs, book pages, couplets). Both read the same way: crop_line turns each tall strip so
  that its top comes first, and the columns come right to left; a page turned the other
  quarter (its text running bottom to top) has its strips turned upside down, so the line
  classifier flips most of them, and then the columns come left to right, each read bottom
  to top (the classifier's flip already reads it so).
- Otherwise the lines are horizontal: upright (the order detect.reading_order has always
  given), or upside down when the classifier flipped most of the line length, read bottom to
  top and right to left.

The boxes are never moved: only the order changes, and every box stays in the image's pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from .crops import _warp_size, is_vertical, warp
from .detect import reading_order
from .reading import Reading

UPRIGHT, TURNED_RIGHT, UPSIDE_DOWN, TURNED_LEFT = 0, 90, 180, 270
# A box is a column when crops.is_vertical (height >= 1.5 x width); a row when its width is at
# least this many times its height. Squarer boxes (one character) go with whichever the page is.
ROW_RATIO = 1.5


def _shapes(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(is a column, is a row, length along the text) of each box."""
    sizes = np.array([_warp_size(box) for box in boxes], float).reshape(-1, 2)
    width, height = sizes[:, 0], sizes[:, 1]
    return height >= 1.5 * width, width >= ROW_RATIO * height, np.maximum(width, height)


def page_direction(boxes: np.ndarray, flipped: list[bool]) -> int:
    """UPRIGHT, TURNED_RIGHT (the page's top is on the image's right, or vertical text),
    UPSIDE_DOWN or TURNED_LEFT, by a majority of line length."""
    if len(boxes) == 0:
        return UPRIGHT
    columns, _, length = _shapes(boxes)
    turned = np.asarray(flipped, bool)
    if length[columns].sum() > length[~columns].sum():
        return TURNED_LEFT if length[columns & turned].sum() > length[columns].sum() / 2 else TURNED_RIGHT
    return UPSIDE_DOWN if length[~columns & turned].sum() > length[~columns].sum() / 2 else UPRIGHT


def _turned(boxes: np.ndarray, direction: int, height: int, width: int) -> np.ndarray:
    """The boxes' corners as they would be on the page turned upright."""
    x, y = boxes[:, :, 0], boxes[:, :, 1]
    if direction == TURNED_RIGHT:
        x, y = y, width - 1 - x
    elif direction == TURNED_LEFT:
        x, y = height - 1 - y, x
    elif direction == UPSIDE_DOWN:
        x, y = width - 1 - x, height - 1 - y
    return np.stack([x, y], axis=-1)


def page_order(boxes: np.ndarray, direction: int, height: int, width: int) -> list[int]:
    """The boxes' reading order on a page that runs in `direction`.

    Upright and upside-down pages are read as detect.reading_order reads an upright one. On a
    page of columns, rows (horizontal lines: a title over vertical text) that share no height
    with any column are read where they stand, top to bottom; the columns between two such
    rows are read right to left (left to right on a page turned left), each from its top."""
    if direction in (UPRIGHT, UPSIDE_DOWN) or len(boxes) == 0:
        return reading_order(_turned(boxes, direction, height, width))
    columns, rows, _ = _shapes(boxes)
    tops, bottoms = boxes[:, :, 1].min(axis=1), boxes[:, :, 1].max(axis=1)
    centres = (tops + bottoms) / 2
    spans = [(tops[i], bottoms[i]) for i in np.flatnonzero(~rows)]
    alone = [int(i) for i in np.flatnonzero(rows) if not any(t <= centres[i] <= b for t, b in spans)]
    if direction == TURNED_LEFT or not alone:
        # A page scanned sideways has no rows of its own: read it as the upright page.
        return reading_order(_turned(boxes, direction, height, width))
    alone = [alone[i] for i in reading_order(boxes[alone])]
    rest = [i for i in range(len(boxes)) if i not in alone]
    section = {i: sum(centres[r] < centres[i] for r in alone) for i in rest}
    order: list[int] = []
    for k in range(len(alone) + 1):
        members = [i for i in rest if section[i] == k]
        if members:
            order += [members[j] for j in reading_order(_turned(boxes[members], direction, height, width))]
        if k < len(alone):
            order.append(alone[k])
    return order


# cv2.rotate's code that turns a page running in each direction upright.
_UPRIGHT_BY = {
    TURNED_RIGHT: cv2.ROTATE_90_COUNTERCLOCKWISE,
    UPSIDE_DOWN: cv2.ROTATE_180,
    TURNED_LEFT: cv2.ROTATE_90_CLOCKWISE,
}


def turn_upright(image: np.ndarray, direction: int) -> np.ndarray:
    """The image of a page running in `direction`, turned upright."""
    return np.ascontiguousarray(cv2.rotate(image, _UPRIGHT_BY[direction]))


def points_back(points: np.ndarray, direction: int, height: int, width: int) -> np.ndarray:
    """Points (..., 2) on the page turned upright (turn_upright) back in the pixels of the
    original image, `height` x `width`."""
    x, y = points[..., 0], points[..., 1]
    if direction == TURNED_RIGHT:
        x, y = width - 1 - y, x
    elif direction == UPSIDE_DOWN:
        x, y = width - 1 - x, height - 1 - y
    elif direction == TURNED_LEFT:
        x, y = y, height - 1 - x
    return np.stack([x, y], axis=-1)


def column_cells(column: np.ndarray) -> np.ndarray:
    """A column strip (as cut, before crop_line turns it) cut into square cells laid side by
    side: vertical text becomes a row of upright characters; a line of a page turned right
    becomes a row of characters lying on their side, which the recogniser cannot read."""
    height, width = column.shape[:2]
    count = max(1, round(height / max(width, 1)))
    cells = [column[i * height // count : (i + 1) * height // count] for i in range(count)]
    return np.hstack([cv2.resize(cell, (width, width), interpolation=cv2.INTER_AREA) for cell in cells])


# Columns read as rows of upright characters (column_cells) to tell vertical text from a page
# turned right: vertical text reads at 0.73-1.0 that way, a turned page's lines at 0-0.0
# (docs/decisions.md, 2026-12-03, pages read in the direction they run).
VERTICAL_PROBES = 6
VERTICAL_SCORE = 0.5


def is_vertical_text(
    image: np.ndarray, boxes: np.ndarray, read: Callable[[list[np.ndarray]], Sequence[Reading]]
) -> bool:
    """Do the columns on this page hold upright characters (vertical text), not lines of a
    page turned right? `read(strips)`: the recogniser's readings of strips."""
    columns = sorted((box for box in boxes if is_vertical(box)), key=lambda box: -float(np.ptp(box[:, 1])))
    cells = [column_cells(warp(image, box)) for box in columns[:VERTICAL_PROBES]]
    if not cells:
        return False
    return float(np.mean([reading.score for reading in read(cells)])) >= VERTICAL_SCORE
