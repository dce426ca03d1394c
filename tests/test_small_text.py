"""Small text in large photos (inference/small_text.py): a second detection pass at native
resolution over the places where the first pass, at 960 px, saw small text."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
from PIL import Image

from bench.small_text import LINE
from bench.small_text import scene as _scene
from inference.engine import DeadlineExceeded
from inference.text import detect, small_text

from .conftest import fixture_image, norm, texts


def _without_second_pass(engine):
    cfg = engine.config
    return dataclasses.replace(cfg, small_text=dataclasses.replace(cfg.small_text, budget=0))


@pytest.mark.models
def test_a_small_sign_in_a_4096_px_photo_is_read(engine):
    """A line 24 px high in a 4096x3072 photo is under 6 px at the detector's 960: the first pass
    sees at most a faint blob there. The second pass finds it at native resolution."""
    image = _scene(4096, 3072, 24)
    start = time.perf_counter()
    lines = engine.read(image)
    elapsed = time.perf_counter() - start
    print(f"4096x3072 photo, one small sign: {1000 * elapsed:.0f} ms")
    assert norm(LINE) in [norm(t) for t in texts(lines)], texts(lines)
    (line,) = lines
    # Where the sign is, in the photo's own pixels.
    assert abs(line.left - int(4096 * 0.55)) < 40 and abs(line.top - int(3072 * 0.62)) < 40

    default = engine.config
    engine.config = _without_second_pass(engine)
    try:
        assert norm(LINE) not in [norm(t) for t in texts(engine.read(image))]  # the first pass alone misses it
    finally:
        engine.config = default


@pytest.mark.models
def test_a_4096_px_photo_takes_about_as_long_as_before(engine) -> None:
    """The common case of a 4096x4096 photo: a few places of text. The second pass costs at most
    about one more detector run (its budget): measured here against the first pass alone."""
    image = _scene(4096, 4096, 24, seed=1)
    default, off = engine.config, _without_second_pass(engine)
    times: dict[str, list[float]] = {"on": [], "off": []}
    try:
        engine.read(image)  # warm-up
        for _ in range(2):
            for key, cfg in (("off", off), ("on", default)):
                engine.config = cfg
                start = time.perf_counter()
                engine.read(image)
                times[key].append(time.perf_counter() - start)
    finally:
        engine.config = default
    on, before = min(times["on"]), min(times["off"])
    print(f"4096x4096 photo: {1000 * before:.0f} ms first pass only, {1000 * on:.0f} ms with the second pass")
    assert on < 2.5 * before + 0.3


@pytest.mark.models
def test_an_ordinary_page_is_read_as_before(engine):
    """A page the detector sees at (nearly) its own size never reaches the second pass: its lines,
    boxes and scores are the same with the pass and without."""
    page = np.ascontiguousarray(np.asarray(fixture_image("receipt.png").convert("RGB"))[:, :, ::-1])
    scaled = np.ascontiguousarray(np.asarray(Image.fromarray(page).resize((page.shape[1] * 2, page.shape[0] * 2))))
    default = engine.config
    for image in (page, scaled):
        with_pass = engine.read(image)
        engine.config = _without_second_pass(engine)
        try:
            without = engine.read(image)
        finally:
            engine.config = default
        assert with_pass and [(x.text, x.box, x.score) for x in with_pass] == [
            (x.text, x.box, x.score) for x in without
        ]


def _blobs_map(plan: detect.Resize, places: list[tuple[int, int, int, int]], value: float) -> np.ndarray:
    prob = np.zeros((1, 1, plan.out_h, plan.out_w), np.float32)
    for left, top, right, bottom in places:
        prob[0, 0, top:bottom, left:right] = value
    return prob


def test_no_second_pass_under_twice_the_detector_side():
    cfg, det = small_text.SmallTextConfig(), detect.DetectionConfig()
    image = np.zeros((1000, 1900, 3), np.uint8)
    plan = detect.plan_resize(1000, 1900, det)
    prob = _blobs_map(plan, [(100, 100, 140, 108)], 0.2)

    def run(*_):
        raise AssertionError("the detector ran again")

    boxes = np.zeros((0, 4, 2), np.float32)
    assert small_text.second_pass(run, image, prob, plan, boxes, det, cfg, lambda: None) is boxes


def test_the_tiles_stay_within_their_budget_smallest_text_first():
    cfg, det = small_text.SmallTextConfig(budget=0.2), detect.DetectionConfig()
    plan = detect.plan_resize(4096, 4096, det)
    # 40 faint blobs, 4 to 20 px high, all over the map: more than the budget can look at again.
    rects = [
        (20 + 90 * (i % 10), 40 + 200 * (i // 10), 80 + 90 * (i % 10), 44 + 200 * (i // 10) + i % 17) for i in range(40)
    ]
    prob = _blobs_map(plan, rects, 0.2)
    places = small_text.candidates(prob[0, 0], plan, cfg)
    assert len(places) == 40 and [h for h, _ in places] == sorted(h for h, _ in places)
    chosen = small_text.tiles(places, plan, np.zeros((0, 4)), 4096, 4096, cfg, det.max_side)
    spent = sum(detect._ceil(r - left) * detect._ceil(b - t) for left, t, r, b in chosen)
    assert 0 < len(chosen) < 40 and spent <= 0.2 * plan.out_h * plan.out_w
    smallest = places[0][1]
    assert any(
        left <= (smallest[0] - plan.pad) / plan.scale and (smallest[2] - plan.pad) / plan.scale <= r
        for left, _, r, _ in chosen
    )


def test_the_second_pass_stops_at_the_deadline():
    cfg, det = small_text.SmallTextConfig(), detect.DetectionConfig()
    image = np.zeros((4096, 4096, 3), np.uint8)
    plan = detect.plan_resize(4096, 4096, det)
    prob = _blobs_map(plan, [(100, 100, 160, 106), (500, 500, 560, 506)], 0.2)
    calls = []

    def run(tile, tile_plan):
        calls.append(tile.shape)
        return np.zeros((1, 1, tile_plan.out_h, tile_plan.out_w), np.float32)

    def check():
        if calls:
            raise DeadlineExceeded()

    with pytest.raises(DeadlineExceeded):
        small_text.second_pass(run, image, prob, plan, np.zeros((0, 4, 2), np.float32), det, cfg, check)
    assert len(calls) == 1


def test_a_line_found_again_replaces_the_first_pass_box_and_a_new_line_is_added() -> None:
    """The tile's lines, found at native resolution, stand for the first pass's line they cover;
    a line the first pass did not find (the top row of a two-row plate) joins them."""
    cfg, det = small_text.SmallTextConfig(), detect.DetectionConfig()
    image = np.zeros((2000, 2000, 3), np.uint8)
    plan = detect.plan_resize(2000, 2000, det)  # scale 0.48
    # The first pass: the serial (native 1000-1400 x 1006-1034) found coarsely; a faint blob above it.
    coarse = np.array([[[960, 980], [1440, 980], [1440, 1060], [960, 1060]]], np.float32)
    prob = _blobs_map(plan, [(482, 482, 672, 498), (528, 463, 624, 473)], 0.2)

    def run(tile, tile_plan):
        # At native resolution the tile holds both rows: draw them where they are in the tile.
        out = np.zeros((1, 1, tile_plan.out_h, tile_plan.out_w), np.float32)
        origin = np.array(offsets[-1])
        for (x0, y0), (x1, y1) in (((1000, 1006), (1400, 1034)), ((1100, 966), (1300, 984))):
            a = (np.array([x0, y0]) - origin) * tile_plan.scale + tile_plan.pad
            b = (np.array([x1, y1]) - origin) * tile_plan.scale + tile_plan.pad
            out[0, 0, int(a[1]) : int(b[1]), int(a[0]) : int(b[0])] = 0.9
        return out

    offsets: list[tuple[int, int]] = []
    chosen = small_text.tiles(
        small_text.candidates(prob[0, 0], plan, cfg), plan, small_text._bounds(coarse), 2000, 2000, cfg, det.max_side
    )
    assert len(chosen) == 1
    offsets.append(chosen[0][:2])
    boxes = small_text.second_pass(run, image, prob, plan, coarse, det, cfg, lambda: None)
    bounds = sorted(small_text._bounds(boxes).tolist(), key=lambda b: b[1])
    assert len(bounds) == 2
    top_row, serial = bounds
    assert 1080 < top_row[0] < 1110 and 950 < top_row[1] < 970 and top_row[3] < 1000
    assert 970 < serial[0] < 1000 and 1410 < serial[2] < 1430 and 980 < serial[1] < 1000  # not the coarse box


def _native_map(plan, rects, value=0.9) -> np.ndarray:
    """A probability map at `plan` with text where `rects` (l, t, r, b; the photo's own pixels) are."""
    out = np.zeros((1, 1, plan.out_h, plan.out_w), np.float32)
    for x0, y0, x1, y1 in rects:
        a = np.array([x0, y0]) * plan.scale + plan.pad
        b = np.array([x1, y1]) * plan.scale + plan.pad
        out[0, 0, int(a[1]) : int(b[1]), int(a[0]) : int(b[0])] = value
    return out


def test_the_larger_view_adds_the_lines_found_where_the_first_view_found_none():
    """The plate route's larger view (small_text.larger_view): a plate the first view missed is
    added; a line the first view found is not found twice; a line the first view cut otherwise
    (a two-row plate found as one coarse box, its serial alone now) is added beside it."""
    det = detect.DetectionConfig()
    image = np.zeros((3000, 4000, 3), np.uint8)
    sign, plate, serial = (400, 400, 1400, 460), (2000, 2400, 2100, 2430), (3000, 1000, 3200, 1040)
    two_rows = (2980, 950, 3220, 1050)
    larger = detect.plan_resize(3000, 4000, dataclasses.replace(det, max_side=2048))
    sizes: list[int] = []

    def run(_, plan):
        sizes.append(plan.inner_w)
        return _native_map(plan, [sign, plate, serial])

    first = detect.plan_resize(3000, 4000, det)
    found, _ = detect.postprocess(_native_map(first, [sign, two_rows]), first, 3000, 4000, det)
    assert len(found) == 2  # at 960 px: the sign, the whole two-row plate; not the small plate
    boxes = small_text.larger_view(run, image, found, det, 2048, lambda: None)
    assert sizes == [larger.inner_w] == [2048]
    bounds = small_text._bounds(boxes)
    centres = (bounds[:, :2] + bounds[:, 2:]) / 2

    def found_at(rect) -> int:
        centre = (np.array(rect[:2]) + np.array(rect[2:])) / 2
        return int((np.abs(centres - centre).max(axis=1) < 15).sum())

    assert len(boxes) == 4 and found_at(sign) == 1 and found_at(plate) == 1 and found_at(serial) == 1


def test_no_larger_view_of_a_photo_the_first_view_sees_nearly_whole():
    det = detect.DetectionConfig()

    def run(*_):
        raise AssertionError("the detector ran again")

    boxes = np.zeros((0, 4, 2), np.float32)
    for height, width in ((900, 1190), (500, 700)):  # under 1.25 times 960: little to gain
        assert (
            small_text.larger_view(run, np.zeros((height, width, 3), np.uint8), boxes, det, 2048, lambda: None) is boxes
        )


@pytest.mark.models
def test_the_plate_route_looks_at_a_large_photo_larger_and_the_general_route_does_not(engine, monkeypatch):
    image = _scene(4000, 3000, 24)
    seen: list[int] = []
    detect_at = engine._detect
    monkeypatch.setattr(engine, "_detect", lambda img, plan: seen.append(plan.inner_w) or detect_at(img, plan))
    engine.read_plates(image)
    assert seen[0] == 960 and 2048 in seen
    seen.clear()
    engine.read(image)
    assert 2048 not in seen and seen[0] == 960
