"""A ruled table read from its rules: the line segments printed on the page, the rule lines they
make, the grid those lines cut, and the cells the grid's slots form where a rule is missing
between two slots (a merged cell).

    segments   horizontal and vertical strokes much longer than the text is high (morphology on
               the dark pixels), each a Segment along a rule line
    rule_lines segments on the same line (the same height, or the same x) joined into one rule,
               with the parts of it that are printed (a rule cut by a merged cell is there in
               pieces)
    grid_of    the grids: row borders at the horizontal rules, column borders at the vertical
               ones (the outermost ones closing the table even where the page leaves its sides
               open); two neighbouring slots are one cell when the rule between them is missing
               over most of their shared side; a band no vertical rule crosses parts two tables

ruled.py finds them on a page (PageRules) and judges them by the text inside (hidden_splits).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

# Ink: darker than its surroundings (the mean of a window this many text heights wide) by this
# much, so that light shading in cells and coloured bands is not ink but a thin grey rule is.
INK_WINDOW_UNITS = 1.5
INK_CONTRAST = 18
# A stroke is a rule when it runs this many text heights unbroken (a character's own strokes
# are at most about one text height long; a dash "——" two).
RULE_MIN_UNITS = 2.2
# Gaps in a printed rule (a broken scan) up to this many text heights are bridged.
RULE_GAP_UNITS = 0.3
# Segments whose positions differ by at most this many text heights are on one rule line.
SAME_LINE_UNITS = 0.35
# Column rules that run past the first (last) row rule by this many text heights, and no more
# than the second figure, close an open row there (a table continued across pages).
OPEN_END_UNITS = 0.8
OPEN_END_MAX_UNITS = 5.0
# The rule between two slots is there when its printed parts cover this share of their side.
BORDER_COVER = 0.6


@dataclass
class Segment:
    """A printed stroke along a rule: at `pos` (y of a horizontal, x of a vertical), from `lo`
    to `hi` along it, `thick` pixels thick."""

    pos: float
    lo: float
    hi: float
    thick: float


@dataclass
class RuleLine:
    """Segments on one line: its position and the (lo, hi) parts printed, in order."""

    pos: float
    parts: list[tuple[float, float]]

    @property
    def lo(self) -> float:
        return self.parts[0][0]

    @property
    def hi(self) -> float:
        return self.parts[-1][1]

    def cover(self, lo: float, hi: float) -> float:
        """The share of lo..hi that the printed parts cover."""
        if hi <= lo:
            return 0.0
        covered = sum(max(0.0, min(hi, b) - max(lo, a)) for a, b in self.parts)
        return covered / (hi - lo)


@dataclass
class GridCell:
    row: int
    column: int
    row_span: int
    col_span: int


@dataclass
class Grid:
    """A table's grid: row borders `ys` (rows + 1, top to bottom), column borders `xs`
    (columns + 1), and the cells, each covering a rectangle of slots."""

    xs: list[float]
    ys: list[float]
    cells: list[GridCell] = field(default_factory=list)
    irregular: int = 0  # groups of slots joined by missing rules that were no rectangle
    certainty: float = 1.0  # the share of borders between slots that the rules settle clearly
    # (printed over nine tenths of the side, or over a tenth at most)

    @property
    def rows(self) -> int:
        return len(self.ys) - 1

    @property
    def columns(self) -> int:
        return len(self.xs) - 1

    @property
    def box(self) -> tuple[float, float, float, float]:
        return self.xs[0], self.ys[0], self.xs[-1], self.ys[-1]


def ink(gray: np.ndarray, unit: float) -> np.ndarray:
    """Dark pixels (255) against their neighbourhood, 0 elsewhere."""
    window = max(15, int(INK_WINDOW_UNITS * unit) | 1)
    mean = cv2.blur(gray.astype(np.float32), (window, window))
    return ((gray.astype(np.float32) < mean - INK_CONTRAST) * 255).astype(np.uint8)


def segments(dark: np.ndarray, unit: float, horizontal: bool, length: int | None = None) -> list[Segment]:
    """The rule strokes of one direction in the ink mask (at least `length` pixels long;
    RULE_MIN_UNITS text heights by default)."""
    length = length or max(12, int(RULE_MIN_UNITS * unit))
    kernel = (length, 1) if horizontal else (1, length)
    # Thickened across first, so that a rule a little slanted (a photo, a skewed scan) still
    # runs unbroken along the kernel.
    thickened = cv2.dilate(dark, cv2.getStructuringElement(cv2.MORPH_RECT, (1, 3) if horizontal else (3, 1)))
    mask = cv2.morphologyEx(thickened, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, kernel))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    found = []
    for n in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[n])
        along, across = (w, h) if horizontal else (h, w)
        if along < length:
            continue
        thick = max(1.0, float(area) / along - 2)  # less the thickening
        if thick > max(6.0, 0.5 * unit):  # a filled block (a shaded band, a bar), not a rule
            continue
        ys, xs = np.nonzero(labels[y : y + h, x : x + w] == n)
        pos = float(np.mean(ys if horizontal else xs)) + (y if horizontal else x)
        lo, hi = (x, x + w - 1) if horizontal else (y, y + h - 1)
        found.append(Segment(pos, float(lo), float(hi), thick))
    return found


def rule_lines(found: list[Segment], unit: float) -> list[RuleLine]:
    """Segments on one line (positions within SAME_LINE_UNITS text heights) as one RuleLine."""
    tolerance = max(3.0, SAME_LINE_UNITS * unit)
    gap = max(2.0, RULE_GAP_UNITS * unit)
    lines: list[list[Segment]] = []
    for segment in sorted(found, key=lambda s: s.pos):
        if lines and segment.pos - lines[-1][-1].pos <= tolerance:
            lines[-1].append(segment)
        else:
            lines.append([segment])
    out = []
    for group in lines:
        weight = sum(s.hi - s.lo for s in group)
        pos = sum(s.pos * (s.hi - s.lo) for s in group) / weight
        parts: list[tuple[float, float]] = []
        for s in sorted(group, key=lambda s: s.lo):
            if parts and s.lo <= parts[-1][1] + gap:
                parts[-1] = (parts[-1][0], max(parts[-1][1], s.hi))
            else:
                parts.append((s.lo, s.hi))
        out.append(RuleLine(pos, parts))
    return out


def grid_of(horizontals: list[RuleLine], verticals: list[RuleLine], unit: float) -> list[Grid]:
    """The grids the rules make: none when they make none (fewer than two rules either way that
    cross the table), several where a band that no vertical rule crosses (a caption between two
    ruled tables that touch) parts them. A rule belongs to the table when it reaches across at
    least a third of it, or from one rule across it to another."""
    if len(horizontals) < 2:
        return []
    slack = max(4.0, 0.5 * unit)
    # The table's extent: where its long horizontal rules run.
    longest = max(h.hi - h.lo for h in horizontals)
    rows = [h for h in horizontals if h.hi - h.lo >= 0.5 * longest]
    if len(rows) < 2:
        return []
    x0, x1 = min(h.lo for h in rows), max(h.hi for h in rows)
    y0, y1 = rows[0].pos, rows[-1].pos
    width = x1 - x0
    if y1 - y0 < unit:
        return []
    # A column rule runs 1.5 text heights inside the table, or lies there whole (a short one,
    # kept because its ends meet rules: the side of a low row).
    vs = [
        v
        for v in verticals
        if x0 - slack <= v.pos <= x1 + slack and _within(v, y0, y1, slack, min(1.5 * unit, 0.8 * (v.hi - v.lo)))
    ]
    # A short horizontal stroke between no rules is text (an underline), not a rule.
    hs = [
        h
        for h in horizontals
        if y0 - slack <= h.pos <= y1 + slack
        and (_within(h, x0, x1, slack, width / 3) or _closed(h, vs, slack, (x0, x1)))
    ]
    # Bands between rules that no vertical rule crosses part the table, where others have them.
    crossed = [any(v.cover(a.pos, b.pos) >= BORDER_COVER for v in vs) for a, b in zip(hs, hs[1:])]
    if not any(crossed):
        runs = [(0, len(hs) - 1)]
    else:
        runs = []
        for k, yes in enumerate(crossed):
            if yes and runs and runs[-1][1] == k:
                runs[-1] = (runs[-1][0], k + 1)
            elif yes:
                runs.append((k, k + 1))
    grids = []
    for first, last in runs:
        part = hs[first : last + 1]
        top, bottom = part[0].pos, part[-1].pos
        columns = [
            v for v in vs if _within(v, top, bottom, slack, min(1.5 * unit, 0.8 * (bottom - top), 0.8 * (v.hi - v.lo)))
        ]
        # An open end: a table that goes on from the page before (or onto the next) has column
        # rules past its first (last) row rule and none across them there; that row ends where
        # they do.
        above = [top - v.lo for v in columns if OPEN_END_UNITS * unit <= top - v.lo <= OPEN_END_MAX_UNITS * unit]
        below = [v.hi - bottom for v in columns if OPEN_END_UNITS * unit <= v.hi - bottom <= OPEN_END_MAX_UNITS * unit]
        if len(above) >= 2 and len(above) >= len(columns) / 2:
            top -= float(np.median(above))
            part = [RuleLine(top, [(x0, x1)]), *part]
        if len(below) >= 2 and len(below) >= len(columns) / 2:
            bottom += float(np.median(below))
            part = [*part, RuleLine(bottom, [(x0, x1)])]
        xs = [v.pos for v in columns]
        # Open sides: the table closes where its horizontal rules end.
        if not xs or xs[0] - x0 > slack:
            xs.insert(0, x0)
            columns.insert(0, RuleLine(x0, [(top, bottom)]))
        if xs[-1] < x1 - slack:
            xs.append(x1)
            columns.append(RuleLine(x1, [(top, bottom)]))
        ys = [h.pos for h in part]
        if len(xs) >= 2 and len(ys) >= 2:
            cells, irregular, certainty = _cells(part, columns, xs, ys)
            grids.append(Grid(xs, ys, cells, irregular, certainty))
    return grids


def _closed(line: RuleLine, across: list[RuleLine], slack: float, ends: tuple[float, float]) -> bool:
    """Does each end of the rule meet a rule across it (or the table's side, `ends`)?"""

    def met(at: float) -> bool:
        if any(abs(at - end) <= slack for end in ends):
            return True
        return any(abs(at - a.pos) <= slack and a.lo - slack <= line.pos <= a.hi + slack for a in across)

    return met(line.lo) and met(line.hi)


def _within(line: RuleLine, lo: float, hi: float, slack: float, at_least: float) -> bool:
    """Does the rule run at least `at_least` inside lo..hi?"""
    inside = sum(max(0.0, min(hi + slack, b) - max(lo - slack, a)) for a, b in line.parts)
    return inside >= at_least


def _cells(
    hs: list[RuleLine], vs: list[RuleLine], xs: list[float], ys: list[float]
) -> tuple[list[GridCell], int, float]:
    """The grid's slots joined where the rule between them is missing, as rectangles; and how
    many groups of joined slots were no rectangle (each cut into its rows' runs)."""
    rows, columns = len(ys) - 1, len(xs) - 1
    parent = list(range(rows * columns))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(a: int, b: int) -> None:
        parent[find(a)] = find(b)

    covers = []
    for r in range(rows):
        for c in range(columns - 1):
            covers.append(vs[c + 1].cover(ys[r], ys[r + 1]))
            if covers[-1] < BORDER_COVER:
                join(r * columns + c, r * columns + c + 1)
    for r in range(rows - 1):
        for c in range(columns):
            covers.append(hs[r + 1].cover(xs[c], xs[c + 1]))
            if covers[-1] < BORDER_COVER:
                join(r * columns + c, (r + 1) * columns + c)
    certainty = sum(1 for v in covers if v >= 0.9 or v <= 0.1) / len(covers) if covers else 1.0
    groups: dict[int, list[tuple[int, int]]] = {}
    for r in range(rows):
        for c in range(columns):
            groups.setdefault(find(r * columns + c), []).append((r, c))
    cells = []
    irregular = 0
    for slots in groups.values():
        r0, r1 = min(s[0] for s in slots), max(s[0] for s in slots)
        c0, c1 = min(s[1] for s in slots), max(s[1] for s in slots)
        if len(slots) == (r1 - r0 + 1) * (c1 - c0 + 1):
            cells.append(GridCell(r0, c0, r1 - r0 + 1, c1 - c0 + 1))
            continue
        # Not a rectangle (a rule missing where no merged cell can be): each row's run of slots
        # is a cell of its own.
        irregular += 1
        for r in range(r0, r1 + 1):
            run = sorted(c for rr, c in slots if rr == r)
            start = run[0]
            for k in range(1, len(run) + 1):
                if k == len(run) or run[k] != run[k - 1] + 1:
                    cells.append(GridCell(r, start, 1, run[k - 1] - start + 1))
                    if k < len(run):
                        start = run[k]
    return sorted(cells, key=lambda c: (c.row, c.column)), irregular, certainty
