"""Documents larger than the page renderer's memory cap, written straight to disk in pieces (the
test process never holds one whole), and a small PDF that costs PDFium far more than its size
to open. Made here, never committed.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from PIL import Image

from tests import hostile

MB = 1024 * 1024


def _write_object(out: BinaryIO, offsets: dict[int, int], number: int, body: bytes) -> None:
    offsets[number] = out.tell()
    out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")


def write_large_pdf(path: Path, pages: int, filler_bytes: int) -> int:
    """A PDF of `pages` small pages (each draws a rectangle) that also holds one uncompressed
    image of `filler_bytes` (an 8-bit grey image 1000 px wide) that no page draws, as a scan's
    unused image or an attachment would be: PDFium never loads it to count or render the pages.
    Written to `path` 1 MB at a time; returns the file's size."""
    width = 1000
    height = max(1, filler_bytes // width)
    with path.open("wb") as out:
        offsets: dict[int, int] = {}
        out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        _write_object(out, offsets, 1, b"<< /Type /Catalog /Pages 2 0 R >>")
        content = b"0 0 0 rg 10 10 50 20 re f"
        _write_object(out, offsets, 3, b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        first_page = 10
        kids = []
        for n in range(pages):
            number = first_page + n
            kids.append(b"%d 0 R" % number)
            size = b"0 0 %d 200" % (300 + 10 * n)  # distinct sizes: each page can be told apart
            _write_object(
                out, offsets, number, b"<< /Type /Page /Parent 2 0 R /MediaBox [%s] /Contents 3 0 R >>" % size
            )
        _write_object(out, offsets, 2, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), pages))
        filler = first_page + pages
        offsets[filler] = out.tell()
        out.write(
            b"%d 0 obj\n<< /Type /XObject /Subtype /Image /Width %d /Height %d /BitsPerComponent 8 "
            b"/ColorSpace /DeviceGray /Length %d >>\nstream\n" % (filler, width, height, width * height)
        )
        row_block = bytes(range(256)) * (MB // 256)
        left = width * height
        while left:
            piece = row_block[: min(left, len(row_block))]
            out.write(piece)
            left -= len(piece)
        out.write(b"\nendstream\nendobj\n")
        xref = out.tell()
        count = filler + 1
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % count)
        for number in range(1, count):
            if number in offsets:
                out.write(b"%010d 00000 n \n" % offsets[number])
            else:
                out.write(b"0000000000 65535 f \n")
        out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (count, xref))
    return path.stat().st_size


def write_large_tiff(path: Path, frames: int, side: int) -> int:
    """A multi-page TIFF of `frames` uncompressed grey frames of side x side px (side**2 bytes
    each). Returns the file's size."""
    picture = Image.new("L", (side, side), 255)
    picture.save(path, "TIFF", save_all=True, append_images=[picture] * (frames - 1), compression="raw")
    return path.stat().st_size


def long_kids_pdf(kids: int) -> bytes:
    """One page listed `kids` times in the page tree's /Kids (6 bytes each): PDFium parses the
    whole array into objects as it loads the tree to count the pages, about 10 times the file's
    size in memory."""
    return hostile.pdf(
        {
            1: b"<< /Type /Catalog /Pages 2 0 R >>",
            2: b"<< /Type /Pages /Kids [" + b"3 0 R " * kids + b"] /Count 1 >>",
            3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        }
    )
