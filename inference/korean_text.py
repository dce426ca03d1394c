"""Korean text lines, read when the caller asks for Korean (`lang=ko`, ocr_contract.protocol).

PP-OCR's recogniser has no Hangul in its dictionary: it reads a Korean line as confident junk.
With `ko` asked, each line our detector found is also read by Tesseract's Korean LSTM
(Debian's tesseract-ocr-kor, tessdata_fast, Apache-2.0) through tesserocr, in-process, and
`korean_or_ppocr` keeps, word by word, Tesseract's reading where it holds Hangul and is sure
of it, PP-OCR's elsewhere: a Chinese or Latin word on the same line stays PP-OCR's.

Tesseract's API object is not thread-safe: a small pool holds one per reader thread at most.
Each line is bounded in time (tesserocr's Recognize timeout, capped by the request's deadline)
and in size (the strip is scaled to READ_HEIGHT before it is read).
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ocr_contract import ApiError, ErrorCode

from .recognize import Reading
from .scripts import CLASSES, ink, is_ideograph, unreadable

log = logging.getLogger(__name__)

LANGUAGE = "kor"
TRAINEDDATA = f"{LANGUAGE}.traineddata"
# Debian's package, pinned: bookworm's (and Ubuntu 24.04's) tesseract-ocr-kor, tessdata_fast 4.1.0.
DEB_PACKAGE = "tesseract-ocr-kor"
DEB_VERSION = "1:4.1.0-2"
TRAINEDDATA_SHA256 = "6b85e11d9bbf07863b97b3523b1b112844c43e713df8b66418a081fd1060b3b2"
TESSDATA_ENV = "OCR_TESSDATA_DIR"
SYSTEM_TESSDATA = (Path("/usr/share/tesseract-ocr/5/tessdata"), Path("/usr/share/tesseract-ocr/4.00/tessdata"))

# What the strip is scaled to before Tesseract reads it (its LSTM reads lines ~36 px high), and
# the margin of background put round it (Tesseract finds a line's text better with some).
READ_HEIGHT = 48
MARGIN = 0.25
MAX_READ_WIDTH = 4000  # a longer strip is squeezed: bounds Tesseract's time and memory
LINE_TIMEOUT_MS = 3000  # one line never takes longer than this (tesserocr's Recognize timeout)
# A Tesseract word replaces PP-OCR's reading of its place when it holds Hangul and its
# characters' mean confidence is at least this (Tesseract's 0-100 scale); make bench-korean.
MIN_HANGUL_CONFIDENCE = 60.0

INSTALL_ADVICE = (
    "Korean (lang=ko) needs tesserocr (pip install -r inference/requirements.txt) and Tesseract's "
    f"Korean model {TRAINEDDATA} (run `python -m inference --prepare-models`, or apt-get install "
    f"{DEB_PACKAGE}, or set {TESSDATA_ENV} to a folder holding it)"
)


def is_hangul(char: str) -> bool:
    """A Hangul syllable. Lone jamo are left out: Tesseract reads a stray stroke or a Latin
    letter as one (A as ㅅ), and text rarely holds them."""
    return 0xAC00 <= ord(char) <= 0xD7A3


def language_not_available(reason: str) -> ApiError:
    return ApiError(ErrorCode.LANGUAGE_NOT_AVAILABLE, f"Korean text cannot be read here: {reason}. {INSTALL_ADVICE}")


def _cache_tessdata() -> Path:
    from .models import cache_dir

    return cache_dir() / "tessdata"


def tessdata_dir() -> Path | None:
    """The folder holding kor.traineddata: $OCR_TESSDATA_DIR, the model cache
    (`--prepare-models` puts it there), or the system's (apt-get install tesseract-ocr-kor)."""
    override = os.environ.get(TESSDATA_ENV)
    candidates = [Path(override)] if override else [_cache_tessdata(), *SYSTEM_TESSDATA]
    return next((folder for folder in candidates if (folder / TRAINEDDATA).is_file()), None)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def prepare(timeout_s: float = 120.0) -> Path | None:
    """Put kor.traineddata in the model cache (at model-preparation time, never at request time):
    copied from the system's tessdata, or extracted from Debian's pinned package with
    `apt-get download` and `dpkg-deb -x` (no root needed). Its checksum is checked. Returns where
    it is, or None (with a warning saying what to install) where it cannot be had."""
    target = _cache_tessdata() / TRAINEDDATA
    if target.is_file() and _sha256(target) == TRAINEDDATA_SHA256:
        return target
    source = next((folder / TRAINEDDATA for folder in SYSTEM_TESSDATA if (folder / TRAINEDDATA).is_file()), None)
    with tempfile.TemporaryDirectory(prefix="kor-deb-") as tmp:
        if source is None:
            if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
                log.warning("Korean: %s not found and apt-get is not available; %s", TRAINEDDATA, INSTALL_ADVICE)
                return None
            try:
                subprocess.run(
                    ["apt-get", "download", f"{DEB_PACKAGE}={DEB_VERSION}"],
                    cwd=tmp,
                    check=True,
                    capture_output=True,
                    timeout=timeout_s,
                )
                deb = next(Path(tmp).glob("*.deb"))
                subprocess.run(
                    ["dpkg-deb", "-x", str(deb), str(Path(tmp) / "x")],
                    check=True,
                    capture_output=True,
                    timeout=timeout_s,
                )
            except (subprocess.SubprocessError, OSError, StopIteration) as exc:
                stderr = getattr(exc, "stderr", b"") or b""
                log.warning(
                    "Korean: could not fetch %s=%s (%s %s); %s",
                    DEB_PACKAGE,
                    DEB_VERSION,
                    exc,
                    stderr.decode(errors="replace")[-300:],
                    INSTALL_ADVICE,
                )
                return None
            source = next((Path(tmp) / "x").rglob(TRAINEDDATA), None)
            if source is None:
                log.warning("Korean: %s holds no %s", DEB_PACKAGE, TRAINEDDATA)
                return None
        digest = _sha256(source)
        if digest != TRAINEDDATA_SHA256:
            log.warning(
                "Korean: %s has sha256 %s, not the pinned %s (%s %s): used, but not the file measured",
                source,
                digest,
                TRAINEDDATA_SHA256,
                DEB_PACKAGE,
                DEB_VERSION,
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp_target = target.with_suffix(f".tmp{os.getpid()}")
        shutil.copyfile(source, tmp_target)
        tmp_target.replace(target)
    log.info("Korean: %s ready in %s", TRAINEDDATA, target.parent)
    return target


@dataclass(frozen=True)
class Symbol:
    char: str
    start: float  # along the strip, as fractions of its width
    end: float
    confidence: float  # Tesseract's, 0-100


class KoreanReader:
    """Tesseract's Korean LSTM over strips, from a pool of at most `size` API objects (one per
    thread using it at a time). `available` says whether tesserocr and kor.traineddata are here;
    `read` raises language_not_available's ApiError where they are not."""

    def __init__(self, size: int = 2):
        self.size = max(1, size)
        self._pool: queue.Queue = queue.Queue()
        self._created = 0
        self._lock = threading.Lock()
        self.tessdata = tessdata_dir()
        self.problem = ""
        try:
            import tesserocr  # noqa: F401
        except ImportError as exc:
            self.problem = f"tesserocr is not installed ({exc})"
        if not self.problem and self.tessdata is None:
            self.problem = f"{TRAINEDDATA} was not found"

    @property
    def available(self) -> bool:
        return not self.problem

    def _api(self, timeout_s: float):
        """An API object of the pool, made when fewer than `size` exist and none is free."""
        try:
            return self._pool.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            make = self._created < self.size
            if make:
                self._created += 1
        if not make:
            try:
                return self._pool.get(timeout=max(0.01, timeout_s))
            except queue.Empty:
                return None
        import tesserocr

        try:
            return tesserocr.PyTessBaseAPI(
                path=f"{self.tessdata}/", lang=LANGUAGE, psm=tesserocr.PSM.SINGLE_LINE, oem=tesserocr.OEM.LSTM_ONLY
            )
        except RuntimeError as exc:
            with self._lock:
                self._created -= 1
            self.problem = f"Tesseract could not load {self.tessdata}/{TRAINEDDATA} ({exc})"
            raise language_not_available(self.problem) from None

    def read(self, strip: np.ndarray, deadline: float | None = None) -> list[Symbol]:
        """The characters Tesseract reads in one upright strip (BGR or grey), spaces included
        (they carry the gap between the words they separate), in reading order."""
        if self.problem:
            raise language_not_available(self.problem)
        budget_ms = LINE_TIMEOUT_MS
        if deadline is not None:
            budget_ms = min(budget_ms, int(1000 * (deadline - time.monotonic())))
            if budget_ms <= 0:
                return []
        image, scale, pad = _prepared(strip)
        api = self._api(budget_ms / 1000)
        if api is None:  # every API object busy until the deadline
            return []
        try:
            return _symbols(api, image, scale, pad, strip.shape[1], budget_ms)
        finally:
            self._pool.put(api)

    def close(self) -> None:
        while True:
            try:
                self._pool.get_nowait().End()
            except queue.Empty:
                return


def _prepared(strip: np.ndarray) -> tuple[np.ndarray, float, int]:
    """The strip in grey, READ_HEIGHT high (at most MAX_READ_WIDTH wide), with a margin of its
    own background; and the scale and margin, to map Tesseract's boxes back."""
    grey = cv2.cvtColor(strip, cv2.COLOR_BGR2GRAY) if strip.ndim == 3 else strip
    h, w = grey.shape[:2]
    scale = min(READ_HEIGHT / max(h, 1), MAX_READ_WIDTH / max(w, 1))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    scaled = cv2.resize(grey, size, interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
    scaled = _flat(scaled)
    edges = np.concatenate([scaled[0], scaled[-1], scaled[:, 0], scaled[:, -1]])
    pad = max(2, round(MARGIN * READ_HEIGHT))
    framed = cv2.copyMakeBorder(scaled, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=int(np.median(edges)))
    return np.ascontiguousarray(framed), scale, pad


def _flat(grey: np.ndarray) -> np.ndarray:
    """Dark text on an even light background: light text turned dark, and the background (a
    gradient, a shadow, a texture: what a closing as wide as the text is thick leaves) divided
    out. Tesseract thresholds the whole line at once; on an uneven background that loses
    strokes (make bench-korean, `photo`)."""
    if float(np.median(grey)) < (int(grey.min()) + int(grey.max())) / 2:
        grey = 255 - grey
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (READ_HEIGHT // 2 + 1, READ_HEIGHT // 2 + 1))
    background = cv2.morphologyEx(grey, cv2.MORPH_CLOSE, kernel).astype(np.float32)
    flat = grey.astype(np.float32) / np.maximum(background, 1.0)
    low = float(np.percentile(flat, 2))
    return np.clip((flat - low) / max(1.0 - low, 1e-3) * 255, 0, 255).astype(np.uint8)


def _symbols(api, image: np.ndarray, scale: float, pad: int, width: int, budget_ms: int) -> list[Symbol]:
    from PIL import Image
    from tesserocr import RIL, iterate_level

    api.SetImage(Image.fromarray(image))
    if not api.Recognize(timeout=max(1, budget_ms)):
        return []
    try:
        text = api.GetUTF8Text().strip()
    except RuntimeError:  # no text at all
        return []
    found = []
    iterator = api.GetIterator()
    if iterator is None:
        return []
    for item in iterate_level(iterator, RIL.SYMBOL):
        try:
            char = item.GetUTF8Text(RIL.SYMBOL)  # raises RuntimeError on an empty symbol
        except RuntimeError:
            continue
        box = item.BoundingBox(RIL.SYMBOL)
        if not char or box is None:
            continue
        x0, _, x1, _ = box
        start = min(max((x0 - pad) / scale / width, 0.0), 1.0)
        end = min(max((x1 - pad) / scale / width, start), 1.0)
        found.append(Symbol(char, start, end, float(item.Confidence(RIL.SYMBOL))))
    return _with_spaces(found, text)


def _with_spaces(symbols: list[Symbol], text: str) -> list[Symbol]:
    """The symbols with the spaces of Tesseract's text between them (its word boxes do not say
    where a Korean line's spaces are; its text does). A space spans the gap it stands for."""
    out: list[Symbol] = []
    position = 0
    for symbol in symbols:
        gap = False
        while position < len(text) and text[position].isspace():
            gap, position = True, position + 1
        if text.startswith(symbol.char, position):
            position += len(symbol.char)
        if gap and out:
            out.append(Symbol(" ", out[-1].end, symbol.start, min(out[-1].confidence, symbol.confidence)))
        out.append(symbol)
    return out


def _words(symbols: list[Symbol]) -> list[list[Symbol]]:
    words: list[list[Symbol]] = [[]]
    for symbol in symbols:
        if symbol.char.isspace():
            words.append([])
        else:
            words[-1].append(symbol)
    return [word for word in words if word]


# A Tesseract word is taken for Hanja (Chinese characters), not Hangul, where PP-OCR reads at
# least this many ideographs per character of it in its place (at HANJA_SCORE at least):
# Tesseract's Korean model reads Hanja as confident Hangul, while PP-OCR reads Hangul as few,
# scattered characters.
HANJA_SHARE = 0.5


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


# A Tesseract word holding Hangul is taken for Korean only where the script classifier's Hangul
# probability over the ink of its syllables (each syllable's own span; the word's digits and
# signs left out, as they are no Hangul in either script) averages at least HANGUL_SEEN. On 20
# XFUND pages read with ko (Chinese forms, scanned: the first 20 of ../shared/eval's pages), 13
# Hangul words were taken before this rule, measuring 0.06-0.33 but for three (0.53, 0.66,
# 0.87); on 120 rendered lines of make bench-korean's tuned and held-out fonts (seed 7, not the
# bench's), the 473 Korean words Tesseract read right measured 0.43 at least, 0.83 for 95 of 100.
HANGUL_SEEN = 0.35


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


# Over real Hangul in print the classifier's Hangul probability is 0.95-1.0; a glyph PP-OCR reads
# as a sure ideograph (a Hangul syllable read as 早 at 0.93, make bench-korean) is Hangul there.
SURE_HANGUL = 0.9


def _sure_ideographs(reading: Reading, start: float, end: float) -> bool:
    """PP-OCR's whole-line reading has characters between start and end (fractions of the strip's
    width), all of them ideographs read at HANJA_SCORE or more: Chinese that Tesseract's Korean
    model made confident Hangul of (否 as 좁 at 97, 科 as 차 at 97 on XFUND scans). Of 473 Korean
    words read right on rendered lines (above), one had such a reading in its place."""
    chars = [
        (char, prob)
        for char, prob, at in zip(reading.text, reading.probs, reading.at)
        if start <= at <= end and not char.isspace()
    ]
    return bool(chars) and all(is_ideograph(char) and prob >= HANJA_SCORE for char, prob in chars)


# A line is read as Korean where it keeps 2 Hangul syllables or more, or they are this share of
# its characters.
KOREAN_SHARE = 0.25
# A word's place is read again by PP-OCR with this margin (in line heights) round Tesseract's
# box of it; that reading is used where its mean probability is at least REREAD_SCORE.
REREAD_MARGIN = 0.2
REREAD_SCORE = 0.5
# Hanja, told from Hangul that PP-OCR misreads as ideographs (it does, at 0.5-1.0): PP-OCR reads
# real Hanja at 0.92-1.0, and Tesseract is less sure of the Hangul it makes of them (76-96 of
# 100) than of real Hangul words (98-100). Chosen on the `tuned` fonts of make bench-korean.
HANJA_SCORE = 0.9
HANJA_TESSERACT = 97.0


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


# A line PP-OCR read as it stands (not turned) where the script classifier gives no step of its
# ink an unreadable-script probability of NO_KOREAN_INK or more is not read by Tesseract: no word
# of it could be taken for Korean (HANGUL_SEEN), and Tesseract is most of a page's time with `ko`.
# On 644 lines read with ko (make bench-korean's lines in its three font sets and six conditions,
# its mixed pages, 6 XFUND pages; seed 4242), the 153 lines where Korean was taken had 0.31 at
# least; 244 of XFUND's 433 Chinese lines and 22 of the pages' 54 Chinese and Latin lines were
# under 0.1.
NO_KOREAN_INK = 0.15


def _no_korean_ink(reading: Reading) -> bool:
    """The script classifier (scripts.py) sees nothing of Hangul or another unreadable script on
    the line (NO_KOREAN_INK); False where the reading has no step classes (the check off)."""
    classes = reading.classes
    if classes is None or len(classes) == 0:
        return False
    inked = classes[ink(classes)]
    return len(inked) > 0 and float(unreadable(inked).max()) < NO_KOREAN_INK


# Tesseract reads upright Hangul lines at 98-100 (mean confidence of their syllables), upside-down
# ones at 75-90 (as read of the tuned fonts of make bench-korean).
SURE_UPRIGHT = 95.0


# Upside-down Chinese read as Hangul at 95.3 on one line of make bench-korean's pages (seed 2026).
SURE_TURNED = 97.0


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
