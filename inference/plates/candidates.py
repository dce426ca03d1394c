"""Which lines of an image may be a licence plate together: a plate is one detected line, or two.

A one-row plate is one detected line. A two-row plate (Chinese yellow large-vehicle plates: `粤 B`
small on top, the serial below; older Korean plates: `서울12` over `가3456`) is two lines: a
shorter one just above a longer one, centred over it; the pair is read as one plate, top row
first (joined() for a recogniser that reads each row alone; the Korean one reads the two rows
side by side, as it was trained: korean_model.stack_rows).
"""

from __future__ import annotations

import numpy as np


def extent(box: np.ndarray) -> tuple[float, float, float, float]:
    return float(box[:, 0].min()), float(box[:, 1].min()), float(box[:, 0].max()), float(box[:, 1].max())


def stacked_rows(boxes: np.ndarray) -> list[tuple[int, int]]:
    """(top, bottom) pairs of lines laid out as a two-row plate: the top one no wider, no taller
    than a little over the bottom one, centred over it, and above it. The detector's boxes reach
    past the ink, so on a plate whose rows are set close they overlap: "above" is the centres',
    a quarter of the rows' mean height apart at least (the same line found twice is not a pair)."""
    pairs = []
    bounds = [extent(box) for box in boxes]
    for i, (l1, t1, r1, b1) in enumerate(bounds):
        for j, (l2, t2, r2, b2) in enumerate(bounds):
            if i == j:
                continue
            h1, h2 = b1 - t1, b2 - t2
            centre = (l1 + r1) / 2
            apart = (t2 + b2) / 2 - (t1 + b1) / 2
            if (
                r1 - l1 <= 1.05 * (r2 - l2)
                and l2 <= centre <= r2
                and 0.3 * h2 <= h1 <= 1.2 * h2
                and apart >= 0.25 * (h1 + h2) / 2
                and t2 - b1 <= 0.6 * h2
            ):
                pairs.append((i, j))
    return pairs


def union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    left, top = min(a[:, 0].min(), b[:, 0].min()), min(a[:, 1].min(), b[:, 1].min())
    right, bottom = max(a[:, 0].max(), b[:, 0].max()), max(a[:, 1].max(), b[:, 1].max())
    return np.array([[left, top], [right, top], [right, bottom], [left, bottom]], np.float32)


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over the smaller box (axis-aligned)."""
    (l1, t1, r1, b1), (l2, t2, r2, b2) = extent(a), extent(b)
    inter = max(0.0, min(r1, r2) - max(l1, l2)) * max(0.0, min(b1, b2) - max(t1, t2))
    smaller = min((r1 - l1) * (b1 - t1), (r2 - l2) * (b2 - t2))
    return inter / smaller if smaller > 0 else 0.0


def joined(matrices: list[np.ndarray], pairs: list[tuple[int, int]]) -> list[np.ndarray]:
    """Each pair's CTC matrix made of its rows' own, for a recogniser that reads each row alone
    (PP-OCR's): the top row's time steps, one blank step so that their characters never merge,
    the bottom row's."""
    out = []
    for top, bottom in pairs:
        gap = np.zeros((1, matrices[top].shape[1]), matrices[top].dtype)
        gap[0, 0] = 1.0
        out.append(np.concatenate([matrices[top], gap, matrices[bottom]]))
    return out
