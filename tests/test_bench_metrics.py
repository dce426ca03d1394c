"""The benchmark's scoring: a wrong metric would misstate every system's accuracy."""

import pytest

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


def test_a_street_plate_counts_as_read_only_when_the_lines_on_it_spell_it():
    from bench.__main__ import _street_plates_read

    plate_box = [[100, 230], [100, 200], [220, 200], [220, 230]]  # labelled corners, any order
    row = {"plates": [{"text": "京A88731", "box": plate_box}]}

    def line(text, x0, x1, y0=202, y1=228):
        return (text, [[x0, y0], [x1, y0], [x1, y1], [x0, y1]])

    sign = line("京A88731", 400, 520, 50, 80)  # the same text elsewhere in the photo is not the plate
    # Read as two lines either side of the dot, given in any order: joined left to right.
    assert _street_plates_read([row], [[sign, line("88731", 140, 218), line("京A·", 102, 135)]]) == 1.0
    assert _street_plates_read([row], [[sign]]) == 0.0
    assert _street_plates_read([row], [[line("京A8873", 102, 218)]]) == 0.0
    # A box a little larger than the tight label (detectors pad their boxes) still counts.
    assert _street_plates_read([row], [[line("京A88731", 92, 228, 195, 236)]]) == 1.0


def test_cost_per_page_follows_price_throughput_and_use(tmp_path, capsys):
    import json

    from bench import cost

    # $0.72 an hour at 2 pages/s: 7,200 pages an hour, $0.10 per 1,000; half idle doubles it.
    assert cost.cost_per_1000(0.72, 2.0, 1.0) == pytest.approx(0.10)
    assert cost.cost_per_1000(0.72, 2.0, 0.5) == pytest.approx(0.20)
    # Serverless bills seconds x GB: 10,000 pages of 0.5 s at 6 GB is 30,000 GB-s.
    assert cost.serverless_monthly(10_000, 0.5) == pytest.approx(
        30_000 * cost.SERVERLESS_USD_PER_GB_SECOND + 10_000 * 0.5 / 1024 * cost.SERVERLESS_USD_PER_GB_DATA
    )
    run = {
        "server": {},
        "levels": [
            {"concurrency": 1, "errors": 0, "pages_per_s": 2.0, "p50_ms": 500},
            {"concurrency": 8, "errors": 0, "pages_per_s": 2.4, "p50_ms": 3000},
            {"concurrency": 64, "errors": 3, "pages_per_s": 2.6, "p50_ms": 9000},
        ],
    }  # errors: not a throughput
    (tmp_path / "cpu.json").write_text(json.dumps(run))
    assert cost.main(["--measured", f"cpu-2vcpu={tmp_path / 'cpu.json'}"]) == 0
    table = capsys.readouterr().out
    assert "| `ml.g4dn.xlarge` | NVIDIA T4 (the default), 4 vCPU | 0.736 | unmeasured |" in table
    assert "| 2.40 (a 2-vCPU x86 VM, concurrency 8) |" in table
