"""The real Chinese tables of `../shared/eval/tables_zh_ctdar` (ICDAR 2019 cTDaR modern pages,
relabelled with cell boxes and adjacency; measure only, never copied here): their ground truth
as tables with rows, columns and spans, the two halves, and the scores (table finding by outline
IoU, cell boxes by F1, structure by TEDS-struct).

Rows, columns and spans from the annotation (it gives each cell's content box and its nearest
neighbours above, below, left and right; no indices): a row border lies between each cell and
the cell below it (between the first's bottom and the second's top), a column border between
each cell and the one to its right. Borders are placed as few as those gaps allow: the gaps are
taken in order of their far end, and each new border is put in the middle of the common part of
all the gaps it serves (interval stabbing). A cell's first row is the number of row borders above
its top, its last the number above its bottom; columns alike; so a cell whose box a border
crosses spans the rows (columns) on both sides. Slots no labelled cell holds are empty 1x1 cells
(the annotation labels no empty cell). `derive` reports the adjacency it could not honour (cells
called neighbours left and right that share no row, two cells on one slot).

Halves: pages in file-name order, the first 52 (all 19 of the Track A test pages, 33 TrainSet
pages) the half the thresholds were chosen on, the last 51 held out.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from bench.metrics import box_iou

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "tables_zh_ctdar"
CHOOSING_PAGES = 52
# Cell text typed by hand for a few held-out tables (the annotation has none): TEDS with text.
TEXT_LABELS = Path(__file__).resolve().parent / "data" / "tables_zh_ctdar_text.json"

Box = tuple[float, float, float, float]  # x0, y0, x1, y1


@dataclass
class TruthCell:
    id: str
    box: Box
    neighbours: dict[str, list[str]]
    row: int = 0
    column: int = 0
    row_span: int = 1
    col_span: int = 1
    text: str = ""  # labelled by hand (TEXT_LABELS), for a few tables only


@dataclass
class TruthTable:
    outline: Box
    cells: list[TruthCell]
    rows: int = 0
    columns: int = 0
    problems: list[str] = field(default_factory=list)
    has_text: bool = False  # its cells' text is labelled (TEXT_LABELS)
    slot_text: dict[tuple[int, int], str] = field(default_factory=dict)  # text where no cell is labelled

    def html(self, text: bool = False) -> str:
        """The table as HTML: every slot once, empty slots as 1x1 cells; with `text`, the labelled
        text without whitespace (no text otherwise)."""
        cells = [(c.row, c.column, c.row_span, c.col_span, _compact(c.text) if text else "") for c in self.cells]
        if text:
            cells += [(r, c, 1, 1, _compact(value)) for (r, c), value in self.slot_text.items()]
        return grid_html(cells, self.rows, self.columns)


def _compact(text: str) -> str:
    return "".join(text.split())


@dataclass
class TruthPage:
    name: str
    image: Path
    tables: list[TruthTable]


def _box(points: str) -> Box:
    pairs = [tuple(float(v) for v in p.split(",")) for p in points.split()]
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    return min(xs), min(ys), max(xs), max(ys)


def _borders(gaps: list[tuple[float, float]]) -> list[float]:
    """The fewest border positions such that every gap (lo, hi) holds one: each border in the
    middle of the common part of the gaps it serves."""
    borders = []
    current: tuple[float, float] | None = None  # the common part of the gaps served so far
    for lo, hi in sorted(gaps, key=lambda g: (g[1], g[0])):
        if current is not None and lo <= current[1]:
            current = (max(current[0], lo), current[1])
            continue
        if current is not None:
            borders.append((current[0] + current[1]) / 2)
        current = (lo, hi)
    if current is not None:
        borders.append((current[0] + current[1]) / 2)
    return sorted(borders)


def _gap(a_far: float, b_near: float) -> tuple[float, float]:
    # Boxes that overlap a little (hand-drawn): the border is where they meet.
    return (a_far, b_near) if a_far <= b_near else ((a_far + b_near) / 2, (a_far + b_near) / 2)


def _next(cell: TruthCell, cells: list[TruthCell], axis: int, across: dict[str, tuple[int, int]] | None) -> set[str]:
    """The cells next below (axis 1) or to the right (axis 0) of `cell` by their boxes: those
    that begin past its middle along the axis, and overlap it across: in pixels, or, given
    `across` (each cell's first and last column, or row), in those; the nearest layer of them."""
    near, far = (1, 3) if axis == 1 else (0, 2)
    side_near, side_far = (0, 2) if axis == 1 else (1, 3)
    middle = (cell.box[near] + cell.box[far]) / 2

    def overlaps(other: TruthCell) -> bool:
        if across is not None:
            (a0, a1), (b0, b1) = across[cell.id], across[other.id]
            return a0 <= b1 and b0 <= a1
        return min(cell.box[side_far], other.box[side_far]) - max(cell.box[side_near], other.box[side_near]) > 0

    found = [
        other
        for other in cells
        if other is not cell
        and other.box[near] > middle
        and (other.box[near] + other.box[far]) / 2 > cell.box[far]
        and overlaps(other)
    ]
    if not found:
        return set()
    first = min(found, key=lambda other: other.box[near])
    return {other.id for other in found if other.box[near] < first.box[far]}


def _place(table: TruthTable, axis: int, across: dict[str, tuple[int, int]] | None) -> dict[str, tuple[int, int]]:
    """Each cell's first and last row (axis 1) or column (axis 0): borders between each cell and
    the next along the axis (the annotation's and _next's), fewest by _borders."""
    by_id = {cell.id: cell for cell in table.cells}
    near, far = (1, 3) if axis == 1 else (0, 2)
    gaps = []
    for cell in table.cells:
        after = {other for other in cell.neighbours.get("B" if axis == 1 else "R", []) if other in by_id}
        after |= _next(cell, table.cells, axis, across)
        gaps += [_gap(cell.box[far], by_id[other].box[near]) for other in after]
    borders = _borders(gaps)
    placed = {}
    for cell in table.cells:
        first = sum(1 for b in borders if b < cell.box[near] + 0.5)
        last = max(first, sum(1 for b in borders if b < cell.box[far] - 0.5))
        placed[cell.id] = (first, last)
    return placed


def derive(table: TruthTable) -> TruthTable:
    """Rows, columns and spans of the table's cells (the module's docstring says how)."""
    by_id = {cell.id: cell for cell in table.cells}
    columns = _place(table, 0, None)
    rows = _place(table, 1, columns)
    columns = _place(table, 0, rows)
    rows = _place(table, 1, columns)
    # A cell with two or more neighbours on one side spans them all.
    for _ in range(2):
        for placed, sides in ((rows, ("L", "R")), (columns, ("T", "B"))):
            for cell in table.cells:
                for side in sides:
                    others = [placed[o] for o in cell.neighbours.get(side, []) if o in by_id]
                    if len(others) >= 2:
                        first, last = placed[cell.id]
                        placed[cell.id] = (min(first, *(o[0] for o in others)), max(last, *(o[1] for o in others)))
    for cell in table.cells:
        cell.row, cell.row_span = rows[cell.id][0], rows[cell.id][1] - rows[cell.id][0] + 1
        cell.column, cell.col_span = columns[cell.id][0], columns[cell.id][1] - columns[cell.id][0] + 1
    table.rows = max((c.row + c.row_span for c in table.cells), default=0)
    table.columns = max((c.column + c.col_span for c in table.cells), default=0)
    problems = []
    taken: dict[tuple[int, int], str] = {}
    for cell in table.cells:
        for r in range(cell.row, cell.row + cell.row_span):
            for c in range(cell.column, cell.column + cell.col_span):
                if (r, c) in taken:
                    problems.append(f"cells {taken[(r, c)]} and {cell.id} on one slot ({r}, {c})")
                taken.setdefault((r, c), cell.id)
        for other_id in cell.neighbours.get("R", []):
            other = by_id.get(other_id)
            if other is None:
                continue
            if other.row > cell.row + cell.row_span - 1 or cell.row > other.row + other.row_span - 1:
                problems.append(f"cells {cell.id} and {other.id}: left and right, in no common row")
    table.problems = problems
    return table


def grid_html(cells: list[tuple[int, int, int, int, str]], rows: int, columns: int) -> str:
    """<table> of `rows` x `columns` slots: (row, column, row_span, col_span, text) cells placed,
    the slots none holds as empty 1x1 cells."""
    import html

    start: dict[tuple[int, int], tuple[int, int, str]] = {}
    covered: set[tuple[int, int]] = set()
    for row, column, row_span, col_span, text in cells:
        if (row, column) in covered:
            continue
        start[(row, column)] = (row_span, col_span, text)
        for r in range(row, row + row_span):
            for c in range(column, column + col_span):
                covered.add((r, c))
    out = ["<table>"]
    for r in range(rows):
        out.append("<tr>")
        for c in range(columns):
            if (r, c) in start:
                row_span, col_span, text = start[(r, c)]
                spans = (f' rowspan="{row_span}"' if row_span > 1 else "") + (
                    f' colspan="{col_span}"' if col_span > 1 else ""
                )
                out.append(f"<td{spans}>{html.escape(text, quote=False)}</td>")
            elif (r, c) not in covered:
                out.append("<td></td>")
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def load(data: Path = DEFAULT_DATA, text_labels: Path = TEXT_LABELS) -> list[TruthPage]:
    """Every page of the set, in file-name order, its tables' structure derived; the text of
    the tables labelled by hand (`text_labels`) put in their cells."""
    items = [json.loads(line) for line in (data / "manifest.jsonl").read_text().splitlines() if line.strip()]
    pages = []
    for item in sorted(items, key=lambda i: Path(i["image"]).name):
        root = ET.parse(data / item["annotation"]).getroot()
        tables = []
        for node in root.findall("table"):
            coords = node.find("Coords")
            assert coords is not None
            cells = []
            for cell in node.findall("cell"):
                cell_coords = cell.find("Coords")
                assert cell_coords is not None
                neighbours: dict[str, list[str]] = {}
                for entry in (cell.get("neighbors") or "").split():
                    other, side = entry.split(":")
                    neighbours.setdefault(side, []).append(other)
                cells.append(TruthCell(cell.get("id") or "", _box(cell_coords.get("points") or ""), neighbours))
            tables.append(derive(TruthTable(_box(coords.get("points") or ""), cells)))
        pages.append(TruthPage(Path(item["image"]).stem, data / item["image"], tables))
    if text_labels.is_file():
        by_name = {page.name: page for page in pages}
        for labelled in json.loads(text_labels.read_text(encoding="utf-8"))["tables"]:
            if labelled["page"] not in by_name:
                continue
            table = by_name[labelled["page"]].tables[labelled["table"]]
            for cell in table.cells:
                cell.text = labelled["cells"].get(cell.id, "")
            for place, value in labelled["slots"].items():
                row, column = (int(v) for v in place.split(","))
                table.slot_text[(row, column)] = value
            table.has_text = True
    return pages


def halves(pages: list[TruthPage]) -> dict[str, list[TruthPage]]:
    """{"choosing": the first CHOOSING_PAGES pages by file name, "held-out": the rest}."""
    ordered = sorted(pages, key=lambda p: p.name)
    return {"choosing": ordered[:CHOOSING_PAGES], "held-out": ordered[CHOOSING_PAGES:]}


# ---- scores ------------------------------------------------------------------------------------


def matched(truth: list[Box], predicted: list[Box], at_least: float) -> list[tuple[int, int, float]]:
    """One-to-one pairs (truth index, predicted index, IoU) with IoU >= at_least, best first."""
    pairs = sorted(((box_iou(t, p), i, j) for i, t in enumerate(truth) for j, p in enumerate(predicted)), reverse=True)
    used_t: set[int] = set()
    used_p: set[int] = set()
    out = []
    for value, i, j in pairs:
        if value < at_least or value <= 0:
            break
        if i in used_t or j in used_p:
            continue
        used_t.add(i)
        used_p.add(j)
        out.append((i, j, value))
    return out


@dataclass
class PredictedCell:
    row: int
    column: int
    row_span: int
    col_span: int
    text: str
    content: Box | None  # the box of the text the cell holds; None when empty
    box: Box | None = None  # the cell's own box (its borders), where the system gives one


@dataclass
class PredictedTable:
    outline: Box
    cells: list[PredictedCell]

    @property
    def rows(self) -> int:
        return max((c.row + c.row_span for c in self.cells), default=0)

    @property
    def columns(self) -> int:
        return max((c.column + c.col_span for c in self.cells), default=0)

    def html(self, text: bool = False) -> str:
        """The table as HTML; with `text`, each cell's text without whitespace."""
        return grid_html(
            [(c.row, c.column, c.row_span, c.col_span, _compact(c.text) if text else "") for c in self.cells],
            self.rows,
            self.columns,
        )

    def as_labelled(self) -> PredictedTable:
        """The table as the annotation can say it: each cell with text spans only the rows and
        columns its text lies in (the annotation gives a merged cell's text box, so a merged
        cell whose text sits in one of its rows reads there as a one-row cell beside empty
        ones), empty cells dropped (the annotation has none)."""
        bands = {axis: _bands(self.cells, axis) for axis in (0, 1)}
        out = []
        for cell in self.cells:
            if cell.content is None:
                continue
            row, row_span = _covered(cell.content, cell.row, cell.row_span, bands[1], 1)
            column, col_span = _covered(cell.content, cell.column, cell.col_span, bands[0], 0)
            out.append(PredictedCell(row, column, row_span, col_span, cell.text, cell.content, cell.box))
        # Rows and columns no text lies in are not there either.
        used_rows = sorted({r for c in out for r in range(c.row, c.row + c.row_span)})
        used_columns = sorted({k for c in out for k in range(c.column, c.column + c.col_span)})
        row_at = {r: n for n, r in enumerate(used_rows)}
        column_at = {k: n for n, k in enumerate(used_columns)}
        for c in out:
            last_row, last_column = row_at[c.row + c.row_span - 1], column_at[c.column + c.col_span - 1]
            c.row, c.column = row_at[c.row], column_at[c.column]
            c.row_span, c.col_span = last_row - c.row + 1, last_column - c.column + 1
        return PredictedTable(self.outline, out)


def _bands(cells: list[PredictedCell], axis: int) -> dict[int, tuple[float, float]]:
    """Each row's (axis 1) or column's (axis 0) extent, from the boxes of the cells that begin
    and end there (the median near and far edge)."""
    import statistics

    near_i, far_i = (1, 3) if axis == 1 else (0, 2)
    near: dict[int, list[float]] = {}
    far: dict[int, list[float]] = {}
    for cell in cells:
        if cell.box is None:
            continue
        start, span = (cell.row, cell.row_span) if axis == 1 else (cell.column, cell.col_span)
        near.setdefault(start, []).append(cell.box[near_i])
        far.setdefault(start + span - 1, []).append(cell.box[far_i])
    return {k: (statistics.median(near[k]), statistics.median(far[k])) for k in near if k in far}


def _covered(content: Box, start: int, span: int, bands: dict[int, tuple[float, float]], axis: int) -> tuple[int, int]:
    """The rows (columns) of start..start+span-1 that the text box lies in: overlapping each by
    at least a third of the smaller of the two; all of them where their extents are not known."""
    if span == 1:
        return start, 1
    lo, hi = (content[1], content[3]) if axis == 1 else (content[0], content[2])
    inside = []
    for k in range(start, start + span):
        if k not in bands:
            return start, span
        a, b = bands[k]
        if min(hi, b) - max(lo, a) >= min(hi - lo, b - a) / 3:
            inside.append(k)
    if not inside:
        return start, span
    return inside[0], inside[-1] - inside[0] + 1


def _poly_box(poly: dict) -> Box:
    xs = [float(v["x"]) for v in poly["vertices"]]
    ys = [float(v["y"]) for v in poly["vertices"]]
    return min(xs), min(ys), max(xs), max(ys)


def _union(boxes: list[Box]) -> Box | None:
    if not boxes:
        return None
    return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


def from_clova(tables: list[dict], dx: float = 0.0, dy: float = 0.0) -> list[PredictedTable]:
    """CLOVA V2 `tables[]` as PredictedTables, moved by (dx, dy) (a crop's place on its page):
    a cell's content box is the union of its cellTextLines' boxes, its text its words'."""
    from inference.layout.cells import _joined

    def moved(box: Box) -> Box:
        return box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy

    out = []
    for table in tables:
        cells = []
        for cell in table["cells"]:
            lines = cell["cellTextLines"]
            content = _union([moved(_poly_box(line["boundingPoly"])) for line in lines])
            text = _joined([" ".join(w["inferText"] for w in line["cellWords"]) for line in lines if line["cellWords"]])
            cells.append(
                PredictedCell(
                    cell["rowIndex"],
                    cell["columnIndex"],
                    cell["rowSpan"],
                    cell["columnSpan"],
                    text,
                    content,
                    moved(_poly_box(cell["boundingPoly"])),
                )
            )
        out.append(PredictedTable(moved(_poly_box(table["boundingPoly"])), cells))
    return out


# ---- scores ------------------------------------------------------------------------------------


@dataclass
class Tally:
    """Counts and sums over a set of tables, for one system."""

    truth_tables: int = 0
    predicted_tables: int = 0
    found: int = 0  # truth tables with a predicted table at outline IoU >= FOUND_IOU (one-to-one)
    truth_cells: int = 0
    predicted_cells: int = 0
    matched_cells: int = 0
    teds_struct: list[float] = field(default_factory=list)
    teds_labelled: list[float] = field(default_factory=list)  # as_labelled's structure
    teds_text: list[float] = field(default_factory=list)  # TEDS with text, on the tables labelled so
    teds_text_labelled: list[float] = field(default_factory=list)  # the same, as_labelled
    ms: list[float] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        for name in ("truth_tables", "predicted_tables", "found", "truth_cells", "predicted_cells", "matched_cells"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.teds_struct += other.teds_struct
        self.teds_labelled += other.teds_labelled
        self.teds_text += other.teds_text
        self.teds_text_labelled += other.teds_text_labelled
        self.ms += other.ms

    @property
    def cell_f1(self) -> float:
        total = self.truth_cells + self.predicted_cells
        return 2 * self.matched_cells / total if total else 0.0


FOUND_IOU = 0.8


def _inside(point: tuple[float, float], box: Box) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def _centre(box: Box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def matched_cells(truth: list[Box], predicted: list[Box]) -> int:
    """Cells matched one-to-one, a pair when each box's centre lies inside the other (nearest
    centres first). Not IoU: a predicted cell's text box is the OCR lines' (a few pixels of
    padding round the ink), the labelled one is tight, and a one-digit cell's IoU falls under 0.5
    for the padding alone; a cell merged with its neighbour, or cut in two, still fails."""
    pairs = []
    for i, t in enumerate(truth):
        ct = _centre(t)
        for j, p in enumerate(predicted):
            cp = _centre(p)
            if _inside(ct, p) and _inside(cp, t):
                pairs.append(((ct[0] - cp[0]) ** 2 + (ct[1] - cp[1]) ** 2, i, j))
    used_t: set[int] = set()
    used_p: set[int] = set()
    for _, i, j in sorted(pairs):
        if i not in used_t and j not in used_p:
            used_t.add(i)
            used_p.add(j)
    return len(used_t)


def score(truth: list[TruthTable], predicted: list[PredictedTable], whole_page: bool) -> Tally:
    """One page's (or one crop's) tables scored: finding (pages only), cells, TEDS-struct.

    Cells: every non-empty predicted cell's text box against every labelled cell's box, one-to-
    one (matched_cells). TEDS-struct: each truth table against the predicted table whose
    outline overlaps it most (on a crop: the predicted table holding most cells), an empty table
    when there is none."""
    from .teds import teds

    tally = Tally(truth_tables=len(truth), predicted_tables=len(predicted))
    if whole_page:
        tally.found = len(matched([t.outline for t in truth], [p.outline for p in predicted], FOUND_IOU))
    truth_boxes = [c.box for t in truth for c in t.cells]
    predicted_boxes = [c.content for p in predicted for c in p.cells if c.content is not None]
    tally.truth_cells, tally.predicted_cells = len(truth_boxes), len(predicted_boxes)
    tally.matched_cells = matched_cells(truth_boxes, predicted_boxes)
    for table in truth:
        if whole_page:
            overlaps = [(box_iou(table.outline, p.outline), n) for n, p in enumerate(predicted)]
            best = max(overlaps, default=(0.0, -1))
            chosen = predicted[best[1]] if best[0] > 0 else None
        else:
            chosen = max(predicted, key=lambda p: len(p.cells), default=None)
        tally.teds_struct.append(teds(chosen.html() if chosen else "<table></table>", table.html(), True))
        labelled = chosen.as_labelled().html() if chosen else "<table></table>"
        tally.teds_labelled.append(teds(labelled, table.html(), True))
        if table.has_text:
            tally.teds_text.append(teds(chosen.html(text=True) if chosen else "<table></table>", table.html(text=True)))
            labelled = chosen.as_labelled().html(text=True) if chosen else "<table></table>"
            tally.teds_text_labelled.append(teds(labelled, table.html(text=True)))
    return tally


# ---- the systems, on pages and crops -----------------------------------------------------------

CROP_MARGIN = 0.02  # a crop is the table's outline and this share of its size round it (10 px at least)


def crop_box(outline: Box, width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = outline
    margin = max(10.0, CROP_MARGIN * max(x1 - x0, y1 - y0))
    return (
        int(max(0, x0 - margin)),
        int(max(0, y0 - margin)),
        int(min(width, x1 + margin)),
        int(min(height, y1 + margin)),
    )


def lines_from_clova(fields: list[dict]) -> list[tuple[list[list[float]], str, float]]:
    """A CLOVA V2 answer's words joined back into lines (a line ends at lineBreak): (4 corners,
    text, score), as rapid-table takes OCR lines."""
    out = []
    words: list[dict] = []
    for word in fields:
        words.append(word)
        if word.get("lineBreak", True):
            boxes = [_poly_box(w["boundingPoly"]) for w in words]
            x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
            x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
            text = " ".join(w["inferText"] for w in words)
            score = sum(w["inferConfidence"] for w in words) / len(words)
            out.append(([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], text, score))
            words = []
    return out


def rapid_table_tables(reference, image, ocr: list, dx: float = 0.0, dy: float = 0.0) -> list[PredictedTable]:
    """rapid-table's own pipeline (RapidTable 0.3.0: SLANet-plus on the whole image, its matcher)
    given OCR lines, as one PredictedTable moved by (dx, dy): its cells in HTML order with their
    spans placed as HTML places them, each cell's text box the union of the OCR lines its matcher
    gave it, its own box the structure model's."""
    import copy

    if not ocr:
        return []
    height, width = image.shape[:2]
    dt_boxes, rec_res = reference.get_boxes_recs(ocr, height, width)
    structures, cell_boxes, _ = reference.table_structure(copy.deepcopy(image))
    cell_boxes = reference.adapt_slanet_plus(image, cell_boxes)
    matcher = reference.table_matcher
    if matcher.filter_ocr_result:
        dt_boxes, rec_res = matcher._filter_ocr_result(cell_boxes, dt_boxes, rec_res)
    assigned = matcher.match_result(dt_boxes, cell_boxes)
    opened: list[int] | None = None
    order: list[list[int]] = []  # row, row span, column span, index of the cell's box
    row = -1
    for tag in structures:
        if tag == "<tr>":
            row += 1
        elif tag in ("<td></td>", "<td"):
            opened = [max(row, 0), 1, 1, len(order)]
            order.append(opened)
        elif "span=" in tag and opened is not None:
            count = max(1, int(tag.split('"')[1]))
            opened[2 if "colspan" in tag else 1] = count
        elif tag == "</td>":
            opened = None
    taken: set[tuple[int, int]] = set()
    cells = []
    for r, row_span, col_span, index in order:
        column = 0
        while (r, column) in taken:
            column += 1
        for i in range(r, r + row_span):
            for j in range(column, column + col_span):
                taken.add((i, j))
        lines = assigned.get(index, [])
        content = _union(
            [
                (
                    float(dt_boxes[k][0]) + dx,
                    float(dt_boxes[k][1]) + dy,
                    float(dt_boxes[k][2]) + dx,
                    float(dt_boxes[k][3]) + dy,
                )
                for k in lines
            ]
        )
        box = None
        if index < len(cell_boxes):
            xs, ys = [float(v) for v in cell_boxes[index][0::2]], [float(v) for v in cell_boxes[index][1::2]]
            box = (min(xs) + dx, min(ys) + dy, max(xs) + dx, max(ys) + dy)
        text = "".join(rec_res[k][0] for k in lines)
        cells.append(PredictedCell(r, column, row_span, col_span, text, content, box))
    return [PredictedTable((dx, dy, dx + width, dy + height), cells)] if cells else []
