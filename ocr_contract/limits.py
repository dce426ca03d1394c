"""Documented limits of the API (see DESIGN.md, "Image rules")."""

# Longest side of an accepted image, in pixels.
MAX_SIDE_PX = 4096

# Largest accepted image file, in bytes (10 MiB).
MAX_IMAGE_BYTES = 10 * 1024 * 1024

# Image container formats we accept, as Pillow names them; decided by the bytes, never by a name.
SUPPORTED_FORMATS = frozenset({"JPEG", "PNG", "BMP"})

# A JSON request body may hold the base64 of MAX_IMAGE_BYTES plus a data-URL prefix and the JSON
# around it; anything longer is refused before it is decoded.
MAX_BODY_BYTES = (MAX_IMAGE_BYTES + 2) // 3 * 4 + 4096
