"""Licence plates decoded under their grammar, from a recogniser's CTC output.

Greedy CTC decoding takes the likeliest class at each time step, so a blurred province
character comes out as a look-alike (`奥` for `粤`), a serial `0` as `O`, or a character is lost.
Here the best path is searched only among strings a plate grammar accepts. Two grammars:

Chinese plates (GA 36-2018), read with PP-OCR's recogniser:

    province (京 沪 粤 ...)  authority letter (A-Z but I, O)  [separator ·]  serial

where the serial is 5 characters of A-Z (no I, O) and 0-9, the last of which may instead be one of
学 警 挂 港 澳 使 领; or, on new-energy plates, 6 characters starting or ending with D or F.

Korean plates, read with our own recogniser (training/korean_plates):

    [region (서울 부산 ... on older plates)]  2 or 3 digits  use syllable (가 나 ... 아 바 사 자 배 하 허 호)  4 digits

The search is a Viterbi pass over (grammar state, last emitted class) with CTC's rules: a blank
separates two equal characters, a repeated class continues the same character. It returns the
likeliest legal string even when an illegal one is likelier, with `conf`: the geometric mean,
over time steps, of the probabilities along that path (1.0 when the model is certain of every
step; illegal strings the model preferred lower it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The provinces' characters live below, in text/scripts.py, which keeps a line that spells a
# plate readable whatever script the classifier takes its small province character for.
from ..text.scripts import PLATE_PROVINCES as PROVINCES

LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # I and O are never used: they read as 1 and 0
SERIAL = LETTERS + "0123456789"
ENDINGS = "学警挂港澳使领"
NEW_ENERGY = "DF"
SEPARATORS = "·•・.-"  # read between the authority letter and the serial; not part of the plate

DIGITS = "0123456789"
# The syllable that tells a Korean vehicle's use: private cars, commercial (배: delivery), rental.
KOREAN_PRIVATE_USES = "가나다라마거너더러머버서어저고노도로모보소오조구누두루무부수우주"
KOREAN_COMMERCIAL_USES = "아바사자배"
KOREAN_RENTAL_USES = "하허호"
KOREAN_USES = KOREAN_PRIVATE_USES + KOREAN_COMMERCIAL_USES + KOREAN_RENTAL_USES
# The region names of plates issued before 2006 (and of commercial plates until 2013).
KOREAN_REGIONS = (
    "서울",
    "부산",
    "대구",
    "인천",
    "광주",
    "대전",
    "울산",
    "세종",
    "경기",
    "강원",
    "충북",
    "충남",
    "전북",
    "전남",
    "경북",
    "경남",
    "제주",
)
KOREAN_CHARSET = sorted(set(DIGITS + KOREAN_USES + "".join(KOREAN_REGIONS)))


@dataclass(frozen=True)
class Grammar:
    """A plate grammar as a small automaton: state -> [(next state, characters)]; state 0 starts.
    A reading is answered when its path's conf reaches `min_conf` and each of its characters'
    probability `min_char_prob`: text that is no plate has no likely legal path."""

    edges: dict
    accepting: frozenset
    separators: str = ""  # read between parts of the plate, left out of the answer
    min_conf: float = 0.5
    min_char_prob: float = 0.0


def _chinese() -> Grammar:
    edges: dict[int, list[tuple[int, str]]] = {}

    def edge(a, b, chars):
        edges.setdefault(a, []).append((b, chars))

    edge(0, 1, PROVINCES)
    edge(1, 2, LETTERS)
    edge(2, 3, SEPARATORS)
    for start in (2, 3):  # the serial, after the letter or the separator
        edge(start, 10, SERIAL)  # ordinary: 5 characters
        edge(start, 20, NEW_ENERGY)  # small new-energy: D/F, then 5
    edge(10, 11, SERIAL)
    edge(11, 12, SERIAL)
    edge(12, 13, SERIAL)
    edge(13, 14, SERIAL)  # 5th: accepting
    edge(13, 15, ENDINGS)  # 4 + 学/警/...: accepting
    edge(14, 16, NEW_ENERGY)  # large new-energy: 5, then D/F: accepting
    for a, b in ((20, 21), (21, 22), (22, 23), (23, 24), (24, 25)):
        edge(a, b, SERIAL)  # 25: accepting
    # Text with no legal path over 0.5 is no plate (docs/decisions.md, 2026-11-21, plates decoded
    # under their grammar).
    return Grammar(edges, frozenset({14, 15, 16, 25}), SEPARATORS, min_conf=0.5)


def _korean() -> Grammar:
    edges: dict[int, list[tuple[int, str]]] = {}

    def edge(a, b, chars):
        edges.setdefault(a, []).append((b, chars))

    # A region is two syllables; each first syllable has its own state, so only real names pass.
    firsts = sorted({name[0] for name in KOREAN_REGIONS})
    for k, first in enumerate(firsts):
        edge(0, 100 + k, first)
        edge(100 + k, 1, "".join(sorted({name[1] for name in KOREAN_REGIONS if name[0] == first})))
    for start in (0, 1):  # the class number, with or without a region before it
        edge(start, 2, DIGITS)
    edge(2, 3, DIGITS)  # 2 digits ...
    edge(3, 4, DIGITS)  # ... or 3 (plates from 2019)
    for start in (3, 4):
        edge(start, 5, KOREAN_USES)
    edge(5, 6, DIGITS)
    edge(6, 7, DIGITS)
    edge(7, 8, DIGITS)
    edge(8, 9, DIGITS)  # 9: accepting
    # Our Korean model is sure of the plates it reads, and forced through this grammar it reads
    # Chinese text as plates too, less surely (docs/decisions.md, 2026-11-22, Korean thresholds).
    return Grammar(edges, frozenset({9}), min_conf=KOREAN_MIN_CONF, min_char_prob=KOREAN_MIN_CHAR_PROB)


KOREAN_MIN_CONF, KOREAN_MIN_CHAR_PROB = 0.9, 0.5


def _fewest_chars(grammar: Grammar) -> int:
    """The fewest characters of an accepted plate, separators not counted."""
    fewest = {0: 0}
    changed = True
    while changed:  # shortest paths by relaxation: the automata have a few dozen edges
        changed = False
        for a, out in grammar.edges.items():
            for b, chars in out:
                cost = 0 if all(c in grammar.separators for c in chars) else 1
                if a in fewest and fewest[a] + cost < fewest.get(b, 1 << 30):
                    fewest[b], changed = fewest[a] + cost, True
    return min(fewest[q] for q in grammar.accepting)


CHINESE = _chinese()
KOREAN = _korean()


@dataclass(frozen=True)
class PlateReading:
    text: str  # the plate, separator left out
    conf: float  # geometric mean of the path's per-step probabilities
    char_probs: tuple  # each character's highest probability on its time steps

    def answered(self, grammar: Grammar) -> bool:
        return self.conf >= grammar.min_conf and min(self.char_probs, default=0.0) >= grammar.min_char_prob


class PlateDecoder:
    """Constrained best path over a CTC probability matrix, for one grammar and one recogniser's
    character set."""

    def __init__(self, charset: list[str], grammar: Grammar = CHINESE):
        index = {c: i for i, c in enumerate(charset)}
        self.charset = charset
        self.grammar = grammar
        edges = grammar.edges
        states = sorted({0} | set(edges) | {b for out in edges.values() for b, _ in out})
        # For each state: the classes that enter it, and from which states.
        incoming: dict[int, dict[int, list[int]]] = {q: {} for q in states}
        for a, out in edges.items():
            for b, chars in out:
                for c in chars:
                    if c in index:
                        incoming[b].setdefault(index[c], []).append(a)
        self.symbols = {q: np.array(sorted(incoming[q]), dtype=np.int64) for q in states}
        # As arrays for decode(), which steps all states at once: row r of a (states, width)
        # table is state states[r], its columns symbols[q] (class -1 and score -inf past them).
        # The ways into a cell are grouped into layers of (source row, target row, target column,
        # class): a cell's k-th source is in layer k, so that the layers, tried in turn, try each
        # cell's sources in one order (a state's sources as its symbols first name them).
        rows = {q: r for r, q in enumerate(states)}
        width = max(1, max(len(self.symbols[q]) for q in states))
        self.cell_class = np.full((len(states), width), -1, dtype=np.int64)
        for q in states:
            self.cell_class[rows[q], : len(self.symbols[q])] = self.symbols[q]
        self.cell_lookup = np.where(self.cell_class >= 0, self.cell_class, 0)
        layered: list[list[tuple[int, int, int, int]]] = []
        for q in states:
            by_source: dict[int, list[int]] = {}  # source state -> the columns it enters
            for k, c in enumerate(self.symbols[q]):
                for p in incoming[q][int(c)]:
                    by_source.setdefault(p, []).append(k)
            depth = [0] * width
            for p, columns in by_source.items():
                for k in columns:
                    if len(layered) <= depth[k]:
                        layered.append([])
                    layered[depth[k]].append((rows[p], rows[q], k, int(self.symbols[q][k])))
                    depth[k] += 1
        self.layers = [tuple(np.array(column, dtype=np.int64) for column in zip(*layer)) for layer in layered]
        self.start_row = rows[0]
        self.accepting_rows = [rows[q] for q in grammar.accepting]
        self.separators = {index[c] for c in grammar.separators if c in index}
        # For answer()'s bounds: the classes a path can take (blank and the grammar's), those a
        # plate's characters can be, and its fewest characters.
        classes = sorted({int(c) for q in states for c in self.symbols[q]})
        self.path_classes = np.array([0] + classes, dtype=np.int64)
        self.plate_classes = np.array([c for c in classes if c not in self.separators], dtype=np.int64)
        self.fewest_chars = _fewest_chars(grammar)

    def answer(self, probs: np.ndarray, above: float = 0.0) -> PlateReading | None:
        """The reading, only when the grammar answers it (`PlateReading.answered`) and, with
        `above`, only when its conf may exceed that (a reading already made of the same place).
        Most lines are no plate: two bounds that any answered reading meets, computed without the
        search, let those lines skip it (the search takes ~4 ms per Korean line; the bounds ~0.1 ms).
        - conf: no path scores more than the likeliest class at every step;
        - min_char_prob: each of a plate's characters has a step of its own where its
          probability reaches it, so at least `fewest_chars` steps have such a class."""
        grammar = self.grammar
        ceiling = np.log(np.maximum(probs[:, self.path_classes].max(axis=1).astype(np.float64), 1e-12)).sum()
        if np.exp(ceiling / probs.shape[0]) < max(grammar.min_conf, above) * (1 - 1e-9):
            return None
        if grammar.min_char_prob > 0 and (
            (probs[:, self.plate_classes] >= grammar.min_char_prob).any(axis=1).sum() < self.fewest_chars
        ):
            return None
        reading = self.decode(probs)
        return reading if reading is not None and reading.answered(grammar) else None

    def decode(self, probs: np.ndarray) -> PlateReading | None:
        """probs: (time steps, classes), softmax output, class 0 = blank. None when no legal
        plate fits in the time steps."""
        steps = probs.shape[0]
        logp = np.log(np.maximum(probs.astype(np.float64), 1e-12))
        neg = -np.inf
        n_rows, width = self.cell_class.shape
        blank = np.full(n_rows, neg)  # best score in each state, last step blank (or nothing yet)
        blank[self.start_row] = 0.0
        emit = np.full((n_rows, width), neg)  # last step emitted that cell's class
        all_rows = np.arange(n_rows)
        back = []  # per step: how each state's blank and each cell was reached
        for t in range(steps):
            lp = logp[t]
            # Blank: stay in the state, whatever came last.
            best_cell = np.argmax(emit, axis=1)
            best_emit = emit[all_rows, best_cell]
            from_emit = best_emit > blank
            new_blank = np.where(from_emit, best_emit, blank) + lp[0]
            blank_from = np.where(from_emit, best_cell, -1)
            # A symbol: the same one again (the character continues), or a new character
            # entering the state from one of its sources (not right after the same symbol: CTC
            # would merge the two), the sources of a cell tried in turn.
            scores = emit + np.where(self.cell_class >= 0, lp[self.cell_lookup], 0.0)
            from_row = np.full((n_rows, width), -1, dtype=np.int64)  # -1: the same character continues
            from_cell = np.zeros((n_rows, width), dtype=np.int64)
            # The best way to be in a source state before this step, unless its last step
            # emitted the same class: each state's best and second-best cells.
            order = np.argsort(emit, axis=1)[:, ::-1]
            first, second = order[:, 0], order[:, min(1, width - 1)]
            for source, target, column, classes in self.layers:
                same = self.cell_class[source, first[source]] == classes
                cell = np.where(same, second[source], first[source])
                value = emit[source, cell]
                if width == 1:
                    value = np.where(same, neg, value)
                better = value > blank[source]
                prior = np.where(better, value, blank[source])
                entered = prior + lp[classes]
                wins = entered > scores[target, column]
                scores[target, column] = np.where(wins, entered, scores[target, column])
                from_row[target, column] = np.where(wins, source, from_row[target, column])
                from_cell[target, column] = np.where(wins, np.where(better, cell, -1), from_cell[target, column])
            blank, emit = new_blank, scores
            back.append((blank_from, from_row, from_cell))

        best: tuple[float, int | None, int] = (neg, None, -1)  # (score, row, cell)
        for r in self.accepting_rows:
            if blank[r] > best[0]:
                best = (blank[r], r, -1)
            i = int(np.argmax(emit[r]))
            if emit[r][i] > best[0]:
                best = (emit[r][i], r, i)
        score, row, i = best
        if row is None or not np.isfinite(score):
            return None
        # Walk back: which class each step emitted (-1 = blank), then collapse into characters.
        path = []
        for t in range(steps - 1, -1, -1):
            blank_from, from_row, from_cell = back[t]
            if i == -1:
                path.append(-1)
                i = int(blank_from[row])
                continue
            path.append(int(self.cell_class[row, i]))
            if from_row[row, i] >= 0:
                row, i = int(from_row[row, i]), int(from_cell[row, i])
        path.reverse()
        chars, probs_of = [], []
        previous = -1
        for t, c in enumerate(path):
            if c >= 0 and c != previous:
                chars.append(c)
                probs_of.append(float(probs[t, c]))
            elif c >= 0:
                probs_of[-1] = max(probs_of[-1], float(probs[t, c]))
            previous = c
        kept = [(self.charset[c], p) for c, p in zip(chars, probs_of) if c not in self.separators]
        return PlateReading("".join(c for c, _ in kept), float(np.exp(score / steps)), tuple(p for _, p in kept))
