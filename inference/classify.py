"""The 0/180 degree angle classifier (PP-OCR mobile v2.0 cls): upside-down lines are turned."""
from __future__ import annotations

import math

import cv2
import numpy as np

HEIGHT, WIDTH = 48, 192
FLIP_THRESHOLD = 0.9  # turn a line only when the classifier is this sure it is upside down


def _normalise(strip: np.ndarray) -> np.ndarray:
    h, w = strip.shape[:2]
    new_w = min(WIDTH, int(math.ceil(HEIGHT * w / h)))
    resized = cv2.resize(strip, (new_w, HEIGHT), interpolation=cv2.INTER_LINEAR)
    out = np.zeros((3, HEIGHT, WIDTH), dtype=np.float32)
    out[:, :, :new_w] = resized.transpose(2, 0, 1).astype(np.float32) * (2.0 / 255.0) - 1.0
    return out


def upright(session, strips: list[np.ndarray], batch_size: int) -> list[np.ndarray]:
    """The strips, each turned 180 degrees where the classifier says it is upside down."""
    result = list(strips)
    input_name = session.get_inputs()[0].name
    for start in range(0, len(strips), batch_size):
        batch = np.stack([_normalise(s) for s in strips[start : start + batch_size]])
        probs = session.run(None, {input_name: batch})[0]
        for offset, p in enumerate(probs):
            if int(np.argmax(p)) == 1 and p[1] > FLIP_THRESHOLD:
                result[start + offset] = cv2.rotate(strips[start + offset], cv2.ROTATE_180)
    return result
