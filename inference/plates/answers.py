"""Which plate readings to answer: one per place, the surest, under the rules that keep a reading
our Korean models make of Chinese text (or of text that is no plate) from being answered.

The reading itself is grammar.py's; which lines and pairs are read, candidates.py's; the views
of them each model reads, reader.py's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import cycle
from typing import NamedTuple

import numpy as np

from .candidates import overlap, union
from .grammar import CHINESE, Grammar, PlateDecoder, PlateReading

# A Chinese plate whose province character and authority letter PP-OCR both reads at least this
# surely is not answered as a Korean one too (read()): those two are where the countries' plates
# differ, and PP-OCR, which has no Hangul, cannot read a Korean plate's digits or Hangul there as
# a province and a letter surely (docs/decisions.md, 2026-12-04, a place's country).
SURE_CHINESE_PREFIX = 0.2
# Nor is a line (or a pair) that PP-OCR reads under the Chinese grammar with every character after
# the province (the authority letter and the serial) at SURE_CHINESE_SERIAL or more and the whole
# at SURE_CHINESE_CONF or more answered as a Korean plate: PP-OCR often cannot see the province
# character of a small plate at all (皖 of lprnet crops at 0.00-0.12), so the prefix rule above
# misses them, and our Korean model read Korean plates there at 0.93-0.97 against the right
# Chinese reading at 0.75-0.92. PP-OCR reads some Hangul as sure Latin letters, but the whole of
# a Korean plate less surely: its region and syllables read as 云H62382 at 0.58-0.70 on held-out
# synthetic plates, KarPlate's real crops at 0.69 at most; and a two-row plate's bottom row alone
# as a one-row plate (나7812 as LF7812), so the rule holds for the same line or pair only
# (docs/decisions.md, 2026-12-07, a Chinese plate read surely but for its province).
SURE_CHINESE_SERIAL = 0.5
SURE_CHINESE_CONF = 0.75


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
    paired: bool = False  # a two-row pair's reading, not one line's


def _at(place: np.ndarray, found: list[_Found]) -> list[_Found]:
    return [item for item in found if overlap(item.box, place) >= 0.5]


def _best(grammar: Grammar, found: list[_Found]) -> float:
    """The surest confidence among the readings under `grammar` (0 when there is none)."""
    return max((item.reading.conf for item in found if item.grammar is grammar and not item.slanted), default=0.0)


def sure_chinese_prefix(reading: PlateReading) -> bool:
    """A Chinese reading's province and letter both read at SURE_CHINESE_PREFIX or more."""
    return len(reading.char_probs) >= 2 and min(reading.char_probs[:2]) >= SURE_CHINESE_PREFIX


def sure_chinese_serial(reading: PlateReading) -> bool:
    """A Chinese reading's every character after its province read at SURE_CHINESE_SERIAL or more,
    and the whole at SURE_CHINESE_CONF or more."""
    return (
        len(reading.char_probs) >= 2
        and min(reading.char_probs[1:]) >= SURE_CHINESE_SERIAL
        and reading.conf >= SURE_CHINESE_CONF
    )


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
        ] + [(union(boxes[pair[0]], boxes[pair[1]]), matrix, pair) for pair, matrix in zip(cycle(pairs), reader.paired)]
        for box, matrix, pair in candidates:
            if matrix is None:
                continue
            check()
            beat = _best(grammar, _at(box, found))
            reading = reader.decoder.answer(matrix, above=beat)
            if reading is not None and pair is not None and _top_row_adds_nothing(reader, pair, reading):
                continue
            if reading is not None:
                found.append(_Found(reading, box, grammar, reader.slanted, reader.answers, pair is not None))
    as_cut = [item for item in found if not item.slanted]
    at_slant = [item for item in found if item.slanted]

    # A reading found only once its line was sheared upright may correct the reading of a place;
    # it does not decide on its own that a plate is there, or which country's
    # (docs/decisions.md, 2026-12-04, Korean plates read sheared upright):
    # - where another grammar read the place more surely than its own grammar did as cut, it
    #   is left out: each shear is one more chance for our Korean model to see a plate of its
    #   own in a Chinese one;
    # - where its grammar read nothing there as cut, two shears must agree on it: sheared,
    #   text that is no plate reads as one at times, but seldom twice alike.
    def kept_at_slant(item: _Found) -> bool:
        here = _at(item.box, as_cut)
        own = _best(item.grammar, here)
        if any(other.reading.conf > own for other in here if other.grammar is not item.grammar):
            return False
        alike = [other for other in _at(item.box, at_slant) if other.reading.text == item.reading.text]
        return own > 0 or len(alike) >= 2

    readings = as_cut + [item for item in at_slant if kept_at_slant(item)]
    chinese = [item for item in as_cut if item.grammar is CHINESE]
    sure_prefix = [item.box for item in chinese if sure_chinese_prefix(item.reading)]
    sure_serial = [(item.box, item.paired) for item in chinese if sure_chinese_serial(item.reading)]

    # Our Korean model has only ever seen Korean plates: shown a Chinese one it still answers a
    # Korean plate, at times more confidently than PP-OCR reads the Chinese one. Where PP-OCR is
    # sure of a Chinese plate's province and letter, a Korean reading of that place is left out;
    # where it is sure of all after the province, a Korean reading of the same line (or pair):
    # the bottom row of a two-row Korean plate alone can read so (나7812 as LF7812 at 1.0 and
    # 0.89), and the plate read as a pair stays Korean. With `?country=kr` too, where the Chinese
    # reading is only a rival (docs/decisions.md, 2026-12-04, a place's country; 2026-12-07, a
    # Chinese plate read surely but for its province).
    def chinese_place(item: _Found) -> bool:
        return any(overlap(item.box, box) >= 0.5 for box in sure_prefix) or any(
            paired == item.paired and overlap(item.box, box) >= 0.5 for box, paired in sure_serial
        )

    readings = [item for item in readings if item.answers and (item.grammar is CHINESE or not chinese_place(item))]
    readings.sort(key=lambda item: -item.reading.conf)
    kept: list[tuple[PlateReading, np.ndarray]] = []
    for item in readings:
        if all(overlap(item.box, other) < 0.5 for _, other in kept):
            kept.append((item.reading, item.box))
    return kept
