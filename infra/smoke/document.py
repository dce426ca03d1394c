"""The job's document: a PDF of the fixtures, made now with the standard library."""

from __future__ import annotations

import struct
from collections.abc import Iterable

from .common import FIXTURES, JOB_PAGES, PDF_DPI

# -- the job's document ---------------------------------------------------------------------


def _png_parts(png: bytes) -> tuple[int, int, int, bytes]:
    """(width, height, colours, zlib data) of an 8-bit, non-interlaced greyscale or RGB PNG."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    offset, header, data = 8, b"", b""
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        payload = png[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = payload
        elif kind == b"IDAT":
            data += payload
        offset += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour_type not in (0, 2) or interlace:
        raise ValueError("only 8-bit, non-interlaced greyscale or RGB PNGs are embedded")
    return width, height, 1 if colour_type == 0 else 3, data


def pdf_of_pngs(pngs: Iterable[bytes], dpi: int = PDF_DPI) -> bytes:
    """A PDF with one page per PNG, each page the image at `dpi`, with no library: a PNG's
    compressed rows are what PDF's FlateDecode reads with the PNG predictors (Predictor 15)."""
    objects: list[bytes] = []  # object n is objects[n - 1]
    pages = []
    for png in pngs:
        width, height, colours, data = _png_parts(png)
        image = len(objects) + 1
        objects.append(
            (
                f"<< /Type /XObject /Subtype /Image /Width {width} /Height {height} "
                f"/ColorSpace /{'DeviceGray' if colours == 1 else 'DeviceRGB'} /BitsPerComponent 8 "
                f"/Filter /FlateDecode /DecodeParms << /Predictor 15 /Colors {colours} /BitsPerComponent 8 "
                f"/Columns {width} >> /Length {len(data)} >>\nstream\n"
            ).encode()
            + data
            + b"\nendstream"
        )
        w, h = width * 72 / dpi, height * 72 / dpi
        draw = f"q {w:.2f} 0 0 {h:.2f} 0 0 cm /Im0 Do Q".encode()
        objects.append(b"<< /Length %d >>\nstream\n" % len(draw) + draw + b"\nendstream")
        pages.append((image, image + 1, w, h))
    tree = len(objects) + len(pages) + 1
    page_numbers = []
    for image, content, w, h in pages:
        objects.append(
            f"<< /Type /Page /Parent {tree} 0 R /MediaBox [0 0 {w:.2f} {h:.2f}] "
            f"/Resources << /XObject << /Im0 {image} 0 R >> >> /Contents {content} 0 R >>".encode()
        )
        page_numbers.append(len(objects))
    kids = " ".join(f"{n} 0 R" for n in page_numbers)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(page_numbers)} >>".encode())
    objects.append(f"<< /Type /Catalog /Pages {tree} 0 R >>".encode())
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, len(objects), xref)
    return bytes(out)


def job_pdf() -> bytes:
    """The job's 3-page PDF, made from the fixtures now."""
    return pdf_of_pngs((FIXTURES / name).read_bytes() for name, _ in JOB_PAGES)
