"""A table's cells filled with our own OCR lines: each character goes to the cell whose grid slot
holds its centre, so a line across a border is split between the cells it crosses; and the
table as HTML. A ruled table's borders are its rules; a structure model's are set in the gaps
of the text first, and do not cut a Latin word."""

from __future__ import annotations

import html

import numpy as np

from ocr_contract.protocol import Line, Table, TableCell

from .structure import Cell, Structure


def _edges(cells: list[Cell], count: int, lo: float, hi: float, axis: int) -> np.ndarray:
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


def inside_share(table: Table, lines: list[Line]) -> float:
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


def filled(
    structure: Structure,
    region: tuple[float, float, float, float],
    lines: list[Line],
    edges: tuple[np.ndarray, np.ndarray] | None = None,
) -> Table:
    """The table with each cell's text: every character of `lines` whose centre is inside the
    region goes to the cell whose grid slot holds its centre, so a line across a border is split
    between the cells it crosses. The grid's borders are `edges` (columns', rows'; a ruled
    table's rules) or, without them, drawn from the cells' boxes (_edges), the column borders
    then moved into the gaps of the text (_columns_between_text) and no Latin word cut
    (_words_whole)."""
    x0, y0, x1, y1 = region
    cells = structure.cells
    if edges is not None:
        col_edges, row_edges = np.asarray(edges[0], float), np.asarray(edges[1], float)
    else:
        col_edges = _edges(cells, structure.columns, x0, x1, axis=0)
        row_edges = _edges(cells, structure.rows, y0, y1, axis=1)
    slot: dict[tuple[int, int], int] = {}
    for n, cell in enumerate(cells):
        for r in range(cell.row, cell.row + cell.row_span):
            for c in range(cell.column, cell.column + cell.col_span):
                slot.setdefault((r, c), n)
    if edges is None:
        col_edges = _columns_between_text(col_edges, row_edges, slot, region, lines)
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
        if edges is None:
            runs = _words_whole(text, runs)
        for n, indices in runs:
            while indices and text[indices[-1]].isspace():
                indices.pop()
            if indices:
                cells[n].pieces.append((order, n, indices))
    out_cells: list[TableCell] = []
    for cell in sorted(cells, key=lambda c: (c.row, c.column)):
        pieces = in_reading_order([_piece(lines[order], indices) for order, _, indices in cell.pieces])
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


def _words_whole(text: str, runs: list[tuple[int, list[int]]]) -> list[tuple[int, list[int]]]:
    """A line's runs of characters by cell, where a border the structure model drew still cuts
    a word of Latin letters or digits (no space, no Chinese character either side of the cut;
    a line longer than its column): the shorter of the two runs joins the longer, so the word
    stays whole. (A rule cuts where it is; a Chinese line has no spaces to part it at.)"""
    runs = [(n, list(indices)) for n, indices in runs]
    i = 0
    while i + 1 < len(runs):
        (a, left), (b, right) = runs[i], runs[i + 1]
        before, after = text[left[-1]], text[right[0]]
        joined = right[0] == left[-1] + 1 and not (
            before.isspace() or after.isspace() or _is_cjk(before) or _is_cjk(after)
        )
        if a != b and joined:
            keep = a if len(left) >= len(right) else b
            runs[i : i + 2] = [(keep, left + right)]
            i = max(0, i - 1)
        else:
            i += 1
    return runs


# What a column border costs where it parts a line between two of its words, against 1 where it
# cuts a word: a line the detector read across two cells is parted at a space, but the border
# goes between two lines where it can.
LINE_PARTED_COST = 0.5


def _spans(
    lines: list[Line], region: tuple[float, float, float, float], row_edges: np.ndarray
) -> list[tuple[float, float, float, int]]:
    """What a column border between the first and last characters' middles of each word and
    each line costs: (first middle, last middle, cost, row), of the lines whose middle is in
    `region`. A word (a run of characters without a space: a Chinese line is one) costs 1, or
    1 - LINE_PARTED_COST in a line of several words, whose whole costs LINE_PARTED_COST."""
    x0, y0, x1, y1 = region
    rows = len(row_edges) - 1
    out: list[tuple[float, float, float, int]] = []
    for line in lines:
        text, chars = line["words"], line.get("chars") or []
        if len(chars) != len(text):
            continue
        words: list[tuple[float, float, float]] = []  # first middle, last middle, vertical middle
        run: list[tuple[float, float, float, float]] = []
        for ch, quad in zip(text + " ", [*chars, None]):
            if quad is not None and not ch.isspace():
                run.append(_quad_extent(quad))
                continue
            if run:
                cy = (min(r[1] for r in run) + max(r[3] for r in run)) / 2
                words.append(((run[0][0] + run[0][2]) / 2, (run[-1][0] + run[-1][2]) / 2, cy))
            run = []
        if not words:
            continue
        cy = float(np.mean([w[2] for w in words]))
        if not (x0 <= (words[0][0] + words[-1][1]) / 2 <= x1 and y0 <= cy <= y1):
            continue
        r = int(np.clip(np.searchsorted(row_edges, cy) - 1, 0, rows - 1))
        if len(words) == 1:
            out.append((words[0][0], words[0][1], 1.0, r))
        else:
            out += [(a, b, 1.0 - LINE_PARTED_COST, r) for a, b, _ in words]
            out.append((words[0][0], words[-1][1], LINE_PARTED_COST, r))
    return out


def _columns_between_text(
    col_edges: np.ndarray,
    row_edges: np.ndarray,
    slot: dict[tuple[int, int], int],
    region: tuple[float, float, float, float],
    lines: list[Line],
) -> np.ndarray:
    """The column borders a structure model's cell boxes give, each moved, within half the
    columns beside it, to where it cuts the least text of the rows where it parts two cells (a
    word cut costs 1, a line parted between its words LINE_PARTED_COST): a border drawn a few
    characters off (the model's boxes are rough) would cut a cell's words in two and hand the
    pieces to the next cell. A border that costs no more than anywhere else stays; one that does
    moves to the middle of the nearest stretch that costs the least."""
    columns, rows = len(col_edges) - 1, len(row_edges) - 1
    spans = _spans(lines, region, row_edges)
    if columns < 2 or not spans:
        return col_edges
    firsts, lasts, costs, span_rows = (np.array(v) for v in zip(*spans))
    out = col_edges.copy()
    for k in range(1, columns):
        parted = np.array([slot.get((r, k - 1)) != slot.get((r, k)) for r in range(rows)])
        mine = parted[span_rows.astype(int)]
        if not mine.any():
            continue
        lo = (col_edges[k - 1] + col_edges[k]) / 2
        hi = (col_edges[k] + col_edges[k + 1]) / 2
        xs = np.append(np.arange(np.ceil(lo), np.floor(hi) + 1), col_edges[k])
        cut = (firsts[mine][:, None] < xs) & (xs < lasts[mine][:, None])
        cost = (cut * costs[mine][:, None]).sum(axis=0)
        least = cost[:-1].min() if len(xs) > 1 else cost[-1]
        if cost[-1] <= least + 1e-9:
            continue
        best, best_distance = col_edges[k], np.inf
        start = None
        for i, low in enumerate(np.append(cost[:-1] <= least + 1e-9, False)):
            if low and start is None:
                start = i
            elif not low and start is not None:
                a, b = xs[start], xs[i - 1]
                distance = max(a - col_edges[k], col_edges[k] - b, 0.0)
                if distance < best_distance:
                    best, best_distance = (a + b) / 2, distance
                start = None
        out[k] = best
    return out


def in_reading_order(pieces: list[Line]) -> list[Line]:
    """A cell's line pieces top to bottom, and left to right where they share a line (their
    middles within half the taller one's height of each other)."""

    def middle(piece: Line) -> float:
        return piece["location"]["top"] + piece["location"]["height"] / 2

    rows: list[list[Line]] = []
    for piece in sorted(pieces, key=middle):
        if rows:
            last = rows[-1][-1]
            reach = max(piece["location"]["height"], last["location"]["height"]) / 2
            if middle(piece) - middle(rows[-1][0]) <= reach:
                rows[-1].append(piece)
                continue
        rows.append([piece])
    return [piece for row in rows for piece in sorted(row, key=lambda p: p["location"]["left"])]


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
