"""What an uploaded file is, read from its header bytes alone: format, pixel size, decode cost.

Standard library only, so that the Lambda can refuse an image (wrong format, too many pixels,
a decode bomb) before it pays for a SageMaker call, and the container can refuse it before any
image parser sees the bytes. Only the three accepted formats are parsed; everything else is
named (for a clear message) or refused as not an image.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import ApiError, ErrorCode
from .limits import (
    DOCUMENT_MAX_PAGES,
    LONG_IMAGE_MAX_SIDE_PX,
    MAX_IMAGE_BYTES,
    MAX_JPEG_SCANS,
    MAX_SIDE_PX,
    image_too_large,
)
from .routes import CLOVA_GENERAL, NHN_CROPPING

# Recognised but refused formats, by their leading bytes: a clearer answer than "not an image".
_OTHER_FORMATS = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"%PDF", "PDF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"8BPS", "PSD"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
)
# Documents: the CLOVA door reads their pages (documents/render.py, the DOCUMENT_MAX_PAGES first).
_DOCUMENT_FORMATS = ("PDF", "TIFF")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Start-of-frame markers (every coding process but the lossless-only DHT/DAC/JPG ones).
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_STANDALONE = {0x01} | set(range(0xD0, 0xD8))  # TEM and RST0-7 carry no length


@dataclass(frozen=True)
class ImageHeader:
    format: str  # JPEG | PNG | BMP, as Pillow names them
    width: int
    height: int
    scans: int = 1  # JPEG: scans in the first frame (a baseline file has 1, progressive ~10)


def other_format(data: bytes) -> str | None:
    """The name of a known image or document format we do not accept, from its magic bytes."""
    for magic, name in _OTHER_FORMATS:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        return "AVIF" if brand.startswith(b"avi") else "HEIC" if brand.startswith((b"hei", b"mif")) else "ISO media"
    head = data[:256].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:4096].lower()):
        return "SVG"
    return None


def _invalid(message: str = "the bytes are not a decodable jpg, png or bmp image") -> ApiError:
    return ApiError(ErrorCode.INVALID_IMAGE, message)


def inspect_image(data: bytes, max_side: int = MAX_SIDE_PX, max_short_side: int = MAX_SIDE_PX) -> ImageHeader:
    """Format and size from the header, every documented limit checked; raises ApiError.

    The NHN cropping door accepts long images (LONG_IMAGE_MAX_SIDE_PX) and cuts them into
    slices that meet the usual limit; every other route keeps MAX_SIDE_PX."""
    if not data:
        raise _invalid("the image is empty (0 bytes)")
    if len(data) > MAX_IMAGE_BYTES:
        raise image_too_large(len(data))
    if data.startswith(b"\xff\xd8\xff"):
        header = _jpeg(data)
    elif data.startswith(_PNG_SIGNATURE):
        header = _png(data)
    elif data.startswith(b"BM"):
        header = _bmp(data)
    else:
        other = other_format(data)
        if other in _DOCUMENT_FORMATS:
            raise ApiError(
                ErrorCode.UNSUPPORTED_IMAGE_FORMAT,
                f"{other} files are not read here; send jpg/jpeg, png or bmp. Documents (PDF, TIFF, up to "
                f"{DOCUMENT_MAX_PAGES} pages) are read by the CLOVA route POST {CLOVA_GENERAL}",
            )
        if other:
            raise ApiError(
                ErrorCode.UNSUPPORTED_IMAGE_FORMAT, f"{other} images are not supported; send jpg/jpeg, png or bmp"
            )
        raise _invalid()
    if header.width < 1 or header.height < 1:
        raise _invalid(f"image has no pixels ({header.width}x{header.height})")
    long_side, short_side = max(header.width, header.height), min(header.width, header.height)
    if long_side > max_side or short_side > max_short_side:
        limit = f"the longest side may be at most {max_side} px" + (
            f" and the shortest {max_short_side} px" if max_short_side < max_side else ""
        )
        if max_side < long_side <= LONG_IMAGE_MAX_SIDE_PX and short_side <= min(max_short_side, MAX_SIDE_PX):
            limit += (
                f". Long images (tall screenshots, receipts) up to {LONG_IMAGE_MAX_SIDE_PX} px long are read by "
                f"the NHN cropping route POST {NHN_CROPPING}"
            )
        raise ApiError(ErrorCode.IMAGE_TOO_LARGE, f"image is {header.width}x{header.height} px; {limit}")
    return header


def _png(data: bytes) -> ImageHeader:
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise _invalid("the PNG is truncated or has no IHDR header")
    width, height = struct.unpack(">II", data[16:24])
    return ImageHeader("PNG", width, height)


def _bmp(data: bytes) -> ImageHeader:
    if len(data) < 26:
        raise _invalid("the BMP is truncated")
    (dib_size,) = struct.unpack("<I", data[14:18])
    if dib_size == 12:  # OS/2 BITMAPCOREHEADER: unsigned 16-bit sizes
        width, height = struct.unpack("<HH", data[18:22])
    elif dib_size >= 40 or dib_size in (16, 64):
        width, height = struct.unpack("<ii", data[18:26])
        height = abs(height)  # negative: rows stored top-down
    else:
        raise _invalid(f"the BMP header size {dib_size} is not one a BMP file has")
    return ImageHeader("BMP", width, height)


def _jpeg(data: bytes) -> ImageHeader:
    """Walk the first frame's markers (a camera's MPO second frame comes after its EOI and is
    never looked at). Counting scans bounds the decode cost: each progressive scan makes the
    decoder pass over every block of the image again, so a 1 MB file of 36,000 tiny scans over
    4096x4096 px costs minutes of CPU, where a real encoder writes about 10."""
    size = None
    scans = 0
    pos, end = 2, len(data)
    while pos < end:
        if data[pos] != 0xFF:
            raise _invalid("the JPEG data is corrupt (a marker was expected)")
        while pos < end and data[pos] == 0xFF:  # fill bytes before a marker
            pos += 1
        if pos >= end:
            break
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI
            break
        if marker in _STANDALONE:
            continue
        if pos + 2 > end:
            break
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2:
            raise _invalid("the JPEG data is corrupt (a segment length is under 2)")
        segment = data[pos + 2 : pos + length]
        pos += length
        if marker in _SOF:
            if size is not None:
                raise _invalid("the JPEG has more than one frame header")
            if len(segment) < 5:
                break
            height, width = struct.unpack(">HH", segment[1:5])
            if height == 0:
                raise _invalid("the JPEG declares its height later in the file (DNL), which is not supported")
            size = (width, height)
        elif marker == 0xDA:  # start of scan: skip its entropy-coded data up to the next marker
            if size is None:
                raise _invalid("the JPEG has a scan before its frame header")
            scans += 1
            if scans > MAX_JPEG_SCANS:
                raise _invalid(
                    f"the JPEG has over {MAX_JPEG_SCANS} progressive scans (real encoders write about 10) "
                    "and would take minutes to decode; save it again as an ordinary jpg or png"
                )
            pos = _end_of_entropy_data(data, pos)
    if size is None:
        raise _invalid("the JPEG is truncated or has no frame header")
    return ImageHeader("JPEG", size[0], size[1], max(scans, 1))


def _end_of_entropy_data(data: bytes, pos: int) -> int:
    """Index of the marker that ends a scan: 0xFF followed by neither a stuffed 0x00 nor RST."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            return len(data)
        following = data[pos + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            pos += 2
            continue
        return pos  # a marker, or fill bytes before one (the caller skips those)


def exif_orientation(data: bytes) -> int:
    """The EXIF Orientation (1-8; 1 when absent or unreadable) of a JPEG (APP1 "Exif") or PNG
    (eXIf chunk), from the header alone. 5-8 turn the image a quarter: its upright width is
    the stored height."""
    exif = None
    if data.startswith(b"\xff\xd8"):
        pos = 2
        while pos + 4 <= len(data) and data[pos] == 0xFF:
            marker = data[pos + 1]
            (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
            if marker == 0xE1 and data[pos + 4 : pos + 10] == b"Exif\x00\x00":
                exif = data[pos + 10 : pos + 2 + length]
                break
            if marker in (0xDA, 0xD9) or length < 2:  # the image data starts: no EXIF before it
                break
            pos += 2 + length
    elif data.startswith(_PNG_SIGNATURE):
        pos = 8
        while pos + 8 <= len(data):
            length, kind = struct.unpack(">I4s", data[pos : pos + 8])
            if kind == b"eXIf":
                exif = data[pos + 8 : pos + 8 + length]
                break
            if kind in (b"IDAT", b"IEND"):
                break
            pos += 12 + length
    if not exif or len(exif) < 8 or exif[:2] not in (b"II", b"MM"):
        return 1
    order = "<" if exif[:2] == b"II" else ">"
    try:
        (ifd,) = struct.unpack(order + "I", exif[4:8])
        (count,) = struct.unpack(order + "H", exif[ifd : ifd + 2])
        for n in range(min(count, 256)):
            entry = exif[ifd + 2 + 12 * n : ifd + 14 + 12 * n]
            tag, kind, _, value = struct.unpack(order + "HHIH", entry[:10])
            if tag == 0x0112 and kind == 3:
                return value if 1 <= value <= 8 else 1
    except struct.error:
        return 1
    return 1
