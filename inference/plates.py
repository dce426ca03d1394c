"""Licence plates among the lines the detector found: which lines (and pairs of lines) may be a
plate, and which readings to answer. The reading itself is plate_grammar.py's.

A one-row plate is one detected line. A two-row plate (Chinese yellow large-vehicle plates: `粤 B`
small on top, the serial below; older Korean plates: `서울12` over `가3456`) is two lines: a
shorter one just above a longer one, centred over it; the pair is read as one plate, top row
first (joined() for a recogniser that reads each row alone; the Korean one reads the two rows
side by side, as it was trained).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import cycle
from typing import NamedTuple

import numpy as np

from .plate_grammar import CHINESE, Grammar, PlateDecoder, PlateReading

# A Chinese plate whose province character and authority letter PP-OCR both reads at this
# probability or more is not answered as a Korean one too (read()). Those two say which country's
# plate it is: a Korean plate has digits or Hangul there, and PP-OCR, which has no Hangul class,
# cannot read them as a province and a letter surely; the serial's digits and letters, common to
# both countries, say nothing of it (a blurred `1` at 0.04 on a real `黑A1R272`). At places read
# under both grammars where the Korean reading was the likelier: Korean right, the lesser of the
# two at most 0.091 (500 held-out synthetic Korean plates, 97 such places) and 0.0 (129 real
# KarPlate crops); Chinese right, 0.47 and more (EasyPR photos, lprnet crops). Before 2026-12-04
# every character had to reach 0.8, which let those Chinese plates go to Korean readings.
SURE_CHINESE_PREFIX = 0.2


# How a line is cut for PP-OCR to read it as a Chinese plate: 0.1 of its box's height off the top
# and off the bottom, 0.2 of it added at each end (crops.reframed). The detector grows every line
# by the same margin all round (detect.py, unclip_ratio); on a plate that margin takes in the
# plate's frame and rivets, and PP-OCR, which reads them as strokes, loses the small province
# character first (EasyPR photos: 皖 read as 维 or not at all). Chosen on the EasyPR photos
# (docs/decisions.md, 2026-12-04): main plate read in-process 110 of 128 as the detector cuts
# lines, 119 cut like this, 117 to 119 with 0 to 0.2 added and 0.1 to 0.15 taken off. Our Korean
# model learnt lines as the detector cuts them, and reads them worse tightened (the first 88
# KarPlate crops: 58 read as the detector cuts, 37 to 55 with 0.1 taken off): it keeps that cut.
CHINESE_PLATE_ENDS = 0.2
CHINESE_PLATE_SIDES = -0.1
# A crop of one plate is also read by our Korean models with its text row cut 0.05 of its height
# tighter at the top and the bottom (crops.reframed), as the photo stands, beside the whole crop
# and the row as the detector cut it: on the 129 real KarPlate crops, in-process, 97 read exactly
# without it, 101 with it (98 to 101 with the other cuts tried: 0.05 looser, 0.1 tighter, 0.1
# tighter and 0.2 longer, 0.1 looser and 0.1 shorter; 99 turned as the classifier turns lines).
KOREAN_CROP_SIDES = -0.05
# Real Korean plates are set in other proportions than our renderer draws them
# (training/korean_plates/render.py), so two more views bring them nearer to what our models
# learnt (docs/decisions.md, 2026-12-05):
# - on the short one-row plates of 2006-2019 (335 mm by 155) a syllable is about as narrow as
#   a digit, where the renderer gives it a cell 1.35 to 1.6 times as wide, and the models take a
#   narrow 어 for 아 and 머 for 마: a crop's tighter row (KOREAN_CROP_SIDES) is also read made up
#   to KOREAN_CROP_STRETCH times as wide, but never longer for its height than KOREAN_ROW_ASPECT,
#   the median of the renderer's one-row plates (4.2; a Chinese plate crop, 4.6 and more, is not
#   stretched: stretched, 2 more of the bench's 300 lprnet crops were answered as Korean plates
#   with ?country=kr);
# - the green 2004 two-row plates set both rows wider than the renderer's, and the models read
#   their round digits twice (8930 as 8893300) or not at all: a pair is also read with each row
#   made KOREAN_PAIR_SQUEEZE times as wide.
# On the 129 real KarPlate crops, in-process: 101 exact without either, 102 to 103 with a stretch
# alone (1.2 to 1.8, unbounded), 103 to 105 with the squeeze alone (0.6 to 0.8; 0.9: 102), 107
# with both (105 with 0.7 and 1.5; 107 to 108 with the bound at 3.8 to 4.6); a crop's row
# squeezed instead (0.8) reads 97.
KOREAN_CROP_STRETCH = 1.5
KOREAN_ROW_ASPECT = 4.2
KOREAN_PAIR_SQUEEZE = 0.8


def korean_crop_stretch(width: float, height: float) -> float:
    """How much wider a crop's text row `width` x `height` is read (KOREAN_CROP_STRETCH); 1 or
    less: not stretched."""
    return min(KOREAN_CROP_STRETCH, KOREAN_ROW_ASPECT * height / max(width, 1.0))


def _bounds(box: np.ndarray) -> tuple[float, float, float, float]:
    return float(box[:, 0].min()), float(box[:, 1].min()), float(box[:, 0].max()), float(box[:, 1].max())


def stacked_rows(boxes: np.ndarray) -> list[tuple[int, int]]:
    """(top, bottom) pairs of lines laid out as a two-row plate: the top one no wider, no taller
    than a little over the bottom one, centred over it, and above it. The detector's boxes reach
    past the ink, so on a plate whose rows are set close they overlap: "above" is the centres',
    a quarter of the rows' mean height apart at least (the same line found twice is not a pair)."""
    pairs = []
    bounds = [_bounds(box) for box in boxes]
    for i, (l1, t1, r1, b1) in enumerate(bounds):
        for j, (l2, t2, r2, b2) in enumerate(bounds):
            if i == j:
                continue
            h1, h2 = b1 - t1, b2 - t2
            centre = (l1 + r1) / 2
            apart = (t2 + b2) / 2 - (t1 + b1) / 2
            if (
                r1 - l1 <= 1.05 * (r2 - l2)
                and l2 <= centre <= r2
                and 0.3 * h2 <= h1 <= 1.2 * h2
                and apart >= 0.25 * (h1 + h2) / 2
                and t2 - b1 <= 0.6 * h2
            ):
                pairs.append((i, j))
    return pairs


def _union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    left, top = min(a[:, 0].min(), b[:, 0].min()), min(a[:, 1].min(), b[:, 1].min())
    right, bottom = max(a[:, 0].max(), b[:, 0].max()), max(a[:, 1].max(), b[:, 1].max())
    return np.array([[left, top], [right, top], [right, bottom], [left, bottom]], np.float32)


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over the smaller box (axis-aligned)."""
    (l1, t1, r1, b1), (l2, t2, r2, b2) = _bounds(a), _bounds(b)
    inter = max(0.0, min(r1, r2) - max(l1, l2)) * max(0.0, min(b1, b2) - max(t1, t2))
    smaller = min((r1 - l1) * (b1 - t1), (r2 - l2) * (b2 - t2))
    return inter / smaller if smaller > 0 else 0.0


def joined(matrices: list[np.ndarray], pairs: list[tuple[int, int]]) -> list[np.ndarray]:
    """Each pair's CTC matrix made of its rows' own, for a recogniser that reads each row alone
    (PP-OCR's): the top row's time steps, one blank step so that their characters never merge,
    the bottom row's."""
    out = []
    for top, bottom in pairs:
        gap = np.zeros((1, matrices[top].shape[1]), matrices[top].dtype)
        gap[0, 0] = 1.0
        out.append(np.concatenate([matrices[top], gap, matrices[bottom]]))
    return out


class Reader(NamedTuple):
    """One reading of the lines under one grammar: its decoder, each line's CTC matrix from that
    grammar's recogniser in the order of the boxes, and each stacked pair's (stacked_rows) in theirs;
    `paired` may hold several views of the pairs, one after the other (all pairs, then all again)."""

    decoder: PlateDecoder
    lines: Sequence[np.ndarray | None]  # None: this reader has no view of that line
    paired: list[np.ndarray]
    slanted: bool = False  # the lines sheared upright (slant.py), not as the detector cut them
    answers: bool = True  # False: its readings are only rivals, never answered


class _Found(NamedTuple):
    reading: PlateReading
    box: np.ndarray
    grammar: Grammar
    slanted: bool
    answers: bool


def _at(place: np.ndarray, found: list[_Found]) -> list[_Found]:
    return [item for item in found if _overlap(item.box, place) >= 0.5]


def _best(grammar: Grammar, found: list[_Found]) -> float:
    """The surest confidence among the readings under `grammar` (0 when there is none)."""
    return max((item.reading.conf for item in found if item.grammar is grammar and not item.slanted), default=0.0)


def _top_row_adds_nothing(reader: Reader, pair: tuple[int, int], reading: PlateReading) -> bool:
    """Does a pair's reading spell what its bottom line reads alone? Then the top line (a badge,
    a grille) added no character: it is no two-row plate, and the plate is the bottom line's,
    in its own box and at its own conf (the pair's is raised by the top line's sure blanks)."""
    bottom = reader.lines[pair[1]]
    alone = None if bottom is None else reader.decoder.decode(bottom)
    return alone is not None and alone.text == reading.text


def read(
    readers: list[Reader], boxes: np.ndarray, pairs: list[tuple[int, int]], check: Callable[[], None] = lambda: None
) -> list[tuple[PlateReading, np.ndarray]]:
    """The plates among the lines (`boxes`, and `pairs` of them read as one two-row plate), as
    `readers` read them. Most confident first, one per place (a two-row pair and its rows are one
    place; a place read under two grammars keeps its more confident reading). `check` is called
    before each line's search and may raise to stop it (the request's deadline)."""
    found: list[_Found] = []
    # The lines as cut first. A reading is searched for (~4 ms a line) only where it could beat
    # its grammar's surest reading of that place as cut (another model's, or at a slant this
    # one's): a place keeps its surest reading, and the rules below look at no weaker one.
    for reader in sorted(readers, key=lambda reader: reader.slanted):
        grammar = reader.decoder.grammar
        candidates: list[tuple[np.ndarray, np.ndarray | None, tuple[int, int] | None]] = [
            (box, matrix, None) for box, matrix in zip(boxes, reader.lines)
        ] + [
            (_union(boxes[pair[0]], boxes[pair[1]]), matrix, pair) for pair, matrix in zip(cycle(pairs), reader.paired)
        ]
        for box, matrix, pair in candidates:
            if matrix is None:
                continue
            check()
            beat = _best(grammar, _at(box, found))
            reading = reader.decoder.answer(matrix, above=beat)
            if reading is not None and pair is not None and _top_row_adds_nothing(reader, pair, reading):
                continue
            if reading is not None:
                found.append(_Found(reading, box, grammar, reader.slanted, reader.answers))
    as_cut = [item for item in found if not item.slanted]
    at_slant = [item for item in found if item.slanted]

    # A reading found only once its line was sheared upright may correct the reading of a place;
    # it does not decide on its own that a plate is there, or which country's:
    # - where another grammar read the place more surely than its own grammar did as cut, it
    #   is left out: each shear is one more chance for our Korean model to see a plate of its
    #   own in a Chinese one (make bench-plates: 3 of 1,000 Chinese crops answered as Korean
    #   plates without this rule, none with it);
    # - where its grammar read nothing there as cut, two shears must agree on it: sheared,
    #   text that is no plate (digits on an XFUND page as `209부1113`) reads as one at times, but
    #   seldom twice alike.
    def kept_at_slant(item: _Found) -> bool:
        here = _at(item.box, as_cut)
        own = _best(item.grammar, here)
        if any(other.reading.conf > own for other in here if other.grammar is not item.grammar):
            return False
        alike = [other for other in _at(item.box, at_slant) if other.reading.text == item.reading.text]
        return own > 0 or len(alike) >= 2

    readings = as_cut + [item for item in at_slant if kept_at_slant(item)]
    sure_chinese = [
        item.box
        for item in as_cut
        if item.grammar is CHINESE and min(item.reading.char_probs[:2], default=0.0) >= SURE_CHINESE_PREFIX
    ]
    # Our Korean model has only ever seen Korean plates: shown a Chinese one it still answers
    # a Korean plate, often more confidently than PP-OCR reads the Chinese one (浙JP291Q as
    # 60구2210 at 0.973 against 0.967). PP-OCR reads any text and has no Hangul: where it is sure
    # of a Chinese plate's province and letter (SURE_CHINESE_PREFIX), a Korean reading of that
    # place is left out. Also with `?country=kr`, where the Chinese reading is only a rival: a
    # place that surely holds a Chinese plate holds no Korean one (9 false Korean plates on 458
    # Chinese images with the two Korean models without this, docs/benchmarks.md).
    readings = [
        item
        for item in readings
        if item.answers and (item.grammar is CHINESE or all(_overlap(item.box, box) < 0.5 for box in sure_chinese))
    ]
    readings.sort(key=lambda item: -item.reading.conf)
    kept: list[tuple[PlateReading, np.ndarray]] = []
    for item in readings:
        if all(_overlap(item.box, other) < 0.5 for _, other in kept):
            kept.append((item.reading, item.box))
    return kept
