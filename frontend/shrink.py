"""Fitting an accepted image under SageMaker's invoke limit.

The API accepts images up to 10 MiB, but a real-time endpoint takes at most 6 MB per call, and
a serverless one 4 MB (the stack sets OCR_INVOKE_LIMIT_BYTES to the one it deployed).
The rare image between the two is re-encoded (upright, as high-quality JPEG, scaled down only
if quality alone is not enough); one that still does not fit is refused with 413, never sent
to fail there. The caller has already checked the header (format, size, decode cost:
ocr_contract.image_header), so only an accepted image reaches Pillow. Pillow is imported here
only, so ordinary requests and cold starts never pay for it.
"""

from __future__ import annotations

import io
import os

from documents.encode import encode_within
from ocr_contract import SUPPORTED_FORMATS, ApiError, ErrorCode
from ocr_contract.limits import SAGEMAKER_INVOKE_MAX_BYTES, SAGEMAKER_SERVERLESS_INVOKE_MAX_BYTES

REAL_TIME_LIMIT_BYTES = SAGEMAKER_INVOKE_MAX_BYTES
SERVERLESS_LIMIT_BYTES = SAGEMAKER_SERVERLESS_INVOKE_MAX_BYTES
ENDPOINT_LIMIT_BYTES = int(os.environ.get("OCR_INVOKE_LIMIT_BYTES") or REAL_TIME_LIMIT_BYTES)
INVOKE_LIMIT_BYTES = ENDPOINT_LIMIT_BYTES - 64 * 1024  # with room to spare


def upright_rgb(image: bytes):
    """An accepted image as the container reads it: upright (EXIF orientation applied), and
    converted to RGB by the container's own conversion (ocr_contract.pixels: 16-bit scaled,
    transparent pixels on white). Its header was checked before, so only Pillow's parser of an
    accepted format sees the bytes."""
    from PIL import Image, ImageOps

    from ocr_contract.pixels import to_rgb

    try:
        picture: Image.Image = Image.open(io.BytesIO(image), formats=sorted(SUPPORTED_FORMATS))
        return to_rgb(ImageOps.exif_transpose(picture))
    except Exception:
        raise ApiError(
            ErrorCode.INVALID_IMAGE, "the image data is corrupt or truncated; send a decodable jpg, png or bmp"
        ) from None


def fit_invoke_limit(image: bytes) -> tuple[bytes, float]:
    """(bytes to send, scale of the sent image against the original; 1.0 when unchanged)."""
    if len(image) <= INVOKE_LIMIT_BYTES:
        return image, 1.0
    picture = upright_rgb(image)
    try:
        encoded, sent = encode_within(picture, INVOKE_LIMIT_BYTES, lossless_first=False)
    except ApiError:
        raise ApiError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"the image could not be brought under the OCR endpoint's {ENDPOINT_LIMIT_BYTES / 1e6:g} MB limit; "
            f"send one under {INVOKE_LIMIT_BYTES} bytes",
        ) from None
    return encoded, sent.width / picture.width
