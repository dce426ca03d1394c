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


def _windows(strip: np.ndarray, most: int) -> list[np.ndarray]:
    """Up to `most` windows of the classifier's 4:1 shape, spread along a long strip.

    The classifier squashes its input to 192x48; a long line squashed that far is
    unreadable and gets flipped at random (seen on real forms), so long lines are judged by
    several windows of their own text instead.
    """
    h, w = strip.shape[:2]
    window = int(h * WIDTH / HEIGHT)
    if w <= window * 1.5:
        return [strip]
    count = min(most, int(math.ceil(w / window)))
    starts = np.linspace(0, w - window, count).astype(int)
    return [strip[:, x : x + window] for x in starts]


def upright(
    session, strips: list[np.ndarray], batch_size: int, windows: int = 4, mapper=map
) -> tuple[list[np.ndarray], list[bool]]:
    """The strips, each turned 180 degrees where the classifier says it is upside down, and
    which were turned.

    `mapper` runs the batches: `map`, or a thread pool's map to run several at once."""
    pieces, owner = [], []
    for index, strip in enumerate(strips):
        for piece in _windows(strip, windows):
            pieces.append(_normalise(piece))
            owner.append(index)
    input_name = session.get_inputs()[0].name
    probs = np.concatenate(
        list(
            mapper(
                lambda start: session.run(None, {input_name: np.stack(pieces[start : start + batch_size])})[0],
                range(0, len(pieces), batch_size),
            )
        )
    )
    votes = np.zeros(len(strips))
    counts = np.zeros(len(strips))
    np.add.at(votes, owner, probs[:, 1])
    np.add.at(counts, owner, 1)
    flipped = votes / counts > FLIP_THRESHOLD
    return [cv2.rotate(s, cv2.ROTATE_180) if f else s for s, f in zip(strips, flipped)], flipped.tolist()
