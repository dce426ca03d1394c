"""Licence plates among the lines the detector found: which lines (and pairs of lines) may be a
plate, and which readings to answer. The reading itself is plate_grammar.py's.

A one-row plate is one detected line. A two-row plate (yellow large-vehicle plates: `粤 B` small
on top, the serial below) is two lines: a shorter one just above a longer one, centred over it;
the pair is read as one plate, its top row's time steps first.
"""
from __future__ import annotations

import numpy as np

from .plate_grammar import PlateDecoder, PlateReading

# A plate is answered when its constrained path's conf reaches this (plate_grammar.py): text
# that is not a plate has no likely legal path. Chosen on the EasyPR street photos: README,
# "Vehicle plates".
MIN_CONF = 0.5


def _bounds(box: np.ndarray) -> tuple[float, float, float, float]:
    return float(box[:, 0].min()), float(box[:, 1].min()), float(box[:, 0].max()), float(box[:, 1].max())


def stacked_rows(boxes: np.ndarray) -> list[tuple[int, int]]:
    """(top, bottom) pairs of lines laid out as a two-row plate."""
    pairs = []
    bounds = [_bounds(box) for box in boxes]
    for i, (l1, t1, r1, b1) in enumerate(bounds):
        for j, (l2, t2, r2, b2) in enumerate(bounds):
            if i == j:
                continue
            h1, h2 = b1 - t1, b2 - t2
            centre = (l1 + r1) / 2
            if (r1 - l1 < r2 - l2 and l2 <= centre <= r2 and 0.3 * h2 <= h1 <= 1.2 * h2
                    and -0.3 * h2 <= t2 - b1 <= 0.6 * h2):
                pairs.append((i, j))
    return pairs


def _union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    left, top = min(a[:, 0].min(), b[:, 0].min()), min(a[:, 1].min(), b[:, 1].min())
    right, bottom = max(a[:, 0].max(), b[:, 0].max()), max(a[:, 1].max(), b[:, 1].max())
    return np.array([[left, top], [right, top], [right, bottom], [left, bottom]], np.float32)


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over the smaller box (axis-aligned)."""
    (l1, t1, r1, b1), (l2, t2, r2, b2) = _bounds(a), _bounds(b)
    inter = max(0.0, min(r1, r2) - max(l1, l2)) * max(0.0, min(b1, b2) - max(t1, t2))
    smaller = min((r1 - l1) * (b1 - t1), (r2 - l2) * (b2 - t2))
    return inter / smaller if smaller > 0 else 0.0


def read(decoder: PlateDecoder, boxes: np.ndarray, matrices: list[np.ndarray]) -> list[tuple[PlateReading, np.ndarray]]:
    """The plates among the lines (boxes and their CTC matrices, in the same order): most
    confident first, one per place (a two-row pair and its rows are one place)."""
    candidates = list(zip(boxes, matrices))
    for top, bottom in stacked_rows(boxes):
        gap = np.zeros((1, matrices[top].shape[1]), matrices[top].dtype)
        gap[0, 0] = 1.0  # one blank step between the rows: their characters never merge
        candidates.append((_union(boxes[top], boxes[bottom]), np.concatenate([matrices[top], gap, matrices[bottom]])))
    readings = []
    for box, matrix in candidates:
        reading = decoder.decode(matrix)
        if reading is not None and reading.conf >= MIN_CONF:
            readings.append((reading, box))
    readings.sort(key=lambda item: -item[0].conf)
    kept: list[tuple[PlateReading, np.ndarray]] = []
    for reading, box in readings:
        if all(_overlap(box, other) < 0.5 for _, other in kept):
            kept.append((reading, box))
    return kept
