"""Text in a script the recogniser cannot read: found along each line, never returned as text.

PP-OCRv6's dictionary (its ONNX metadata, recognize.charset_from_metadata) holds Chinese
(Simplified and Traditional), Japanese kana, Latin with its accented letters, Greek, digits,
punctuation and emoji, and nothing of Hangul, Thai, Arabic, Devanagari, Hebrew or Cyrillic. Shown
such a line, the recogniser does not hesitate: it writes the nearest characters it knows ("号OCR三"
for a Korean line, at 0.92) or emits blanks over the glyphs and keeps only the digits beside them.

The recogniser's own features say where that happens. The tensor its CTC head reads (one vector
of 120 per time step, 8 px of a 48 px-high strip) is made an output of the graph when the model
is loaded (with_features), and a small classifier (a two-layer perceptron, weights in
inference/weights/scripts.npz, made by training/scripts/train.py from lines rendered in fonts from
Debian's packages) tells for each time step: background, a script the dictionary holds, or one
of the scripts it does not. Its cost is a 120x64 and a 64x8 matrix product per time step.

What the engine answers (readable_parts): a line with no unreadable part is left exactly as read.
A line with one is cut there: each readable part is its own line, with its own box, its text and
its score (the mean probability of its characters, as any line's); the characters the recogniser
wrote over the unreadable part are dropped, and that part itself is not returned: its score is
under 0.5, which no line is returned with (EngineConfig.text_score). unreadable_script() tells
which script each line's unreadable part is in, and where: what routes Hangul to a Korean
recogniser.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .reading import Reading

WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "scripts.npz"
# The classifier's classes, in the order of its outputs.
BACKGROUND, READABLE = "background", "readable"
UNREADABLE = ("hangul", "thai", "arabic", "devanagari", "hebrew", "cyrillic")
CLASSES = (BACKGROUND, READABLE, *UNREADABLE)
_UNREADABLE_COLUMNS = slice(CLASSES.index(UNREADABLE[0]), None)  # of step_classes' output

# A run of time steps whose unreadable probability, averaged over SMOOTH steps, is over THRESHOLD
# for at least MIN_STEPS steps (48 px of a 48 px-high strip: a glyph) is an unreadable part,
# unless the model read every character in it at CONFIDENT or more; its ends are then set where
# the probability itself crosses 0.5. Chosen on held-out rendered lines and on the real pages of
# XFUND and TD500, where rendered lines alone misled (docs/decisions.md, 2026-12-03, text in a
# script the recogniser cannot read).
THRESHOLD = 0.6
MIN_STEPS = 6
# A shorter run is one too where it is SHORT_STEPS long at least, its unreadable probability
# averages SHORT_SURE, and the recogniser wrote two letters or more over it, unsurely (under
# SHORT_UNSURE), not ideographs, blanks or signs: a short word of a small line. Short runs
# elsewhere are the classifier's mistakes on real pages, and Latin-looking letters it calls
# Cyrillic on plates are read surely (docs/decisions.md, 2026-12-04, a short word).
SHORT_STEPS = 3
SHORT_SURE = 0.95
SHORT_UNSURE = 0.8
SMOOTH = 3
CONFIDENT = 0.97
# A line that spells a Chinese licence plate (a province, its authority letter, an optional
# separator, then five or six letters and digits: plates/grammar.py's grammar, read loosely, with
# the O and I the recogniser writes for 0 and 1) has no unreadable part, whatever the classifier
# says: on blue plates it called a small province character and the letter beside it Thai (川A of
# 川A·09X20, 川AM1186 and 川A·Z408T in EasyPR street photos, 0.8-1.0 over 7 steps), and the
# readable rest, too short beside them, went with them, the whole plate unanswered
# (docs/decisions.md, 2026-12-07, a line that spells a Chinese plate is readable). The
# recogniser's reading of a script it cannot read does not spell a plate: an ideograph among 31,
# then six or seven Latin letters and digits.
PLATE_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE = re.compile(rf"[{PLATE_PROVINCES}][A-Z][·•・.\-]?[A-Z0-9]{{4,5}}[A-Z0-9学警挂港澳使领]")
# A readable piece of fewer characters than this (spaces aside) beside an unreadable part is
# dropped with it: there, one or two "readable" characters are mostly the unreadable script's
# letters that look Latin (Cyrillic с, а, о) or a glyph's edge read as punctuation.
MIN_BESIDE = 3
# On a line with an unreadable part (only there: a readable line is never touched), a piece's end
# character emitted where the unreadable classes' probability is over PIECE_UNREADABLE is dropped,
# and a piece whose characters' readable probability averages under MEAN_READABLE.
PIECE_UNREADABLE = 0.5
MEAN_READABLE = 0.5


def feature_tensor(model) -> str:
    """The name of the tensor the CTC head reads: the input of the last MatMul before the output."""
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    node = producer.get(graph.output[0].name)
    while node is not None and node.op_type != "MatMul":
        node = producer.get(node.input[0])
    if node is None:
        raise ValueError("the recogniser has no MatMul before its output: no features to read")
    return node.input[0]


def with_features(model_bytes: bytes) -> bytes:
    """The recogniser with its CTC head's input (time steps x features) as a second output. The
    first output stays the softmax every caller reads; int8 quantization keeps the head in fp32
    (runtime/quantize.py), so the features are fp32 in either precision."""
    import onnx

    model = onnx.load_from_string(model_bytes)
    name = feature_tensor(model)
    if all(output.name != name for output in model.graph.output):
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    return model.SerializeToString()


class Classifier(NamedTuple):
    mean: np.ndarray
    scale: np.ndarray
    layers: tuple  # ((weights, bias), ...), ReLU between them

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """(..., 120) features -> (..., len(CLASSES)) class probabilities."""
        x = (features.astype(np.float32) - self.mean) * self.scale
        for k, (weights, bias) in enumerate(self.layers):
            x = x @ weights + bias
            if k < len(self.layers) - 1:
                np.maximum(x, 0, out=x)
        x -= x.max(axis=-1, keepdims=True)
        np.exp(x, out=x)
        x /= x.sum(axis=-1, keepdims=True)
        return x


def load(path: Path = WEIGHTS) -> Classifier:
    with np.load(path) as data:
        count = int(data["layers"])
        classes = tuple(str(c) for c in data["classes"])
        if classes != CLASSES:
            raise ValueError(f"{path} classifies {classes}, not {CLASSES}")
        layers = tuple((data[f"w{k}"].astype(np.float32), data[f"b{k}"].astype(np.float32)) for k in range(count))
        return Classifier(data["mean"].astype(np.float32), (1.0 / data["std"]).astype(np.float32), layers)


@lru_cache(maxsize=1)
def classifier() -> Classifier:
    return load()


def step_classes(features: np.ndarray) -> np.ndarray:
    """The recogniser's features (batch x steps x 120) -> each step's class probabilities."""
    return classifier().probabilities(features)


def ink(classes: np.ndarray) -> np.ndarray:
    """Which steps (rows of step_classes' output) hold ink: those the classifier does not call
    background."""
    return classes[:, CLASSES.index(BACKGROUND)] < 0.5


def unreadable(classes: np.ndarray) -> np.ndarray:
    """Each step's probability (rows of step_classes' output) of a script the recogniser cannot
    read: the UNREADABLE classes' sum."""
    return classes[:, _UNREADABLE_COLUMNS].sum(axis=1)


class Part(NamedTuple):
    script: str  # one of UNREADABLE
    start: float  # along the strip as read, fractions of its width
    end: float
    confidence: float  # mean probability of unreadable ink over the part


class Unreadable(NamedTuple):
    parts: tuple[Part, ...]  # in order along the strip; () when the line is all readable
    share: float  # the share of the line's ink (non-background steps) in unreadable parts

    @property
    def scripts(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(part.script for part in self.parts))


NOTHING = Unreadable((), 0.0)


def unreadable_script(reading: Reading) -> Unreadable:
    """Which parts of a line (a reading.Reading) are in a script the recogniser cannot read,
    which script each is, and the share of the line's ink they are. A Reading without step
    classes (a recogniser without features) has NOTHING."""
    probs = reading.classes
    if probs is None or len(probs) == 0 or spells_plate(reading.text):
        return NOTHING
    per_script = probs[:, _UNREADABLE_COLUMNS]
    unread = unreadable(probs)
    smoothed = np.convolve(unread, np.ones(SMOOTH) / SMOOTH, mode="same") if len(unread) >= SMOOTH else unread
    hot = smoothed > THRESHOLD
    parts = []
    unread_steps = 0
    for start, end in _runs(hot):
        short = end - start < MIN_STEPS
        while start > 0 and unread[start - 1] > 0.5:
            start -= 1
        while end < len(unread) and unread[end] > 0.5:
            end += 1
        while end - start > 1 and unread[start] <= 0.5:
            start += 1
        while end - start > 1 and unread[end - 1] <= 0.5:
            end -= 1
        # The characters the recogniser wrote over the run, with their probabilities.
        written = [
            (c, p)
            for c, p, at in zip(reading.text, reading.probs, reading.at)
            if start * reading.step <= at < end * reading.step
        ]
        if short:
            letters = len(written) >= 2 and all(c.isalpha() and not is_ideograph(c) for c, _ in written)
            if (
                end - start < SHORT_STEPS
                or float(unread[start:end].mean()) < SHORT_SURE
                or not letters
                or float(np.mean([p for _, p in written])) >= SHORT_UNSURE
            ):
                continue
        # Glyphs the model knows, it reads with near certainty; over a script it has no class
        # for, it emits blanks or guesses. A stretch whose every character was read at
        # CONFIDENT or more is the model's own, whatever the classifier says (form lines and
        # field labels of real scans looked Hangul or Thai to it).
        if written and min(p for _, p in written) >= CONFIDENT:
            continue
        unread_steps += end - start
        script = UNREADABLE[int(per_script[start:end].sum(axis=0).argmax())]
        step = reading.step
        parts.append(Part(script, min(start * step, 1.0), min(end * step, 1.0), float(unread[start:end].mean())))
    if not parts:
        return NOTHING
    ink_steps = max(int(ink(probs).sum()), unread_steps, 1)
    return Unreadable(tuple(parts), min(unread_steps / ink_steps, 1.0))


def spells_plate(text: str) -> bool:
    """Does `text` (spaces aside) spell a Chinese licence plate, and nothing else (_PLATE)?"""
    return _PLATE.fullmatch("".join(text.split())) is not None


def is_ideograph(char: str) -> bool:
    """A CJK ideograph (Chinese characters, Japanese kanji, Korean Hanja)."""
    code = ord(char)
    return 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


class Piece(NamedTuple):
    reading: Reading  # the piece's text, score, characters' spans
    start: float  # the piece along the strip as read, fractions of its width
    end: float


def readable_parts(reading: Reading) -> list[Piece]:
    """The engine's entry point: a line as read -> the pieces of it to return.

    A line with no unreadable part comes back whole and untouched: [Piece(reading, 0, 1)]. A line
    with some is cut at them: each stretch between them that holds readable characters becomes
    a piece, its characters those read there (the ones written over an unreadable part dropped,
    and a space at either end), its score their mean probability. [] when nothing readable is
    left: the line is all in scripts the recogniser cannot read."""
    found = unreadable_script(reading)
    if not found.parts:
        return [Piece(reading, 0.0, 1.0)]
    # Characters emitted over an unreadable part are the recogniser's guesses at glyphs it has
    # no class for. On a line that has such a part, so are a piece's end characters emitted where
    # the unreadable classes outweigh the readable one, and a piece whose characters mostly are.
    classes = reading.classes
    assert classes is not None  # a line with unreadable parts has step classes
    unread = unreadable(classes)
    readable = classes[:, CLASSES.index(READABLE)]
    steps = [min(int(at / reading.step), len(unread) - 1) for at in reading.at]
    bounds = [0.0]
    for part in found.parts:
        bounds += [part.start, part.end]
    bounds.append(1.0)
    pieces = []
    for left, right in zip(bounds[::2], bounds[1::2]):
        chosen = [k for k, at in enumerate(reading.at) if left <= at < right]
        # Trimmed at the ends that touch an unreadable part: spaces, and characters emitted where
        # the unreadable classes outweigh the readable one (a glyph's edge read as "で" or ":").
        while chosen and (
            reading.text[chosen[0]].isspace() or (left > 0 and unread[steps[chosen[0]]] > PIECE_UNREADABLE)
        ):
            chosen.pop(0)
        while chosen and (
            reading.text[chosen[-1]].isspace() or (right < 1 and unread[steps[chosen[-1]]] > PIECE_UNREADABLE)
        ):
            chosen.pop()
        text = "".join(reading.text[k] for k in chosen)
        if not any(c.isalnum() for c in text) or len(text.replace(" ", "")) < MIN_BESIDE:
            continue  # nothing but punctuation or a letter or two beside the unreadable part
        if float(np.mean([readable[steps[k]] for k in chosen if not reading.text[k].isspace()])) < MEAN_READABLE:
            continue
        # and at least MIN_STEPS steps of readable ink under it: a few "letters" read in a gap of
        # the classifier's between two unreadable stretches are not a word
        first, last = steps[chosen[0]], steps[chosen[-1]]
        if int((readable[first : last + 1] > unread[first : last + 1]).sum()) < MIN_STEPS:
            continue
        probs = [reading.probs[k] for k in chosen]
        spans = tuple((max(reading.spans[k][0], left), min(reading.spans[k][1], right)) for k in chosen)
        at = tuple(reading.at[k] for k in chosen)
        piece = Reading(text, float(np.mean(probs)), float(np.min(probs)), spans, tuple(probs), at=at)
        pieces.append(Piece(piece, spans[0][0], spans[-1][1]))
    return pieces
