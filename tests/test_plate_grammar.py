"""Plates decoded under their grammar (GA 36-2018) from hand-made CTC matrices: the decoder must
find the likeliest legal plate, even where greedy decoding reads an illegal string."""

import numpy as np
import pytest

from inference import plates
from inference.plates.grammar import CHINESE, ENDINGS, KOREAN, KOREAN_CHARSET, LETTERS, PROVINCES, SERIAL, PlateDecoder

CHARSET = ["<blank>"] + sorted(set(PROVINCES + SERIAL + ENDINGS + "·OI奥粵学")) + [" "]


def matrix(steps: list, charset: list = CHARSET) -> np.ndarray:
    """One row per time step: a character (prob 0.9), '_' for blank, or {char: prob}; the rest of
    each row is spread thinly over every class."""
    index = {c: i for i, c in enumerate(charset)}
    m = np.full((len(steps), len(charset)), 1e-4)
    for t, step in enumerate(steps):
        for c, p in (step if isinstance(step, dict) else {step: 0.9}).items():
            m[t, 0 if c == "_" else index[c]] = p
    return m / m.sum(axis=1, keepdims=True)


def spelled(text: str) -> list:
    """A clean CTC path for `text`: each character on one step, a blank after it."""
    return [step for c in text for step in (c, "_")]


DECODER = PlateDecoder(CHARSET)


def read_lines(readers: list, boxes: np.ndarray) -> list:
    """plates.read on lines each read alone by a recogniser of any line (pairs joined)."""
    pairs = plates.stacked_rows(boxes)
    return plates.read(
        [plates.Reader(decoder, lines, plates.joined(lines, pairs)) for decoder, lines in readers], boxes, pairs
    )


def greedy(m: np.ndarray) -> str:
    best = m.argmax(axis=1)
    return "".join(CHARSET[c] for k, c in enumerate(best) if c and (k == 0 or c != best[k - 1]))


def test_a_legal_plate_wins_over_a_likelier_illegal_string():
    # Greedy reads the look-alike 奥 (not a province) and the letter O in the serial (never used).
    steps = spelled("粤B") + ["·", "_"] + [{"O": 0.6, "0": 0.3}, "_"] + spelled("7K2M")
    steps[0] = {"奥": 0.6, "粤": 0.3}
    m = matrix(steps)
    assert greedy(m) == "奥B·O7K2M"
    reading = DECODER.decode(m)
    assert reading.text == "粤B07K2M"  # the separator is not part of the plate
    assert reading.char_probs[0] == pytest.approx(0.3, abs=0.05)
    assert 0 < reading.conf < DECODER.decode(matrix(spelled("粤B07K2M"))).conf


def test_equal_characters_need_a_blank_between_them():
    assert DECODER.decode(matrix(spelled("辽C33333"))).text == "辽C33333"
    # Without blanks, CTC merges a run of one class into one character: 3 of the 5 remain. Only
    # by reading characters the model gave no weight could a legal plate fit, which is no plate.
    reading = DECODER.decode(matrix(["辽", "C", "3", "3", "_", "3", "_", "3"]))
    assert reading is None or (reading.text != "辽C33333" and reading.conf < CHINESE.min_conf)


@pytest.mark.parametrize("plate", ["京A12345", "粤BD12345", "沪A12345F", "苏E1234学", "川A1234港", "琼B0000Z"])
def test_every_legal_form_is_read(plate):
    assert DECODER.decode(matrix(spelled(plate))).text == plate


@pytest.mark.parametrize("text", ["粤B1234", "粤B1234567", "粤I12345", "A12345", "粤BX12345", "粤B学1234"])
def test_strings_outside_the_grammar_are_never_answered(text):
    # Too short, too long, I as authority, no province, 6 characters not new-energy, an ending
    # in the middle: the decoder either finds a legal neighbour or nothing, never the string.
    reading = DECODER.decode(matrix(spelled(text)))
    assert reading is None or reading.text != text


def test_every_plate_character_is_in_the_shipped_recogniser(engine):
    decoder = PlateDecoder(engine.charset)
    for c in PROVINCES + LETTERS + "0123456789" + ENDINGS:
        assert any(c in decoder.charset[int(i)] for q in decoder.symbols for i in decoder.symbols[q]), c


def test_a_two_row_plate_is_read_as_one():
    # A yellow plate: `粤B` small on top, the serial below; each row alone is no plate.
    top = np.array([[40, 10], [80, 10], [80, 30], [40, 30]], np.float32)
    bottom = np.array([[10, 34], [110, 34], [110, 70], [10, 70]], np.float32)
    found = read_lines([(DECODER, [matrix(spelled("粤B")), matrix(spelled("12345"))])], np.stack([top, bottom]))
    assert [reading.text for reading, _ in found] == ["粤B12345"]
    ((_, box),) = found
    assert box.min(axis=0).tolist() == [10, 10] and box.max(axis=0).tolist() == [110, 70]


def test_a_line_under_a_line_that_adds_nothing_is_no_two_row_plate():
    # A one-row plate under a badge or a grille: laid out like a two-row plate's rows, but the
    # top line reads as nothing. Joined, the pair spells the bottom line's plate, its conf raised
    # by the top line's sure blanks; the plate is the bottom line's, in its own box.
    badge = np.array([[40, 0], [100, 0], [100, 20], [40, 20]], np.float32)
    plate = np.array([[10, 24], [110, 24], [110, 60], [10, 60]], np.float32)
    blanks = matrix(["_"] * 40)
    serial = sure("浙A26M71", 0.8)
    found = read_lines([(DECODER, [blanks, serial])], np.stack([badge, plate]))
    assert [reading.text for reading, _ in found] == ["浙A26M71"]
    ((reading, box),) = found
    assert box.tolist() == plate.tolist()
    assert reading.conf == pytest.approx(DECODER.decode(serial).conf)


def test_text_that_is_no_plate_is_not_answered():
    # A shop sign read with confidence: no legal path is likely.
    sign = matrix([{"粤": 0.05, "学": 0.9}, "_", {"学": 0.9}, "_", {"港": 0.9}, "_"] + spelled("1234"))
    box = np.array([[0, 0], [100, 0], [100, 30], [0, 30]], np.float32)
    assert read_lines([(DECODER, [sign])], box[None]) == []


# ---- Korean plates --------------------------------------------------------------------------

KR_CHARSET = ["<blank>"] + KOREAN_CHARSET
KR_DECODER = PlateDecoder(KR_CHARSET, KOREAN)


def kr_matrix(steps: list) -> np.ndarray:
    return matrix(steps, KR_CHARSET)


@pytest.mark.parametrize("plate", ["12가3456", "123가4567", "서울12바3456", "제주99하0001", "00배0000"])
def test_every_legal_korean_form_is_read(plate):
    assert KR_DECODER.decode(kr_matrix(spelled(plate))).text == plate


def test_a_legal_korean_plate_wins_over_a_likelier_illegal_string():
    # 기 (from 경기) is a character of the model but no use syllable; 서산 is no region.
    steps = spelled("12가3456")
    steps[4] = {"기": 0.6, "가": 0.3}
    assert KR_DECODER.decode(kr_matrix(steps)).text == "12가3456"
    steps = spelled("서울12바3456")
    steps[2] = {"산": 0.6, "울": 0.3}
    reading = KR_DECODER.decode(kr_matrix(steps))
    assert reading.text == "서울12바3456"
    assert 0 < reading.conf < KR_DECODER.decode(kr_matrix(spelled("서울12바3456"))).conf


@pytest.mark.parametrize(
    "text", ["1가3456", "1234가5678", "12가345", "12가34567", "서12가3456", "12가나3456", "가123456"]
)
def test_korean_strings_outside_the_grammar_are_never_answered(text):
    # One or four class digits, three or five serial digits, half a region, two use syllables,
    # the syllable first.
    reading = KR_DECODER.decode(kr_matrix(spelled(text)))
    assert reading is None or reading.text != text


def test_a_two_row_korean_plate_is_read_as_one():
    top = np.array([[40, 10], [90, 10], [90, 30], [40, 30]], np.float32)
    bottom = np.array([[10, 34], [120, 34], [120, 74], [10, 74]], np.float32)
    found = read_lines(
        [(KR_DECODER, [kr_matrix(spelled("서울12")), kr_matrix(spelled("가3456"))])], np.stack([top, bottom])
    )
    assert [reading.text for reading, _ in found] == ["서울12가3456"]


def test_each_place_keeps_the_grammar_it_reads_best():
    # One line read by both recognisers: the Korean reading is sure, the Chinese one is not
    # (PP-OCR has no Hangul), so the Korean plate is answered once, not both.
    box = np.array([[0, 0], [120, 0], [120, 30], [0, 30]], np.float32)[None]
    chinese = matrix(spelled("京A12345"))
    chinese[0] = 1 / chinese.shape[1]  # the 'province' is anybody's guess
    chinese[2] = 1 / chinese.shape[1]
    found = read_lines([(DECODER, [chinese]), (KR_DECODER, [kr_matrix(spelled("12가3456"))])], box)
    assert [reading.text for reading, _ in found] == ["12가3456"]


def test_a_chinese_plate_read_surely_is_not_answered_as_a_korean_one_too():
    # The Korean model only knows Korean plates and reads a Chinese one as some Korean plate, at
    # times more confidently than PP-OCR reads the Chinese plate; PP-OCR, sure of every character
    # (and it has no Hangul to be sure of), tells which country's plate the place holds.
    box = np.array([[0, 0], [120, 0], [120, 30], [0, 30]], np.float32)[None]
    chinese = matrix([{c: 0.85, "_": 0.1} if c != "_" else c for c in spelled("浙JP291Q")])
    korean = kr_matrix([{c: 0.99} if c != "_" else c for c in spelled("60구2210")])
    (reading, _), *others = read_lines([(DECODER, [chinese]), (KR_DECODER, [korean])], box)
    assert reading.text == "浙JP291Q" and others == []
    # Only the province and the letter say which country's plate it is: a letter read at under
    # one chance in two (the `J` of a real photo's plate at 0.47), or a serial's `1` at 0.04, is
    # still far surer than PP-OCR ever is of a province and a letter on a Korean plate.
    for step, weak in ((2, {"J": 0.45, "_": 0.55}), (6, {"2": 0.04, "_": 0.96})):
        weak_char = matrix([{c: 0.85, "_": 0.1} if c != "_" else c for c in spelled("浙JP291Q")])
        weak_char[step] = matrix([weak])[0]
        (reading, _), *others = read_lines([(DECODER, [weak_char]), (KR_DECODER, [korean])], box)
        assert reading.text == "浙JP291Q" and others == []
    # A Korean plate's first digits read by PP-OCR as some province, fairly surely, but then as a
    # letter hardly at all (held-out plates: up to 0.79 and 0.09) stay the Korean model's.
    guessed = matrix([{c: 0.85, "_": 0.1} if c != "_" else c for c in spelled("浙JP291Q")])
    guessed[0] = matrix([{"浙": 0.79, "_": 0.21}])[0]
    guessed[2] = matrix([{"J": 0.09, "_": 0.91}])[0]
    (reading, _), *others = read_lines([(DECODER, [guessed]), (KR_DECODER, [korean])], box)
    assert reading.text == "60구2210" and others == []
    # Unsure of a character (a Korean plate's syllable read as some province) and of one after it
    # (its digits read as letters), PP-OCR does not overrule the Korean reading.
    unsure = matrix([{c: 0.85, "_": 0.1} if c != "_" else c for c in spelled("浙JP291Q")])
    unsure[0] = 1 / unsure.shape[1]
    unsure[4] = matrix([{"P": 0.4, "_": 0.6}])[0]
    (reading, _), *others = read_lines([(DECODER, [unsure]), (KR_DECODER, [korean])], box)
    assert reading.text == "60구2210" and others == []


def test_a_chinese_plate_read_surely_but_for_its_province_is_not_answered_as_a_korean_one():
    # lprnet crops (94x24): PP-OCR cannot see the small 皖 at all (0.00-0.12), reads the letter and
    # the serial plainly, and the Korean model read a Korean plate there at 0.93-0.97, surer than
    # the right Chinese reading (0.75-0.92). PP-OCR reading everything after the province at 0.5
    # or more, and the whole at 0.75 or more, is a Chinese plate's place, with ?country=kr too.
    chinese = sure("皖AE955B", 0.99)
    chinese[0] = matrix([{"皖": 0.05, "_": 0.95}])[0]
    korean = plates.Reader(KR_DECODER, [sure("28도9553", 0.99, KR_CHARSET)], [])
    as_cut = plates.Reader(DECODER, [chinese], [])
    assert [r.text for r, _ in plates.read([as_cut, korean], ONE_LINE, [])] == ["皖AE955B"]
    assert plates.read([as_cut._replace(answers=False), korean], ONE_LINE, []) == []
    # A serial character under 0.5 (a Korean syllable read as some letter) leaves the place open.
    doubtful = chinese.copy()
    doubtful[8] = matrix([{"5": 0.45, "_": 0.55}])[0]
    unsure = plates.Reader(DECODER, [doubtful], [])
    assert [r.text for r, _ in plates.read([unsure, korean], ONE_LINE, [])] == ["28도9553"]
    # A Korean plate with its region (대구68배2382) read as a Chinese one, its syllables as sure
    # letters but the whole unsurely (云H62382 at 0.58-0.70): the place stays Korean.
    region = sure("云H62382", 0.6)
    region[0] = matrix([{"云": 0.002, "_": 0.998}])[0]
    korean_region = plates.Reader(KR_DECODER, [sure("대구68배2382", 0.99, KR_CHARSET)], [])
    found = plates.read([plates.Reader(DECODER, [region], []), korean_region], ONE_LINE, [])
    assert [r.text for r, _ in found] == ["대구68배2382"]
    # A two-row Korean plate's bottom row read alone as a Chinese plate, its syllable as two sure
    # letters (나7812 as LF7812 at 1.0 and 0.89, a rendered close-up): the pair stays Korean.
    top = np.array([[40, 10], [90, 10], [90, 30], [40, 30]], np.float32)
    bottom = np.array([[10, 34], [120, 34], [120, 74], [10, 74]], np.float32)
    row = sure("川LF7812", 0.99)
    row[0] = matrix([{"川": 0.05, "_": 0.95}])[0]
    found = read_lines(
        [
            (DECODER, [matrix(["_"] * 8), row]),
            (KR_DECODER, [kr_matrix(spelled("경기45")), kr_matrix(spelled("나7812"))]),
        ],
        np.stack([top, bottom]),
    )
    assert [reading.text for reading, _ in found] == ["경기45나7812"]


def sure(text: str, p: float, charset: list = CHARSET) -> np.ndarray:
    """A clean CTC path for `text`, each character at probability `p`, the rest on blank."""
    return matrix([{c: p, "_": 1 - p} if c != "_" else c for c in spelled(text)], charset)


ONE_LINE = np.array([[0, 0], [120, 0], [120, 30], [0, 30]], np.float32)[None]


def test_a_reading_found_only_at_a_slant_corrects_a_korean_plate_but_never_takes_a_chinese_ones_place():
    # Its province under SURE_CHINESE_PREFIX and a serial character under SURE_CHINESE_SERIAL:
    # PP-OCR is not sure of this Chinese plate.
    unsure_province = sure("皖AJ660Z", 0.9)
    unsure_province[0] = matrix([{"皖": 0.05, "_": 0.95}])[0]
    unsure_province[6] = matrix([{"6": 0.45, "_": 0.55}])[0]
    chinese = plates.Reader(DECODER, [unsure_province], [])
    unread = plates.Reader(KR_DECODER, [sure("34호6802", 0.5, KR_CHARSET)], [])  # under KOREAN_MIN_CONF
    sheared = plates.Reader(KR_DECODER, [sure("34호6802", 0.99, KR_CHARSET)], [], slanted=True)
    # The line as cut reads as a Chinese plate, more surely than as a Korean one: shearing it
    # gives the Korean model another chance to see a plate of its own, not the place.
    assert [r.text for r, _ in plates.read([chinese, unread, sheared], ONE_LINE, [])] == ["皖AJ660Z"]
    # Where the Korean reading as cut is the surer (or no Chinese one is made), the reading at a
    # slant corrects it.
    as_cut = plates.Reader(KR_DECODER, [sure("19아4790", 0.93, KR_CHARSET)], [])
    upright = plates.Reader(KR_DECODER, [sure("19어4790", 0.99, KR_CHARSET)], [], slanted=True)
    assert [r.text for r, _ in plates.read([chinese, as_cut, upright], ONE_LINE, [])] == ["19어4790"]


def test_where_nothing_was_read_as_cut_two_shears_must_agree():
    # Sheared, text that is no plate reads as one at times (digits on a page as a plate with a
    # syllable), seldom twice alike.
    unread = plates.Reader(KR_DECODER, [sure("209부1113", 0.5, KR_CHARSET)], [])
    once = plates.Reader(KR_DECODER, [sure("209부1113", 0.99, KR_CHARSET)], [], slanted=True)
    other = plates.Reader(KR_DECODER, [sure("209무1113", 0.95, KR_CHARSET)], [], slanted=True)
    again = plates.Reader(KR_DECODER, [sure("209부1113", 0.97, KR_CHARSET)], [], slanted=True)
    assert plates.read([unread, once, other], ONE_LINE, []) == []
    assert [r.text for r, _ in plates.read([unread, once, other, again], ONE_LINE, [])] == ["209부1113"]


def test_rival_readings_are_never_answered_and_overrule_only_readings_found_at_a_slant():
    # ?country=kr: the Chinese reading is made, never answered, however sure; a Korean reading as
    # cut is answered unless PP-OCR is sure of a Chinese province and letter there, or of all
    # after the province (that place holds a Chinese plate, no Korean one), one found only at a
    # slant not where the Chinese one is surer.
    unsure_prefix = sure("皖AJ660Z", 0.99)
    unsure_prefix[0] = matrix([{"皖": 0.05, "_": 0.95}])[0]
    unsure_prefix[2] = matrix([{"A": 0.3, "_": 0.7}])[0]
    rival = plates.Reader(DECODER, [unsure_prefix], [], answers=False)
    as_cut = plates.Reader(KR_DECODER, [sure("12가3456", 0.93, KR_CHARSET)], [])
    sheared = plates.Reader(KR_DECODER, [sure("34호6802", 0.99, KR_CHARSET)], [], slanted=True)
    assert plates.read([rival], ONE_LINE, []) == []
    assert [r.text for r, _ in plates.read([rival, as_cut], ONE_LINE, [])] == ["12가3456"]
    assert plates.read([rival, sheared], ONE_LINE, []) == []
    sure_rival = plates.Reader(DECODER, [sure("皖AJ660Z", 0.99)], [], answers=False)
    assert plates.read([sure_rival, as_cut], ONE_LINE, []) == []


@pytest.mark.models
@pytest.mark.parametrize("index", [0, 1])
def test_each_shipped_korean_model_answers_the_grammars_characters(index):
    # The weights and their classes travel together (ONNX metadata); every character the Korean
    # grammar allows must be one each model can answer, and the files stay small.
    from inference.plates.korean_model import MODEL_PATHS, KoreanPlateReader

    assert len(MODEL_PATHS) == 2
    reader = KoreanPlateReader("cpu", 1, MODEL_PATHS[index])
    assert reader.charset[1:] == KOREAN_CHARSET
    assert MODEL_PATHS[index].stat().st_size <= 5 * 1024 * 1024
    strips = [np.full((32, 160), 255, np.uint8), np.full((48, 300, 3), 128, np.uint8)]
    out = reader.probabilities(strips)
    assert [m.shape for m in out] == [(56, len(KOREAN_CHARSET) + 1)] * 2
    assert np.allclose([m.sum(axis=1) for m in out], 1.0, atol=1e-4)


def test_a_korean_reading_with_an_unsure_character_is_not_answered():
    # Forced through the grammar, any line of digits gets some use syllable; where the model
    # was unsure of it, the line is no plate it read.
    steps = spelled("12가3456")
    steps[4] = {"가": 0.25, "나": 0.2, "다": 0.2, "라": 0.2, "_": 0.1}
    m = kr_matrix(steps)
    assert KR_DECODER.decode(m).text == "12가3456"
    box = np.array([[0, 0], [120, 0], [120, 30], [0, 30]], np.float32)[None]
    assert read_lines([(KR_DECODER, [m])], box) == []
    assert len(read_lines([(KR_DECODER, [kr_matrix(spelled("12가3456"))])], box)) == 1


@pytest.mark.parametrize(
    "decoder, plate", [(DECODER, "粤B07K2M"), (KR_DECODER, "서울12바3456"), (KR_DECODER, "123가4567")]
)
def test_answers_skip_no_plate_that_the_search_would_answer(decoder, plate):
    # answer() skips the search on lines whose bounds rule out an answer; it must answer exactly
    # what the full search answers, near the thresholds too: the plate's matrix blurred with
    # noise of growing weight, from surely read to unreadable.
    rng = np.random.default_rng(5)
    clean = matrix(spelled(plate), decoder.charset)
    outcomes = []
    for k in range(120):
        noise = rng.dirichlet(np.full(clean.shape[1], 0.05), clean.shape[0])
        m = (1 - k / 120) * clean + (k / 120) * noise
        full = decoder.decode(m)
        expected = full if full is not None and full.answered(decoder.grammar) else None
        assert decoder.answer(m) == expected
        outcomes.append(expected is not None)
    assert any(outcomes) and not all(outcomes)


def test_the_search_finds_the_likeliest_legal_path_of_every_ctc_path():
    # Against CTC's own definition, by brute force: every path of 6 steps over blank and the
    # classes of a small grammar (a letter, then a digit or a letter, then a digit; the letters A
    # and B, the digits 1 and 2; C is never legal) is collapsed (repeats merged, blanks dropped),
    # and the likeliest path whose string the grammar accepts must be the one decode() finds:
    # its string and its conf (the geometric mean of the path's probabilities).
    from itertools import product

    from inference.plates.grammar import Grammar

    grammar = Grammar({0: [(1, "AB")], 1: [(2, "12AB")], 2: [(3, "12")]}, frozenset({3}))
    charset = ["<blank>", "A", "B", "1", "2", "C"]
    decoder = PlateDecoder(charset, grammar)
    rng = np.random.default_rng(11)
    steps = 6
    paths = np.array(list(product(range(len(charset)), repeat=steps)))
    strings = []
    for path in paths:
        merged = [c for k, c in enumerate(path) if c and (k == 0 or c != path[k - 1])]
        strings.append("".join(charset[c] for c in merged))
    legal = np.array([len(s) == 3 and s[0] in "AB" and s[1] in "12AB" and s[2] in "12" for s in strings])
    for _ in range(60):
        # Peaked rows, as a recogniser's are, so that repeats and blanks matter.
        m = rng.dirichlet(np.full(len(charset), 0.3), steps)
        scores = np.log(m)[np.arange(steps), paths].sum(axis=1)
        scores[~legal] = -np.inf
        best = int(np.argmax(scores))
        reading = decoder.decode(m)
        assert reading is not None
        assert reading.text == strings[best]
        assert reading.conf == pytest.approx(np.exp(scores[best] / steps), rel=1e-9)
