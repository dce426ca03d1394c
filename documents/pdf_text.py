"""A PDF page's text layer as PDFium reads it (run in the renderer's child, with pdf_pages.py):
each character with its box on the page as shown, its size, its direction, whether it is
visible and whether it maps to Unicode; and whether such characters can be taken as the page's
text (untrusted).
"""

from __future__ import annotations

import ctypes
import math
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .text_layer import frame, unframe

if TYPE_CHECKING:
    pass

# A page's text layer is read up to this many characters (a dense A4 page has about 5,000):
# more is a page no one reads as text, and its lines would not fit a frame of the renderer's.
MAX_PAGE_CHARS = 30_000
# Private-use characters of this many kinds make a text layer untrusted (fewer: a symbol
# font's bullets, left out).
PRIVATE_USE_KINDS = 3
# Text turned other than by a multiple of 90 degrees by more than this is read by OCR.
SKEW_DEGREES = 3.0
# Characters stacked down (vertical writing) in at least this share of steps: read by OCR.
VERTICAL_SHARE = 0.3


@dataclass
class Display:
    """Page space (PDF points, y up) to the page as shown: rotated, y down, in points."""

    left: float
    bottom: float
    right: float
    top: float
    rotation: int

    @property
    def size(self) -> tuple[float, float]:
        w, h = self.right - self.left, self.top - self.bottom
        return (h, w) if self.rotation in (90, 270) else (w, h)

    def point(self, x: float, y: float) -> tuple[float, float]:
        X, Y = x - self.left, self.top - y
        w, h = self.right - self.left, self.top - self.bottom
        return {0: (X, Y), 90: (h - Y, X), 180: (w - X, h - Y), 270: (Y, w - X)}[self.rotation]

    def box(self, points: list[tuple[float, float]]) -> tuple[float, float, float, float]:
        shown = [self.point(x, y) for x, y in points]
        xs, ys = [p[0] for p in shown], [p[1] for p in shown]
        return min(xs), min(ys), max(xs), max(ys)


@dataclass
class TextLayer:
    chars: list[tuple[str, tuple[float, float, float, float], float, float, bool, bool, bool]]
    # (text, shown box in points, size in points, angle shown (degrees), written, visible, unmapped)
    too_long: bool = False  # over MAX_PAGE_CHARS: not read (the page goes to OCR)


# Where a line's box reaches above and below its baseline, in ems (a CJK font's ideographic
# box; OCR's line boxes reach about as far).
ASCENT, DESCENT = 0.88, 0.12


def text_layer(page, display: Display) -> TextLayer:
    import pypdfium2.raw as raw  # type: ignore[import-untyped]

    textpage = page.get_textpage()
    chars = []
    modes: dict[int, int] = {}
    rect = raw.FS_RECTF()
    matrix = raw.FS_MATRIX()
    left, right, bottom, top = (ctypes.c_double() for _ in range(4))
    r, g, b, a = (ctypes.c_uint() for _ in range(4))
    width, height = display.size
    try:
        count = textpage.count_chars()
        if count > MAX_PAGE_CHARS:  # the lines would be megabytes: the page is read from its pixels
            return TextLayer([], too_long=True)
        for i in range(count):
            code = raw.FPDFText_GetUnicode(textpage, i)
            written = not raw.FPDFText_IsGenerated(textpage, i)
            if code in (0x0D, 0x0A) and not written:
                continue
            # The character's size and direction from its matrix (the font size times the text and
            # graphics matrices' scale), its height from its baseline and size (glyph boxes are as
            # tall as each glyph: a flat one would leave its line), its width from its advance
            # (PDFium's loose box: a full-width comma's glyph is a corner of its em).
            raw.FPDFText_GetMatrix(textpage, i, matrix)
            scale = math.sqrt(abs(matrix.a * matrix.d - matrix.b * matrix.c)) or 1.0
            size = raw.FPDFText_GetFontSize(textpage, i) * scale
            angle = (math.degrees(math.atan2(matrix.b, matrix.a)) + display.rotation) % 360
            turn = round(angle / 90) % 4
            ox, oy = display.point(matrix.e, matrix.f)
            raw.FPDFText_GetLooseCharBox(textpage, i, rect)
            corners = [(rect.left, rect.bottom), (rect.right, rect.top)]
            if rect.right <= rect.left and rect.top <= rect.bottom:
                raw.FPDFText_GetCharBox(textpage, i, left, right, bottom, top)
                corners = [(left.value, bottom.value), (right.value, top.value)]
            along = [frame(turn, *display.point(x, y))[0] for x, y in corners]
            base = frame(turn, ox, oy)[1]
            framed = (min(along), base - ASCENT * size, max(along), base + DESCENT * size)
            (x0, y0), (x1, y1) = unframe(turn, framed[0], framed[1]), unframe(turn, framed[2], framed[3])
            box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
            if box[2] <= 0 or box[3] <= 0 or box[0] >= width or box[1] >= height:
                continue  # outside the page as shown
            obj = raw.FPDFText_GetTextObject(textpage, i)
            key = ctypes.cast(obj, ctypes.c_void_p).value or 0
            if key not in modes:
                modes[key] = raw.FPDFTextObj_GetTextRenderMode(obj) if obj else 0
            visible = modes[key] not in (3, 7)
            if visible and raw.FPDFText_GetFillColor(textpage, i, r, g, b, a) and a.value == 0:
                visible = modes[key] in (1, 2, 5, 6)  # stroked, not filled
            chars.append(
                (
                    chr(code) if 0 < code < 0x110000 else "\ufffd",
                    box,
                    size,
                    angle,
                    written,
                    visible,
                    bool(raw.FPDFText_HasUnicodeMapError(textpage, i)),
                )
            )
    finally:
        textpage.close()
    return TextLayer(chars)


def untrusted(chars) -> str | None:
    """Why these characters cannot be taken as the page's text (None: they can)."""
    private: set[str] = set()
    for text, _box, _size, angle, _written, _visible, unmapped in chars:
        if unmapped or text == "\ufffd":
            return "characters without a Unicode mapping"
        category = unicodedata.category(text)
        if category in ("Cc", "Cs", "Cn") and not text.isspace():
            return "control or unassigned characters"
        if category == "Co":
            private.add(text)
        off = min(angle % 90, 90 - angle % 90)
        if off > SKEW_DEGREES and not text.isspace():
            return "skewed text"
    if len(private) >= PRIVATE_USE_KINDS:
        return "private-use characters"
    steps = down = 0
    previous = None
    for text, box, _size, _angle, _written, _visible, _unmapped in chars:
        if text.isspace():
            continue
        if previous is not None:
            steps += 1
            h = max(box[3] - box[1], 1e-3)
            if box[1] - previous[1] > 0.5 * h and abs(box[0] - previous[0]) < 0.3 * h:
                down += 1
        previous = box
    if steps >= 5 and down >= VERTICAL_SHARE * steps:
        return "vertical text"
    return None
