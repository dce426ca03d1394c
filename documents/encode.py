"""A picture encoded to fit a size: what one model invocation may carry."""

from __future__ import annotations

import io

from ocr_contract import ApiError, ErrorCode


def encode_within(picture, limit_bytes: int, lossless_first: bool = True):
    """(encoded bytes, the picture they hold): PNG when that fits `limit_bytes` (text pages
    compress well), else high-quality JPEG, scaled down only if quality alone is not enough.
    ApiError 413 when nothing fits."""
    from PIL import Image

    if lossless_first:
        out = io.BytesIO()
        picture.save(out, "PNG", compress_level=1)
        if out.tell() <= limit_bytes:
            return out.getvalue(), picture
    for quality, scale in ((95, 1.0), (90, 1.0), (85, 0.85), (80, 0.7), (75, 0.5)):
        frame = (
            picture
            if scale == 1.0
            else picture.resize(
                (max(1, int(picture.width * scale)), max(1, int(picture.height * scale))), Image.Resampling.LANCZOS
            )
        )
        out = io.BytesIO()
        frame.save(out, "JPEG", quality=quality, optimize=True)
        if out.tell() <= limit_bytes:
            return out.getvalue(), frame
    raise ApiError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        f"the image could not be brought under the OCR endpoint's {limit_bytes / 1e6:g} MB limit; "
        f"send one under {limit_bytes} bytes",
    )
