"""Documents (PDF, TIFF) into page images the endpoint can read (the CLOVA door).

PDF pages are rendered with PDFium (pypdfium2) at RENDER_DPI, a TIFF's frames are read with
Pillow (Group 3/4 fax, LZW, JPEG...); every page is then brought within MAX_SIDE_PX. At most
MAX_PAGES pages are read, the first ones, as CLOVA does. Both libraries are imported only
when a document arrives.
"""
from __future__ import annotations

import io
import time
from dataclasses import dataclass

from ocr_contract import MAX_SIDE_PX, ApiError, ErrorCode

MAX_PAGES = 10
# 200 dpi: body text (10 pt) renders ~28 px high, what the recogniser reads best (its input is
# 48 px; the detector sees at most 960 px of a page anyway); an A4 page is 1654x2339 px.
RENDER_DPI = 200
# A TIFF frame larger than this many pixels is refused before it is decoded (a decode bomb).
MAX_FRAME_PIXELS = 16384 * 16384


@dataclass(frozen=True)
class Page:
    image: bytes   # PNG
    width: int
    height: int
    index: int


def _png(picture) -> bytes:
    out = io.BytesIO()
    picture.save(out, "PNG", compress_level=1)
    return out.getvalue()


def _within_limit(picture):
    from PIL import Image

    longest = max(picture.size)
    if longest > MAX_SIDE_PX:
        scale = MAX_SIDE_PX / longest
        picture = picture.resize((max(1, int(picture.width * scale)), max(1, int(picture.height * scale))), Image.LANCZOS)
    return picture


def pdf_pages(data: bytes, deadline: float) -> list[Page]:
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError:
        raise ApiError(ErrorCode.INVALID_IMAGE, "the PDF could not be opened (corrupt, or protected by a password)") from None
    try:
        pages = []
        for index in range(min(len(document), MAX_PAGES)):
            if time.monotonic() > deadline:
                raise ApiError(ErrorCode.TIMEOUT, "the PDF's pages could not be rendered in time; send fewer pages")
            page = document[index]
            width, height = page.get_size()  # points, 1/72 inch
            scale = min(RENDER_DPI / 72, MAX_SIDE_PX / max(width, height, 1))
            picture = page.render(scale=scale).to_pil().convert("RGB")
            pages.append(Page(_png(picture), picture.width, picture.height, index))
            page.close()
        if not pages:
            raise ApiError(ErrorCode.INVALID_IMAGE, "the PDF has no pages")
        return pages
    finally:
        document.close()


def tiff_pages(data: bytes, deadline: float) -> list[Page]:
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        document = Image.open(io.BytesIO(data), formats=["TIFF"])
        pages = []
        for index, frame in enumerate(ImageSequence.Iterator(document)):
            if index >= MAX_PAGES:
                break
            if time.monotonic() > deadline:
                raise ApiError(ErrorCode.TIMEOUT, "the TIFF's pages could not be read in time; send fewer pages")
            if frame.width * frame.height > MAX_FRAME_PIXELS:
                raise ApiError(ErrorCode.IMAGE_TOO_LARGE, f"a TIFF page is {frame.width}x{frame.height} px; too large to read")
            picture = _within_limit(frame.convert("RGB"))
            pages.append(Page(_png(picture), picture.width, picture.height, index))
        return pages
    except ApiError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise ApiError(ErrorCode.INVALID_IMAGE, "the TIFF could not be decoded; send a valid tif/tiff file") from None
