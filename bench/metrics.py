"""Scoring helpers, as ../shared/eval/README.md advises: NFKC, whitespace stripped."""

from __future__ import annotations

import unicodedata
from collections import Counter

import cv2
import numpy as np


def normalise(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def normalise_plate(text: str) -> str:
    # The plate's printed separator dot is not part of the label, whichever glyph it is read as.
    return normalise(text).replace("·", "").replace(".", "").replace("-", "")


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        diagonal, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (ca != cb))
    return row[-1]


def char_prf(predicted: str, reference: str) -> tuple[int, int, int]:
    """(matched, predicted, reference) character counts, as multisets."""
    p, r = Counter(predicted), Counter(reference)
    return sum((p & r).values()), sum(p.values()), sum(r.values())


def pooled_f1(pairs: list[tuple[str, str]]) -> float:
    """Character F1 over (predicted, reference) pairs, counts pooled before the ratio: long
    pages weigh more than short ones. Both sides normalised (normalise)."""
    matched = predicted = reference = 0
    for got, want in pairs:
        m, p, r = char_prf(normalise(got), normalise(want))
        matched, predicted, reference = matched + m, predicted + p, reference + r
    precision, recall = matched / max(predicted, 1), matched / max(reference, 1)
    return 2 * precision * recall / max(precision + recall, 1e-9)


def covered(gt_polygon, predicted_polygons, height: int, width: int, at_least: float = 0.5) -> bool:
    """Is at least `at_least` of the ground-truth polygon's area inside the predicted boxes?"""
    gt = np.zeros((height, width), np.uint8)
    cv2.fillPoly(gt, [np.round(np.asarray(gt_polygon)).astype(np.int32)], 1)
    area = int(gt.sum())
    if area == 0 or not predicted_polygons:
        return False
    pred = np.zeros_like(gt)
    # One polygon per call: given several at once, fillPoly applies an even-odd rule and leaves
    # the overlap of two predicted boxes empty.
    for polygon in predicted_polygons:
        cv2.fillPoly(pred, [np.round(np.asarray(polygon)).astype(np.int32)], 1)
    return int((gt & pred).sum()) >= at_least * area


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two boxes (x0, y0, x1, y1); 0 when both are empty."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
