"""Turning uploaded bytes into pixels, the one place where images are decoded.

The format is decided by the bytes. Size limits are checked from the header, before any pixel
buffer is allocated, so a small file claiming 60000x60000 px costs nothing. Every colour mode
a real file may carry (grey, palette, alpha, 16-bit, CMYK) ends up as 8-bit BGR, the order the
PP-OCR models were trained on, with EXIF orientation applied (the conversion is
ocr_contract.pixels, shared with the frontend's document pages).
"""

from __future__ import annotations

import io
import struct
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ocr_contract import ApiError, ErrorCode
from ocr_contract.image_header import inspect_image
from ocr_contract.pixels import to_rgb


def open_image(data: bytes) -> Image.Image:
    """Identify and validate the image from its header, without decoding its pixels.

    The header is read by ocr_contract (format, size, JPEG scan count: one place for the
    limits), and only the parser of that one format sees the bytes: Pillow's other parsers,
    and their bugs, are never reached."""
    header = inspect_image(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "malformed MPO": read as a plain JPEG
            image = Image.open(io.BytesIO(data), formats=[header.format])
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, struct.error) as exc:
        raise ApiError(ErrorCode.INVALID_IMAGE, "the bytes are not a decodable jpg, png or bmp image") from exc
    # A camera's MPO (a JPEG with a second frame after the first) is read as its first frame.
    if image.size != (header.width, header.height):
        raise ApiError(ErrorCode.INVALID_IMAGE, "the image header is inconsistent; the file is corrupt")
    return image


def decode_image(data: bytes) -> np.ndarray:
    """Validated image bytes -> contiguous uint8 BGR array (height, width, 3), EXIF-upright."""
    image = open_image(data)
    try:
        image.load()
        image = _upright(image)
        rgb = _to_rgb(image)
    except ApiError:
        raise
    except Exception as exc:  # truncated data, corrupt chunks, bad palettes: Pillow raises many kinds
        raise ApiError(
            ErrorCode.INVALID_IMAGE, f"the image data is corrupt or truncated ({type(exc).__name__})"
        ) from exc
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _upright(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image) or image
    except Exception:  # a malformed EXIF block must not cost the user the whole image
        return image


def _to_rgb(image: Image.Image) -> np.ndarray:
    return np.asarray(to_rgb(image))
