"""Lines into the units other APIs answer: words (split at spaces, each with its own box from
the characters' positions) and blocks (paragraphs of lines)."""

from __future__ import annotations

from dataclasses import dataclass

from ocr_contract.protocol import Line

Quad = list[list[float]]  # 4 corners (x, y): top-left, top-right, bottom-right, bottom-left


@dataclass(frozen=True)
class Word:
    text: str
    score: float
    quad: Quad
    last_in_line: bool


def line_quad(line: Line) -> Quad:
    """A line's 4 corners: the detected box when the endpoint sent it, else its location."""
    if line.get("box"):
        return [list(map(float, point)) for point in line["box"]]
    loc = line["location"]
    x0, y0 = loc["left"], loc["top"]
    x1, y1 = x0 + loc["width"], y0 + loc["height"]
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def words(line: Line) -> list[Word]:
    """The line's words, left to right: runs of non-space characters (a Chinese run with no
    spaces is one word). Each word's box runs from its first character's left edge to its last
    character's right edge (the endpoint's `chars`); without them the line is one word."""
    text, chars = line["words"], line.get("chars") or []
    if len(chars) != len(text):
        return [Word(text.strip(), line["score"], line_quad(line), True)] if text.strip() else []
    runs, start = [], None
    for i, ch in enumerate(text + " "):
        if ch.isspace():
            if start is not None:
                runs.append((start, i - 1))
            start = None
        elif start is None:
            start = i
    out = []
    for n, (first, last) in enumerate(runs):
        quad = _span(chars[first], chars[last])
        out.append(Word(text[first : last + 1], line["score"], quad, n == len(runs) - 1))
    return out


def _span(a: Quad, b: Quad) -> Quad:
    """The quad from character `a` to character `b`, whichever way the text runs from one to
    the other: along `a`'s top edge (a line), down its left edge (a column of vertical text),
    or back (a line the endpoint turned half round, whose corners stay the image's)."""
    progress = [(b[0][k] + b[2][k] - a[0][k] - a[2][k]) / 2 for k in (0, 1)]
    along = sum(p * (a[1][k] - a[0][k]) for k, p in enumerate(progress))
    down = sum(p * (a[3][k] - a[0][k]) for k, p in enumerate(progress))
    if abs(down) > abs(along):
        return [a[0], a[1], b[2], b[3]] if down > 0 else [b[0], b[1], a[2], a[3]]
    return [a[0], b[1], b[2], a[3]] if along >= 0 else [b[0], a[1], a[2], b[3]]


def _extent(quad: Quad) -> tuple[float, float, float, float]:
    xs, ys = [p[0] for p in quad], [p[1] for p in quad]
    return min(xs), min(ys), max(xs), max(ys)


# Two lines are in one block when the second starts within this many line heights below the
# first, their horizontal extents overlap, and neither is more than BLOCK_HEIGHT_RATIO times
# as tall as the other (a heading is not the paragraph under it).
BLOCK_GAP = 0.8
BLOCK_HEIGHT_RATIO = 1.5


def _column(extent: tuple[float, float, float, float]) -> bool:
    x0, y0, x1, y1 = extent
    return y1 - y0 >= 1.5 * (x1 - x0)


def blocks(lines: list[Line]) -> list[list[int]]:
    """The lines (in reading order) grouped into blocks: each a list of line indices. Columns
    of vertical text (read right to left) join a block as lines do, turned a quarter."""
    groups: list[list[int]] = []
    for i, line in enumerate(lines):
        x0, y0, x1, y1 = _extent(line_quad(line))
        if groups:
            px0, py0, px1, py1 = _extent(line_quad(lines[groups[-1][-1]]))
            if _column((x0, y0, x1, y1)) and _column((px0, py0, px1, py1)):
                # Turned a quarter: along the column is across, the next column (to the left) below.
                x0, y0, x1, y1 = y0, -x1, y1, -x0
                px0, py0, px1, py1 = py0, -px1, py1, -px0
            h, ph = y1 - y0, py1 - py0
            close = -0.5 * min(h, ph) <= y0 - py1 <= BLOCK_GAP * (h + ph) / 2
            overlap = min(x1, px1) > max(x0, px0)
            alike = max(h, ph) <= BLOCK_HEIGHT_RATIO * max(min(h, ph), 1.0)
            if close and overlap and alike:
                groups[-1].append(i)
                continue
        groups.append([i])
    return groups
