"""An image or TIFF input as a PDF of its own pictures, for the searchable PDF (pdf.py).

- A JPEG is embedded as it is (DCTDecode: the file's bytes, byte for byte), on a page of its
  own resolution: its pixels at the dpi it records (DEFAULT_DPI when it records none), turned
  as its EXIF orientation says (the page is the picture as displayed, which is what was read).
- A PNG or BMP, and each frame of a TIFF, is decoded (Pillow) and stored losslessly (Flate):
  1-bit pictures as 1 bit per pixel, grey as grey, everything else as RGB (transparency laid on
  white, as the engine read it: ocr_contract.pixels.to_rgb), at its own size and dpi.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import pikepdf
from pikepdf import Array, Dictionary, Name

# A picture that records no resolution is laid out at this many pixels per inch (as img2pdf
# and browsers do: a CSS pixel).
DEFAULT_DPI = 96.0
EXIF_ORIENTATION = 0x0112


def _dpi(info: dict) -> tuple[float, float]:
    dpi = info.get("dpi")
    try:
        x, y = float(dpi[0]), float(dpi[1])  # type: ignore[index]
    except (TypeError, ValueError, IndexError):
        return DEFAULT_DPI, DEFAULT_DPI
    good = [v if 10.0 <= v <= 10000.0 else None for v in (x, y)]
    if good[0] is None and good[1] is None:
        return DEFAULT_DPI, DEFAULT_DPI
    return good[0] or good[1] or DEFAULT_DPI, good[1] or good[0] or DEFAULT_DPI


def _displayed(orientation: int, x: float, y: float, w: float, h: float) -> tuple[float, float]:
    """Where a stored pixel position lands once the EXIF orientation is applied."""
    return {
        2: (w - x, y),
        3: (w - x, h - y),
        4: (x, h - y),
        5: (y, x),
        6: (h - y, x),
        7: (h - y, w - x),
        8: (y, w - x),
    }.get(orientation, (x, y))


def placement(w: int, h: int, orientation: int, dpi: tuple[float, float]) -> tuple[float, float, list[float]]:
    """(page width, page height, the `cm` matrix) that shows a w x h stored picture upright, as
    its EXIF orientation says, at `dpi`."""
    turned = orientation in (5, 6, 7, 8)
    shown_w, shown_h = (h, w) if turned else (w, h)
    sx, sy = 72.0 / dpi[0], 72.0 / dpi[1]
    if turned:
        sx, sy = sy, sx
    page_w, page_h = shown_w * sx, shown_h * sy

    def page(u: float, v: float) -> tuple[float, float]:
        x, y = _displayed(orientation, u * w, (1 - v) * h, w, h)
        return x * sx, page_h - y * sy

    origin, right, up = page(0, 0), page(1, 0), page(0, 1)
    matrix = [right[0] - origin[0], right[1] - origin[1], up[0] - origin[0], up[1] - origin[1], origin[0], origin[1]]
    return page_w, page_h, [round(v, 4) for v in matrix]


def _add_page(pdf: pikepdf.Pdf, image: pikepdf.Stream, w: int, h: int, orientation: int, dpi) -> None:
    page_w, page_h, matrix = placement(w, h, orientation, dpi)
    page = pdf.add_blank_page(page_size=(round(page_w, 4), round(page_h, 4)))
    page.obj[Name.Resources] = Dictionary(XObject=Dictionary(Im0=pdf.make_indirect(image)))
    ops: list[Any] = [
        ([], pikepdf.Operator("q")),
        (matrix, pikepdf.Operator("cm")),
        ([Name.Im0], pikepdf.Operator("Do")),
        ([], pikepdf.Operator("Q")),
    ]
    content = pikepdf.unparse_content_stream(ops)
    page.obj[Name.Contents] = pdf.make_indirect(pikepdf.Stream(pdf, content))


def _jpeg(pdf: pikepdf.Pdf, data: bytes, picture) -> pikepdf.Stream:
    spaces = {"L": Name.DeviceGray, "RGB": Name.DeviceRGB, "YCbCr": Name.DeviceRGB, "CMYK": Name.DeviceCMYK}
    if picture.mode not in spaces:
        raise ValueError(f"a JPEG in mode {picture.mode} cannot be embedded as it is")
    stream = pikepdf.Stream(pdf, b"")
    stream.write(data, filter=Name.DCTDecode)
    stream[Name.Type] = Name.XObject
    stream[Name.Subtype] = Name.Image
    stream[Name.Width], stream[Name.Height] = picture.size
    stream[Name.ColorSpace] = spaces[picture.mode]
    stream[Name.BitsPerComponent] = 8
    if picture.mode == "CMYK" and "adobe" in picture.info:  # Adobe's CMYK JPEGs are stored inverted
        stream[Name.Decode] = Array([1, 0] * 4)
    return stream


def _pixels(pdf: pikepdf.Pdf, picture) -> pikepdf.Stream:
    """A decoded picture (already upright) as a Flate image."""
    from ocr_contract.pixels import to_rgb

    if picture.mode == "1":
        space, bits, raw = Name.DeviceGray, 1, picture.tobytes()
    elif picture.mode == "L":
        space, bits, raw = Name.DeviceGray, 8, picture.tobytes()
    else:
        space, bits, raw = Name.DeviceRGB, 8, to_rgb(picture).tobytes()
    stream = pikepdf.Stream(pdf, b"")
    stream.write(zlib.compress(raw, 6), filter=Name.FlateDecode)
    stream[Name.Type] = Name.XObject
    stream[Name.Subtype] = Name.Image
    stream[Name.Width], stream[Name.Height] = picture.size
    stream[Name.ColorSpace] = space
    stream[Name.BitsPerComponent] = bits
    return stream


def _frames(picture) -> Iterator:
    from PIL import ImageSequence

    yield from ImageSequence.Iterator(picture)


@contextmanager
def image_pdf(source: BinaryIO | Path | str, kind: str | None) -> Iterator[pikepdf.Pdf]:
    """A new PDF of the input's pictures, a page each (kind "tiff": every frame; None: one image)."""
    from PIL import Image, ImageOps

    data_path = Path(source) if isinstance(source, (str, Path)) else None
    data = data_path.read_bytes() if data_path is not None else source.read()  # type: ignore[union-attr]
    import io

    pdf = pikepdf.new()
    try:
        with Image.open(io.BytesIO(data)) as picture:
            if kind is None and picture.format == "JPEG":
                orientation = int(picture.getexif().get(EXIF_ORIENTATION, 1) or 1)
                stream = _jpeg(pdf, data, picture)
                _add_page(pdf, stream, picture.width, picture.height, orientation, _dpi(picture.info))
            else:
                for frame in _frames(picture) if kind == "tiff" else [picture]:
                    upright = ImageOps.exif_transpose(frame) or frame
                    _add_page(pdf, _pixels(pdf, upright), upright.width, upright.height, 1, _dpi(frame.info))
        yield pdf
    finally:
        pdf.close()
