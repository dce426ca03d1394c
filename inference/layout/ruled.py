"""A page's rules, found once, and the tables they make: the grid at each of the layout model's
regions, grown to the table's outer rules; the grids no region found; a region's outline set on
the rules at its top and bottom (a three-line table); and whether the text inside a grid shows
rows or columns its rules do not (a table ruled in part, left to the structure model).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .rules import RULE_MIN_UNITS, Grid, Segment, grid_of, ink, rule_lines, segments

# A stroke shorter than a rule (RULE_MIN_UNITS) is one when both its ends meet rules across it,
# and it is at least this many text heights long.
SHORT_RULE_UNITS = 0.6
# ... on paper at least this light beside it (0-255).
PAPER_GRAY = 200
# A region's rules are those within this many text heights of it (the model's box falls short
# of a table's rules as often as it reaches past them; rules reached through crossings count), and every rule connected
# to them through crossings (the table's outer rules where the region falls short of them), as
# long as what they outline stays within this many times the region's area.
REGION_REACH_UNITS = 0.5
# A table the structure model reads has its top and bottom set on horizontal rules this near its
# region's edges (this many text heights) that run across this share of it.
OUTLINE_REACH_UNITS = 1.5
OUTLINE_ACROSS = 0.7
OUTLINE_BEYOND = 0.1  # and reach past its sides by no more than this share of its width (3 text
# heights at least): not a page's frame, nor the dark edge of a scan
GROWTH_AREA = 4.0


def _meets(stroke: Segment, across: list[Segment], slack: float) -> bool:
    """Does each end of `stroke` run into one of the rules across it (its ink touching the
    rule's: a stroke of text stops short)?"""

    def met(at: float) -> bool:
        return any(abs(at - a.pos) <= a.thick / 2 + 2 and a.lo - slack <= stroke.pos <= a.hi + slack for a in across)

    return met(stroke.lo) and met(stroke.hi)


def _on_paper(gray: np.ndarray, stroke: Segment, horizontal: bool) -> bool:
    """Is the stroke drawn on light paper: the pixels a few away on either side mostly light?"""
    height, width = gray.shape[:2]
    lo, hi = int(stroke.lo), int(stroke.hi) + 1
    sides = []
    for offset in (-5, -4, 4, 5):
        at = int(round(stroke.pos)) + offset
        if horizontal and 0 <= at < height:
            sides.append(gray[at, lo:hi])
        elif not horizontal and 0 <= at < width:
            sides.append(gray[lo:hi, at])
    return bool(sides) and float(np.median(np.concatenate(sides))) >= PAPER_GRAY


@dataclass
class PageRules:
    """The rule strokes of a whole page, found once: the grids at the layout model's regions,
    grown to the tables' outer rules, and the grids no region found."""

    horizontal: list[Segment]
    vertical: list[Segment]
    unit: float

    @classmethod
    def of(cls, image: np.ndarray, unit: float) -> PageRules:
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        dark = ink(gray, unit)
        horizontal, vertical = segments(dark, unit, True), segments(dark, unit, False)
        # Rules shorter than that (the sides of a low row, the rule under a narrow header) are
        # told from strokes of text by their ends, each meeting a long rule across it, and by
        # the paper round them (in a shaded band, the edges of light letters meet its edges too).
        short = max(8, int(SHORT_RULE_UNITS * unit))
        slack = max(4.0, 0.5 * unit)
        extra_v = [
            v
            for v in segments(dark, unit, False, short)
            if v.hi - v.lo < RULE_MIN_UNITS * unit and _meets(v, horizontal, slack) and _on_paper(gray, v, False)
        ]
        extra_h = [
            h
            for h in segments(dark, unit, True, short)
            if h.hi - h.lo < RULE_MIN_UNITS * unit and _meets(h, vertical, slack) and _on_paper(gray, h, True)
        ]
        return cls(horizontal + extra_h, vertical + extra_v, unit)

    @property
    def slack(self) -> float:
        return max(4.0, 0.5 * self.unit)

    def _touch(self, h: Segment, v: Segment) -> bool:
        s = self.slack
        return h.lo - s <= v.pos <= h.hi + s and v.lo - s <= h.pos <= v.hi + s

    def _connected(self, hs: set[int], vs: set[int]) -> tuple[set[int], set[int]]:
        """The strokes reached from hs and vs through crossings."""
        hs, vs = set(hs), set(vs)
        todo = [("h", i) for i in hs] + [("v", i) for i in vs]
        while todo:
            kind, i = todo.pop()
            if kind == "h":
                for j, v in enumerate(self.vertical):
                    if j not in vs and self._touch(self.horizontal[i], v):
                        vs.add(j)
                        todo.append(("v", j))
            else:
                for j, h in enumerate(self.horizontal):
                    if j not in hs and self._touch(h, self.vertical[i]):
                        hs.add(j)
                        todo.append(("h", j))
        return hs, vs

    def _extent(self, hs: set[int], vs: set[int]) -> tuple[float, float, float, float]:
        xs = [self.horizontal[i].lo for i in hs] + [self.horizontal[i].hi for i in hs]
        xs += [self.vertical[i].pos for i in vs]
        ys = [self.vertical[i].lo for i in vs] + [self.vertical[i].hi for i in vs]
        ys += [self.horizontal[i].pos for i in hs]
        return min(xs), min(ys), max(xs), max(ys)

    def _grids(self, hs: set[int], vs: set[int]) -> list[Grid]:
        return grid_of(
            rule_lines([self.horizontal[i] for i in hs], self.unit),
            rule_lines([self.vertical[i] for i in vs], self.unit),
            self.unit,
        )

    def grid_at(self, box: tuple[float, float, float, float]) -> Grid | None:
        """The grid of the table in `box` (page pixels): the rules inside it, grown to every rule
        connected to them."""
        reach = REGION_REACH_UNITS * self.unit
        x0, y0, x1, y1 = box[0] - reach, box[1] - reach, box[2] + reach, box[3] + reach

        def inside(s: Segment, lo: float, hi: float, pos_lo: float, pos_hi: float) -> bool:
            overlap = min(s.hi, hi) - max(s.lo, lo)
            return pos_lo <= s.pos <= pos_hi and overlap >= 0.5 * (s.hi - s.lo)

        hs = {i for i, h in enumerate(self.horizontal) if inside(h, x0, x1, y0, y1)}
        vs = {i for i, v in enumerate(self.vertical) if inside(v, y0, y1, x0, x1)}
        if not hs:
            return None
        grown_h, grown_v = self._connected(hs, vs)
        gx0, gy0, gx1, gy1 = self._extent(grown_h, grown_v)
        if (gx1 - gx0) * (gy1 - gy0) <= GROWTH_AREA * max(1.0, (box[2] - box[0]) * (box[3] - box[1])):
            hs, vs = grown_h, grown_v
        grids = self._grids(hs, vs)
        return max(grids, key=lambda g: _overlap(g.box, box), default=None)

    def outline(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """A table region's box set on the table's rules: its top and bottom on the horizontal
        rules within OUTLINE_REACH_UNITS text heights of them that run across most of it (a
        three-line table's), its sides where those rules end; unchanged where there are none."""
        x0, y0, x1, y1 = box
        reach = OUTLINE_REACH_UNITS * self.unit
        beyond = max(3 * self.unit, OUTLINE_BEYOND * (x1 - x0))
        across = [
            h
            for h in self.horizontal
            if min(h.hi, x1) - max(h.lo, x0) >= OUTLINE_ACROSS * (x1 - x0)
            and h.lo >= x0 - beyond
            and h.hi <= x1 + beyond
        ]
        top = min(across, key=lambda h: abs(h.pos - y0), default=None)
        bottom = min(across, key=lambda h: abs(h.pos - y1), default=None)
        used = []
        if top is not None and abs(top.pos - y0) <= reach:
            used.append(top)
        if bottom is not None and abs(bottom.pos - y1) <= reach and bottom is not top:
            used.append(bottom)
        if not used:
            return box
        y0 = used[0].pos if used[0] is top else y0
        y1 = used[-1].pos if used[-1] is bottom else y1
        return min(h.lo for h in used), y0, max(h.hi for h in used), y1

    def grids(self) -> list[Grid]:
        """Every grid on the page: strokes connected through crossings, two rules or more each
        way."""
        seen_h: set[int] = set()
        out = []
        for i in range(len(self.horizontal)):
            if i in seen_h:
                continue
            hs, vs = self._connected({i}, set())
            seen_h |= hs
            if len(hs) >= 2 and len(vs) >= 2:
                out += self._grids(hs, vs)
        return out


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


# A grid that leaves rows or columns unruled (rows told apart by white space, a shaded band's
# edges taken for rules) is no grid to read the table by: the text in it shows where.
# Bands of text are judged by their middle, this share of their height.
BAND_CORE = 0.6


def _clear_gaps(bands: list[tuple[float, float]]) -> list[float]:
    """The places between bands (lo, hi) that none of them covers: the middles of the holes in
    their union."""
    holes = []
    reach = None
    for lo, hi in sorted(bands):
        if reach is not None and lo > reach:
            holes.append((reach + lo) / 2)
        reach = hi if reach is None else max(reach, hi)
    return holes


def _core(box: tuple[float, float, float, float], lo_i: int, hi_i: int) -> tuple[float, float]:
    middle, half = (box[lo_i] + box[hi_i]) / 2, (box[hi_i] - box[lo_i]) * BAND_CORE / 2
    return middle - half, middle + half


def _clusters(boxes: list[tuple[float, float, float, float]], lo_i: int, hi_i: int) -> list[list[int]]:
    """The boxes grouped where their cores overlap along one axis (a text row, or a column)."""
    order = sorted(range(len(boxes)), key=lambda i: _core(boxes[i], lo_i, hi_i))
    groups: list[list[int]] = []
    reach = None
    for i in order:
        lo, hi = _core(boxes[i], lo_i, hi_i)
        if reach is not None and lo <= reach:
            groups[-1].append(i)
            reach = max(reach, hi)
        else:
            groups.append([i])
            reach = hi
    return groups


def hidden_splits(cells: list[tuple[int, int, int, int, list[tuple[float, float, float, float]]]]) -> int:
    """How many unruled rows and columns the text shows inside the grid's rows and columns.

    `cells`: (row, column, row_span, col_span, the boxes of the text pieces it holds). In a grid
    row, a height that none of the text of its one-row cells crosses is a row the rules do not
    show when two columns of that text or more (text side by side) have text above and below
    it: a cell's wrapped text alone is not one, nor are gaps that the other cells' text, centred,
    crosses. Columns alike (a width no text crosses, with text left and right of it in two rows
    or more)."""
    found = 0
    for axis in (1, 0):
        lo_i, hi_i = (1, 3) if axis == 1 else (0, 2)
        across_lo, across_hi = (0, 2) if axis == 1 else (1, 3)
        groups: dict[int, list[tuple[float, float, float, float]]] = {}
        for row, column, row_span, col_span, boxes in cells:
            if (row_span if axis == 1 else col_span) == 1:
                groups.setdefault(row if axis == 1 else column, []).extend(boxes)
        for boxes in groups.values():
            if len(boxes) < 4:
                continue
            members = _clusters(boxes, across_lo, across_hi)
            for gap in _clear_gaps([_core(box, lo_i, hi_i) for box in boxes]):
                split = sum(
                    1
                    for member in members
                    if any(boxes[i][hi_i] < gap for i in member) and any(boxes[i][lo_i] > gap for i in member)
                )
                if split >= 2:
                    found += 1
    return found
