"""Cutting each detected line out of the image as an upright, straightened strip."""
from __future__ import annotations

import cv2
import numpy as np


def crop_line(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Perspective-warp the quadrilateral `box` (tl, tr, br, bl) to a rectangle.

    Strips much taller than wide are vertical text: they are turned 90 degrees so that the
    recogniser, which reads left to right, sees the characters in order.
    """
    width = int(max(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[2] - box[3])))
    height = int(max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2])))
    width, height = max(width, 1), max(height, 1)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(box.astype(np.float32), target)
    strip = cv2.warpPerspective(
        image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )
    if height / width >= 1.5:
        strip = np.ascontiguousarray(np.rot90(strip))
    return strip
