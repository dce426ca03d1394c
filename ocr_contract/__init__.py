"""The API contract of POST /general_ocr, written once.

Used by the Lambda frontend (request parsing, error bodies), the inference container
(image limits, error bodies) and the local stack. Standard library only, so that the
Lambda bundle stays small and starts fast.
"""

from .errors import ApiError, ErrorCode, error_body, error_status
from .limits import MAX_IMAGE_BYTES, MAX_SIDE_PX, SUPPORTED_FORMATS, image_too_large
from .request import OcrRequest, check_content_type, parse_request

__all__ = [
    "ApiError",
    "ErrorCode",
    "error_body",
    "error_status",
    "MAX_IMAGE_BYTES",
    "MAX_SIDE_PX",
    "SUPPORTED_FORMATS",
    "image_too_large",
    "OcrRequest",
    "parse_request",
    "check_content_type",
]
