"""The reading order of a page's blocks, by recursive XY-cut: the page is cut at the widest
empty band across it, horizontal or vertical, and each side ordered the same way, until no band
is left.

- Horizontal text: a band across the page separates what is above from what is below (read
  first); a band down the page separates columns, read left to right. A title over two columns
  is cut off first (no column gap runs through it), then the columns are cut apart.
- Vertical text (a page whose lines run top to bottom, as in traditional Chinese layout):
  columns are read right to left, and a band across the page separates tiers, top first.
- Where no band is left (blocks that overlap in both directions), rows top to bottom, each left
  to right (columns right to left, each top to bottom, on a vertical page).

A vertical band counts as a column gap only when it is at least MIN_COLUMN_GAP of the blocks'
median line height wide (the space between words of a line is narrower), wins over a band
across the page COLUMN_WEIGHT times as wide, and is taken for columns only where the lines on its
two sides are not in the same rows, or both sides are running text (a form's labels and values
are read row by row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median
from typing import Generic, TypeVar

T = TypeVar("T")
MIN_COLUMN_GAP = 0.8
# A column gap wins over a band across the page this many times as wide: the space after a
# paragraph, the same in two columns, must not cut the columns into rows.
COLUMN_WEIGHT = 1.5
# Lines of running text follow each other closer than this many line heights.
DENSE_GAP = 0.7
# An item this many line heights tall is a paragraph (a block of the layout's), not a row.
PARAGRAPH_LINES = 2.5


@dataclass(frozen=True)
class Item(Generic[T]):
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in the page's pixels (y down)
    value: T


def _gaps(intervals: list[tuple[float, float, int]]) -> list[tuple[float, float]]:
    """The empty bands between merged intervals: (width, position of the cut)."""
    ordered = sorted(intervals)
    gaps = []
    end = ordered[0][1]
    for start, stop, _ in ordered[1:]:
        if start > end:
            gaps.append((start - end, (start + end) / 2))
        end = max(end, stop)
    return gaps


def _fallback(items: list[Item[T]], vertical: bool, unit: float) -> list[Item[T]]:
    if vertical:  # columns right to left, each top to bottom
        items = sorted(items, key=lambda i: -(i.box[0] + i.box[2]) / 2)
        return _grouped(items, lambda i: (i.box[0] + i.box[2]) / 2, unit, lambda i: i.box[1], reverse_axis=True)
    items = sorted(items, key=lambda i: (i.box[1] + i.box[3]) / 2)
    return _grouped(items, lambda i: (i.box[1] + i.box[3]) / 2, unit, lambda i: i.box[0], reverse_axis=False)


def _grouped(items, centre, unit: float, within, reverse_axis: bool) -> list:
    """Items already in order along one axis, grouped where their centres are within half a
    line of the group's first, each group ordered by `within`."""
    out: list = []
    group: list = []
    for item in items:
        if group and abs(centre(item) - centre(group[0])) > unit / 2:
            out += sorted(group, key=within)
            group = []
        group.append(item)
    out += sorted(group, key=within)
    return out


def _overlap_y(a: Item, b: Item) -> bool:
    return min(a.box[3], b.box[3]) - max(a.box[1], b.box[1]) >= 0.5 * min(a.box[3] - a.box[1], b.box[3] - b.box[1])


def _dense(side: list[Item], unit: float) -> bool:
    """Running text: a paragraph (an item several lines tall), or lines that follow each other
    closely, not rows apart."""
    if any(i.box[3] - i.box[1] >= PARAGRAPH_LINES * unit for i in side):
        return True
    ordered = sorted(side, key=lambda i: i.box[1])
    if len(ordered) < 3:
        return False
    gaps = sorted(b.box[1] - a.box[3] for a, b in zip(ordered, ordered[1:]))
    return gaps[len(gaps) // 2] <= DENSE_GAP * unit


def _columns_of_text(items: list[Item], cut: float, unit: float) -> bool:
    """Whether a gap down the page at `cut` separates columns, not the two sides of rows (a
    form's labels and values): the sides' lines are not in the same rows, or each side is a
    column of running text."""
    left = [i for i in items if i.box[0] < cut]
    right = [i for i in items if i.box[0] >= cut]
    paired = max(
        sum(any(_overlap_y(a, b) for b in right) for a in left) / len(left),
        sum(any(_overlap_y(b, a) for a in left) for b in right) / len(right),
    )
    return paired < 0.5 or (_dense(left, unit) and _dense(right, unit))


def order(items: Sequence[Item[T]], vertical: bool = False, unit: float | None = None) -> list[Item[T]]:
    """The items in reading order. `unit`: the typical line height (the thickness of a line:
    height for horizontal text, width for vertical), measured from the items when not given."""
    items = list(items)
    if len(items) <= 1:
        return items
    if unit is None:
        thickness = [(i.box[2] - i.box[0]) if vertical else (i.box[3] - i.box[1]) for i in items]
        unit = max(1.0, median(thickness))
    rows = _gaps([(i.box[1], i.box[3], n) for n, i in enumerate(items)])
    columns = [
        g for g in _gaps([(i.box[0], i.box[2], n) for n, i in enumerate(items)]) if g[0] >= MIN_COLUMN_GAP * unit
    ]
    best_row = max(rows, default=None)
    best_column = max(columns, default=None)
    if best_column is not None and not vertical and not _columns_of_text(items, best_column[1], unit):
        best_column = None
    if best_row is None and best_column is None:
        return _fallback(items, vertical, unit)
    if best_column is not None and (best_row is None or COLUMN_WEIGHT * best_column[0] >= best_row[0]):
        cut = best_column[1]
        left = [i for i in items if i.box[0] < cut]
        right = [i for i in items if i.box[0] >= cut]
        first, second = (right, left) if vertical else (left, right)
    else:
        cut = best_row[1]  # type: ignore[index]
        first = [i for i in items if i.box[1] < cut]
        second = [i for i in items if i.box[1] >= cut]
    return order(first, vertical, unit) + order(second, vertical, unit)
