"""Pages turned a quarter or upside down read as if upright; vertical text reads in columns,
right to left (inference/orientation.py, frontend/layout.py). The pages are rendered here, at
test time, with Noto Sans CJK (fonts-noto-cjk)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from bench.metrics import edit_distance
from frontend import layout
from inference.text import orientation
from inference.text.orientation import TURNED_LEFT, TURNED_RIGHT, UPRIGHT, UPSIDE_DOWN
from tests.conftest import norm

FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
SC, TC = 2, 3
needs_font = pytest.mark.skipif(not Path(FONT).is_file(), reason="apt-get install fonts-noto-cjk")

POEM = ["床前明月光", "疑是地上霜", "举头望明月", "低头思故乡"]
NOTICE = ["本館自即日起暫停開放", "修繕期間請勿進入", "敬請見諒", "管理處謹啟"]
PAGE = [
    "会议通知",
    "各部门负责人：",
    "定于本周五下午三点召开安全工作会议。",
    "地点：行政楼三楼会议室",
    "请准时参加。",
    "办公室",
]


def _bgr(image: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image)[:, :, ::-1])


def horizontal_page(lines=PAGE, size=32) -> np.ndarray:
    font = ImageFont.truetype(FONT, size, index=SC)
    step = int(size * 1.8)
    image = Image.new("RGB", (int(size * 20), step * len(lines) + 2 * size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((size + (size * 6 if i == 0 else 0), size + i * step), line, font=font, fill=(20, 20, 20))
    return _bgr(image)


def vertical_page(columns, size=40, index=SC, title=None) -> np.ndarray:
    """Columns drawn character by character, the first on the right; `title` across the top."""
    font = ImageFont.truetype(FONT, size, index=index)
    pitch, column = int(size * 1.1), int(size * 1.8)
    head = int(size * 2.4) if title else 0
    width = column * len(columns) + 2 * size
    image = Image.new("RGB", (width, pitch * max(map(len, columns)) + 2 * size + head), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    if title:
        big = ImageFont.truetype(FONT, int(size * 1.2), index=index)
        draw.text(((width - big.getbbox(title)[2]) // 2, size // 2), title, font=big, fill=(20, 20, 20))
    for k, text in enumerate(columns):
        x = width - size - (k + 1) * column + int(size * 0.4)
        for j, char in enumerate(text):
            draw.text((x, size + head + j * pitch), char, font=font, fill=(20, 20, 20))
    return _bgr(image)


def distance(got: str, want: str) -> float:
    return edit_distance(norm(got), norm(want)) / max(len(norm(want)), 1)


# --- without models ---------------------------------------------------------------------


def _box(x0, y0, x1, y1):
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)


def test_the_direction_comes_from_the_boxes_and_the_flips():
    rows = np.stack([_box(10, 10 + 40 * i, 400, 40 + 40 * i) for i in range(4)])
    columns = np.stack([_box(10 + 40 * i, 10, 40 + 40 * i, 400) for i in range(4)])
    assert orientation.page_direction(rows, [False] * 4) == UPRIGHT
    assert orientation.page_direction(rows, [True, True, True, False]) == UPSIDE_DOWN
    assert orientation.page_direction(rows, [True, False, False, False]) == UPRIGHT
    assert orientation.page_direction(columns, [False] * 4) == TURNED_RIGHT
    assert orientation.page_direction(columns, [True] * 4) == TURNED_LEFT


def test_columns_are_ordered_right_to_left_under_their_title():
    columns = [_box(300 - 60 * i, 100, 330 - 60 * i, 400) for i in range(4)]  # 0 is rightmost
    title = _box(50, 10, 330, 50)
    boxes = np.stack([columns[2], title, columns[0], columns[3], columns[1]])
    assert orientation.page_order(boxes, TURNED_RIGHT, 420, 400) == [1, 2, 4, 0, 3]


def test_a_column_split_in_two_reads_top_then_bottom_before_the_next():
    boxes = np.stack([_box(100, 10, 130, 200), _box(200, 220, 230, 400), _box(200, 10, 230, 200)])
    assert orientation.page_order(boxes, TURNED_RIGHT, 420, 300) == [2, 1, 0]


@pytest.mark.parametrize("direction", [TURNED_RIGHT, UPSIDE_DOWN, TURNED_LEFT])
def test_points_on_the_page_turned_upright_go_back_to_the_same_pixels(direction):
    image = np.zeros((30, 50, 3), np.uint8)
    image[7, 11] = 255
    upright = orientation.turn_upright(image, direction)
    y, x = np.argwhere(upright[:, :, 0])[0]
    back = orientation.points_back(np.array([[x, y]], np.float32), direction, 30, 50)
    assert back.tolist() == [[11.0, 7.0]]


def _line(words, box, chars):
    return {"words": words, "score": 0.99, "location": {}, "box": box, "chars": chars}


def test_a_word_of_vertical_text_runs_down_its_column():
    chars = [[[10, 10 + 20 * i], [30, 10 + 20 * i], [30, 30 + 20 * i], [10, 30 + 20 * i]] for i in range(3)]
    (word,) = layout.words(_line("床前明", [[10, 10], [30, 10], [30, 70], [10, 70]], chars))
    assert word.quad == [[10, 10], [30, 10], [30, 70], [10, 70]]


def test_a_word_of_a_line_read_backwards_spans_all_its_characters():
    chars = [[[50 - 20 * i, 10], [70 - 20 * i, 10], [70 - 20 * i, 30], [50 - 20 * i, 30]] for i in range(3)]
    (word,) = layout.words(_line("上下颠", [[10, 10], [70, 10], [70, 30], [10, 30]], chars))
    assert word.quad == [[10, 10], [70, 10], [70, 30], [10, 30]]


def test_neighbouring_columns_make_one_block_and_a_title_its_own():
    def line(x0, y0, x1, y1):
        return {"words": "字", "score": 1.0, "location": {"left": x0, "top": y0, "width": x1 - x0, "height": y1 - y0}}

    lines = [line(50, 10, 330, 50)] + [line(290 - 60 * i, 100, 330 - 60 * i, 400) for i in range(4)]
    assert layout.blocks(lines) == [[0], [1, 2, 3, 4]]


# --- with the models ----------------------------------------------------------------------


@needs_font
@pytest.mark.parametrize("turn", [cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_180, cv2.ROTATE_90_COUNTERCLOCKWISE])
def test_a_turned_page_reads_as_the_upright_page_with_boxes_in_its_own_pixels(engine, turn):
    page = horizontal_page()
    upright = engine.read(page, detail=True)
    assert [norm(line.text) for line in upright] == [norm(text) for text in PAGE]
    turned = cv2.rotate(page, turn)
    lines = engine.read(turned, detail=True)
    assert [line.text for line in lines] == [line.text for line in upright]
    height, width = turned.shape[:2]
    for line, straight in zip(lines, upright):
        # Every box, and every character's, is where that text is in the turned image.
        mask = np.zeros(page.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(np.array(straight.box)).astype(np.int32)], 255)
        mask = cv2.rotate(mask, turn)
        ys, xs = np.nonzero(mask)
        assert abs(line.left - xs.min()) <= 2 and abs(line.top - ys.min()) <= 2
        assert abs(line.left + line.width - 1 - xs.max()) <= 2 and abs(line.top + line.height - 1 - ys.max()) <= 2
        assert all(0 <= x <= width and 0 <= y <= height for quad in line.chars for x, y in quad)
        assert len(line.chars) == len(line.text)


@needs_font
def test_an_upright_page_is_read_in_the_order_it_always_was(engine):
    from inference.text import detect

    page = horizontal_page()
    lines = engine.read(page)
    boxes = np.array([line.box for line in lines], np.float32)
    assert detect.reading_order(boxes) == list(range(len(lines)))


@needs_font
@pytest.mark.parametrize(("columns", "index"), [(POEM, SC), (NOTICE, TC)], ids=["poem", "traditional notice"])
def test_vertical_columns_are_read_right_to_left(engine, columns, index):
    lines = engine.read(vertical_page(columns, index=index))
    assert distance("".join(line.text for line in lines), "".join(columns)) <= 0.05
    lefts = [line.left for line in lines]
    assert lefts == sorted(lefts, reverse=True)


@needs_font
def test_a_title_over_columns_comes_first_then_the_columns_right_to_left(engine):
    lines = engine.read(vertical_page(POEM, title="静夜思 李白"), detail=True)
    assert distance("".join(line.text for line in lines), "静夜思李白" + "".join(POEM)) <= 0.05
    assert norm(lines[0].text) == "静夜思李白"
    # The NHN/CLOVA word of a column runs down it.
    column = lines[1]
    (word,) = layout.words(
        {
            "words": column.text,
            "score": column.score,
            "location": {},
            "box": column.box,
            "chars": [list(map(list, q)) for q in column.chars],
        }
    )
    ys = [y for _, y in word.quad]
    assert max(ys) - min(ys) >= 0.8 * column.height
