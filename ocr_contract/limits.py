"""Documented limits of the API (see DESIGN.md, "Image rules")."""
from .errors import ApiError, ErrorCode

# Longest side of an accepted image, in pixels.
MAX_SIDE_PX = 4096

# Largest accepted image file, in bytes (10 MiB).
MAX_IMAGE_BYTES = 10 * 1024 * 1024

# Image container formats we accept, as Pillow names them; decided by the bytes, never by a name.
SUPPORTED_FORMATS = frozenset({"JPEG", "PNG", "BMP"})

# A JSON request body may hold the base64 of MAX_IMAGE_BYTES plus a data-URL prefix and the JSON
# around it; anything longer is refused before it is decoded.
MAX_BODY_BYTES = (MAX_IMAGE_BYTES + 2) // 3 * 4 + 4096


def image_too_large(size: int) -> ApiError:
    """The error for an image of `size` bytes, over MAX_IMAGE_BYTES."""
    return ApiError(ErrorCode.PAYLOAD_TOO_LARGE,
                    f"image is {size} bytes; at most {MAX_IMAGE_BYTES} bytes (10 MiB) are accepted")
