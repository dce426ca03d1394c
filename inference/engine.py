"""The OCR pipeline: detect lines, cut them out, turn upside-down ones, read them.

One engine serves concurrent requests: onnxruntime sessions are thread-safe, and nothing a
request does changes the engine's state (there are no per-request options to mutate).
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from ocr_contract.protocol import Line

from . import classify, detect, korean_text, orientation, plates, recognize, scripts, slant, small_text
from .batching import MicroBatcher
from .config import EngineConfig
from .crops import (
    SURE_READING,
    crop_line,
    edge_fragments,
    fills_image,
    image_box,
    is_vertical,
    reframed,
    span_quad,
    warp,
)
from .images import decode_image
from .korean_plates import korean_plate_readers, scaled_across, stack_rows
from .models import int8_recogniser_bytes, locate_models, prepared_model_bytes
from .plate_grammar import KOREAN, PlateDecoder
from .sessions import CPU, create_session, keep_freed_memory_for_reuse
from .tables import TableReader

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
            item["box"] = _rounded(self.box)
            item["chars"] = [[list(point) for point in quad] for quad in self.chars]
        return item


class Cut(NamedTuple):
    """The lines of an image, detected and cut out upright, in reading order."""

    boxes: np.ndarray  # each line's detected quad, original pixels
    cut_from: list  # the quad each strip was cut from (the whole image for a one-line crop)
    cut_widths: list[int]  # each strip's width before side padding
    strips: list[np.ndarray]  # upright, side-padded where the line touches the image's edge
    flipped: list[bool]  # turned half round by the classifier
    unless_sure: np.ndarray  # dropped unless read surely (crops.edge_fragments)
    turned: int = orientation.UPRIGHT  # not UPRIGHT: the page runs this way (orientation.py), and
    # is to be read turned upright

    def read_whole(self) -> list[bool]:
        """Per line: is its strip the whole image (crops.fills_image), not its box?"""
        return [not np.array_equal(source, box) for source, box in zip(self.cut_from, self.boxes)]

    def unpadded_strips(self) -> list[np.ndarray]:
        """The strips as cut, without the side padding (it is even: pad_sides, then at most a
        half turn)."""
        return [s[:, (s.shape[1] - w) // 2 : (s.shape[1] - w) // 2 + w] for s, w in zip(self.strips, self.cut_widths)]


def _rounded(points) -> list[list[float]]:
    return [[round(float(x), 1), round(float(y), 1)] for x, y in points]


PRECISIONS = ("auto", "fp32", "int8")
AUTO_GPU_BATCH_WAIT_MS = 5.0


class DeadlineExceeded(Exception):
    """The request's time ran out; raised between model calls, so its thread is freed soon."""


def _cpu_count() -> int:
    """CPUs this process may use (a container's CPU set, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def recogniser_precision(precision: str, on_cpu: bool) -> str:
    """int8 or fp32. `auto` quantizes only where it pays: on the CPU (quantize.py); GPUs run fp32."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "int8" if on_cpu else "fp32"
    return precision


def _char_quads(spans, box: np.ndarray, cut_width: int, read_width: int, flipped: bool) -> tuple:
    """Each character's 4 corners in the image, from its span along the strip that was read:
    undo the classifier's half turn and the side padding, then place it along the line's box."""
    pad = (read_width - cut_width) / 2
    quads = []
    for start, end in spans:
        if flipped:
            start, end = 1 - end, 1 - start
        start, end = ((f * read_width - pad) / cut_width for f in (start, end))
        quad = span_quad(box, min(max(start, 0.0), 1.0), min(max(end, 0.0), 1.0))
        quads.append(tuple(map(tuple, _rounded(quad))))
    return tuple(quads)


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
        keep_freed_memory_for_reuse()
        self.det = create_session(prepared_model_bytes(files.det), "det", c.provider, c.threads)
        self.provider = self.det.get_providers()[0]
        on_cpu = self.provider == CPU
        # On a CPU, classification and recognition run batch-parallel: `lanes` batches at once,
        # one onnxruntime thread each. Their batches are small, and two single-threaded batches
        # beat one batch on two threads (make bench: a page 761 -> 710 ms, a crop 53 -> 24 ms).
        # The pool is shared, so concurrent requests never run more batches than there are lanes.
        self.lanes = (c.threads or _cpu_count()) if on_cpu else 1
        batch_threads = 1 if on_cpu else c.threads
        self._pool = ThreadPoolExecutor(self.lanes, thread_name_prefix="ocr-batch") if self.lanes > 1 else None
        self._map = self._pool.map if self._pool else map
        self.cls = (
            create_session(prepared_model_bytes(files.cls), "cls", c.provider, batch_threads) if c.use_cls else None
        )
        self.rec_precision = recogniser_precision(c.precision, on_cpu)
        # With its features as a second output: they tell where a line is in a script the
        # model cannot read (scripts.py).
        rec_model = scripts.with_features(prepared_model_bytes(files.rec))
        # int8 reads most lines as fp32 does, but not the ones the model hesitates on (degraded
        # photos, Traditional or rare characters): a line with a character read under
        # fp32_retry_below is read again in fp32 (see read()).
        self.rec_fp32 = None
        if self.rec_precision == "int8":
            if c.fp32_retry_below > 0:
                self.rec_fp32 = create_session(rec_model, "rec (fp32, for unsure lines)", c.provider, batch_threads)
            rec_model = int8_recogniser_bytes(rec_model)
        self.rec = create_session(rec_model, f"rec ({self.rec_precision})", c.provider, batch_threads)
        self.charset = recognize.charset_from_metadata(self.rec)
        # Leave out what is in a script the recogniser cannot read (scripts.py).
        self.script_check = c.script_check
        # Read pages in the direction they run (orientation.py); off only to measure what that
        # costs (make bench, the `turned` row).
        self.by_page_direction = True
        self.plate_decoder = PlateDecoder(self.charset)
        # Korean plates: each of our models reads every line; a place keeps the surest reading
        # (plates.read). Models trained apart err on different plates (korean_plates.MODEL_PATHS).
        self.korean_plates = [
            (reader, PlateDecoder(reader.charset, KOREAN)) for reader in korean_plate_readers(c.provider, batch_threads)
        ]
        # Tables (asked for with the `tables` option): layout and structure models, tables.py.
        self.tables = TableReader(c.provider, c.threads)
        # Korean lines, when asked for (lang=ko): Tesseract's Korean LSTM (on the CPU, a GPU or
        # not), at most one API object per core, made when first needed.
        self.korean = korean_text.KoreanReader(c.threads or _cpu_count())
        # Cross-request batching of recognition: strips of every in-flight request share batches,
        # `lanes` batches running at once. A GPU is busy only with large batches; on a CPU it
        # gained nothing measurable (make bench-gpu: 2.29 -> 2.35 pages/s at concurrency 8 on 2
        # cores, which one request already keeps busy), so `auto` batches on a GPU only.
        wait_ms = c.batch_wait_ms if c.batch_wait_ms >= 0 else (0.0 if on_cpu else AUTO_GPU_BATCH_WAIT_MS)
        self.rec_batcher = None
        if wait_ms > 0:
            self.rec_batcher = MicroBatcher(
                recognize.batch_runner(self.rec, self.charset),
                max_batch=c.rec_batch,
                max_wait_s=wait_ms / 1000,
                expired=DeadlineExceeded,
                name="rec-batch",
                workers=self.lanes,
            )

    def close(self) -> None:
        """Finish queued work and stop the batcher's threads."""
        if self.rec_batcher is not None:
            self.rec_batcher.close()
        self.korean.close()

    def warm_up(self) -> None:
        """One tiny inference through every model, so the first real request is not slow."""
        blank = np.full((64, 256, 3), 255, np.uint8)
        blank[24:40, 40:200] = 0
        self.read(blank)

    def read_bytes(self, data: bytes) -> list[OcrLine]:
        return self.read(decode_image(data))

    def _guards(self, deadline: float | None):
        """`check()` raises DeadlineExceeded past the deadline; `mapper` runs batches on the
        engine's lanes, checking it before each."""

        def check():
            if deadline is not None and time.monotonic() > deadline:
                raise DeadlineExceeded()

        def mapper(fn, items):
            def checked(item):
                check()
                return fn(item)

            return self._map(checked, items)

        return check, mapper

    def _detect(self, image: np.ndarray, plan: detect.Resize) -> np.ndarray:
        """The detector's probability map of `image` resized as `plan` says."""
        return self.det.run(None, {self.det.get_inputs()[0].name: detect.preprocess(image, plan)})[0]

    def _cut_lines(
        self, image: np.ndarray, check, mapper, drop_slivers: bool = True, by_page_direction: bool = True
    ) -> Cut | None:
        """Detect the lines and cut each out upright; None when there is no line. `drop_slivers`:
        leave out the thin lines at the top or bottom edge that are surely pieces of lines the
        crop cut (crops.edge_fragments). `by_page_direction`: order the lines as the page is
        read (orientation.py), not only top to bottom and left to right."""
        height, width = image.shape[:2]
        cfg = self.config
        check()
        plan = detect.plan_resize(height, width, cfg.detection)
        prob_map = self._detect(image, plan)
        boxes, _ = detect.postprocess(prob_map, plan, height, width, cfg.detection)
        if cfg.small_text.budget > 0:
            boxes = small_text.second_pass(
                self._detect, image, prob_map, plan, boxes, cfg.detection, cfg.small_text, check
            )
        if len(boxes) == 0:
            return None
        unless_sure = np.zeros(len(boxes), bool)
        if drop_slivers and cfg.edge_fragment_ratio > 0:
            certain, unless_sure = edge_fragments(boxes, height, width, cfg.edge_fragment_ratio)
            boxes, unless_sure = boxes[~certain], unless_sure[~certain]
        order = detect.reading_order(boxes)
        boxes, unless_sure = boxes[order], unless_sure[order]
        whole = image_box(height, width)
        cut_from = [whole if fills_image(box, height, width) else box for box in boxes]
        strips = [crop_line(image, box) for box in cut_from]
        # Lines cut off by the image's left or right edge get a margin there (see pad_sides);
        # lines inside the image have one already.
        at_edge = (boxes[:, :, 0].min(axis=1) <= 1) | (boxes[:, :, 0].max(axis=1) >= width - 2)
        cut_widths = [s.shape[1] for s in strips]
        strips = [recognize.pad_sides(s, cfg.rec_side_pad) if edge else s for s, edge in zip(strips, at_edge)]
        flipped = [False] * len(strips)
        if self.cls is not None:
            strips, flipped = classify.upright(self.cls, strips, cfg.cls_batch, mapper=mapper)
        if by_page_direction:
            # A page turned a quarter or upside down is read turned upright (read()); vertical
            # text is read where it stands, its columns right to left (orientation.py). An
            # upright page keeps the order above, at no cost: the direction comes from the
            # boxes and the classifier's flips, which it has anyway.
            direction = orientation.page_direction(boxes, flipped)
            if direction == orientation.TURNED_RIGHT and not self._vertical_text(image, boxes, mapper):
                return Cut(boxes, cut_from, cut_widths, strips, flipped, unless_sure, direction)
            if direction in (orientation.UPSIDE_DOWN, orientation.TURNED_LEFT):
                return Cut(boxes, cut_from, cut_widths, strips, flipped, unless_sure, direction)
            if direction == orientation.TURNED_RIGHT:
                order = orientation.page_order(boxes, direction, height, width)
                boxes, unless_sure = boxes[order], unless_sure[order]
                cut_from, cut_widths = [cut_from[i] for i in order], [cut_widths[i] for i in order]
                strips, flipped = [strips[i] for i in order], [flipped[i] for i in order]
        return Cut(boxes, cut_from, cut_widths, strips, flipped, unless_sure)

    # Columns read as rows of upright characters (orientation.column_cells) to tell vertical
    # text from a page turned right: vertical text reads at 0.73-1.0 that way, a turned page's
    # lines at 0-0.0 (rendered poems and notices; XFUND pages turned right).
    VERTICAL_PROBES = 6
    VERTICAL_SCORE = 0.5

    def _vertical_text(self, image: np.ndarray, boxes: np.ndarray, mapper) -> bool:
        """Do the columns on this page hold upright characters (vertical text), not lines of a
        page turned right?"""
        columns = sorted((box for box in boxes if is_vertical(box)), key=lambda box: -float(np.ptp(box[:, 1])))
        cells = [orientation.column_cells(warp(image, box)) for box in columns[: self.VERTICAL_PROBES]]
        if not cells:
            return False
        readings = recognize.read_lines(
            self.rec, self.charset, cells, self.config.rec_batch, self.config.rec_min_width, mapper
        )
        return float(np.mean([reading.score for reading in readings])) >= self.VERTICAL_SCORE

    def require_lang(self, lang: str | None) -> None:
        """ApiError 501 LanguageNotAvailable, saying what to install, where `lang` cannot be read here."""
        if lang == "ko" and not self.korean.available:
            raise korean_text.language_not_available(self.korean.problem)

    def read(
        self, image: np.ndarray, deadline: float | None = None, detail: bool = False, lang: str | None = None
    ) -> list[OcrLine]:
        """BGR uint8 image -> recognised lines in reading order.

        `deadline` (time.monotonic()) is checked before each model call: a request whose
        client has given up stops using the CPU/GPU instead of finishing for nobody. With `detail`,
        each line also carries its characters' corners (`chars`), which only the other APIs'
        doors ask for.

        A page turned a quarter or upside down (orientation.py) is read turned upright, as an
        upright page is, and its boxes are given back in this image's pixels. `lang` "ko": Hangul
        lines are read too (korean_text.py)."""
        self.require_lang(lang)
        check, mapper = self._guards(deadline)
        # With Korean asked for, the page is read as it stands: the classifier takes many Hangul
        # lines for upside-down ones, so its flips cannot tell the page's direction (korean_text.py
        # reads each line both ways where unsure instead).
        by_direction = self.by_page_direction and lang != "ko"
        cut = self._cut_lines(image, check, mapper, by_page_direction=by_direction)
        if cut is None:
            return []
        if cut.turned == orientation.UPRIGHT:
            return self._read_cut(image, cut, check, mapper, deadline, detail, lang)
        upright = orientation.turn_upright(image, cut.turned)
        again = self._cut_lines(upright, check, mapper, by_page_direction=False)
        if again is None:
            return []
        lines = self._read_cut(upright, again, check, mapper, deadline, detail, lang)
        return [self._turned_back(line, cut.turned, *image.shape[:2]) for line in lines]

    @staticmethod
    def _turned_back(line: OcrLine, direction: int, height: int, width: int) -> OcrLine:
        """A line read on the page turned upright, with its box and characters in the pixels of
        the original image. Their corners keep the text's own order (clockwise from the top-left
        of its first character as the page is read), so a box follows its line."""
        box = orientation.points_back(np.asarray(line.box, np.float32), direction, height, width)
        top, left, w, h = _axis_aligned(box, height, width)
        chars = tuple(
            tuple(map(tuple, _rounded(orientation.points_back(np.asarray(quad, np.float64), direction, height, width))))
            for quad in line.chars
        )
        return OcrLine(line.text, line.score, tuple(map(tuple, box.tolist())), top, left, w, h, chars)

    def _read_cut(
        self, image: np.ndarray, cut: Cut, check, mapper, deadline: float | None, detail: bool, lang: str | None = None
    ) -> list[OcrLine]:
        boxes, cut_from, cut_widths, strips, flipped, unless_sure, _ = cut
        height, width = image.shape[:2]
        cfg = self.config
        if self.rec_batcher is not None:
            check()
            texts = recognize.read_lines_batched(self.rec_batcher, strips, cfg.rec_min_width, deadline)
        else:
            texts = recognize.read_lines(self.rec, self.charset, strips, cfg.rec_batch, cfg.rec_min_width, mapper)
        if self.rec_fp32 is not None:
            unsure = [i for i, reading in enumerate(texts) if reading.weakest < cfg.fp32_retry_below]
            # The second look is at each strip's own width, without its bucket's padding: an
            # unsure line is the one padding can tip (make bench: TD500 recall 0.951 -> 0.957, a
            # stylised sign line of 142 px read at 0.22 padded to 192; the other sets within 0.002).
            if unsure:
                again = recognize.read_lines(
                    self.rec_fp32,
                    self.charset,
                    [strips[i] for i in unsure],
                    cfg.rec_batch,
                    cfg.rec_min_width,
                    mapper,
                    exact=True,
                )
                for i, reading in zip(unsure, again):
                    texts[i] = reading
        if lang == "ko":
            texts = self._with_korean(strips, texts, flipped, mapper, deadline)
        lines = []
        for i, (line_box, whole, maybe_piece) in enumerate(zip(boxes, texts, unless_sure)):
            # A line partly in a script the model cannot read is cut there, that part left out
            # (scripts.py); any other line is one piece, as read.
            pieces = scripts.readable_parts(whole) if self.script_check else [scripts.Piece(whole, 0.0, 1.0)]
            for reading, start, end in pieces:
                if reading.score < (SURE_READING if maybe_piece else cfg.text_score) or not reading.text.strip():
                    continue
                box = line_box
                if (start, end) != (0.0, 1.0):
                    span = _char_quads([(start, end)], cut_from[i], cut_widths[i], strips[i].shape[1], flipped[i])
                    box = np.asarray(span[0], np.float32)
                top, left, w, h = _axis_aligned(box, height, width)
                chars = (
                    _char_quads(reading.spans, cut_from[i], cut_widths[i], strips[i].shape[1], flipped[i])
                    if detail
                    else ()
                )
                lines.append(
                    OcrLine(reading.text, reading.score, tuple(map(tuple, box.tolist())), top, left, w, h, chars)
                )
        return lines

    @property
    def _exact_rec(self):
        """The recogniser session to use where exactness matters more than speed: the fp32 one
        where the engine has one beside its int8 recogniser, else the only one."""
        return self.rec_fp32 if self.rec_fp32 is not None else self.rec

    def _with_korean(self, strips: list[np.ndarray], texts: list, flipped: list[bool], mapper, deadline) -> list:
        """Each line's reading with Korean asked for (korean_text.with_korean): Tesseract on the
        engine's lanes, PP-OCR (fp32 where there is one) for the places of non-Korean words."""
        session = self._exact_rec
        cfg = self.config
        return korean_text.with_korean(
            self.korean,
            strips,
            texts,
            flipped,
            lambda crops: recognize.read_lines(session, self.charset, crops, cfg.rec_batch, cfg.rec_min_width),
            mapper,
            deadline,
        )

    def read_tables(
        self, image: np.ndarray, deadline: float | None = None, detail: bool = False, lang: str | None = None
    ) -> tuple[list, list]:
        """(the lines as read() answers them, as API items; the tables of the image, tables.py).
        The tables are filled from the lines' characters, so the lines are read with them."""
        lines: list[Line] = [line.to_api(True) for line in self.read(image, deadline=deadline, detail=True, lang=lang)]  # type: ignore[misc]
        check, _ = self._guards(deadline)
        check()
        tables = self.tables.read(image, lines)
        if not detail:
            for line in lines:
                line.pop("box", None)
                line.pop("chars", None)
        return lines, tables

    @staticmethod
    def _chinese_plate_strips(image: np.ndarray, cut: Cut) -> list[np.ndarray]:
        """The lines cut for PP-OCR to read as Chinese plates: tighter across the text than the
        detector's boxes, a little longer (plates.CHINESE_PLATE_SIDES), turned as the classifier
        turned them. A line that is the whole image (a plate crop) is read whole, as cut."""
        strips = []
        for box, whole, strip, flip in zip(cut.boxes, cut.read_whole(), cut.strips, cut.flipped):
            if whole:
                strips.append(strip)
                continue
            # Past the image's edge the warp repeats the edge pixels, as pad_sides would.
            tight = crop_line(image, reframed(box, plates.CHINESE_PLATE_ENDS, plates.CHINESE_PLATE_SIDES))
            strips.append(cv2.rotate(tight, cv2.ROTATE_180) if flip else tight)
        return strips

    def read_plates(self, image: np.ndarray, deadline: float | None = None, country: str | None = None) -> list[dict]:
        """Licence plates in a photo or a crop, read under their grammar (plate_grammar.py,
        plates.py): [{"value", "conf", "box": 4 corners}], most confident first; [] when there is
        none. `country` ("cn", "kr") answers only that country's plates; without it each line is
        read both ways and keeps the reading its grammar is surer of. Korean readings are also
        made of each line sheared upright (slant.py)."""
        check, mapper = self._guards(deadline)
        # A thin line on the edge of a plate crop may be a two-row plate's small top row, whole,
        # the crop cut tight over it; the grammar, not its thickness, says whether it is a plate's.
        cut = self._cut_lines(image, check, mapper, drop_slivers=False, by_page_direction=False)
        if cut is None:
            return []
        readers = []
        pairs = plates.stacked_rows(cut.boxes)
        # Asked for Korean plates only, the lines are still read as Chinese ones, but only as
        # rivals: a Korean reading found only at a slant must beat them (plates.read).
        check()
        # fp32 where there is one: int8 loses more of the tiny province characters (on 300
        # plate crops 88.3% exact against 89.7%, grey only).
        session = self._exact_rec
        lines = recognize.line_probabilities(
            session, self._chinese_plate_strips(image, cut), self.config.rec_batch, self.config.rec_min_width, mapper
        )
        readers.append(plates.Reader(self.plate_decoder, lines, plates.joined(lines, pairs), answers=country != "kr"))
        if country in (None, "kr"):
            check()
            # Our Korean model learnt lines as the detector cuts them, never widened by repeating
            # their edge pixels (pad_sides, which PP-OCR needs): on a plate crop whose frame
            # touches the image's edge, those pixels read as an extra digit or sink the reading
            # (make bench-plates, Korean held-out route: 88.9% read with them, 90.5% without).
            strips = cut.unpadded_strips()
            # A crop of one plate is read whole (crops.fills_image), frame, bolts and the bumper
            # around it included. Real Korean plate crops read better cut along their text row
            # as well (make bench-plates, kr-real: 46 -> 73 of 129 exact), so such a line is
            # read both ways and plates.read keeps the surer reading.
            whole = cut.read_whole()
            rows = [
                (cv2.rotate(crop_line(image, box), cv2.ROTATE_180) if flip else crop_line(image, box))
                if read_whole
                else strip
                for box, flip, read_whole, strip in zip(cut.boxes, cut.flipped, whole, strips)
            ]
            # A two-row plate's rows are each cut along their own box: on tight crops of green
            # 2004 plates the big serial's box covers the crop, and the whole image would hold
            # the top row twice.
            stacked = [stack_rows([rows[top], rows[bottom]]) for top, bottom in pairs]
            # And with each row narrower, nearer our renderer's proportions (plates.KOREAN_PAIR_SQUEEZE).
            narrower = [
                stack_rows([scaled_across(rows[line], plates.KOREAN_PAIR_SQUEEZE) for line in pair]) for pair in pairs
            ]
            # The lines read whole are also read along their text row (rows) and cut a little
            # tighter above and below (plates.KOREAN_CROP_SIDES), as the photo stands: one more
            # view of a crop's text row, which the models often read where the other cuts misread
            # it. Never turned: the angle classifier, trained on text lines, turns some upright
            # real plates upside down (2 of the 129 KarPlate crops). Other lines have no such
            # views: theirs would be their plain strip again, read once more for nothing, and its
            # readings at a slant would pass for two shears that agree (plates.read).
            own = [k for k, read_whole in enumerate(whole) if read_whole]
            tight = [crop_line(image, reframed(cut.boxes[k], 0.0, plates.KOREAN_CROP_SIDES)) for k in own]
            # And the tighter row made wider where it is short for its height (plates.KOREAN_CROP_STRETCH).
            stretches = [plates.korean_crop_stretch(row.shape[1], row.shape[0]) for row in tight]
            wider = {k: scaled_across(row, by) for k, row, by in zip(own, tight, stretches) if by > 1.0}
            views = [view for view in ({k: rows[k] for k in own}, dict(zip(own, tight)), wider) if view]
            inputs = strips + stacked + narrower + [image for view in views for image in view.values()]
            # Each is read as cut and, slanted upright, at its measured slant and either side of
            # it (slant.variants): real crops are often photographed from one side.
            variants = [[image, *slant.variants(image)] for image in inputs]
            pairs_from, views_from = len(strips), len(strips) + len(stacked) + len(narrower)
            for model, decoder in self.korean_plates:
                check()
                matrices = model.probabilities([image for group in zip(*variants) for image in group])
                for k in range(1 + len(slant.AROUND)):
                    read = matrices[k * len(inputs) : (k + 1) * len(inputs)]
                    # The pairs as stacked, then narrower: two views of each (plates.Reader.paired).
                    readers.append(
                        plates.Reader(decoder, read[:pairs_from], read[pairs_from:views_from], slanted=k > 0)
                    )
                    start = views_from
                    for view in views:
                        seen: list[np.ndarray | None] = [None] * len(cut.boxes)
                        for line, matrix in zip(view, read[start : start + len(view)]):
                            seen[line] = matrix
                        start += len(view)
                        readers.append(plates.Reader(decoder, seen, [], slanted=k > 0))
        return [
            {"value": reading.text, "conf": round(reading.conf, 4), "box": _rounded(box)}
            for reading, box in plates.read(readers, cut.boxes, pairs, check)
        ]
