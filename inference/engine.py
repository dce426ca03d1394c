"""The OCR pipeline: detect lines, cut them out, turn upside-down ones, read them.

One engine serves concurrent requests: onnxruntime sessions are thread-safe, and nothing a
request does changes the engine's state (there are no per-request options to mutate).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from . import classify, detect, recognize
from .config import EngineConfig
from .crops import crop_line, fills_image, image_box
from .images import decode_image
from .models import locate_models, prepared_model_bytes
from .sessions import create_session

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OcrLine:
    text: str
    score: float
    box: tuple[tuple[float, float], ...]  # 4 corners (x, y), clockwise from top-left, original pixels
    top: int
    left: int
    width: int
    height: int

    def to_api(self) -> dict:
        """The public response item: words, location (axis-aligned box), score."""
        return {
            "words": self.text,
            "location": {"top": self.top, "left": self.left, "width": self.width, "height": self.height},
            "score": self.score,
        }


def _axis_aligned(box: np.ndarray, image_h: int, image_w: int) -> tuple[int, int, int, int]:
    left = int(np.clip(np.floor(box[:, 0].min()), 0, image_w - 1))
    top = int(np.clip(np.floor(box[:, 1].min()), 0, image_h - 1))
    right = int(np.clip(np.ceil(box[:, 0].max()), left + 1, image_w))
    bottom = int(np.clip(np.ceil(box[:, 1].max()), top + 1, image_h))
    return top, left, right - left, bottom - top


class OcrEngine:
    def __init__(self, config: EngineConfig | None = None):
        self.config = config or EngineConfig.from_env()
        files = locate_models()
        c = self.config
        self.det = create_session(prepared_model_bytes(files.det), "det", c.provider, c.threads)
        self.cls = create_session(prepared_model_bytes(files.cls), "cls", c.provider, c.threads) if c.use_cls else None
        self.rec = create_session(prepared_model_bytes(files.rec), "rec", c.provider, c.threads)
        self.charset = recognize.charset_from_metadata(self.rec)
        self.provider = self.det.get_providers()[0]

    def warm_up(self) -> None:
        """One tiny inference through every model, so the first real request is not slow."""
        blank = np.full((64, 256, 3), 255, np.uint8)
        blank[24:40, 40:200] = 0
        self.read(blank)

    def read_bytes(self, data: bytes) -> list[OcrLine]:
        return self.read(decode_image(data))

    def read(self, image: np.ndarray) -> list[OcrLine]:
        """BGR uint8 image -> recognised lines in reading order."""
        height, width = image.shape[:2]
        cfg = self.config
        plan = detect.plan_resize(height, width, cfg.detection)
        det_input = detect.preprocess(image, plan)
        prob_map = self.det.run(None, {self.det.get_inputs()[0].name: det_input})[0]
        boxes, _ = detect.postprocess(prob_map, plan, height, width, cfg.detection)
        if len(boxes) == 0:
            return []
        boxes = boxes[detect.reading_order(boxes)]
        whole = image_box(height, width)
        strips = [crop_line(image, whole if fills_image(box, height, width) else box) for box in boxes]
        # Lines cut off by the image's left or right edge get a margin there (see pad_sides);
        # lines inside the image have one already.
        at_edge = (boxes[:, :, 0].min(axis=1) <= 1) | (boxes[:, :, 0].max(axis=1) >= width - 2)
        strips = [recognize.pad_sides(s, cfg.rec_side_pad) if edge else s for s, edge in zip(strips, at_edge)]
        if self.cls is not None:
            strips = classify.upright(self.cls, strips, cfg.cls_batch)
        texts = recognize.read_lines(self.rec, self.charset, strips, cfg.rec_batch, cfg.rec_min_width)
        lines = []
        for box, (text, score) in zip(boxes, texts):
            if score < cfg.text_score or not text.strip():
                continue
            top, left, w, h = _axis_aligned(box, height, width)
            lines.append(OcrLine(text, score, tuple(map(tuple, box.tolist())), top, left, w, h))
        return lines
