"""Small files that cost a decoder far more than their size: made here, never committed.

Each is what an attacker (or a broken scanner) can send in a few KB: PDFs whose drawing
multiplies (nested form XObjects, one huge content stream listed many times, inflated
operators, fax images of 20000 px), TIFFs that declare 13000 x 13000 px, page trees that lie.
"""

from __future__ import annotations

import io
import zlib

import numpy as np
from PIL import Image, TiffImagePlugin


def pdf(objects: dict[int, bytes], root: int = 1, size_hint: int | None = None) -> bytes:
    """A PDF of the given numbered objects (bodies without `obj`/`endobj`), with a correct xref."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = out.tell()
        out.write(b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n")
    xref = out.tell()
    count = (size_hint or max(objects)) + 1
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % count)
    for number in range(1, count):
        if number in offsets:
            out.write(b"%010d 00000 n \n" % offsets[number])
        else:
            out.write(b"0000000000 65535 f \n")
    out.write(b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (count, root, xref))
    return out.getvalue()


def stream(data: bytes, extra: bytes = b"", compress: bool = True) -> bytes:
    if compress:
        data = zlib.compress(data, 9)
        extra += b" /Filter /FlateDecode"
    return b"<< /Length %d%s >>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def _pages(page_refs: list[int], count: int | None = None) -> bytes:
    kids = b" ".join(b"%d 0 R" % r for r in page_refs)
    return b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(page_refs) if count is None else count)


def _page(contents: bytes, resources: bytes = b"<< >>", parent: int = 2, size: bytes = b"0 0 595 842") -> bytes:
    return b"<< /Type /Page /Parent %d 0 R /MediaBox [%s] /Resources %s /Contents %s >>" % (
        parent,
        size,
        resources,
        contents,
    )


def nested_xobjects_pdf(depth: int = 7, fanout: int = 10, pages: int = 1) -> bytes:
    """Each form XObject draws the one below it `fanout` times: fanout**depth rectangles from a
    few KB."""
    objects: dict[int, bytes] = {1: b"<< /Type /Catalog /Pages 2 0 R >>"}
    first_form = 10
    objects[first_form] = stream(b"0 0 1 1 re f", b" /Type /XObject /Subtype /Form /BBox [0 0 595 842]")
    for level in range(1, depth):
        draws = b" ".join(b"q 1 0 0 1 %d %d cm /X Do Q" % (i, i) for i in range(fanout))
        objects[first_form + level] = stream(
            draws,
            b" /Type /XObject /Subtype /Form /BBox [0 0 595 842] /Resources << /XObject << /X %d 0 R >> >>"
            % (first_form + level - 1),
        )
    top = first_form + depth - 1
    page_ids = []
    for n in range(pages):
        page_id, content_id = 100 + 2 * n, 101 + 2 * n
        objects[content_id] = stream(b"/X Do")
        objects[page_id] = _page(b"%d 0 R" % content_id, b"<< /XObject << /X %d 0 R >> >>" % top)
        page_ids.append(page_id)
    objects[2] = _pages(page_ids)
    return pdf(objects)


def repeated_stream_pdf(megabytes: int = 50, times: int = 10) -> bytes:
    """One content stream of `megabytes` of drawing operators, listed `times` in /Contents."""
    operators = b"0 0 1 1 re f\n" * (megabytes * 1024 * 1024 // 13)
    contents = b"[" + b" ".join(b"4 0 R" for _ in range(times)) + b"]"
    return pdf({1: b"<< /Type /Catalog /Pages 2 0 R >>", 2: _pages([3]), 3: _page(contents), 4: stream(operators)})


def inflated_operators_pdf(megabytes: int = 50) -> bytes:
    """A content stream that inflates to `megabytes` of path operators (a block of 1,000 varied
    lines, repeated: it compresses about 500 times)."""
    block = b"".join(
        b"%d %d m %d %d l S\n" % (i % 595, (i * 7) % 842, (i * 13) % 595, (i * 3) % 842) for i in range(1000)
    )
    operators = block * (megabytes * 1024 * 1024 // len(block))
    return pdf({1: b"<< /Type /Catalog /Pages 2 0 R >>", 2: _pages([3]), 3: _page(b"4 0 R"), 4: stream(operators)})


def fax_image_pdf(pages: int = 10, side: int = 20000) -> bytes:
    """Pages that each draw a `side` x `side` px CCITT Group 4 image, all white. In Group 4 a
    white row under a white row is the one bit of a V0 code, so each image is side / 8 bytes."""
    assert side % 8 == 0
    g4 = b"\xff" * (side // 8) + b"\x00\x10\x01"  # one V0 per row, then EOFB
    objects: dict[int, bytes] = {1: b"<< /Type /Catalog /Pages 2 0 R >>"}
    objects[5] = stream(
        g4,
        b" /Type /XObject /Subtype /Image /Width %d /Height %d /BitsPerComponent 1 /ColorSpace "
        b"/DeviceGray /Filter /CCITTFaxDecode /DecodeParms << /K -1 /Columns %d /Rows %d >>" % (side, side, side, side),
        compress=False,
    )
    page_ids = []
    for n in range(pages):
        page_id, content_id = 100 + 2 * n, 101 + 2 * n
        objects[content_id] = stream(b"q 595 0 0 842 0 0 cm /I Do Q")
        objects[page_id] = _page(b"%d 0 R" % content_id, b"<< /XObject << /I 5 0 R >> >>")
        page_ids.append(page_id)
    objects[2] = _pages(page_ids)
    return pdf(objects)


def lying_page_count_pdf() -> bytes:
    """/Count says 10 pages; the tree holds one."""
    return pdf(
        {
            1: b"<< /Type /Catalog /Pages 2 0 R >>",
            2: _pages([3], count=10),
            3: _page(b"4 0 R"),
            4: stream(b"BT /F1 24 Tf 72 700 Td (Hello) Tj ET"),
        }
    )


def broken_kids_pdf() -> bytes:
    """/Kids points at objects that are not pages (and one that does not exist)."""
    return pdf(
        {
            1: b"<< /Type /Catalog /Pages 2 0 R >>",
            2: b"<< /Type /Pages /Kids [3 0 R 4 0 R 99 0 R] /Count 3 >>",
            3: _page(b"5 0 R"),
            4: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            5: stream(b"0 0 10 10 re f"),
        }
    )


def page_tree_cycle_pdf() -> bytes:
    """A /Pages node whose kid is itself (through a second node)."""
    return pdf(
        {
            1: b"<< /Type /Catalog /Pages 2 0 R >>",
            2: b"<< /Type /Pages /Kids [3 0 R] /Count 5 >>",
            3: b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R] /Count 5 >>",
        }
    )


def _tiff_of_one_strip(
    width: int, height: int, strip: bytes, compression: int, bits: int, samples: int, photometric: int
) -> bytes:
    """A little-endian TIFF whose `height` one-row strips all point at the same encoded row:
    a page of any size from a few KB, made without ever holding its pixels."""
    import struct

    entries = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 1, bits),
        (259, 3, 1, compression),
        (262, 3, 1, photometric),
        (273, 4, height, None),
        (277, 3, 1, samples),
        (278, 4, 1, 1),
        (279, 4, height, None),
    ]
    ifd_size = 2 + 12 * len(entries) + 4
    strip_at = 8 + ifd_size
    offsets_at = strip_at + len(strip)
    counts_at = offsets_at + 4 * height
    out = bytearray(b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(entries)))
    for tag, kind, count, value in entries:
        if tag == 273:
            value = offsets_at
        elif tag == 279:
            value = counts_at
        packed = struct.pack("<I", value) if kind == 4 or count > 1 else struct.pack("<HH", value, 0)
        out += struct.pack("<HHI", tag, kind, count) + packed
    out += struct.pack("<I", 0) + strip
    out += struct.pack(f"<{height}I", *([strip_at] * height)) + struct.pack(f"<{height}I", *([len(strip)] * height))
    return bytes(out)


def huge_tiff(side: int = 13000, group4: bool = False) -> bytes:
    """A side x side px TIFF page: white RGB rows, Deflate-compressed (~100 KB), or white
    1-bit rows in CCITT Group 4 (group4=True)."""
    if not group4:
        return _tiff_of_one_strip(side, side, zlib.compress(b"\xff" * (3 * side), 9), 8, 8, 3, 2)
    row = io.BytesIO()
    Image.new("1", (side, 1), 1).save(row, "TIFF", compression="group4")
    parsed = TiffImagePlugin.TiffImageFile(io.BytesIO(row.getvalue()))
    offset, length = parsed.tag_v2[273][0], parsed.tag_v2[279][0]
    return _tiff_of_one_strip(side, side, row.getvalue()[offset : offset + length], 4, 1, 1, parsed.tag_v2[262])


def sixteen_bit_tiff(picture: Image.Image) -> bytes:
    """The picture as a 16-bit grey TIFF (samples 0..65535, as scanners write them)."""
    grey = np.asarray(picture.convert("L")).astype(np.uint16) * 257
    out = io.BytesIO()
    Image.fromarray(grey).save(out, "TIFF")
    return out.getvalue()


def transparent_long_png(width: int = 4096, height: int = 16384) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), (0, 0, 0, 0)).save(out, "PNG", optimize=True)
    return out.getvalue()
