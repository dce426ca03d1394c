"""The slant of a line's strokes, and the line sheared upright.

The detector's box straightens a line's turn, not its slant: a plate photographed from beside or
below the car, or a row of characters that leans, reaches the recogniser with its vertical
strokes leaning, and our Korean plate model, trained on upright plates, misreads them. The slant
is measured as the horizontal shear that makes the strokes most vertical: where vertical edges
stand upright, their columns pile up, and the sum of squared column sums of the horizontal
gradient peaks (the projection-profile method of handwriting deslanting).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..text.crops import border_colour

# Horizontal shear, in pixels of x per pixel of y below the line's middle, searched in 0.05 steps
# (about 3 degrees): the slants measured on the real Korean plate crops of make bench-plates
# reach 0.35.
SEARCH = np.round(np.arange(-0.4, 0.401, 0.05), 2)
# A line is read at its measured slant and a little either side of it (variants), and the surest
# reading is kept: the estimate is often a step off, and the plate grammar's confidence tells the
# right one (docs/plates.md).
AROUND = (-0.1, 0.0, 0.1)


def sheared(image: np.ndarray, shear: float, fill: tuple[float, ...]) -> np.ndarray:
    """`image` with each row moved right by `shear` times its distance below the middle row, the
    canvas widened so that nothing is cut off; the new corners are filled with `fill` (a value
    per channel)."""
    h, w = image.shape[:2]
    extra = abs(shear) * h
    matrix = np.array([[1, shear, extra / 2 - shear * h / 2], [0, 1, 0]], np.float32)
    return cv2.warpAffine(
        image,
        matrix,
        (int(round(w + extra)), h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=fill,
    )


def slant(grey: np.ndarray) -> float:
    """The shear (one of SEARCH) that stands the strokes of a grey line upright."""
    edges = np.abs(cv2.Sobel(grey.astype(np.float32), cv2.CV_32F, 1, 0, ksize=3))
    scores = [float(np.square(sheared(edges, s, (0.0,)).sum(axis=0)).sum()) for s in SEARCH]
    return float(SEARCH[int(np.argmax(scores))])


def variants(strip: np.ndarray) -> list[np.ndarray]:
    """The strip (grey or BGR) sheared to its measured slant plus each of AROUND, one image per
    shear; a zero shear leaves it as it is."""
    grey = cv2.cvtColor(strip, cv2.COLOR_BGR2GRAY) if strip.ndim == 3 else strip
    measured, fill = slant(grey), border_colour(strip)
    shears = [round(measured + offset, 2) for offset in AROUND]
    return [strip if shear == 0 else sheared(strip, shear, fill) for shear in shears]
