"""frontend/layout.py: lines into the other APIs' units, words (CLOVA V2, NHN) and blocks (NHN v2)."""

from frontend import layout
from tests.fakes import line_for


def test_a_line_is_split_into_words_at_spaces_each_boxed_by_its_characters():
    line = line_for((0, 0, 110, 20), detail=True, text="ab  cd efg")  # 11 px a character
    words = layout.words(line)
    assert [w.text for w in words] == ["ab", "cd", "efg"]
    assert [w.last_in_line for w in words] == [False, False, True]
    assert [(w.quad[0][0], w.quad[1][0]) for w in words] == [(0, 22), (44, 66), (77, 110)]


def test_a_chinese_run_without_spaces_is_one_word_and_a_line_without_characters_is_one_word():
    assert [w.text for w in layout.words(line_for((0, 0, 80, 20), detail=True, text="中文识别"))] == ["中文识别"]
    plain = line_for((5, 6, 85, 26), detail=False, text="中文 识别")
    (word,) = layout.words(plain)
    assert word.text == "中文 识别" and word.quad == [[5, 6], [85, 6], [85, 26], [5, 26]]
    assert layout.words(line_for((0, 0, 10, 10), detail=True, text="   ")) == []


def test_lines_of_a_paragraph_are_one_block_and_a_heading_or_a_far_line_is_not():
    heading = line_for((40, 0, 300, 60), False)  # three times as tall as the text
    paragraph = [line_for((40, 70, 400, 90), False), line_for((40, 96, 380, 116), False)]
    far_below = line_for((40, 300, 400, 320), False)  # a gap of many line heights
    beside = line_for((600, 322, 800, 342), False)  # no horizontal overlap with the line above
    assert layout.blocks([heading, *paragraph, far_below, beside]) == [[0], [1, 2], [3], [4]]
