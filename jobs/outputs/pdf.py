"""The searchable PDF: the input's own pages, each with an invisible text layer on its lines.

    write_searchable(source, kind, pages, target)   source: the input (a file), pages: its
                                                    result pages in order; target: a path

- A PDF input keeps everything it has: qpdf (through pikepdf) writes it again with its streams
  passed through as they are (no decoding, no recompression: a scan's image stream is the same
  bytes), pages in their order and sizes. On each page read by OCR, its content is wrapped in
  q ... Q (shared streams) and one new content stream is added after it: the page's lines in
  render mode 3 with the document's glyphless font (font.py), each line's text placed on its
  box and stretched to its width (Tz); vertical lines run down their column. The page's
  resources get the font beside its own (a shallow copy of what it uses, inherited or shared
  ones included, so no other page changes). Pages read from their own text layer (a born-
  digital page, "source": "text") get no second layer; pages that failed get none.
- An image input (jpg, png, bmp) or a TIFF becomes a PDF first (images.py), a page per frame at
  its own resolution, and then the same.

Positions: a result page's boxes are in the pixels of the page as it was read (its `width` x
`height`, the page as displayed: its crop box, /Rotate applied). display_transform maps them
back to the page's user space, whatever its crop box, rotation or resolution.

Memory: pikepdf reads the input's objects as they are asked for and its streams' data only
while writing; what this module adds is held compressed (1-3 KB a page of text) until the
save. Measured in docs/benchmarks.md.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pikepdf
from pikepdf import Dictionary, Name, Operator

from ocr_contract.jobs import ResultPage

from .font import ASCENT, DESCENT, EM, TextFont

# A line this much taller than wide, with two characters or more, is a vertical line.
VERTICAL_RATIO = 1.5
# The name the font is given in a page's resources (another, where a page uses this one).
FONT_RESOURCE = "/OcrText"


@dataclass
class Written:
    pages: int = 0  # pages in the PDF
    layered: int = 0  # pages given a text layer
    lines: int = 0


@dataclass(frozen=True)
class Transform:
    """Display pixels (x right, y down) to user space: point = origin + x * ex + y * ey."""

    origin: tuple[float, float]
    ex: tuple[float, float]
    ey: tuple[float, float]

    def point(self, x: float, y: float) -> tuple[float, float]:
        return (self.origin[0] + x * self.ex[0] + y * self.ey[0], self.origin[1] + x * self.ex[1] + y * self.ey[1])


def _box(page: pikepdf.Page) -> tuple[float, float, float, float]:
    """The page's visible box, as PDFium renders it: the crop box within the media box."""
    media = [float(v) for v in page.mediabox]
    crop = [float(v) for v in page.cropbox]
    mx0, mx1 = sorted(media[0::2])
    my0, my1 = sorted(media[1::2])
    cx0, cx1 = sorted(crop[0::2])
    cy0, cy1 = sorted(crop[1::2])
    x0, y0, x1, y1 = max(mx0, cx0), max(my0, cy0), min(mx1, cx1), min(my1, cy1)
    return (mx0, my0, mx1, my1) if x1 <= x0 or y1 <= y0 else (x0, y0, x1, y1)


def display_transform(box: tuple[float, float, float, float], rotation: int, width: int, height: int) -> Transform:
    """From the pixels of the page as displayed (`width` x `height`, /Rotate `rotation` applied
    clockwise) to its user space."""
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    rotation %= 360
    if rotation == 90:
        return Transform((x0, y0), (0.0, bh / width), (bw / height, 0.0))
    if rotation == 180:
        return Transform((x1, y0), (-bw / width, 0.0), (0.0, bh / height))
    if rotation == 270:
        return Transform((x1, y1), (0.0, -bh / width), (-bw / height, 0.0))
    return Transform((x0, y1), (bw / width, 0.0), (0.0, -bh / height))


def _unit(vector: tuple[float, float]) -> tuple[tuple[float, float], float]:
    length = math.hypot(*vector)
    return (vector[0] / length, vector[1] / length), length


def ocr_lines(page: ResultPage) -> list:
    """The lines of a result page that need a text layer: none on a page read from its own
    text layer, or that failed; on a "mixed" page those whose own `source` is "ocr"
    (documents/text_layer.py marks each line of such a page)."""
    if page.get("error") or not page.get("width") or not page.get("height"):
        return []
    source = page.get("source")  # the jobs' textLayer option: where the page's lines came from
    if source == "text":
        return []
    lines = [line for line in page.get("lines") or [] if str(line.get("words", "")).strip()]
    if source == "mixed":  # its text layer's lines are the PDF's own already
        lines = [line for line in lines if dict(line).get("source", "ocr") == "ocr"]
    return lines


def _round(value: float) -> float:
    return round(value, 3)


def text_layer(font: TextFont, font_name: str, lines: list, transform: Transform) -> tuple[bytes, int]:
    """The content stream of a page's text layer (uncompressed) and how many lines it holds."""
    ops: list = [([], Operator("BT")), ([3], Operator("Tr"))]
    count = 0
    for line in lines:
        text = str(line["words"])
        where = line["location"]
        left, top, w, h = (float(where[k]) for k in ("left", "top", "width", "height"))
        if w <= 0 or h <= 0:
            continue
        codes, advance = font.encode(text)
        if advance <= 0:
            continue
        vertical = h > VERTICAL_RATIO * w and len(text.strip()) >= 2
        if vertical:  # runs down its column; the glyphs' tops face right (rotated clockwise)
            along, across = _unit(transform.ey), _unit(transform.ex)
            length, size = h * along[1], w * across[1]
            origin = transform.point(left - DESCENT / EM * w, top)
            direction, up = along[0], across[0]
        else:
            along, across = _unit(transform.ex), _unit((-transform.ey[0], -transform.ey[1]))
            length, size = w * along[1], h * across[1]
            origin = transform.point(left, top + ASCENT / EM * h)
            direction, up = along[0], across[0]
        if size <= 0 or length <= 0:
            continue
        scale = 100.0 * length / (size * advance / EM)
        ops += [
            ([Name(font_name), _round(size)], Operator("Tf")),
            ([_round(scale)], Operator("Tz")),
            (
                [
                    _round(direction[0]),
                    _round(direction[1]),
                    _round(up[0]),
                    _round(up[1]),
                    _round(origin[0]),
                    _round(origin[1]),
                ],
                Operator("Tm"),
            ),
            ([pikepdf.String(codes)], Operator("Tj")),
        ]
        count += 1
    ops.append(([], Operator("ET")))
    return pikepdf.unparse_content_stream(ops), count


def _font_name(page: pikepdf.Page, font: TextFont) -> str:
    """The page's resources with the font added under a name of its own: a new dictionary
    holding the page's effective resources (inherited, shared) and a new /Font holding theirs
    and ours, so the objects other pages share are left as they are."""
    effective = page.get_resources()
    resources = Dictionary()
    if isinstance(effective, Dictionary):
        for key, value in effective.items():
            resources[key] = value
    fonts = Dictionary()
    existing = resources.get(Name.Font)
    if isinstance(existing, Dictionary):
        for key, value in existing.items():
            fonts[key] = value
    name, n = FONT_RESOURCE, 1
    while name in fonts:
        n += 1
        name = f"{FONT_RESOURCE}{n}"
    fonts[name] = font.font
    resources[Name.Font] = fonts
    page.obj[Name.Resources] = resources
    return name


def _layer(pdf: pikepdf.Pdf, page: pikepdf.Page, result: ResultPage, font: TextFont, wrap) -> int:
    lines = ocr_lines(result)
    if not lines:
        return 0
    transform = display_transform(_box(page), page.rotation, int(result["width"]), int(result["height"]))
    name = _font_name(page, font)
    content, count = text_layer(font, name, lines, transform)
    if not count:
        return 0
    stream = pikepdf.Stream(pdf, b"")
    stream.write(zlib.compress(content, 6), filter=Name.FlateDecode)
    push, pop = wrap
    page.contents_add(push, prepend=True)
    page.contents_add(pop)
    page.contents_add(pdf.make_indirect(stream))
    return count


def add_text_layers(pdf: pikepdf.Pdf, pages: Iterable[ResultPage]) -> Written:
    """Each result page's text layer on the PDF's page of the same number (pages past the end
    of either are left out)."""
    font = TextFont(pdf)
    push = pdf.make_indirect(pikepdf.Stream(pdf, b"q\n"))
    pop = pdf.make_indirect(pikepdf.Stream(pdf, b"\nQ\n"))
    written = Written(pages=len(pdf.pages))
    for result in pages:
        number = int(result.get("page", 0))
        if not 1 <= number <= written.pages:
            continue
        count = _layer(pdf, pdf.pages[number - 1], result, font, (push, pop))
        if count:
            written.layered += 1
            written.lines += count
    font.finish()
    return written


def save(pdf: pikepdf.Pdf, target: Path | str) -> None:
    """Write the PDF with its streams as they are: no stream decoded (a JPEG, a CCITT scan, a
    Flate stream's bytes stay the input's), none compressed anew, objects streams as they were."""
    pdf.save(
        target,
        compress_streams=False,
        stream_decode_level=pikepdf.StreamDecodeLevel.none,
        recompress_flate=False,
        object_stream_mode=pikepdf.ObjectStreamMode.preserve,
        fix_metadata_version=False,  # would need lxml for the XMP; the version is kept
        min_version="1.4",
    )


def write_searchable(
    source: BinaryIO | Path | str, kind: str | None, pages: Iterable[ResultPage], target: Path | str
) -> Written:
    """The searchable PDF of one document at `target`. `kind`: "pdf", "tiff", or None for an
    image. Raises (pikepdf.PdfError, ApiError, OSError) when the input cannot be written as a
    PDF; the caller leaves nothing behind then."""
    if kind == "pdf":
        with pikepdf.open(source) as pdf:
            written = add_text_layers(pdf, pages)
            save(pdf, target)
        return written
    from .images import image_pdf

    with image_pdf(source, kind) as pdf:
        written = add_text_layers(pdf, pages)
        save(pdf, target)
    return written
