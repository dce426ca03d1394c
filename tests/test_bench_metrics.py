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


def test_the_bench_fails_where_ours_reads_worse_than_the_reference():
    from bench.__main__ import reference_check

    def row(system, **sets):
        return {"system": system, "sets": {name: {"n": 10, **scores} for name, scores in sets.items()}}

    reference = row("rapidocr max960", crops={"cer": 0.02}, pages={"f1": 0.98}, traditional={"cer": 0.05})
    better = row("ours", crops={"cer": 0.01}, pages={"f1": 0.99}, traditional={"cer": 0.05})
    assert reference_check([better, reference]) == []
    worse = row("ours http", crops={"cer": 0.01}, pages={"f1": 0.97}, traditional={"cer": 0.06})
    problems = reference_check([better, worse, reference])
    assert len(problems) == 2 and all(p.startswith("ours http") for p in problems)
    # Different inputs (a capped run) are not compared.
    capped = row("ours", crops={"cer": 0.5})
    capped["sets"]["crops"]["n"] = 5
    assert reference_check([capped, reference]) == []
