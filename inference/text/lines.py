"""A line as the engine answers it (OcrLine), placed in the image's own pixels: its box, its
axis-aligned location, each character's corners, and the way back from a page read turned."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import orientation
from .crops import span_quad


@dataclass(frozen=True)
class OcrLine:
    text: str
    score: float
    box: tuple[tuple[float, float], ...]  # 4 corners (x, y), clockwise from top-left, original pixels
    top: int
    left: int
    width: int
    height: int
    chars: tuple = ()  # per character of `text`: its 4 corners (tl, tr, br, bl in the line's box order)

    def to_api(self, detail: bool = False) -> dict:
        """The public response item: words, location (axis-aligned box), score. With `detail`
        (what the other APIs' doors ask for), also the line's 4 corners and each character's."""
        item = {
            "words": self.text,
            "location": {"top": self.top, "left": self.left, "width": self.width, "height": self.height},
            "score": self.score,
        }
        if detail:
            item["box"] = rounded(self.box)
            item["chars"] = [[list(point) for point in quad] for quad in self.chars]
        return item


def rounded(points) -> list[list[float]]:
    return [[round(float(x), 1), round(float(y), 1)] for x, y in points]


def char_quads(spans, box: np.ndarray, cut_width: int, read_width: int, flipped: bool) -> tuple:
    """Each character's 4 corners in the image, from its span along the strip that was read:
    undo the classifier's half turn and the side padding, then place it along the line's box."""
    pad = (read_width - cut_width) / 2
    quads = []
    for start, end in spans:
        if flipped:
            start, end = 1 - end, 1 - start
        start, end = ((f * read_width - pad) / cut_width for f in (start, end))
        quad = span_quad(box, min(max(start, 0.0), 1.0), min(max(end, 0.0), 1.0))
        quads.append(tuple(map(tuple, rounded(quad))))
    return tuple(quads)


def axis_aligned(box: np.ndarray, image_h: int, image_w: int) -> tuple[int, int, int, int]:
    """(top, left, width, height) of the box, within the image."""
    left = int(np.clip(np.floor(box[:, 0].min()), 0, image_w - 1))
    top = int(np.clip(np.floor(box[:, 1].min()), 0, image_h - 1))
    right = int(np.clip(np.ceil(box[:, 0].max()), left + 1, image_w))
    bottom = int(np.clip(np.ceil(box[:, 1].max()), top + 1, image_h))
    return top, left, right - left, bottom - top


def turned_back(line: OcrLine, direction: int, height: int, width: int) -> OcrLine:
    """A line read on the page turned upright, with its box and characters in the pixels of
    the original image. Their corners keep the text's own order (clockwise from the top-left
    of its first character as the page is read), so a box follows its line."""
    box = orientation.points_back(np.asarray(line.box, np.float32), direction, height, width)
    top, left, w, h = axis_aligned(box, height, width)
    chars = tuple(
        tuple(map(tuple, rounded(orientation.points_back(np.asarray(quad, np.float64), direction, height, width))))
        for quad in line.chars
    )
    return OcrLine(line.text, line.score, tuple(map(tuple, box.tolist())), top, left, w, h, chars)
