"""Line boxes moved out or in around their text (crops.reframed), as the plate route cuts lines."""

import math

import numpy as np
import pytest

from inference.text.crops import crop_line, reframed


def rotated_box(cx: float, cy: float, length: float, thick: float, degrees: float) -> np.ndarray:
    """tl, tr, br, bl of a line `length` along its text and `thick` across it, turned."""
    a = math.radians(degrees)
    along, across = np.array([math.cos(a), math.sin(a)]), np.array([-math.sin(a), math.cos(a)])
    centre = np.array([cx, cy])
    h_l, h_t = along * length / 2, across * thick / 2
    return np.array([centre - h_l - h_t, centre + h_l - h_t, centre + h_l + h_t, centre - h_l + h_t])


@pytest.mark.parametrize("degrees", [0.0, 7.0, -12.0])
def test_a_line_grows_along_its_text_and_shrinks_across_it_in_fractions_of_its_thickness(degrees):
    box = rotated_box(200, 100, 160, 40, degrees)
    out = reframed(box, 0.2, -0.1)
    # 0.2 x 40 px more at each end, 0.1 x 40 px less on each side; the same centre and turn.
    assert np.linalg.norm(out[1] - out[0]) == pytest.approx(160 + 2 * 8)
    assert np.linalg.norm(out[3] - out[0]) == pytest.approx(40 - 2 * 4)
    assert out.mean(axis=0) == pytest.approx(box.mean(axis=0))
    direction = out[1] - out[0]
    assert math.degrees(math.atan2(direction[1], direction[0])) == pytest.approx(degrees)


def test_a_vertical_line_grows_down_its_text():
    # A column of vertical text, 30 px wide and 200 px high: its text runs down the left edge.
    column = np.array([[100, 50], [130, 50], [130, 250], [100, 250]], np.float64)
    out = reframed(column, 0.5, -0.1)
    assert out[:, 1].min() == pytest.approx(50 - 15) and out[:, 1].max() == pytest.approx(250 + 15)
    assert out[:, 0].min() == pytest.approx(100 + 3) and out[:, 0].max() == pytest.approx(130 - 3)


def test_a_frame_inside_the_detectors_margin_is_left_out_of_the_cut():
    # A line of ink 20 px high with a frame 6 px above and below it, as a plate's rim lies
    # inside the margin the detector grows a line's box by.
    image = np.full((120, 300, 3), 230, np.uint8)
    image[50:70, 60:240] = 20  # the text
    image[42:44, 40:260] = 20  # the frame, above ...
    image[76:78, 40:260] = 20  # ... and below
    box = np.array([[50, 40], [250, 40], [250, 80], [50, 80]], np.float32)  # text + 10 px all round
    assert (crop_line(image, box)[:4] < 100).any()  # the detector's box holds the frame
    strip = crop_line(image, reframed(box, 0.2, -0.1))
    # 0.1 of the 40 px box off each side: rows 44-76 of the image, clear of the frame's lines.
    assert strip.shape[0] == 32 and not (strip[:2] < 100).any() and not (strip[-2:] < 100).any()
    assert strip.shape[1] == 200 + 2 * 8
