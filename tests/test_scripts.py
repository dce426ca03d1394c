"""Text in a script the recogniser cannot read (inference/scripts.py) is never answered at >= 0.5."""

import random

import numpy as np
import pytest

from inference.text import recognize, scripts
from training.scripts import render

WHITE, BLACK = (255, 255, 255), (20, 20, 20)
# (plan, whether it is all readable): each line drawn on a page of its own lines, one under another.
LINES = [
    ([("hangul", "영업시간 안내")], False),
    ([("hangul", "영업시간"), ("latin", "09:00-18:00")], False),
    ([("latin", "OCR"), ("hangul", "한국어"), ("latin", "2026")], False),
    ([("thai", "ร้านกาแฟ เปิดทุกวัน")], False),
    ([("arabic", "مرحبا بكم في المتجر")], False),
    ([("han", "营业时间欢迎光临")], True),
    ([("hant", "歡迎光臨營業時間")], True),
    ([("latin", "Open daily 09:00-18:00")], True),
    ([("kana", "いらっしゃいませ")], True),
]


def _page() -> render.Page:
    missing = render.missing_fonts({script for plan, _ in LINES for script, _ in plan}, "held")
    if missing:
        pytest.skip(
            f"no font installed for {missing} (the packages in training/scripts/render.py; .ci/run installs them)"
        )
    rng = random.Random(3)
    drawn = [render.render_line(rng, plan, "held", size=34, colours=(WHITE, BLACK)) for plan, _ in LINES]
    width = max(line.image.shape[1] for line in drawn if line is not None) + 80
    height = sum(line.image.shape[0] + 30 for line in drawn if line is not None) + 40
    sheet = np.full((height, width, 3), 255, np.uint8)
    placed, y = [], 20
    for line in drawn:
        assert line is not None
        h, w = line.image.shape[:2]
        sheet[y : y + h, 40 : 40 + w] = line.image
        segments = [render.Segment(s.text, s.script, 40 + s.left, 40 + s.right) for s in line.segments]
        placed.append(render.PageLine(segments, (40, y, 40 + w, y + h)))
        y += h + 30
    return render.Page(sheet, placed)


def _on_row(line, row: render.PageLine) -> bool:
    return min(line.top + line.height, row.box[3]) - max(line.top, row.box[1]) > 0.5 * line.height


def _overlap(line, segment: render.Segment) -> int:
    return max(0, min(line.left + line.width, segment.right) - max(line.left, segment.left))


@pytest.fixture(scope="module")
def page_read(engine):
    page = _page()
    try:
        engine.script_check = False
        without = engine.read(page.image)
    finally:
        engine.script_check = True
    return page, engine.read(page.image), without


def test_no_unreadable_script_is_answered_at_half_confidence_or_more(page_read):
    # Before the check, the Korean lines came back as "号OCR三2026"-like junk at 0.9 and more.
    page, lines, _ = page_read
    for row, (_, readable) in zip(page.lines, LINES):
        if readable:
            continue
        for segment in row.segments:
            if segment.script not in render.UNREADABLE:
                continue
            height = row.box[3] - row.box[1]
            leaked = [
                (line.text, line.score)
                for line in lines
                if _on_row(line, row) and line.score >= 0.5 and _overlap(line, segment) >= height / 2
            ]
            assert leaked == [], f"{segment.script} {segment.text!r} answered as {leaked}"


def test_chinese_latin_and_kana_lines_are_answered_as_without_the_check(page_read):
    page, lines, without = page_read
    for row, (plan, readable) in zip(page.lines, LINES):
        if not readable:
            continue
        got = [(line.text, line.score, line.box) for line in lines if _on_row(line, row)]
        before = [(line.text, line.score, line.box) for line in without if _on_row(line, row)]
        assert got == before and len(got) == 1, plan


def test_the_readable_part_of_a_mixed_line_is_kept_with_its_own_box(page_read):
    page, lines, _ = page_read
    row = page.lines[1]  # 영업시간 09:00-18:00
    hours = row.segments[1]
    kept = [line for line in lines if _on_row(line, row)]
    assert [line.text for line in kept] == ["09:00-18:00"]
    assert kept[0].score >= 0.9
    assert kept[0].left >= row.segments[0].right - 4  # its box starts after the Hangul
    assert abs(kept[0].left + kept[0].width - hours.right) < 20


def _reading(text: str, unreadable_steps: list[int], steps: int = 60) -> recognize.Reading:
    """A reading of `text`, one character per 6 steps from step 2, with the given steps classed
    Hangul and the rest readable ink (no model: the classes as the classifier would give them)."""
    classes = np.zeros((steps, len(scripts.CLASSES)), np.float32)
    classes[:, scripts.CLASSES.index(scripts.READABLE)] = 1.0
    for t in unreadable_steps:
        classes[t] = 0.0
        classes[t, scripts.CLASSES.index("hangul")] = 1.0
    spans = tuple(((2 + 6 * k) / steps, (8 + 6 * k) / steps) for k in range(len(text)))
    return recognize.Reading(
        text,
        0.95,
        0.95,
        spans,
        probs=tuple(0.95 for _ in text),
        at=tuple((5 + 6 * k) / steps for k in range(len(text))),
        classes=classes,
        step=1.0 / steps,
    )


def test_a_line_with_no_unreadable_part_is_passed_on_untouched():
    reading = _reading("营业时间", [])
    assert scripts.readable_parts(reading) == [scripts.Piece(reading, 0.0, 1.0)]
    assert scripts.unreadable_script(reading) == scripts.NOTHING
    # A reading without step classes (a recogniser without the features output) as well.
    bare = recognize.Reading("营业时间", 0.9, 0.8)
    assert scripts.readable_parts(bare) == [scripts.Piece(bare, 0.0, 1.0)]


def test_a_short_word_the_classifier_is_sure_of_is_an_unreadable_part_too():
    # bench.scripts, a small downscaled line "coffee 비디": the two Hangul syllables took 4 time
    # steps, classed Hangul at 0.97-1.00, and the recogniser wrote "WIEI" there (the line came
    # back as "coffee WIEI" at 0.80). Here "coffee" covers steps 2-37, "비디" steps 40-43.
    steps = 50
    classes = np.zeros((steps, len(scripts.CLASSES)), np.float32)
    classes[:, scripts.CLASSES.index(scripts.BACKGROUND)] = 1.0
    classes[2:38] = 0.0
    classes[2:38, scripts.CLASSES.index(scripts.READABLE)] = 1.0
    classes[40:44] = 0.0
    classes[40:44, scripts.CLASSES.index("hangul")] = 0.98
    classes[40:44, scripts.CLASSES.index(scripts.READABLE)] = 0.02
    at = [(5 + 6 * k) / steps for k in range(6)] + [40.5 / steps, 41.5 / steps, 42.5 / steps, 43.5 / steps]
    reading = recognize.Reading(
        "coffeeWIEI",
        0.8,
        0.17,
        tuple((a - 0.5 / steps, a + 0.5 / steps) for a in at),
        probs=(0.85, 1.0, 1.0, 1.0, 1.0, 0.99, 0.32, 0.85, 0.17, 0.67),
        at=tuple(at),
        classes=classes,
        step=1.0 / steps,
    )
    assert scripts.unreadable_script(reading).scripts == ("hangul",)
    assert [piece.reading.text for piece in scripts.readable_parts(reading)] == ["coffee"]
    # Letters the recogniser is sure of are its own: the "KX" of a plate 皖A·KX258, read at 0.95
    # and 0.96, looked Cyrillic to the classifier over 4 steps (К and Х have Latin shapes).
    sure = reading._replace(probs=reading.probs[:6] + (0.95, 0.96, 0.97, 0.95))
    assert scripts.readable_parts(sure) == [scripts.Piece(sure, 0.0, 1.0)]
    # Where the recogniser wrote ideographs (a handwritten 寿县 on a scanned form the classifier
    # took for Hangul) or signs (an underlined blank) over so short a stretch, the line is its own.
    for written in ("寿县", "__"):
        text = "coffee" + written
        chinese = reading._replace(
            text=text, spans=reading.spans[: len(text)], probs=reading.probs[: len(text)], at=reading.at[: len(text)]
        )
        assert scripts.readable_parts(chinese) == [scripts.Piece(chinese, 0.0, 1.0)]


def test_characters_read_over_an_unreadable_part_are_dropped_and_the_rest_kept():
    # "号OCR三2026": 号 (steps 2-7) and 三 (steps 26-31) were written over Hangul.
    reading = _reading("号OCR三2026", list(range(2, 8)) + list(range(26, 32)))
    found = scripts.unreadable_script(reading)
    assert found.scripts == ("hangul",) and len(found.parts) == 2
    texts = [piece.reading.text for piece in scripts.readable_parts(reading)]
    assert texts == ["OCR", "2026"]
    whole = scripts.readable_parts(_reading("号三", list(range(0, 16))))
    assert whole == []  # nothing readable left: the line is not answered
    # Characters the model read with near certainty are its own, whatever the classifier says.
    sure = _reading("号码", list(range(0, 16)))._replace(probs=(0.99, 0.995))
    assert scripts.readable_parts(sure) == [scripts.Piece(sure, 0.0, 1.0)]


def test_a_line_that_spells_a_chinese_plate_is_never_cut_as_an_unreadable_script():
    # EasyPR street photos, blue plates: the classifier called the small province character and
    # the letter beside it Thai (川A of 川A·09X20, 0.9-1.0 over 7 steps), and the plate went
    # unanswered by POST /general_ocr (docs/decisions.md, 2026-12-07, a line that spells a
    # Chinese plate is readable).
    for text in ("川A·09X20", "川AM1186", "皖A3997学", "粤B 12345D"):
        reading = _reading(text, list(range(0, 20)))
        assert scripts.unreadable_script(reading) == scripts.NOTHING
        assert scripts.readable_parts(reading) == [scripts.Piece(reading, 0.0, 1.0)]
    # What does not spell a plate is cut as before: a letter too few, no province, a Hangul line.
    for text in ("川A·0920", "号A·09X20", "号OCR三2026"):
        assert scripts.unreadable_script(_reading(text, list(range(0, 20)))).parts
