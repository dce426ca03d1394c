"""A PDF page's own text (its text layer) as lines, and a page's answer from that text and OCR.

The renderer's child (documents/pdf_pages.py) reads each character of a page's text layer with
its box and hands them here to become lines: characters in the order the PDF writes them (the
producer's reading order: a column after the other, a table row by row), cut into lines where
the text jumps to another line or across a wide gap (a table's next cell), each with the
characters' boxes, `score` 1.0. The callers (the container's task=document, the CLOVA door)
then answer a page from its plan (PagePlan) and what OCR read in its picture, if it has one:

    ocr     the picture is the page (a scan at its own pixels, or a render): OCR's lines
    text    no picture: the text layer's lines
    mixed   the picture holds the page's images (its text left out): the text layer's lines,
            and OCR's lines in the images where no text-layer line is
    verify  a scan under an invisible text layer (an earlier OCR's): its lines where they agree
            with what OCR reads in the scan (AGREEMENT), else OCR's

Boxes are in the page's pixel space: a scan's own pixels, or the page rendered at `dpi`.
Standard library only (the Lambda bundle has no numpy).
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from ocr_contract.protocol import Line, PageSource

Plan = Literal["ocr", "text", "mixed", "verify"]
PLANS: tuple[Plan, ...] = ("ocr", "text", "mixed", "verify")

# An invisible text layer over a scan is taken when its characters agree with OCR's reading of
# the scan at least this much (character F1, NFKC, whitespace left out): an exact layer agrees
# as well as OCR reads (0.95-1.0 on the XFUND forms), an earlier poor OCR's does not.
AGREEMENT = 0.9
# A line of OCR that lies over a text-layer line for at least this share of its area is the
# same text (text drawn over an image, read twice): the text layer's is kept.
OVERLAP = 0.5
# A text-layer line is cut where the gap to the next character is wider than this many ems
# with no space character in it (a table's next cell, the next column), or wider than
# WIDE_GAP_EM whatever is in it.
CELL_GAP_EM = 0.6
WIDE_GAP_EM = 2.5
# Two Latin letters or digits further apart than this many ems are two words.
LATIN_SPACE_EM = 0.15


@dataclass(frozen=True)
class Char:
    """One character of a text layer, in the page's pixel space: its text, its box (x0, y0,
    x1, y1, axis-aligned) and the way its line runs (`turn`: 0 left to right, 1 bottom to top,
    2 upside down, 3 top to bottom), its font size in pixels, and whether the PDF has it as a
    character (False: a space PDFium put in a gap)."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    size: float
    turn: int = 0
    written: bool = True


@dataclass(frozen=True)
class PagePlan:
    """What a page is made of and how it is answered (the module's docstring): its pixel space
    (`width` x `height` px at `dpi`; a scan's own pixels), where the picture lies in it (`x`,
    `y`), and the text layer's lines."""

    plan: Plan
    width: int
    height: int
    dpi: float
    x: int = 0
    y: int = 0
    lines: list[Line] = field(default_factory=list)
    scale: float = 1.0  # page pixels per pixel of the picture as sent (smaller to fit a limit)

    def to_dict(self) -> dict:
        return {
            "plan": self.plan,
            "pageWidth": self.width,
            "pageHeight": self.height,
            "dpi": self.dpi,
            "x": self.x,
            "y": self.y,
            "text": self.lines,
            "scale": self.scale,
        }

    @classmethod
    def from_dict(cls, header: dict) -> PagePlan | None:
        if header.get("plan") not in PLANS:
            return None
        return cls(
            header["plan"],
            int(header["pageWidth"]),
            int(header["pageHeight"]),
            float(header["dpi"]),
            int(header.get("x", 0)),
            int(header.get("y", 0)),
            list(header.get("text") or []),
            float(header.get("scale") or 1.0),
        )


# -- characters into lines


def frame(turn: int, x: float, y: float) -> tuple[float, float]:
    """A point in the frame where a line of `turn` runs left to right, lines stacking down."""
    return ((x, y), (-y, x), (-x, -y), (y, -x))[turn % 4]


def unframe(turn: int, fx: float, fy: float) -> tuple[float, float]:
    return ((fx, fy), (fy, -fx), (-fx, -fy), (-fy, fx))[turn % 4]


def _framed(char: Char) -> tuple[float, float, float, float]:
    """The character's box in its line's frame: (left, top, right, bottom)."""
    ax, ay = frame(char.turn, char.x0, char.y0)
    bx, by = frame(char.turn, char.x1, char.y1)
    return min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)


def _quad(turn: int, box: tuple[float, float, float, float]) -> list[list[float]]:
    """Four corners of a framed box, clockwise from the top-left of the text as it reads."""
    left, top, right, bottom = box
    return [
        [round(v, 1) for v in unframe(turn, fx, fy)]
        for fx, fy in ((left, top), (right, top), (right, bottom), (left, bottom))
    ]


@dataclass
class _Run:
    turn: int
    chars: list[tuple[Char, tuple[float, float, float, float]]]

    @property
    def box(self) -> tuple[float, float, float, float]:
        boxes = [box for char, box in self.chars if not char.text.isspace()] or [box for _, box in self.chars]
        return (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )


def _continues(run: _Run, char: Char, box: tuple[float, float, float, float]) -> bool:
    """Whether `char` goes on the line `run` (same direction, same line, not across a gap)."""
    if char.turn != run.turn:
        return False
    last = next((b for c, b in reversed(run.chars) if not c.text.isspace()), None)
    if last is None:
        return True
    left, top, right, bottom = box
    height = max(bottom - top, last[3] - last[1], 1e-3)
    centre, last_centre = (top + bottom) / 2, (last[1] + last[3]) / 2
    if abs(centre - last_centre) > 0.5 * height:
        return False  # another line
    em = max(char.size, 1e-3)
    if left < last[0] - 0.5 * em:
        return False  # back to the left: a new line, or text written out of order
    gap = left - last[2]
    spaced = any(c.text.isspace() and c.written for c, _ in run.chars[-2:])
    if char.text.isspace():
        return True
    return gap <= WIDE_GAP_EM * em and (spaced or gap <= CELL_GAP_EM * em)


def _line(run: _Run, width: int, height: int) -> Line | None:
    chars = list(run.chars)
    while chars and chars[0][0].text.isspace():
        chars.pop(0)
    while chars and chars[-1][0].text.isspace():
        chars.pop()
    text: list[str] = []
    quads: list[list[list[float]]] = []
    for n, (char, box) in enumerate(chars):
        if char.text.isspace():
            if text and text[-1] == " ":
                continue
            # A space the PDF does not have is kept between two Latin letters or digits only.
            before, after = chars[n - 1][0].text, chars[n + 1][0].text if n + 1 < len(chars) else ""
            if not char.written and not (_latin(before) and _latin(after)):
                continue
            previous, following = chars[n - 1][1], chars[n + 1][1] if n + 1 < len(chars) else box
            box = (
                previous[2],
                min(previous[1], following[1]),
                max(previous[2], following[0]),
                max(previous[3], following[3]),
            )
            text.append(" ")
        else:
            if n and text and text[-1] != " " and _latin(char.text) and _latin(chars[n - 1][0].text):
                previous = chars[n - 1][1]
                if box[0] - previous[2] > LATIN_SPACE_EM * max(char.size, 1e-3):
                    # Words the PDF places apart without a space character between them.
                    text.append(" ")
                    quads.append(_quad(run.turn, (previous[2], previous[1], box[0], previous[3])))
            text.append(char.text)
        quads.append(_quad(run.turn, box))
    if not text:
        return None
    points = [point for quad in quads for point in quad]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    left, top = max(0, int(min(xs))), max(0, int(min(ys)))
    right, bottom = min(width, int(-(-max(xs) // 1))), min(height, int(-(-max(ys) // 1)))
    framed = (
        min(b[0] for _, b in chars),
        min(b[1] for _, b in chars),
        max(b[2] for _, b in chars),
        max(b[3] for _, b in chars),
    )
    return {
        "words": "".join(text),
        "location": {"top": top, "left": left, "width": max(1, right - left), "height": max(1, bottom - top)},
        "score": 1.0,
        "box": _quad(run.turn, framed),
        "chars": quads,
    }


def _latin(text: str) -> bool:
    return text.isascii() and text.isalnum()


def lines_of(chars: list[Char], width: int, height: int) -> list[Line]:
    """The characters (in the order the PDF writes them) as lines, in that order."""
    runs: list[_Run] = []
    for char in chars:
        box = _framed(char)
        if runs and _continues(runs[-1], char, box):
            runs[-1].chars.append((char, box))
        elif not char.text.isspace():
            runs.append(_Run(char.turn, [(char, box)]))
    return [line for run in runs if (line := _line(run, width, height)) is not None]


# -- a page's answer


def _norm(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def agreement(ours: list[Line], theirs: list[Line]) -> float:
    """Character F1 between two readings of a page (NFKC, whitespace left out); 1.0 when both
    are empty."""
    a, b = (
        Counter(_norm("".join(line["words"] for line in ours))),
        Counter(_norm("".join(line["words"] for line in theirs))),
    )
    total = sum(a.values()) + sum(b.values())
    return 1.0 if total == 0 else 2 * sum((a & b).values()) / total


def _area(location) -> float:
    return max(0, location["width"]) * max(0, location["height"])


def _overlap(a, b) -> float:
    width = min(a["left"] + a["width"], b["left"] + b["width"]) - max(a["left"], b["left"])
    height = min(a["top"] + a["height"], b["top"] + b["height"]) - max(a["top"], b["top"])
    return max(0, width) * max(0, height)


def placed(lines: list[Line], x: int, y: int, scale: float = 1.0) -> list[Line]:
    """Lines read in a picture that lies at (x, y) of the page, `scale` page pixels to one of
    the picture's, in the page's pixels."""
    if not (x or y) and scale == 1.0:
        return lines
    out = []
    for line in lines:
        loc = line["location"]
        moved: Line = {
            **line,
            "location": {
                "left": round(loc["left"] * scale) + x,
                "top": round(loc["top"] * scale) + y,
                "width": max(1, round(loc["width"] * scale)),
                "height": max(1, round(loc["height"] * scale)),
            },
        }
        if "box" in line:
            moved["box"] = [[round(px * scale + x, 1), round(py * scale + y, 1)] for px, py in line["box"]]
        if "chars" in line:
            moved["chars"] = [
                [[round(px * scale + x, 1), round(py * scale + y, 1)] for px, py in q] for q in line["chars"]
            ]
        out.append(moved)
    return out


def _beside(text: list[Line], ocr: list[Line]) -> list[Line]:
    """The text layer's lines with OCR's lines that none of them covers, each OCR line before
    the first text line that starts below it."""
    kept = [
        line
        for line in ocr
        if not any(_overlap(line["location"], t["location"]) >= OVERLAP * max(_area(line["location"]), 1) for t in text)
    ]
    out = list(text)
    for line in sorted(kept, key=lambda item: item["location"]["top"], reverse=True):
        top = line["location"]["top"]
        at = next((n for n, t in enumerate(out) if t["location"]["top"] > top and t in text), len(out))
        out.insert(at, line)
    return out


def answer(plan: PagePlan | None, ocr: list[Line] | None, detail: bool = True) -> tuple[list[Line], PageSource]:
    """The page's lines and where they came from: `ocr` is what OCR read in the page's picture
    (in the picture's pixels; None when the page has no picture or it was not read). Without
    `detail`, lines carry words, location and score only, as POST /general_ocr answers."""
    if plan is None:
        lines, source = list(ocr or []), "ocr"
    else:
        read = placed(list(ocr or []), plan.x, plan.y, plan.scale)
        if plan.plan == "text":
            lines, source = list(plan.lines), "text"
        elif plan.plan == "ocr" or plan.plan == "verify" and agreement(plan.lines, read) < AGREEMENT:
            lines, source = read, "ocr"
        else:  # mixed, or a verified layer: its lines, and OCR's where it has none
            lines = _beside(plan.lines, read)
            source = "mixed" if len(lines) > len(plan.lines) else "text"
            if source == "mixed":  # each line says which (a clean OCR line may score 1.0 too)
                own = {id(line) for line in plan.lines}
                lines = [{**line, "source": "text" if id(line) in own else "ocr"} for line in lines]
    if not detail:
        kept = ("words", "location", "score", "source")
        lines = [{key: line[key] for key in kept if key in line} for line in lines]  # type: ignore[literal-required, misc]
    return lines, source  # type: ignore[return-value]
