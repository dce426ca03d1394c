"""Korean text lines, read when the caller asks for Korean (`lang=ko`, ocr_contract.protocol): the
rule that routes each word to Tesseract's reading or PP-OCR's.

PP-OCR's recogniser has no Hangul in its dictionary: it reads a Korean line as confident junk.
With `ko` asked, each line our detector found is also read by Tesseract's Korean LSTM
(tesseract.py), and `korean_or_ppocr` keeps, word by word, Tesseract's reading where it holds
Hangul and is sure of it, PP-OCR's elsewhere: a Chinese or Latin word on the same line stays
PP-OCR's. The thresholds of the rule are all here, at the top; what each was chosen on is in
docs/decisions.md (2026-12-03 and 2026-12-04, Korean).
"""

from __future__ import annotations

import numpy as np

from ..text.reading import Reading
from ..text.scripts import CLASSES, ink, is_ideograph, unreadable
from .tesseract import KoreanReader, Symbol

# -- The routing rule's thresholds ------------------------------------------------------------

# A Tesseract word replaces PP-OCR's reading of its place when it holds Hangul and its
# characters' mean confidence is at least this (Tesseract's 0-100 scale).
MIN_HANGUL_CONFIDENCE = 60.0
# ... and the script classifier's Hangul probability over the ink of its syllables (each
# syllable's own span; its digits and signs left out) averages at least HANGUL_SEEN: Tesseract's
# Korean model reads Chinese, Latin and digits as confident Hangul, the classifier does not.
HANGUL_SEEN = 0.35
# Where the classifier's Hangul there is under SURE_HANGUL and PP-OCR's whole line reads only sure
# ideographs in the word's place, the word is Chinese that Tesseract made Hangul of.
SURE_HANGUL = 0.9
# A word is taken for Hanja, not Hangul, where PP-OCR reads at least HANJA_SHARE ideographs (or
# Latin letters or digits) per character of it, at HANJA_SCORE at least, and Tesseract is under
# HANJA_TESSERACT: Tesseract reads Hanja as Hangul less surely than real Hangul words, while
# PP-OCR reads Hangul as few, scattered characters.
HANJA_SHARE = 0.5
HANJA_SCORE = 0.9
HANJA_TESSERACT = 97.0
# A line is read as Korean where it keeps 2 Hangul syllables or more, or they are this share of
# its characters: a lone syllable among other script is more likely Tesseract's misreading.
KOREAN_SHARE = 0.25
# A word's place is read again by PP-OCR with this margin (in line heights) round Tesseract's
# box of it; that reading is used where its mean probability is at least REREAD_SCORE.
REREAD_MARGIN = 0.2
REREAD_SCORE = 0.5
# A line PP-OCR read as it stands (not turned) where the script classifier gives no step of its
# ink an unreadable-script probability of NO_KOREAN_INK or more is not read by Tesseract at all:
# no word of it could pass HANGUL_SEEN, and Tesseract is most of a page's time with `ko`.
NO_KOREAN_INK = 0.15
# The angle classifier often takes a Hangul line for an upside-down one: a strip it turned, or
# one whose Hangul Tesseract reads under SURE_UPRIGHT (mean confidence of its syllables: upright
# Hangul reads near 100, upside-down well under), is read turned too, and kept turned where
# Tesseract is that sure of it; a strip the classifier left upright needs SURE_TURNED.
SURE_UPRIGHT = 95.0
SURE_TURNED = 97.0


def is_hangul(char: str) -> bool:
    """A Hangul syllable. Lone jamo are left out: Tesseract reads a stray stroke or a Latin
    letter as one (A as ㅅ), and text rarely holds them."""
    return 0xAC00 <= ord(char) <= 0xD7A3


def _words(symbols: list[Symbol]) -> list[list[Symbol]]:
    words: list[list[Symbol]] = [[]]
    for symbol in symbols:
        if symbol.char.isspace():
            words.append([])
        else:
            words[-1].append(symbol)
    return [word for word in words if word]


def korean_or_ppocr(
    ppocr: Reading, tesseract: list[Symbol], height_share: float, reread=None, check_script: bool = True
) -> Reading:
    """One line's reading when Korean is asked.

    A line where Tesseract reads no word that holds Hangul and is sure of it
    (MIN_HANGUL_CONFIDENCE) is PP-OCR's reading, unchanged: Chinese and Latin lines read as
    without `ko`. On a line with such words, PP-OCR reads the place of each of Tesseract's words
    again on its own (`reread([(start, end), ...])` -> a Reading each; on a Korean line PP-OCR's
    whole-line reading loses the Latin and Hanja words between the Hangul), and the line is taken
    word by word:
    - a sure Hangul word is Tesseract's, unless PP-OCR reads it as Hanja, Latin or digits
      (HANJA_SHARE such characters per character, read at HANJA_SCORE, where Tesseract is under
      HANJA_TESSERACT or PP-OCR's whole-line reading there is sure ideographs where the classifier
      is not sure of Hangul, SURE_HANGUL), or the script classifier (scripts.py) sees no Hangul
      over its syllables (HANGUL_SEEN): Tesseract's Korean model reads Chinese, Latin and digits
      as confident Hangul ("2026年11月21日" as "2026주119321넌" at 97 of 100, "至今" on a scanned
      form as "주수");
    - numbers and signs Tesseract is sure of are its own, unless PP-OCR reads letters there;
    - every other word (Latin, Hanja) is PP-OCR's reading of its place, or Tesseract's word when
      PP-OCR reads nothing there and Tesseract is sure.
    If no Hangul word is left, or a lone syllable among other script (KOREAN_SHARE), the line is
    PP-OCR's reading, unchanged.

    `height_share`: the strip's height as a fraction of its width (margins are measured in line
    heights). `check_script`: whether `ppocr`'s script classes (where it has them) are of the
    strip Tesseract read (not where Tesseract read it turned half round). The routing rule lives
    here alone."""
    words = _words(tesseract)
    sure = [float(np.mean([symbol.confidence for symbol in word])) >= MIN_HANGUL_CONFIDENCE for word in words]
    hangul = [sum(is_hangul(symbol.char) for symbol in word) for word in words]
    if not any(h and ok for h, ok in zip(hangul, sure)):
        return ppocr
    margin = REREAD_MARGIN * height_share
    places = [(max(0.0, word[0].start - margin), min(1.0, word[-1].end + margin)) for word in words]
    again: list[Reading] = list(reread(places)) if reread is not None else [Reading("", 0.0, 0.0)] * len(words)
    segments: list[list[tuple[float, float, str, float]]] = []
    korean = False
    for word, ok, syllables, (low, high), pp in zip(words, sure, hangul, places, again):
        pp_text = pp.text.strip()
        # Hanja, Latin or digits that Tesseract's Korean model made Hangul of (No. -> 제0., 12 -> 그)
        foreign = sum(is_ideograph(char) or (char.isascii() and char.isalnum()) for char in pp_text)
        confidence = float(np.mean([s.confidence for s in word]))
        seen = _hangul_seen(ppocr, word) if check_script else None
        unseen = seen is not None and seen < HANGUL_SEEN
        # Chinese that Tesseract read as sure Hangul: PP-OCR reads ideographs there, surely on its
        # own, and Tesseract is less sure, or PP-OCR's whole line reads them surely too and the
        # classifier is not sure of Hangul there
        chinese = confidence < HANJA_TESSERACT or (
            seen is not None and seen < SURE_HANGUL and _sure_ideographs(ppocr, word[0].start, word[-1].end)
        )
        hanja = foreign >= HANJA_SHARE * len(word) and pp.score >= HANJA_SCORE and chinese
        if syllables and ok and not hanja and not unseen:
            taken = [(s.start, s.end, s.char, s.confidence / 100) for s in word]
            korean = True
        elif (
            ok
            and not syllables
            and not any(s.char.isalpha() for s in word)
            and not any(char.isalpha() for char in pp_text)
        ):
            taken = [(s.start, s.end, s.char, s.confidence / 100) for s in word]
        elif pp_text and pp.score >= REREAD_SCORE:
            taken = _placed(pp, low, high)
        elif ok and not syllables:
            taken = [(s.start, s.end, s.char, s.confidence / 100) for s in word]
        else:
            continue
        if taken:
            segments.append(taken)
    syllables_kept = sum(is_hangul(c[2]) for segment in segments for c in segment)
    symbols_kept = sum(not c[2].isspace() for segment in segments for c in segment)
    if not korean or (syllables_kept < 2 and syllables_kept < KOREAN_SHARE * symbols_kept):
        return ppocr  # a lone syllable among other script is more likely Tesseract's misreading
    chars: list[tuple[float, float, str, float]] = []
    for taken in segments:
        if chars:
            chars.append((chars[-1][1], taken[0][0], " ", min(chars[-1][3], taken[0][3])))
        chars.extend(taken)
    # Spans never overlap their predecessor's; a space spans the gap it stands for.
    fixed: list[tuple[float, float, str, float]] = []
    for start, end, char, prob in chars:
        if fixed and start < fixed[-1][1]:
            start = fixed[-1][1]
        fixed.append((start, max(start, end), char, prob))
    probabilities = [c[3] for c in fixed]
    return Reading(
        "".join(c[2] for c in fixed),
        float(np.mean(probabilities)),
        float(np.min(probabilities)),
        tuple((c[0], c[1]) for c in fixed),
        probs=tuple(probabilities),
        at=tuple((c[0] + c[1]) / 2 for c in fixed),
    )


def _hangul_seen(reading: Reading, word: list[Symbol]) -> float | None:
    """The script classifier's Hangul probability over the ink (steps not background) of each
    Hangul syllable of a Tesseract word, averaged over its syllables; None where the reading has
    no step classes (a recogniser without features, OCR_SCRIPT_CHECK off)."""
    classes = reading.classes
    if classes is None or len(classes) == 0 or reading.step <= 0:
        return None
    hangul = CLASSES.index("hangul")
    seen = []
    for symbol in word:
        if not is_hangul(symbol.char):
            continue
        low = min(int(symbol.start / reading.step), len(classes) - 1)
        high = max(low + 1, min(int(np.ceil(symbol.end / reading.step)), len(classes)))
        part = classes[low:high]
        inked = part[ink(part)]
        seen.append(float(inked[:, hangul].mean()) if len(inked) else 0.0)
    return float(np.mean(seen)) if seen else 0.0


def _sure_ideographs(reading: Reading, start: float, end: float) -> bool:
    """PP-OCR's whole-line reading has characters between start and end (fractions of the strip's
    width), all of them ideographs read at HANJA_SCORE or more: Chinese that Tesseract's Korean
    model made confident Hangul of (否 as 좁 at 97, 科 as 차 at 97 on XFUND scans)."""
    chars = [
        (char, prob)
        for char, prob, at in zip(reading.text, reading.probs, reading.at)
        if start <= at <= end and not char.isspace()
    ]
    return bool(chars) and all(is_ideograph(char) and prob >= HANJA_SCORE for char, prob in chars)


def _placed(reading: Reading, low: float, high: float) -> list[tuple[float, float, str, float]]:
    """A reading of the part [low, high] of a strip (fractions of its width), its characters
    placed along the whole strip; blanks at its ends left out."""
    n = len(reading.text)
    spans = reading.spans if len(reading.spans) == n else tuple((k / n, (k + 1) / n) for k in range(n))
    probs = reading.probs if len(reading.probs) == n else (reading.score,) * n
    out = [
        (low + a * (high - low), low + b * (high - low), char, prob)
        for char, (a, b), prob in zip(reading.text, spans, probs)
    ]
    while out and out[0][2].isspace():
        out.pop(0)
    while out and out[-1][2].isspace():
        out.pop()
    return out


def with_korean(
    reader: KoreanReader,
    strips: list[np.ndarray],
    readings: list[Reading],
    flipped: list[bool],
    recognise,
    mapper,
    deadline,
) -> list[Reading]:
    """The readings of a page's lines with Korean asked for: Tesseract reads every strip (through
    `mapper`, the engine's lanes, which check the deadline before each), korean_or_ppocr picks per
    word, `recognise(crops)` (PP-OCR) reading the places of the words that are not Korean.

    PP-OCR's angle classifier often takes a Hangul line for one upside down (`flipped`), and
    sometimes an upside-down one for upright: a strip it turned, or one whose Hangul Tesseract is
    not sure of (SURE_UPRIGHT), is read by Tesseract both ways too, and read turned where
    Tesseract is sure of its Hangul that way (SURE_UPRIGHT) and surer than the other."""

    def read(i: int) -> list[Symbol]:
        return reader.read(strips[i], deadline)

    def read_turned(i: int) -> list[Symbol]:
        return reader.read(np.ascontiguousarray(strips[i][::-1, ::-1]), deadline)

    asked = [i for i, (reading, turned) in enumerate(zip(readings, flipped)) if turned or not _no_korean_ink(reading)]
    found = dict(zip(asked, mapper(read, asked)))
    symbols = [found.get(i, []) for i in range(len(strips))]
    turned_ids = [
        i for i in asked if flipped[i] or (_sureness(symbols[i]) < SURE_UPRIGHT and not _surely_chinese(readings[i]))
    ]
    turned = dict(zip(turned_ids, mapper(read_turned, turned_ids)))
    out = []
    for i, (strip, reading) in enumerate(zip(strips, readings)):
        share = strip.shape[0] / max(strip.shape[1], 1)
        merged = korean_or_ppocr(reading, symbols[i], share, _rereader(strip, recognise))
        # A strip the classifier left upright needs more to be read turned (SURE_TURNED).
        needed = SURE_UPRIGHT if flipped[i] else SURE_TURNED
        if i in turned and _sureness(turned[i]) >= max(needed, _sureness(symbols[i]) + 1):
            upright = np.ascontiguousarray(strip[::-1, ::-1])
            again = korean_or_ppocr(reading, turned[i], share, _rereader(upright, recognise), check_script=False)
            if again is not reading:
                merged = _in_turned_frame(again)
        out.append(merged)
    return out


def _no_korean_ink(reading: Reading) -> bool:
    """The script classifier (scripts.py) sees nothing of Hangul or another unreadable script on
    the line (NO_KOREAN_INK); False where the reading has no step classes (the check off)."""
    classes = reading.classes
    if classes is None or len(classes) == 0:
        return False
    inked = classes[ink(classes)]
    return len(inked) > 0 and float(unreadable(inked).max()) < NO_KOREAN_INK


def _surely_chinese(reading: Reading) -> bool:
    """PP-OCR reads the line as Chinese, surely: mostly ideographs, at 0.95 or more."""
    text = [c for c in reading.text if not c.isspace()]
    return bool(text) and reading.score >= 0.95 and sum(map(is_ideograph, text)) >= 0.5 * len(text)


def _sureness(symbols: list[Symbol]) -> float:
    """How sure Tesseract is of a line as Korean: its characters' mean confidence, where at least
    half of them are Hangul (0 otherwise: a Latin line turned half round reads as a few
    confident syllables among junk)."""
    chars = [s for s in symbols if not s.char.isspace()]
    if not chars or sum(is_hangul(s.char) for s in chars) < 0.5 * len(chars):
        return 0.0
    return float(np.mean([s.confidence for s in chars]))


def _rereader(strip: np.ndarray, recognise):
    width = strip.shape[1]
    return lambda places: recognise(
        [strip[:, int(a * width) : max(int(a * width) + 1, int(np.ceil(b * width)))] for a, b in places]
    )


def _in_turned_frame(reading: Reading) -> Reading:
    """A reading of a strip turned half round, its characters placed along the strip as it was
    (the engine maps places along a flipped strip back to the line's box)."""
    return reading._replace(spans=tuple((1 - b, 1 - a) for a, b in reading.spans), at=tuple(1 - c for c in reading.at))
