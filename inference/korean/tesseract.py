"""Tesseract's Korean LSTM over line strips, in-process through tesserocr.

Tesseract's API object is not thread-safe: a small pool holds one per reader thread at most.
Each line is bounded in time (tesserocr's Recognize timeout, capped by the request's deadline)
and in size (the strip is scaled to READ_HEIGHT before it is read).
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

import cv2
import numpy as np

from .tessdata import LANGUAGE, TRAINEDDATA, language_not_available, tessdata_dir

# What the strip is scaled to before Tesseract reads it (its LSTM reads lines ~36 px high), and
# the margin of background put round it (Tesseract finds a line's text better with some).
READ_HEIGHT = 48
MARGIN = 0.25
MAX_READ_WIDTH = 4000  # a longer strip is squeezed: bounds Tesseract's time and memory
LINE_TIMEOUT_MS = 3000  # one line never takes longer than this (tesserocr's Recognize timeout)


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
