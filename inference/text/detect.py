"""Text detection: PP-OCR's DB model and its box post-processing.

The input is resized so that its longest side is at most `max_side` (large pages are not
upscaled for nothing, which is what makes us several times faster than rapidocr's default
`min 736` policy) and small inputs are enlarged until text has enough pixels to be found
(a 94x24 plate crop holds characters ~15 px high, under what the detector was trained on).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ocr_contract.limits import DETECTOR_MAX_SIDE_PX

from .crops import border_colour


@dataclass(frozen=True)
class DetectionConfig:
    max_side: int = DETECTOR_MAX_SIDE_PX  # longest side fed to the detector
    min_side: int = 96  # shorter side of small images is enlarged to at least this
    thresh: float = 0.3  # probability above which a pixel is text
    box_thresh: float = 0.5  # mean probability a box must reach
    unclip_ratio: float = 1.7  # how far the shrunk DB kernels are grown back; rapidocr's 1.6 measured
    # worse on all four sets of `make bench` (TD500 0.946 against 0.951)
    max_candidates: int = 1000
    pad: int = 16  # border added around small images; text touching the edge is missed
    shape_step: int = 32  # input sides are padded to a multiple of this: 32 is what the
    # network needs; a larger step gives fewer distinct input shapes


@dataclass(frozen=True)
class Resize:
    scale: float  # detector pixels per original pixel, the same on both axes
    pad: int  # border on the top and left (right and bottom also get what reaches a multiple of 32)
    inner_h: int  # the scaled image inside the border
    inner_w: int
    out_h: int  # detector input size, multiples of 32 as the network needs
    out_w: int


def _ceil(value: float, step: int = 32) -> int:
    return max(step, int(math.ceil(value / step)) * step)


def plan_resize(height: int, width: int, cfg: DetectionConfig) -> Resize:
    """Scale keeping the aspect ratio; the network's multiple-of-32 sizes come from padding.

    (Rounding the size itself instead, as PaddleOCR does, squashes short strips: a 38 px
    high line scaled and rounded can lose a third of its height.)
    """
    scale = min(1.0, cfg.max_side / max(height, width))
    pad = 0
    if min(height, width) * scale < cfg.min_side:
        # Small input: enlarge it (within max_side) and give it a border.
        scale = min(cfg.min_side / min(height, width), cfg.max_side / max(height, width))
        pad = cfg.pad
    inner_h = max(1, int(round(height * scale)))
    inner_w = max(1, int(round(width * scale)))
    step = max(32, cfg.shape_step // 32 * 32)
    return Resize(scale, pad, inner_h, inner_w, _ceil(inner_h + 2 * pad, step), _ceil(inner_w + 2 * pad, step))


def _background(image: np.ndarray) -> tuple[int, ...]:
    """The image's likely background colour (crops.border_colour), in whole levels."""
    return tuple(int(v) for v in border_colour(image))


def preprocess(image: np.ndarray, plan: Resize) -> np.ndarray:
    inner_h, inner_w = plan.inner_h, plan.inner_w
    resized = cv2.resize(image, (inner_w, inner_h), interpolation=cv2.INTER_LINEAR)
    # Pad with the background colour: replicating edge pixels would smear text touching the
    # edge into long false strokes.
    canvas = np.empty((plan.out_h, plan.out_w, 3), np.uint8)
    canvas[:] = _background(image)
    canvas[plan.pad : plan.pad + inner_h, plan.pad : plan.pad + inner_w] = resized
    # (x / 255 - 0.5) / 0.5, channels first, batch of one.
    blob = canvas.astype(np.float32) * (2.0 / 255.0) - 1.0
    return blob.transpose(2, 0, 1)[None]


def _mini_box(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Minimum-area rectangle of a point set: 4 corners from top-left clockwise, and its short side."""
    rect = cv2.minAreaRect(points)
    corners = cv2.boxPoints(rect)
    return order_corners(corners), min(rect[1])


def order_corners(corners: np.ndarray) -> np.ndarray:
    """Order 4 points as top-left, top-right, bottom-right, bottom-left."""
    by_x = corners[np.argsort(corners[:, 0], kind="stable")]
    left = by_x[:2][np.argsort(by_x[:2, 1], kind="stable")]
    right = by_x[2:][np.argsort(by_x[2:, 1], kind="stable")]
    return np.array([left[0], right[0], right[1], left[1]], dtype=np.float32)


def _box_score(prob: np.ndarray, box: np.ndarray) -> float:
    """Mean text probability inside the box (DB's 'fast' score)."""
    h, w = prob.shape
    x0 = int(np.clip(np.floor(box[:, 0].min()), 0, w - 1))
    x1 = int(np.clip(np.ceil(box[:, 0].max()), 0, w - 1))
    y0 = int(np.clip(np.floor(box[:, 1].min()), 0, h - 1))
    y1 = int(np.clip(np.ceil(box[:, 1].max()), 0, h - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    cv2.fillPoly(mask, [(box - [x0, y0]).astype(np.int32)], 1)
    return cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], mask)[0]


def _unclip(box: np.ndarray, ratio: float) -> tuple[np.ndarray, float]:
    """Grow a rectangle outwards by DB's offset distance area * ratio / perimeter.

    DB offsets the polygon with round joins and takes the minimum-area rectangle of the result;
    for a rectangle that is the same rectangle grown by the distance on every side.
    """
    width = float(np.linalg.norm(box[1] - box[0]))
    height = float(np.linalg.norm(box[3] - box[0]))
    if width <= 0 or height <= 0:
        return box, 0.0
    distance = width * height * ratio / (2 * (width + height))
    centre = box.mean(axis=0)
    along = (box[1] - box[0]) / width
    across = (box[3] - box[0]) / height
    half_w = width / 2 + distance
    half_h = height / 2 + distance
    grown = np.array(
        [
            centre - along * half_w - across * half_h,
            centre + along * half_w - across * half_h,
            centre + along * half_w + across * half_h,
            centre - along * half_w + across * half_h,
        ],
        dtype=np.float32,
    )
    return order_corners(grown), min(width, height) + 2 * distance


def postprocess(prob_map: np.ndarray, plan: Resize, height: int, width: int, cfg: DetectionConfig):
    """DB probability map -> (boxes (N,4,2) float32 in original pixels, scores)."""
    prob = prob_map[0, 0]
    bitmap = cv2.dilate((prob > cfg.thresh).astype(np.uint8), np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    boxes, scores = [], []
    for contour in contours[: cfg.max_candidates]:
        box, short_side = _mini_box(contour.reshape(-1, 2).astype(np.float32))
        if short_side < 3:
            continue
        score = _box_score(prob, box)
        if score < cfg.box_thresh:
            continue
        box, short_side = _unclip(box, cfg.unclip_ratio)
        if short_side < 5:
            continue
        box = (box - plan.pad) / plan.scale
        box[:, 0] = np.clip(box[:, 0], 0, width - 1)
        box[:, 1] = np.clip(box[:, 1], 0, height - 1)
        box = np.round(box)
        box = order_corners(box)
        if np.linalg.norm(box[0] - box[1]) <= 3 or np.linalg.norm(box[0] - box[3]) <= 3:
            continue
        boxes.append(box)
        scores.append(float(score))
    if not boxes:
        return np.zeros((0, 4, 2), np.float32), []
    return np.stack(boxes), scores


def reading_order(boxes: np.ndarray) -> list[int]:
    """Indices of boxes top to bottom, then left to right within a line.

    Boxes join a line when their vertical centre falls inside the line's first box, so the
    grouping scales with the text size (a fixed pixel tolerance breaks on large or small text).
    """
    if len(boxes) == 0:
        return []
    tops = boxes[:, :, 1].min(axis=1)
    bottoms = boxes[:, :, 1].max(axis=1)
    centres = (tops + bottoms) / 2
    lefts = boxes[:, :, 0].min(axis=1)
    order = sorted(range(len(boxes)), key=lambda i: (tops[i], lefts[i]))
    lines: list[list[int]] = []
    for i in order:
        if lines:
            anchor = lines[-1][0]
            half = (bottoms[anchor] - tops[anchor]) / 2
            if abs(centres[i] - centres[anchor]) < max(half, 1) * 0.8:
                lines[-1].append(i)
                continue
        lines.append([i])
    return [i for line in lines for i in sorted(line, key=lambda j: lefts[j])]
