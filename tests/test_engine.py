"""The OCR pipeline: what it reads, against the fixtures' known text and rapidocr's pipeline."""

import threading
import time

import numpy as np
import pytest

from inference.engine import DeadlineExceeded
from inference.images import decode_image
from inference.plates import grammar as plate_grammar
from inference.plates import slant
from inference.text import crops, detect, recognize
from tests.conftest import EXPECTED, fixture_bytes, norm, texts


@pytest.mark.parametrize("name", ["line.png", "receipt.png", "upside_down.png", "small_plate.png", "hue_only.png"])
def test_reads_the_rendered_text(engine, name):
    assert texts(engine.read_bytes(fixture_bytes(name))) == [norm(t) for t in EXPECTED[name]]


def test_a_tilted_blurred_plate_is_read(engine):
    # 94 x 24 px, turned 6 degrees and blurred, as the plate crops of plates_cn_lprnet. Its
    # province character is 12 px wide: the int8 recogniser reads it 粤 or 奥 depending on a few
    # pixels of padding (fp32 粤 or 粵), so only its presence is asserted; the rest must be exact.
    (text,) = texts(engine.read_bytes(fixture_bytes("tilted_plate.png")))
    assert len(text) == 8 and text[0] in "粤奥粵" and text[1:] == norm("B·7K2M9")


def test_a_loose_crop_reads_only_its_own_line(engine):
    # Its top margin takes in the bottom half of the line above; that sliver was read as a line
    # of its own ("中请大姓名：张二牛九王", score 0.57) before the answer.
    assert texts(engine.read_bytes(fixture_bytes("loose_crop.png"))) == [norm(t) for t in EXPECTED["loose_crop.png"]]


def test_a_tight_crop_drops_the_sliver_its_bottom_edge_cut(engine):
    # The line's own box touches the top edge, so "every line touches an edge" once kept the
    # sliver of the next line's tops, read as "πV" (score 0.82).
    name = "tight_crop_with_sliver.png"
    assert texts(engine.read_bytes(fixture_bytes(name))) == [norm(t) for t in EXPECTED[name]]


def test_the_small_top_row_of_a_two_row_plate_is_read(engine):
    # It touches the top edge and is half as thick as the bottom row, like a cut sliver; but it
    # is whole, and read surely.
    name = "two_row_plate.png"
    assert texts(engine.read_bytes(fixture_bytes(name))) == [norm(t) for t in EXPECTED[name]]


TIGHT_2004_PLATE = "korean_two_row_plate_2004.png"


def _tight_2004_plate_detected(monkeypatch) -> np.ndarray:
    """The green 2004 plate fixture, its lines "detected" as on real tight crops: the small top
    row in its own box, the big serial's box reaching up into it and covering the crop."""
    image = decode_image(fixture_bytes(TIGHT_2004_PLATE))
    height, width = image.shape[:2]

    def box(x0, y0, x1, y1):
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)

    rows = np.stack([box(30, 0, 75, 18), box(0, 8, width - 1, height - 1)])
    assert crops.fills_image(rows[1], height, width) and not crops.fills_image(rows[0], height, width)
    monkeypatch.setattr(detect, "postprocess", lambda *args, **kwargs: (rows, np.ones(2)))
    return image


def test_a_two_row_korean_plate_is_read_from_its_rows_where_the_bottom_rows_box_fills_the_crop(engine, monkeypatch):
    # On real tight crops of green 2004 plates, the detector's box of the big serial reaches up
    # into the small top row and covers the crop (crops.fills_image): read from the whole image,
    # that row holds the top row too, and the pair was read as a wrong plate or none.
    image = _tight_2004_plate_detected(monkeypatch)
    assert [plate["value"] for plate in engine.read_plates(image, country="kr")] == EXPECTED[TIGHT_2004_PLATE]


def test_each_korean_plate_model_reads_a_line_that_is_not_the_whole_crop_once(engine, monkeypatch):
    # The lines read whole are read in more views (along their row, cut tighter); a line beside
    # them has none of its own. It used to be given its plain strip as those views: read three
    # times by each model, and its three alike readings at a slant taken for shears that agree.
    image = _tight_2004_plate_detected(monkeypatch)
    # Each strip as cut only: a shear of 0 among the slant variants is the strip itself.
    monkeypatch.setattr(slant, "AROUND", ())
    calls: list[list[bytes]] = []
    for model, _ in engine.korean_plates:
        read = model.probabilities

        def recorded(strips, *args, read=read, **kwargs):
            calls.append([strip.tobytes() + bytes(str(strip.shape), "ascii") for strip in strips])
            return read(strips, *args, **kwargs)

        monkeypatch.setattr(model, "probabilities", recorded)
    assert [plate["value"] for plate in engine.read_plates(image, country="kr")] == EXPECTED[TIGHT_2004_PLATE]
    assert len(calls) == len(engine.korean_plates)
    for strips in calls:
        assert len(set(strips)) == len(strips)


def test_traditional_chinese_stays_traditional(engine):
    # The recogniser's dictionary holds both scripts; nothing may convert one to the other.
    assert texts(engine.read_bytes(fixture_bytes("traditional.png"))) == [norm(t) for t in EXPECTED["traditional.png"]]


def test_a_line_touching_the_edge_of_a_photo_is_kept():
    # The fragment rule is for strips cut around one line: in a page or a photo, a thin line at
    # the edge is text. A 1000x800 image with one thick line in the middle and a thin one at the
    # top edge keeps both.
    import numpy as np

    from inference.text.crops import edge_fragments

    def box(x0, y0, x1, y1):
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)

    photo = np.stack([box(100, 300, 900, 500), box(200, 0, 600, 30)])
    assert not np.any(edge_fragments(photo, 800, 1000, 0.7))
    strip = np.stack([box(5, 12, 600, 52), box(5, 0, 580, 9)])  # a 64 px crop around the first line
    certain, unless_sure = edge_fragments(strip, 64, 610, 0.7)
    assert certain.tolist() == [False, True] and not unless_sure.any()
    tight = np.stack([box(5, 0, 600, 52), box(5, 55, 580, 64)])  # the line's own box touches the top
    certain, unless_sure = edge_fragments(tight, 65, 610, 0.7)
    assert not certain.any() and unless_sure.tolist() == [False, True]


@pytest.fixture(scope="module")
def rapidocr():
    from rapidocr import RapidOCR

    return RapidOCR(
        params={
            "EngineConfig.onnxruntime.intra_op_num_threads": 2,
            "Global.log_level": "error",
            "Det.limit_type": "max",
            "Det.limit_side_len": 960,
        }
    )


@pytest.mark.parametrize("name", ["line.png", "receipt.png", "upside_down.png"])
def test_same_text_as_rapidocr_pipeline(engine, rapidocr, name):
    ours = texts(engine.read_bytes(fixture_bytes(name)))
    theirs = [norm(t) for t in (rapidocr(fixture_bytes(name)).txts or ())]
    assert ours == theirs


def test_upside_down_line_is_turned_before_reading(engine):
    lines = engine.read_bytes(fixture_bytes("upside_down.png"))
    assert [norm(line.text) for line in lines] == [norm(EXPECTED["upside_down.png"][0])]
    assert lines[0].score > 0.9


def test_blank_image_gives_no_lines(engine):
    assert engine.read_bytes(fixture_bytes("blank.png")) == []


def test_one_pixel_image(engine):
    assert engine.read(np.zeros((1, 1, 3), np.uint8)) == []


def test_lines_come_in_reading_order_with_boxes_inside_the_image(engine):
    image = decode_image(fixture_bytes("receipt.png"))
    lines = engine.read(image)
    height, width = image.shape[:2]
    tops = [line.top for line in lines]
    assert tops == sorted(tops)
    for line in lines:
        api = line.to_api()
        loc = api["location"]
        assert all(isinstance(v, int) for v in loc.values())
        assert loc["left"] >= 0 and loc["left"] + loc["width"] <= width
        assert loc["top"] >= 0 and loc["top"] + loc["height"] <= height
        assert 0.0 <= api["score"] <= 1.0


def test_location_matches_where_the_text_is(engine):
    image = np.full((600, 800, 3), 255, np.uint8)
    line = decode_image(fixture_bytes("line.png"))
    image[400 : 400 + line.shape[0], 300 : 300 + line.shape[1]] = line
    (found,) = engine.read(image)
    # The fixture has a 16 px margin around text of 32 px.
    assert 400 <= found.top <= 400 + 24
    assert 300 <= found.left <= 300 + 24
    assert found.top + found.height <= 400 + line.shape[0] + 4


def test_full_size_4096_image(engine):
    image = np.full((4096, 4096, 3), 255, np.uint8)
    line = decode_image(fixture_bytes("line.png"))
    # Text needs to stay readable after the detector's downscale to 960 px: make it 4x bigger.
    import cv2

    big = cv2.resize(line, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    image[3000 : 3000 + big.shape[0], 1000 : 1000 + big.shape[1]] = big
    lines = engine.read(image)
    assert texts(lines) == [norm(EXPECTED["line.png"][0])]
    assert lines[0].top >= 3000 and lines[0].left >= 1000


def test_concurrent_requests_give_the_same_answers(engine):
    names = ["line.png", "receipt.png", "upside_down.png", "small_plate.png"] * 3
    expected = {name: [line.to_api() for line in engine.read_bytes(fixture_bytes(name))] for name in set(names)}
    results, errors = {}, []

    def work(i, name):
        try:
            results[i] = [line.to_api() for line in engine.read_bytes(fixture_bytes(name))]
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i, n)) for i, n in enumerate(names)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i, name in enumerate(names):
        assert results[i] == expected[name]


def test_small_inputs_are_enlarged_and_large_ones_never():
    cfg = detect.DetectionConfig()
    small = detect.plan_resize(24, 94, cfg)
    assert small.scale > 3 and small.pad > 0
    page = detect.plan_resize(1600, 1131, cfg)
    assert page.scale == pytest.approx(960 / 1600) and page.pad == 0
    medium = detect.plan_resize(500, 700, cfg)
    assert medium.scale == 1.0
    for plan in (small, page, medium):
        assert plan.out_h % 32 == 0 and plan.out_w % 32 == 0


@pytest.mark.models
def test_a_coarser_shape_step_pads_the_input_and_reads_the_same():
    # OCR_DET_SHAPE_STEP: fewer distinct detector input shapes (a GPU pays memory and a slow
    # first run for each); only the border grows, the scaled image is the same.
    import dataclasses

    from inference.config import EngineConfig
    from inference.engine import OcrEngine

    coarse = dataclasses.replace(detect.DetectionConfig(), shape_step=128)

    def shapes(cfg):
        return {
            (p.out_h, p.out_w)
            for p in (detect.plan_resize(h, w, cfg) for h in range(200, 2000, 7) for w in (640, 700, 900))
        }

    assert all(h % 128 == 0 and w % 128 == 0 for h, w in shapes(coarse))
    assert 3 * len(shapes(coarse)) <= len(shapes(detect.DetectionConfig()))
    plan, fine = detect.plan_resize(500, 700, coarse), detect.plan_resize(500, 700, detect.DetectionConfig())
    assert (plan.scale, plan.inner_h, plan.inner_w) == (
        fine.scale,
        fine.inner_h,
        fine.inner_w,
    ) and plan.out_h >= fine.out_h
    engine = OcrEngine(EngineConfig(threads=2, detection=coarse))
    for name in ("receipt.png", "upside_down.png", "traditional.png"):
        assert texts(engine.read_bytes(fixture_bytes(name))) == [norm(t) for t in EXPECTED[name]]


def test_reading_order_groups_lines_by_vertical_overlap():
    def box(x, y, w=50, h=20):
        return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]

    # Second box on the first line sits 6 px lower (a skewed scan); a fixed tolerance would be wrong
    # for large text, overlap is not.
    boxes = np.array([box(200, 106), box(10, 100), box(10, 140), box(100, 141)], np.float32)
    assert detect.reading_order(boxes) == [1, 0, 2, 3]


def test_a_line_that_fills_the_image_is_read_whole():
    height, width = 24, 94
    # A slanted plate's box, its corners clipped to the image: a quadrilateral, not a rectangle.
    assert crops.fills_image(np.array([[0, 0], [93, 6], [93, 23], [0, 18]], np.float32), height, width)
    # A line in the middle of a larger image is cut out.
    assert not crops.fills_image(np.array([[10, 5], [60, 5], [60, 15], [10, 15]], np.float32), height, width)
    # A thin diagonal line's bounding box is the whole image, but it must still be cut and turned.
    diagonal = np.array([[0, 0], [10, 0], [200, 190], [190, 200]], np.float32)
    assert not crops.fills_image(diagonal, 200, 200)


def test_strips_are_read_in_grey_unless_only_their_hue_differs():
    white_on_blue = np.zeros((48, 120, 3), np.uint8)
    white_on_blue[:] = (170, 60, 30)  # BGR
    white_on_blue[16:32, 10:110] = 250
    grey = recognize.grey_unless_hue_only(white_on_blue)
    assert (grey[:, :, 0] == grey[:, :, 1]).all() and (grey[:, :, 1] == grey[:, :, 2]).all()
    red_on_green = np.zeros((48, 120, 3), np.uint8)
    red_on_green[:] = (60, 140, 60)
    red_on_green[16:32, 10:110] = (60, 60, 220)  # the same luma as the green
    assert (recognize.grey_unless_hue_only(red_on_green) == red_on_green).all()


def test_fp32_recogniser_reads_the_fixtures_as_int8_does(engine):
    from inference.config import EngineConfig
    from inference.engine import OcrEngine

    fp32 = OcrEngine(EngineConfig(threads=2, precision="fp32"))
    assert fp32.rec_precision == "fp32" and engine.rec_precision == "int8"
    for name in ("line.png", "receipt.png", "upside_down.png", "small_plate.png", "hue_only.png"):
        assert texts(fp32.read_bytes(fixture_bytes(name))) == texts(engine.read_bytes(fixture_bytes(name)))


@pytest.mark.models
def test_lines_int8_is_unsure_of_are_read_again_in_fp32():
    # On a CPU the recogniser runs in int8; a line it reads with confidence under
    # fp32_retry_below is read again by the fp32 model (at the strip's own width, where the
    # fp32 engine pads it to its width bucket: the same text, scores within float noise),
    # whose reading is kept.
    from inference.config import EngineConfig
    from inference.engine import OcrEngine

    image = fixture_bytes("hue_only.png")
    fp32 = OcrEngine(EngineConfig(threads=2, precision="fp32")).read_bytes(image)
    always = OcrEngine(EngineConfig(threads=2, fp32_retry_below=1.01))  # every line is "unsure"
    never = OcrEngine(EngineConfig(threads=2, fp32_retry_below=0))
    assert always.rec_precision == never.rec_precision == "int8" and never.rec_fp32 is None
    again = always.read_bytes(image)
    assert [line.text for line in again] == [line.text for line in fp32]
    assert [line.score for line in again] == pytest.approx([line.score for line in fp32], abs=2e-4)
    int8_alone = never.read_bytes(image)
    assert [line.score for line in int8_alone] != pytest.approx(
        [line.score for line in fp32], abs=2e-4
    )  # int8 reads otherwise


def test_each_character_is_placed_in_reading_order_inside_its_line(engine):
    # The other APIs' doors answer words with their own boxes, cut from these positions.
    for name in ("receipt.png", "upside_down.png"):
        image = decode_image(fixture_bytes(name))
        for line in engine.read(image, detail=True):
            assert len(line.chars) == len(line.text)
            centres = [np.mean(quad, axis=0) for quad in line.chars]
            left, top = line.left - 1, line.top - 1
            assert all(
                left <= x <= line.left + line.width + 1 and top <= y <= line.top + line.height + 1 for x, y in centres
            )
            xs = [x for x, _ in centres]
            # Reading order is left to right upright, right to left when the line was upside down.
            assert xs == sorted(xs, reverse=(name == "upside_down.png"))
            # Along the line's top edge, no two characters overlap.
            spans = sorted((min(q[0][0], q[1][0]), max(q[0][0], q[1][0])) for q in line.chars)
            assert all(a[1] <= b[0] + 0.5 for a, b in zip(spans, spans[1:]))


def test_cross_request_batching_reads_as_the_engine_does_alone(engine):
    # OCR_BATCH_WAIT_MS > 0: strips of concurrent requests share recognition batches (padded to
    # width buckets). Each request must get its own lines, the same as read alone.
    from concurrent.futures import ThreadPoolExecutor

    from inference.config import EngineConfig
    from inference.engine import OcrEngine

    batched = OcrEngine(EngineConfig(threads=2, batch_wait_ms=20))
    try:
        names = [
            "receipt.png",
            "line.png",
            "upside_down.png",
            "traditional.png",
            "hello_world.png",
            "small_plate.png",
        ] * 2
        with ThreadPoolExecutor(6) as pool:
            got = list(pool.map(lambda n: texts(batched.read_bytes(fixture_bytes(n))), names))
        assert got == [[norm(t) for t in EXPECTED[n]] for n in names]
        assert batched.rec_batcher is not None and engine.rec_batcher is None  # `auto` batches on a GPU only
    finally:
        batched.close()


def test_a_line_reads_the_same_whatever_other_lines_share_its_batch(engine):
    # Padding a strip to the widest of its batch made a line's reading depend on the other
    # lines of the page (on the street photos, a plate's province character came and went
    # with its neighbours). Read alone or beside a much longer line, it must read the same.
    image = decode_image(fixture_bytes("small_plate.png"))
    long_line = np.concatenate([image] * 4, axis=1)  # 4 plates in a row: ~650 px wide when read

    def read(strips):
        return recognize.read_lines(engine.rec, engine.charset, strips, batch_size=8, min_width=128)

    alone = read([image])[0]
    beside = read([image, long_line])[0]
    assert beside.text == alone.text
    assert beside.score == pytest.approx(alone.score, abs=1e-6)
    assert np.allclose(beside.spans, alone.spans, atol=1e-6)


def test_the_plate_grammars_search_stops_at_the_deadline(engine, monkeypatch):
    # Each plate-like line is searched under its grammar, once as cut and again at each slant
    # (~30 ms a search here, far more on a 4096 px sheet of plates): past the request's deadline
    # the worker must stop, not search on for minutes after the client got its timeout.
    search = plate_grammar.PlateDecoder.decode

    def slow(self, probs):
        time.sleep(0.3)
        return search(self, probs)

    monkeypatch.setattr(plate_grammar.PlateDecoder, "decode", slow)
    image = decode_image(fixture_bytes("korean_plate_photo.png"))  # 9 searches: 2.7 s at least
    start = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        engine.read_plates(image, deadline=start + 0.5)
    assert time.monotonic() - start < 1.5
