"""The limits of the API and of the services it runs on, each written once (docs/api.md)."""

from .errors import ApiError, ErrorCode

# Longest side of an accepted image, in pixels.
MAX_SIDE_PX = 4096

# The NHN cropping door's long images (tall screenshots, receipts, web captures): a long side up
# to this, the short side within MAX_SIDE_PX, so that every slice it is cut into meets the usual
# limit.
LONG_IMAGE_MAX_SIDE_PX = 16384

# Largest accepted image file, in bytes (10 MiB).
MAX_IMAGE_BYTES = 10 * 1024 * 1024

# Image container formats we accept, as Pillow names them; decided by the bytes, never by a name.
SUPPORTED_FORMATS = frozenset({"JPEG", "PNG", "BMP"})

# Most scans a JPEG frame may have. libjpeg writes 10 for a progressive colour image, mozjpeg
# about as many; each scan costs a pass over every block (~6 ms at 4096x4096 px here), so a
# file of thousands of tiny scans is a CPU bomb, not a photo.
MAX_JPEG_SCANS = 100

# A JSON request body may hold the base64 of MAX_IMAGE_BYTES plus a data-URL prefix and the JSON
# around it; anything longer is refused before it is decoded.
MAX_BODY_BYTES = (MAX_IMAGE_BYTES + 2) // 3 * 4 + 4096


# API Gateway refuses an `img` longer than this (its schema, infra/ocr_api.py), so that the
# event it hands the Lambda stays under Lambda's 6 MB (6,291,456-byte) payload limit with room
# for headers: 4.5 MB of image (IMG_MAX_BYTES). The local gateway applies the same rule.
IMG_MAX_BASE64_CHARS = 6_000_000
IMG_MAX_BYTES = IMG_MAX_BASE64_CHARS // 4 * 3


def image_too_large(size: int) -> ApiError:
    """The error for an image of `size` bytes, over MAX_IMAGE_BYTES."""
    return ApiError(
        ErrorCode.PAYLOAD_TOO_LARGE, f"image is {size} bytes; at most {MAX_IMAGE_BYTES} bytes (10 MiB) are accepted"
    )


# The time budget of one request (README, "Time budget"). API Gateway gives its integration
# 29 s and then answers 504 itself; everything behind it must answer before that.
API_GATEWAY_TIMEOUT_S = 29
# The Lambda's timeout, a backstop: the handler plans to answer well within it.
FRONTEND_TIMEOUT_S = 28
# What the handler gives itself from its first line, leaving room for a cold start and the
# gateway's own work: the URL fetch and the endpoint call share it.
FRONTEND_BUDGET_S = 26
# Fetching a URL: DNS, connect, TLS, headers, body and every redirect hop together.
URL_FETCH_TIMEOUT_S = 12


# Documents (PDF, TIFF) on the synchronous routes: the first pages are read, as CLOVA does.
DOCUMENT_MAX_PAGES = 10
# PDF pages are rendered at this resolution: body text (10 pt) comes out ~28 px high, what the
# recogniser reads best; an A4 page is 1654x2339 px. Pages are then brought within MAX_SIDE_PX.
RENDER_DPI = 200
# A document page (a TIFF frame) may declare at most this many pixels; more is refused from its
# header, before a byte is decoded (an A4 page scanned at 600 dpi is 35 M px). Well under
# Pillow's own decompression-bomb limit (89 M px warns, 179 M px fails).
MAX_PAGE_PIXELS = 40_000_000
# All the pages of one document together, as rendered (10 A4 pages at RENDER_DPI are 39 M px).
MAX_DOCUMENT_PIXELS = 100_000_000
# The page renderer's address-space cap when the deployment sets none (documents/render.py).
RENDER_MEMORY_MB_DEFAULT = 512

# SageMaker's InvokeEndpoint: "6 MB" per call to a real-time endpoint, 4 MB to a serverless one
# (read in decimal megabytes, the stricter reading), and 60 s for the container to answer. The
# Lambda fits images under them (frontend/shrink.py); `make serve` enforces them in its stand-in
# for the runtime API (local/sagemaker_runtime.py).
SAGEMAKER_INVOKE_MAX_BYTES = 6_000_000
SAGEMAKER_SERVERLESS_INVOKE_MAX_BYTES = 4_000_000
SAGEMAKER_INVOKE_TIMEOUT_S = 60.0

# The detector reads a page scaled to at most this many pixels on its long side (inference/
# detect.py); the frontend cuts long images into slices no shorter (frontend/long_images.py).
DETECTOR_MAX_SIDE_PX = 960
# The plate route (NHN's Vehicle Plate) also looks at a photo at up to this many pixels on its
# long side: a plate 60 to 120 px wide in a 4,000 px photo is a smudge at 960 that the detector
# does not see, even faintly (inference/text/small_text.larger_view; docs/decisions.md,
# 2026-12-08). It costs up to 4.5 times the first view's detector time, and ~400 MB more at its
# peak, on photos over 1,200 px, on this route only.
PLATE_DETECTOR_MAX_SIDE_PX = 2048
