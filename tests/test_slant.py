"""inference/slant.py: the shear that stands a line's strokes upright."""

import cv2
import numpy as np
import pytest

from inference.plates.slant import sheared, slant


def leaning_strokes(lean: float, height: int = 40) -> np.ndarray:
    """Dark vertical strokes on light paper, each leaning `lean` pixels right per pixel up (drawn
    as parallelograms, not by the code under test)."""
    image = np.full((height, 260), 230, np.uint8)
    for x in range(40, 220, 22):
        top, bottom = x + lean * height / 2, x - lean * height / 2
        corners = np.array([[top, 0], [top + 5, 0], [bottom + 5, height - 1], [bottom, height - 1]])
        cv2.fillPoly(image, [np.round(corners).astype(np.int32)], 20)
    return image


@pytest.mark.parametrize("lean", [-0.3, -0.15, 0.0, 0.1, 0.25])
def test_the_slant_is_the_shear_that_moves_each_row_back_under_the_strokes_top(lean):
    # A stroke leaning right at the top stands upright when the rows below its middle move
    # right in proportion to their distance from it: by `lean` per pixel.
    assert slant(leaning_strokes(lean)) == pytest.approx(lean, abs=0.03)


def test_shearing_a_line_upright_keeps_all_its_ink_and_stands_its_strokes_up():
    image = leaning_strokes(0.3)
    upright = sheared(image, 0.3, (230.0,))
    assert upright.shape[0] == image.shape[0] and upright.shape[1] >= image.shape[1] + 0.3 * image.shape[0] - 1
    assert (upright < 128).sum() == pytest.approx((image < 128).sum(), rel=0.05)
    # Upright: each stroke's columns are dark from the top row to the bottom one.
    dark_top, dark_bottom = upright[1] < 128, upright[-2] < 128
    assert (dark_top & dark_bottom).sum() >= 0.8 * dark_top.sum()
