"""The benchmark's scoring: a wrong metric would misstate every system's accuracy."""
from bench import metrics


def test_overlapping_predicted_boxes_still_cover_the_ground_truth():
    truth = [[10, 10], [90, 10], [90, 30], [10, 30]]
    # Two predictions that overlap over the whole ground-truth line.
    predictions = [[[0, 0], [100, 0], [100, 40], [0, 40]], [[5, 5], [95, 5], [95, 35], [5, 35]]]
    assert metrics.covered(truth, predictions, 50, 120)
    assert not metrics.covered(truth, [[[0, 0], [40, 0], [40, 40], [0, 40]]], 50, 120)


def test_plate_separator_is_ignored_whichever_glyph_it_is_read_as():
    assert {metrics.normalise_plate(t) for t in ("皖A·05279", "皖A.05279", "皖A-05279", "皖A 05279")} == {"皖A05279"}
