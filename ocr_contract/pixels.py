"""Any decoded picture into the 8-bit RGB the PP-OCR models read: the one colour conversion.

Used by the container (inference/images.py) and by the frontend's document renderer
(documents/worker.py), so that a page of a TIFF and the same picture sent as a PNG are
read alike. Pillow only (the Lambda bundle has no numpy); it is imported by the caller, never
by ocr_contract's other modules, which stay standard-library only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "La", "RGBa"})
# 16-bit samples scaled to 8 bits: 65535 / 257 = 255.
SIXTEEN_TO_EIGHT = 1 / 257


def to_rgb(picture: Image) -> Image:
    """An RGB picture of the same size.

    - 16-bit grey (I;16*, and mode I holding 16-bit samples) is scaled, not clipped: Pillow's
      own convert("L") clips at 255 and turns a 16-bit scan white. Mode I values that fit in
      8 bits are kept as they are (a few writers store 8-bit grey as I).
    - Float grey (F) is clipped to 0..255.
    - Transparency (alpha, or a palette's transparent index) is laid on white: text on a
      transparent background is dark on nothing.
    - Everything else (1-bit, grey, palette, CMYK, YCbCr, LAB, HSV) is Pillow's conversion.
    """
    from PIL import Image as PILImage

    mode = picture.mode
    if mode.startswith("I;16") or mode == "I":
        wide = picture.convert("I") if mode != "I" else picture
        extrema = wide.getextrema()
        high = extrema[1] if isinstance(extrema[1], (int, float)) else 0
        if mode != "I" or high > 255:
            wide = wide.point(lambda value: value * SIXTEEN_TO_EIGHT)
        return wide.convert("L").convert("RGB")
    if mode == "F":
        return picture.convert("L").convert("RGB")
    if (
        mode in ALPHA_MODES
        or (mode == "P" and "transparency" in picture.info)
        or (mode in ("L", "RGB") and "transparency" in picture.info)
    ):
        # Pasted through its own alpha onto white: the same pixels as compositing over opaque
        # white, with one RGB copy instead of three RGBA ones (long images are 67 M px).
        rgba = picture if picture.mode == "RGBA" else picture.convert("RGBA")
        white = PILImage.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, (0, 0), rgba)
        return white
    return picture.convert("RGB")
