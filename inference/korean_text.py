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
    code = ord(char)
    return 0xAC00 <= code <= 0xD7A3 or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F


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
    edges = np.concatenate([scaled[0], scaled[-1], scaled[:, 0], scaled[:, -1]])
    pad = max(2, round(MARGIN * READ_HEIGHT))
    framed = cv2.copyMakeBorder(scaled, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=int(np.median(edges)))
    return np.ascontiguousarray(framed), scale, pad


def _symbols(api, image: np.ndarray, scale: float, pad: int, width: int, budget_ms: int) -> list[Symbol]:
    from PIL import Image
    from tesserocr import RIL, iterate_level

    api.SetImage(Image.fromarray(image))
    if not api.Recognize(timeout=max(1, budget_ms)):
        return []
    text = api.GetUTF8Text().strip()
    found = []
    iterator = api.GetIterator()
    if iterator is None:
        return []
    for item in iterate_level(iterator, RIL.SYMBOL):
        char = item.GetUTF8Text(RIL.SYMBOL)
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


def is_ideograph(char: str) -> bool:
    code = ord(char)
    return 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF


# A Tesseract word is taken for Hanja (Chinese characters), not Hangul, where PP-OCR reads at
# least this many ideographs per character of it in its place: Tesseract's Korean model reads
# Hanja as confident Hangul, while PP-OCR reads Hangul as few, scattered characters.
HANJA_SHARE = 0.5


def korean_or_ppocr(ppocr: Reading, tesseract: list[Symbol], height_share: float) -> Reading:
    """One line's reading when Korean is asked.

    A line where Tesseract reads no word that holds Hangul, is sure of it
    (MIN_HANGUL_CONFIDENCE) and is not Hanja that PP-OCR reads (HANJA_SHARE) is PP-OCR's
    reading, unchanged: Chinese and Latin lines read as without `ko`. On a line with such a
    word, the line is taken word by word along Tesseract's words: those Korean words are
    Tesseract's, and so are numbers and signs it is sure of; every other word (Hanja, Latin) is
    PP-OCR's characters in its place, or Tesseract's own word where PP-OCR read nothing there; PP-OCR's characters between
    Tesseract's words are its readings of Hangul and are left out.

    `height_share`: the strip's height as a fraction of its width (margins are measured in line
    heights). The routing rule lives here alone, so that a detector of the script of a line can
    later decide which lines need Tesseract at all."""
    n = len(ppocr.text)
    spans = ppocr.spans if len(ppocr.spans) == n else tuple((0.0, 1.0) for _ in range(n))
    centres = ppocr.centres if len(ppocr.centres) == n else tuple((a + b) / 2 for a, b in spans)
    probs = ppocr.probs if len(ppocr.probs) == n else (ppocr.score,) * n
    margin = 0.15 * height_share
    words = _words(tesseract)
    choices: list[tuple[list[Symbol], list[int]]] = []  # per word: Tesseract's symbols, or PP-OCR's characters
    korean = False
    for word in words:
        low, high = word[0].start - margin, word[-1].end + margin
        inside = [k for k in range(n) if low <= centres[k] <= high and not ppocr.text[k].isspace()]
        hangul = sum(is_hangul(symbol.char) for symbol in word)
        sure = float(np.mean([symbol.confidence for symbol in word])) >= MIN_HANGUL_CONFIDENCE
        hanja = sum(is_ideograph(ppocr.text[k]) for k in inside)
        if hangul and sure and hanja < HANJA_SHARE * len(word):
            choices.append((word, []))
            korean = True
        elif (
            sure
            and not any(symbol.char.isalpha() for symbol in word)
            and not any(ppocr.text[k].isalpha() for k in inside)
        ):
            choices.append((word, []))  # numbers and signs: Tesseract reads them as well as PP-OCR
        elif inside:
            choices.append(([], inside))
        elif sure:
            choices.append((word, []))
    if not korean:
        return ppocr
    chars: list[tuple[float, float, str, float]] = []
    for word, pp in choices:
        if chars:
            chars.append((chars[-1][1], word[0].start if word else spans[pp[0]][0], " ", chars[-1][3]))
        if word:
            chars.extend((s.start, s.end, s.char, s.confidence / 100) for s in word)
            continue
        low, high = min(spans[k][0] for k in pp), max(spans[k][1] for k in pp)
        for k in pp:
            start, end = spans[k]
            if k == pp[0] and k > 0 and spans[k - 1][1] >= start:  # its span may reach back over a Korean word
                start = max(start, centres[k] - (spans[k][1] - centres[k]))
            if k == pp[-1] and k + 1 < n:
                end = min(end, centres[k] + (centres[k] - start))
            chars.append((max(start, low), max(min(end, high), max(start, low)), ppocr.text[k], probs[k]))
    # Spaces span the gap between their neighbours; nothing overlaps its predecessor.
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
        tuple((c[0] + c[1]) / 2 for c in fixed),
        tuple(probabilities),
    )
