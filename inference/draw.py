"""Drawing recognised lines over the image, for people who would rather look than read."""

from __future__ import annotations

import glob
import logging
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

# Debian's fonts-noto-cjk, then common places on other systems.
_FONT_GLOBS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/**/NotoSansCJK*.tt[cf]",
    "/usr/share/fonts/**/*CJK*.tt[cf]",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)


def _cjk_font_path() -> str | None:
    for pattern in _FONT_GLOBS:
        found = sorted(glob.glob(pattern, recursive=True))
        if found:
            return found[0]
    return None


def draw_lines(image_bgr: np.ndarray, lines, out_path: Path) -> None:
    """Save the image with each line's box in red and its text above the box.

    Without a CJK font, the boxes are numbered instead of labelled (install fonts-noto-cjk).
    """
    image = Image.fromarray(np.ascontiguousarray(image_bgr[:, :, ::-1])).convert("RGB")
    canvas = ImageDraw.Draw(image)
    font_path = _cjk_font_path()
    if font_path is None:
        log.warning("no CJK font found (install fonts-noto-cjk); boxes are numbered instead of labelled")
    for number, line in enumerate(lines, 1):
        canvas.polygon([tuple(p) for p in line.box], outline=(230, 30, 30), width=2)
        size = max(10, min(40, int(line.height * 0.6)))
        font = ImageFont.truetype(font_path, size) if font_path else ImageFont.load_default()
        label = line.text if font_path else str(number)
        y = max(0, line.top - size - 2)
        text_box = canvas.textbbox((line.left, y), label, font=font)
        canvas.rectangle(text_box, fill=(255, 255, 255))
        canvas.text((line.left, y), label, fill=(20, 20, 200), font=font)
    image.save(out_path)
