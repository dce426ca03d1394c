"""The Korean plate recogniser: our own small CTC model (training/korean_plates), since no
offline Hangul recogniser exists in the packages we may use (PP-OCR's dictionary has no Hangul).

It reads one row of a plate at a time, grey, INPUT_HEIGHT pixels high, padded to INPUT_WIDTH.
A two-row plate's rows are read side by side (`stack_rows`), in training and at run time alike
(there the detector finds them as two lines and candidates.stacked_rows pairs them). Its character
set travels inside the ONNX file (metadata `charset`), so the weights and the classes they
answer cannot drift apart. Decoding is grammar.py's, under the Korean grammar.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from ..runtime.sessions import create_session
from ..text.crops import border_colour

# Two models: the same network trained from two seeds, the second on a renderer that also draws
# the 2004 two-row plates (training/korean_plates/train.MODELS). Each is confidently wrong on
# real plates the other reads, and the surer of their readings is right more often than either;
# their CTC outputs are not averaged: models trained apart place characters at different time
# steps (docs/decisions.md, 2026-12-04, two Korean plate models).
MODEL_PATHS = tuple(
    Path(__file__).parent.parent / "weights" / name for name in ("korean_plates.onnx", "korean_plates_b.onnx")
)
INPUT_HEIGHT = 32
INPUT_WIDTH = 224  # 56 time steps: room for the longest plate, 서울12가3456, cut loosely
ROW_GAP = 8  # pixels of background between stacked rows


def _to_height(grey: np.ndarray) -> np.ndarray:
    h, w = grey.shape
    width = max(1, round(w * INPUT_HEIGHT / max(h, 1)))
    return cv2.resize(
        grey, (width, INPUT_HEIGHT), interpolation=cv2.INTER_AREA if h > INPUT_HEIGHT else cv2.INTER_LINEAR
    )


def _background(grey: np.ndarray) -> int:
    return int(border_colour(grey)[0])


def stack_rows(rows: list[np.ndarray]) -> np.ndarray:
    """Rows of one plate (one, or a two-row plate's top and bottom; grey or BGR), made grey,
    each brought to INPUT_HEIGHT and laid side by side, top row first."""
    scaled = [_to_height(cv2.cvtColor(row, cv2.COLOR_BGR2GRAY) if row.ndim == 3 else row) for row in rows]
    if len(scaled) == 1:
        return scaled[0]
    gap = np.full((INPUT_HEIGHT, ROW_GAP), _background(scaled[0]), np.uint8)
    return np.concatenate([scaled[0], gap] + scaled[1:], axis=1)


def scaled_across(strip: np.ndarray, factor: float) -> np.ndarray:
    """`strip` made `factor` times as wide, as high as it was."""
    width = max(1, round(strip.shape[1] * factor))
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    return cv2.resize(strip, (width, strip.shape[0]), interpolation=interpolation)


def model_input(strips: list[np.ndarray]) -> np.ndarray:
    """(N, 1, INPUT_HEIGHT, INPUT_WIDTH) float32 from grey or BGR strips of any size: each
    brought to INPUT_HEIGHT (squeezed when wider than INPUT_WIDTH), padded on the right with its
    own background, scaled to [-1, 1]."""
    batch = np.empty((len(strips), 1, INPUT_HEIGHT, INPUT_WIDTH), np.float32)
    for i, strip in enumerate(strips):
        grey = cv2.cvtColor(strip, cv2.COLOR_BGR2GRAY) if strip.ndim == 3 else strip
        grey = _to_height(grey) if grey.shape[0] != INPUT_HEIGHT else grey
        if grey.shape[1] > INPUT_WIDTH:
            grey = cv2.resize(grey, (INPUT_WIDTH, INPUT_HEIGHT), interpolation=cv2.INTER_AREA)
        padded = np.full((INPUT_HEIGHT, INPUT_WIDTH), _background(grey), np.uint8)
        padded[:, : grey.shape[1]] = grey
        batch[i, 0] = padded.astype(np.float32) / 127.5 - 1.0
    return batch


class KoreanPlateReader:
    """CTC probabilities of strips, from the committed model."""

    def __init__(self, provider: str, threads: int, path: Path):
        self.session = create_session(path.read_bytes(), "rec (Korean plates)", provider, threads)
        meta = self.session.get_modelmeta().custom_metadata_map
        self.charset = ["<blank>"] + json.loads(meta["charset"])
        self.input_name = self.session.get_inputs()[0].name

    def probabilities(self, strips: list[np.ndarray], batch: int = 16) -> list[np.ndarray]:
        """One (time steps, classes) softmax matrix per strip."""
        out = []
        for start in range(0, len(strips), batch):
            logits = self.session.run(None, {self.input_name: model_input(strips[start : start + batch])})[0]
            e = np.exp(logits - logits.max(axis=2, keepdims=True))
            out.extend(e / e.sum(axis=2, keepdims=True))
        return out


def korean_plate_readers(provider: str, threads: int) -> list[KoreanPlateReader]:
    """One reader per shipped model (MODEL_PATHS)."""
    return [KoreanPlateReader(provider, threads, path) for path in MODEL_PATHS]
