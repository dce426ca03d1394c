"""The searchable PDF's one font: invisible text in any script, at a few kilobytes per document.

The text layer is drawn in render mode 3 (neither filled nor stroked): no viewer paints it, but
every viewer selects, searches and copies it. So the font needs no glyph shapes at all, only
what viewers read to place and name the characters:

- a composite (Type0) font with the Identity-H encoding: each character is one 2-byte code;
  a code is the character's own UTF-16 unit for the Basic Multilingual Plane, and for a
  character beyond it (CJK Extension B and on) a code from the surrogate block (D800-DFFF,
  never a character on its own) given out per document (SUPPLEMENTARY_CODES of them);
- a ToUnicode CMap naming each code's character (identity ranges for the BMP, one entry per
  supplementary character a document used), which is what pdf.js, PDFium and Poppler extract;
- widths (W): CJK characters and fullwidth forms one em, the rest half an em (WIDE_RANGES), so a line of mixed Chinese and Latin spreads
  its characters roughly where they are on the page (each line is then stretched to its box
  with Tz, jobs/outputs/pdf.py);
- a TrueType program of two glyphs with nothing to draw, one em and half an em wide (668 bytes,
  GLYPHLESS_TTF, made by build_glyphless_ttf with fontTools: ascent 800, descent -200 in 1000
  units, so a line's selection spans exactly its box), and a CIDToGIDMap sending each code to
  the glyph of its width.

The idea is the one OCRmyPDF's renderers use (a glyphless font with Identity-H and ToUnicode,
text mode 3, Tz); this is our own writing of it, over pikepdf.
"""

from __future__ import annotations

import base64
import bisect
import zlib

import pikepdf
from pikepdf import Array, Dictionary, Name

# Units per em of the font; a line's glyph box is [DESCENT, ASCENT] of its font size.
EM = 1000
ASCENT = 800
DESCENT = -200
WIDE = 1000
NARROW = 500
# Codes given to characters beyond the BMP, per document (the surrogate block).
SUPPLEMENTARY_FIRST = 0xD800
SUPPLEMENTARY_CODES = 0x800
REPLACEMENT = 0xFFFD

GLYPHLESS_TTF = base64.b64decode(
    "AAEAAAAKAIAAAwAgT1MvMkTfRN0AAAEoAAAAYGNtYXAADABGAAABlAAAACxnbHlmvr/buAAAAcgAAAAwaGVhZGL/QzgAAACs"
    "AAAANmhoZWEHCgMkAAAA5AAAACRobXR4CcQAAAAAAYgAAAAMbG9jYQAMABgAAAHAAAAACG1heHAABgAEAAABCAAAACBuYW1l"
    "ZzDLGAAAAfgAAABvcG9zdNz3SD8AAAJoAAAANAABAAAAAQAALjOnJl8PPPUAAwPoAAAAAAAAAAAAAAAAAAAAAAAA/zgD6AMg"
    "AAAAAwACAAAAAAAAAAEAAAMg/zgAAAPoAAAAAAPoAAEAAAAAAAAAAAAAAAAAAAADAAEAAAADAAIAAgAAAAAAAgAAAAAAAAAA"
    "AAAAAAAAAAAAAwNBAZAABQAEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAPz8/PwAA"
    "AAAAAAMg/zgAAAMgAMgAAAAAAAAAAAAAAAAAAAAgAAAD6AAAA+gAAAH0AAAAAAACAAAAAwAAABQAAwABAAAAFAAEABgAAAAC"
    "AAIAAAAA//8AAP//AAEAAAAAAAAADAAYAAIAAP84A+gDIAAAAAEAABUBA+jIA+gAAAIAAP84AfQDIAAAAAEAABUBAfTIA+gA"
    "AAAABAA2AAEAAAAAAAEADAAAAAEAAAAAAAIABwAMAAMAAQQJAAEAGAATAAMAAQQJAAIADgArR2x5cGhMZXNzQ0pLUmVndWxh"
    "cgBHAGwAeQBwAGgATABlAHMAcwBDAEoASwBSAGUAZwB1AGwAYQByAAACAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAMAAAECAQMEd2lkZQZuYXJyb3c="
)
FONT_NAME = "GlyphLessCJK"


def build_glyphless_ttf() -> bytes:
    """GLYPHLESS_TTF as fontTools makes it (tests check that the two agree; fontTools is a
    development tool only, never needed to write a PDF). Each of its two glyphs, one em and
    half an em wide, is two single points at the corners of its box [0, DESCENT, advance,
    ASCENT]: nothing to paint, were a viewer to paint it, but a box, which PDFium needs (it
    leaves out a character whose glyph has no extent)."""
    import io

    from fontTools.fontBuilder import FontBuilder  # type: ignore[import-untyped]
    from fontTools.pens.ttGlyphPen import TTGlyphPen  # type: ignore[import-untyped]
    from fontTools.ttLib.tables import ttProgram  # type: ignore[import-untyped]
    from fontTools.ttLib.tables._g_l_y_f import Glyph, GlyphCoordinates, flagOnCurve  # type: ignore[import-untyped]

    def corners(advance: int) -> Glyph:
        glyph = Glyph()
        glyph.numberOfContours = 2
        glyph.coordinates = GlyphCoordinates([(0, DESCENT), (advance, ASCENT)])
        glyph.flags = bytearray([flagOnCurve, flagOnCurve])
        glyph.endPtsOfContours = [0, 1]
        glyph.program = ttProgram.Program()
        glyph.program.fromBytecode(b"")
        return glyph

    builder = FontBuilder(unitsPerEm=EM, isTTF=True)
    builder.font.recalcTimestamp = False
    order = [".notdef", "wide", "narrow"]
    builder.setupGlyphOrder(order)
    builder.setupCharacterMap({})
    builder.setupGlyf({".notdef": TTGlyphPen(None).glyph(), "wide": corners(WIDE), "narrow": corners(NARROW)})
    builder.setupHorizontalMetrics({".notdef": (WIDE, 0), "wide": (WIDE, 0), "narrow": (NARROW, 0)})
    builder.setupHorizontalHeader(ascent=ASCENT, descent=DESCENT)
    builder.setupNameTable({"familyName": FONT_NAME, "styleName": "Regular"})
    builder.setupOS2(sTypoAscender=ASCENT, sTypoDescender=DESCENT, usWinAscent=ASCENT, usWinDescent=-DESCENT)
    builder.setupPost()
    builder.font["head"].created = builder.font["head"].modified = 0
    out = io.BytesIO()
    builder.save(out)
    return out.getvalue()


# One em wide: the CJK blocks (Han, its extensions and compatibility forms, Kana, Bopomofo,
# Hangul, Yi), fullwidth forms, and the punctuation and symbols Chinese text sets a full em wide
# (quotation marks, ellipsis, circled numbers, box drawing, shapes); the surrogate block stands
# for the characters beyond the BMP (their codes here), almost all Han. Everything else is half
# an em. Unicode's East Asian Width says much the same in ~360 runs; these 30 keep the font's
# width array small (it is written once per document, uncompressed).
WIDE_RANGES: tuple[tuple[int, int], ...] = (
    (0x1100, 0x115F),
    (0x2014, 0x2014),
    (0x2018, 0x201F),
    (0x2025, 0x2026),
    (0x2030, 0x2033),
    (0x203B, 0x203B),
    (0x2160, 0x217F),
    (0x2190, 0x21FF),
    (0x2460, 0x24FF),
    (0x2500, 0x25FF),
    (0x2600, 0x27BF),
    (0x2E80, 0x303E),
    (0x3041, 0x33FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xA000, 0xA4CF),
    (0xA960, 0xA97F),
    (0xAC00, 0xD7A3),
    (0xD800, 0xDFFF),
    (0xF900, 0xFAFF),
    (0xFE10, 0xFE19),
    (0xFE30, 0xFE6F),
    (0xFF00, 0xFF60),
    (0xFFE0, 0xFFE6),
)
_STARTS = tuple(first for first, _ in WIDE_RANGES)


def width(code: int) -> int:
    """A code's advance in 1/1000 em."""
    at = bisect.bisect_right(_STARTS, code) - 1
    return WIDE if at >= 0 and code <= WIDE_RANGES[at][1] else NARROW


def cid_to_gid_map() -> bytes:
    """Every code to the glyph of its width: 1 (one em) or 2 (half an em)."""
    glyphs = bytearray(b"\x00\x02" * 0x10000)
    for first, last in WIDE_RANGES:
        glyphs[2 * first : 2 * (last + 1)] = b"\x00\x01" * (last + 1 - first)
    return bytes(glyphs)


def _flate(pdf: pikepdf.Pdf, data: bytes, **entries) -> pikepdf.Stream:
    stream = pikepdf.Stream(pdf, b"", **entries)
    stream.write(zlib.compress(data, 9), filter=Name.FlateDecode)
    return stream


class TextFont:
    """The document's font, made once per PDF (its objects shared by every page); `encode` a
    line's text into codes; `finish` before the PDF is saved (the ToUnicode entries of the
    characters beyond the BMP it met)."""

    def __init__(self, pdf: pikepdf.Pdf):
        self.pdf = pdf
        self._supplementary: dict[str, int] = {}
        font_file = _flate(pdf, GLYPHLESS_TTF, Length1=len(GLYPHLESS_TTF))
        cid_to_gid = _flate(pdf, cid_to_gid_map())
        descriptor = Dictionary(
            Type=Name.FontDescriptor,
            FontName=Name("/" + FONT_NAME),
            Flags=4,  # symbolic
            FontBBox=Array([0, DESCENT, EM, ASCENT]),
            ItalicAngle=0,
            Ascent=ASCENT,
            Descent=DESCENT,
            CapHeight=ASCENT,
            StemV=80,
            FontFile2=pdf.make_indirect(font_file),
        )
        widths: list = []
        for first, last in WIDE_RANGES:
            widths += [first, last, WIDE]
        cid_font = Dictionary(
            Type=Name.Font,
            Subtype=Name.CIDFontType2,
            BaseFont=Name("/" + FONT_NAME),
            CIDSystemInfo=Dictionary(
                Registry=pikepdf.String("Adobe"), Ordering=pikepdf.String("Identity"), Supplement=0
            ),
            FontDescriptor=pdf.make_indirect(descriptor),
            DW=NARROW,
            W=pdf.make_indirect(Array(widths)),
            CIDToGIDMap=pdf.make_indirect(cid_to_gid),
        )
        self.to_unicode = pdf.make_indirect(pikepdf.Stream(pdf, b""))
        self.font = pdf.make_indirect(
            Dictionary(
                Type=Name.Font,
                Subtype=Name.Type0,
                BaseFont=Name("/" + FONT_NAME),
                Encoding=Name("/Identity-H"),
                DescendantFonts=Array([pdf.make_indirect(cid_font)]),
                ToUnicode=self.to_unicode,
            )
        )

    def encode(self, text: str) -> tuple[bytes, int]:
        """The text's codes (2 bytes each) and their advance in 1/1000 em."""
        codes = bytearray()
        advance = 0
        for char in text:
            code = ord(char)
            if code > 0xFFFF:
                code = self._supplementary.setdefault(char, SUPPLEMENTARY_FIRST + len(self._supplementary))
                if code >= SUPPLEMENTARY_FIRST + SUPPLEMENTARY_CODES:
                    del self._supplementary[char]
                    code = REPLACEMENT
            elif SUPPLEMENTARY_FIRST <= code < 0xE000:
                code = REPLACEMENT  # a lone surrogate: not a character
            codes += code.to_bytes(2, "big")
            advance += width(code)
        return bytes(codes), advance

    def finish(self) -> None:
        self.to_unicode.write(zlib.compress(to_unicode_cmap(self._supplementary), 9), filter=Name.FlateDecode)


def _utf16_hex(text: str) -> str:
    return text.encode("utf-16-be").hex().upper()


def to_unicode_cmap(supplementary: dict[str, int]) -> bytes:
    """The ToUnicode CMap: every BMP code to itself (ranges within one high byte, as CMaps
    require), the surrogate block's codes to the characters they were given to."""
    ranges = [
        f"<{high:02X}00> <{high:02X}FF> <{high:02X}00>"
        for high in range(0x100)
        if not (SUPPLEMENTARY_FIRST >> 8) <= high < 0xE0
    ]
    body = []
    for start in range(0, len(ranges), 100):
        chunk = ranges[start : start + 100]
        body.append(f"{len(chunk)} beginbfrange\n" + "\n".join(chunk) + "\nendbfrange")
    pairs = [f"<{code:04X}> <{_utf16_hex(char)}>" for char, code in sorted(supplementary.items(), key=lambda i: i[1])]
    for start in range(0, len(pairs), 100):
        chunk = pairs[start : start + 100]
        body.append(f"{len(chunk)} beginbfchar\n" + "\n".join(chunk) + "\nendbfchar")
    return (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        + "\n".join(body)
        + "\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    ).encode("ascii")
