"""Turning uploaded bytes into pixels, the one place where images are decoded.

The format is decided by the bytes. Size limits are checked from the header, before any pixel
buffer is allocated, so a small file claiming 60000x60000 px costs nothing. Every colour mode
a real file may carry (grey, palette, alpha, 16-bit, CMYK) ends up as 8-bit BGR, the order the
PP-OCR models were trained on, with EXIF orientation applied.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ocr_contract import MAX_IMAGE_BYTES, MAX_SIDE_PX, SUPPORTED_FORMATS, ApiError, ErrorCode, image_too_large

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


def _sniff_other_format(data: bytes) -> str | None:
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


def _unsupported(name: str) -> ApiError:
    return ApiError(
        ErrorCode.UNSUPPORTED_IMAGE_FORMAT,
        f"{name} images are not supported; send jpg/jpeg, png or bmp",
    )


def open_image(data: bytes) -> Image.Image:
    """Identify and validate the image from its header, without decoding its pixels."""
    if not data:
        raise ApiError(ErrorCode.INVALID_IMAGE, "the image is empty (0 bytes)")
    if len(data) > MAX_IMAGE_BYTES:
        raise image_too_large(len(data))
    other = _sniff_other_format(data)
    if other:
        raise _unsupported(other)
    try:
        with warnings.catch_warnings():
            # Our own size check below is stricter than Pillow's bomb warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=None)
    except Image.DecompressionBombError as exc:
        raise ApiError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"image dimensions are far too large ({exc}); the longest side may be at most {MAX_SIDE_PX} px",
        ) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ApiError(ErrorCode.INVALID_IMAGE, "the bytes are not a decodable jpg, png or bmp image") from exc
    if image.format not in SUPPORTED_FORMATS:
        raise _unsupported(image.format or "this")
    width, height = image.size
    if width < 1 or height < 1:
        raise ApiError(ErrorCode.INVALID_IMAGE, f"image has no pixels ({width}x{height})")
    if max(width, height) > MAX_SIDE_PX:
        raise ApiError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"image is {width}x{height} px; the longest side may be at most {MAX_SIDE_PX} px",
        )
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
        raise ApiError(ErrorCode.INVALID_IMAGE, f"the image data is corrupt or truncated ({type(exc).__name__})") from exc
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _upright(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image) or image
    except Exception:  # a malformed EXIF block must not cost the user the whole image
        return image


def _to_rgb(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        # 16-bit grey: Pillow's own convert("L") clips at 255 and turns it white; scale instead.
        # Mode "I" holds 16-bit samples too for most files; 8-bit range values are kept as they are.
        grey = np.asarray(image).astype(np.int64)
        if mode != "I" or grey.max(initial=0) > 255:
            grey = grey // 257
        grey = np.clip(grey, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode == "F":
        grey = np.clip(np.asarray(image), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in image.info)
    if has_alpha:
        # Text on a transparent background is usually dark on nothing: lay it on white.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"))
