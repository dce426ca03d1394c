"""A table's rows and cells as SLANet-plus decodes them (its HTML tokens and cell boxes), before
any text is put in them (cells.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Cell:
    row: int
    row_span: int = 1
    col_span: int = 1
    column: int = 0
    box: np.ndarray | None = None  # 4 corners in page pixels, as the model drew it
    pieces: list[tuple[int, int, list[int]]] = field(default_factory=list)  # (order, line, char indices)


@dataclass
class Structure:
    """A table's rows and cells as the structure model decoded them."""

    cells: list[Cell]
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
    cells: list[Cell] = []
    row = -1
    open_cell: Cell | None = None
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
            cell = Cell(row=row, box=to_page(boxes[step]))
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
