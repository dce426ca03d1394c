"""A document's Markdown, from its result pages (lines, tables, and the layout's regions):

    <!-- page 1 -->

    # 标题                          a title region's lines (a large one "#", others "##")

    正文……                          paragraphs: lines in reading order (reading.py), joined

    <table>…</table>                a table as the tables feature reads it (spans kept)

    <figure>
    <figcaption>图 1 …</figcaption>  a figure region (its own text left out), with its caption
    </figure>

    <!-- page 2 -->

Left out: lines in the layout's header and footer regions, page numbers at the top or bottom of
a page, and running headers and footers (the same text, digits aside, at the top or bottom of at
least half the pages of a document of 3 pages or more; a first pass over the pages finds them).
A page read without layout regions (an older container) gets paragraphs and tables only.

Written page by page to a file: memory is a page's worth whatever the document's length.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

from ocr_contract.jobs import ResultPage

from .reading import Item, order

# The top and bottom of a page where running headers, footers and page numbers are looked for.
BAND = 0.08
# A text at the top or bottom of at least this share of the pages is a running header/footer.
RUNNING_SHARE = 0.5
RUNNING_MIN_PAGES = 3
# A title this many times the body's line height is a first-level heading.
LARGE_TITLE = 1.6
# A paragraph's line that ends this many line heights short of its far edge ends a line.
SHORT_LINE = 1.5
# Lines whose heights differ by more than this share are of different sizes of type.
RESIZED = 0.2
# Lines further apart than this many line heights start a new paragraph.
PARAGRAPH_GAP = 0.9
VERTICAL_RATIO = 1.5
# The tables feature, finding no table region, reads the whole page as one table when its
# structure model is sure enough: a page of two columns can pass. Such a table (covering
# WHOLE_PAGE of the page) is kept where a table region of the layout model covers
# TABLE_AGREEMENT of it (or of the region), or where the layout's text regions cover less than
# TEXT_TABLE of it (a table on its own, a crop, has none); else its lines are read as text.
# Any other table is kept as the tables feature read it.
WHOLE_PAGE = 0.9
TABLE_AGREEMENT = 0.5
TEXT_TABLE = 0.5
# A figure region this much covered by text lines is text (a page of vertical columns can look
# like a picture to the layout model); a chart's labels cover far less.
FIGURE_TEXT = 0.2
# The layout's regions whose lines make one paragraph.
PARAGRAPH_REGIONS = ("text", "reference", "equation")
PAGE_NUMBER = re.compile(
    r"^[-—–~·\s]*(第\s*)?(\d{1,4}|[ivxlcdm]{1,7})(\s*(页|頁|页码))?(\s*(/|of|／)\s*\d{1,4})?"
    r"(\s*(页|頁))?[-—–~·\s]*$|^(page|p\.?)\s*\d{1,4}(\s*(of|/)\s*\d{1,4})?$|^共\s*\d+\s*页\s*第\s*\d+\s*页$",
    re.IGNORECASE,
)
_ESCAPE = re.compile(r"([\\`*_<>\[\]])")
_LEADING = re.compile(r"^(\s*)([#+=>-])")
_ORDERED = re.compile(r"^(\s*\d+)([.)])")


@dataclass
class Block:
    kind: str  # "text" (a line), "paragraph" (a text region's lines), "title", "table", "figure"
    box: tuple[float, float, float, float]
    lines: list[Any] = field(default_factory=list)
    html: str = ""
    caption: str = ""
    vertical: bool = False


def _box(location: Any) -> tuple[float, float, float, float]:
    left, top = float(location["left"]), float(location["top"])
    return left, top, left + float(location["width"]), top + float(location["height"])


def _quad_box(quad: list) -> tuple[float, float, float, float]:
    xs = [float(p[0]) for p in quad]
    ys = [float(p[1]) for p in quad]
    return min(xs), min(ys), max(xs), max(ys)


def _union(boxes: list[tuple[float, float, float, float]]) -> tuple[float, float, float, float]:
    return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


def _area(box: tuple[float, float, float, float]) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _shared(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """The overlap of two boxes as a share of the smaller."""
    inter = _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
    return inter / max(min(_area(a), _area(b)), 1.0)


def _inside(box: tuple[float, float, float, float], regions: list[tuple[float, float, float, float]]) -> float:
    """The share of a box the regions cover (their overlaps with it added, at most 1)."""
    inter = sum(_area((max(box[0], r[0]), max(box[1], r[1]), min(box[2], r[2]), min(box[3], r[3]))) for r in regions)
    return min(1.0, inter / max(_area(box), 1.0))


def _covered(region: tuple[float, float, float, float], lines: list[tuple[float, float, float, float]]) -> float:
    """The share of a region the lines whose centre lies in it cover."""
    inside = sum(_area(box) for box in lines if _centre_in(box, region))
    return inside / max(_area(region), 1.0)


def _centre_in(box: tuple[float, float, float, float], region: tuple[float, float, float, float]) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return region[0] <= cx <= region[2] and region[1] <= cy <= region[3]


def _vertical(line: Any) -> bool:
    x0, y0, x1, y1 = _box(line["location"])
    return (y1 - y0) > VERTICAL_RATIO * (x1 - x0) and len(str(line["words"]).strip()) >= 2


def running_key(text: str) -> str:
    return re.sub(r"\d+", "#", "".join(text.split()))


def _in_band(box: tuple[float, float, float, float], height: float) -> bool:
    return box[3] <= BAND * height or box[1] >= (1 - BAND) * height


def running_texts(pages: Iterable[ResultPage]) -> set[str]:
    """The texts (running_key) at the top or bottom of at least RUNNING_SHARE of the pages."""
    seen: Counter[str] = Counter()
    count = 0
    for page in pages:
        count += 1
        height = float(page.get("height") or 0)
        if not height:
            continue
        keys = {
            running_key(str(line["words"]))
            for line in page.get("lines") or []
            if _in_band(_box(line["location"]), height) and running_key(str(line["words"]))
        }
        seen.update(keys)
    if count < RUNNING_MIN_PAGES:
        return set()
    return {key for key, n in seen.items() if n >= max(2, RUNNING_SHARE * count)}


def escape(text: str) -> str:
    """Text as Markdown shows it as it is: its markup characters escaped."""
    text = _ESCAPE.sub(r"\\\1", " ".join(text.split()))
    text = _LEADING.sub(lambda m: m.group(1) + "\\" + m.group(2), text)
    return _ORDERED.sub(lambda m: m.group(1) + "\\" + m.group(2), text)


def _join(texts: list[str]) -> str:
    """Lines of a paragraph joined: no space between CJK, one between Latin words."""
    out = ""
    for text in texts:
        text = text.strip()
        if not text:
            continue
        if (
            out
            and out[-1].isascii()
            and out[-1].isalnum()
            and text[0].isascii()
            and text[0].isalnum()
            or out
            and out[-1] in ",;:.!?"
            and text[0].isascii()
        ):
            out += " "
        out += text
    return out


def page_blocks(page: ResultPage, running: set[str]) -> tuple[list[Block], bool, float]:
    """The page's blocks in reading order, whether it is a vertical page, and its body's line
    height."""
    height = float(page.get("height") or 0)
    regions = [(str(r.get("type", "")), _box(r["location"])) for r in page.get("regions") or []]
    dropped = [box for kind, box in regions if kind in ("header", "footer")]
    tables = [Block("table", _quad_box(t["box"]), html=str(t.get("html", ""))) for t in page.get("tables") or []]
    if "regions" in page and height:  # a whole page read as one grid, which the layout model reads
        found = [box for kind, box in regions if kind == "table"]  # as paragraphs: text, not a table
        texts = [box for kind, box in regions if kind in PARAGRAPH_REGIONS or kind == "title"]
        page_area = float(page.get("width") or 0) * height
        tables = [
            t
            for t in tables
            if _area(t.box) < WHOLE_PAGE * page_area
            or any(_shared(t.box, box) >= TABLE_AGREEMENT for box in found)
            or _inside(t.box, texts) < TEXT_TABLE
        ]
    every_line = [_box(line["location"]) for line in page.get("lines") or []]
    figures = [
        Block("figure", box)
        for kind, box in regions
        if kind == "figure"
        and _covered(box, every_line) < FIGURE_TEXT  # else text it took for a picture
        and not any(_shared(box, t.box) >= TABLE_AGREEMENT for t in tables)  # a table it took for one
    ]
    captions = [box for kind, box in regions if kind == "figure_caption"]
    titles = [box for kind, box in regions if kind == "title"]
    lines: list[Any] = []
    for line in page.get("lines") or []:
        text = str(line.get("words", ""))
        box = _box(line["location"])
        if not text.strip():
            continue
        if any(_centre_in(box, region) for region in dropped):
            continue
        if height and _in_band(box, height) and (PAGE_NUMBER.match(text.strip()) or running_key(text) in running):
            continue
        if any(_centre_in(box, t.box) for t in tables) or any(_centre_in(box, f.box) for f in figures):
            continue
        lines.append(line)
    vertical = sum(_vertical(line) for line in lines) > len(lines) / 2 and len(lines) >= 2
    thickness = [
        (_box(li["location"])[2] - _box(li["location"])[0])
        if vertical
        else (_box(li["location"])[3] - _box(li["location"])[1])
        for li in lines
    ]
    unit = max(1.0, median(thickness)) if thickness else 1.0
    blocks: list[Block] = [*tables, *figures]
    # Captions go to the nearest figure (below or above it, overlapping it across).
    for caption in captions:
        inside = [li for li in lines if _centre_in(_box(li["location"]), caption)]
        if not inside:
            continue
        near = [
            f
            for f in figures
            if min(f.box[2], caption[2]) > max(f.box[0], caption[0])
            and min(abs(caption[1] - f.box[3]), abs(f.box[1] - caption[3])) <= 3 * unit
        ]
        if near:
            figure = min(near, key=lambda f: min(abs(caption[1] - f.box[3]), abs(f.box[1] - caption[3])))
            ordered = order([Item(_box(li["location"]), li) for li in inside], vertical, unit)
            figure.caption = _join([figure.caption, *(str(i.value["words"]) for i in ordered)])
            lines = [li for li in lines if li not in inside]
    for title in titles:
        inside = [li for li in lines if _centre_in(_box(li["location"]), title)]
        if inside:
            ordered = order([Item(_box(li["location"]), li) for li in inside], vertical, unit)
            blocks.append(Block("title", title, lines=[i.value for i in ordered], vertical=vertical))
            lines = [li for li in lines if li not in inside]
    # The layout's text regions are paragraphs: their lines one block, in their own order.
    for kind, box in sorted(regions, key=lambda r: _area(r[1])):  # a line goes to the tightest
        if kind not in PARAGRAPH_REGIONS:
            continue
        inside = [li for li in lines if _centre_in(_box(li["location"]), box)]
        if inside:
            ordered = order([Item(_box(li["location"]), li) for li in inside], vertical, unit)
            covered = _union([_box(li["location"]) for li in inside])
            blocks.append(Block("paragraph", covered, lines=[i.value for i in ordered], vertical=vertical))
            lines = [li for li in lines if li not in inside]
    blocks += [Block("text", _box(li["location"]), lines=[li], vertical=_vertical(li)) for li in lines]
    ordered_blocks = [item.value for item in order([Item(b.box, b) for b in blocks], vertical, unit)]
    return _paragraphs(ordered_blocks, vertical, unit), vertical, unit


def _paragraphs(blocks: list[Block], vertical: bool, unit: float) -> list[Block]:
    """Consecutive text lines close together (and overlapping across) made one paragraph."""
    out: list[Block] = []
    for block in blocks:
        previous = out[-1] if out else None
        if block.kind == "text" and previous is not None and previous.kind == "text":
            last = _box(previous.lines[-1]["location"])
            box = block.box
            if vertical:
                gap = last[0] - box[2]
                overlap = min(last[3], box[3]) - max(last[1], box[1])
            else:
                gap = box[1] - last[3]
                overlap = min(last[2], box[2]) - max(last[0], box[0])
            if -unit / 2 <= gap <= PARAGRAPH_GAP * unit and overlap > 0:
                previous.lines.append(block.lines[0])
                previous.box = (
                    min(previous.box[0], box[0]),
                    min(previous.box[1], box[1]),
                    max(previous.box[2], box[2]),
                    max(previous.box[3], box[3]),
                )
                continue
        out.append(block)
    return out


def render_page(page: ResultPage, running: set[str]) -> str:
    """One page's Markdown, after its `<!-- page N -->` marker."""
    parts = [f"<!-- page {page.get('page', 0)} -->"]
    if page.get("error"):
        error: Any = page["error"] or {}
        parts.append(f"<!-- page {page.get('page', 0)} could not be read: {str(error.get('code', ''))} -->")
        return "\n\n".join(parts)
    blocks, vertical, unit = page_blocks(page, running)
    for block in blocks:
        if block.kind == "table":
            parts.append(block.html)
        elif block.kind == "figure":
            caption = f"\n<figcaption>{html.escape(block.caption, quote=False)}</figcaption>" if block.caption else ""
            parts.append(f"<figure>{caption}\n</figure>")
        elif block.kind == "title":
            text = _join([str(line["words"]) for line in block.lines])
            thickness = max(
                (_box(li["location"])[2] - _box(li["location"])[0])
                if vertical
                else (_box(li["location"])[3] - _box(li["location"])[1])
                for li in block.lines
            )
            level = "#" if thickness >= LARGE_TITLE * unit else "##"
            parts.append(f"{level} {escape(text)}")
        else:
            parts.append(_paragraph(block, vertical, unit))
    return "\n\n".join(parts)


def _paragraph(block: Block, vertical: bool, unit: float) -> str:
    """A block's lines as one paragraph: a line that runs to the block's far edge goes on into
    the next (wrapped text); one that ends short (a form's row, a list item, a paragraph's last
    line), or starts in from the block's near edge (indented, centred), is a line of its own,
    ended with a line break, which Markdown shows as a space and a reader of the text as the
    end of a line."""
    boxes = [_box(li["location"]) for li in block.lines]
    near = min(b[1] if vertical else b[0] for b in boxes)
    far = max(b[3] if vertical else b[2] for b in boxes)
    pieces: list[str] = []
    run: list[str] = []
    previous = None
    for line, box in zip(block.lines, boxes):
        start, end = (box[1], box[3]) if vertical else (box[0], box[2])
        size = (box[2] - box[0]) if vertical else (box[3] - box[1])
        indented = start > near + SHORT_LINE * unit  # indented, or centred: a line of its own
        resized = previous is not None and abs(size - previous) > RESIZED * max(size, previous)
        if run and (indented or resized):  # resized: another size of type (a title, a subtitle)
            pieces.append(_join(run))
            run = []
        previous = size
        run.append(str(line["words"]))
        if end < far - SHORT_LINE * unit:
            pieces.append(_join(run))
            run = []
    if run:
        pieces.append(_join(run))
    return "\n".join(escape(piece) for piece in pieces)


def write_markdown(pages: Callable[[], Iterable[ResultPage]], target: Path | str) -> int:
    """The document's Markdown at `target`; `pages()` gives its result pages in order (called
    twice: running headers and footers first). Returns the pages written."""
    running = running_texts(pages())
    count = 0
    with open(target, "w", encoding="utf-8") as out:
        for page in pages():
            out.write(("\n\n" if count else "") + render_page(page, running))
            count += 1
        out.write("\n")
    return count
