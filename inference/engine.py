"""The OCR pipeline: detect lines, cut them out, turn upside-down ones, read them.

This module is the read path only; each stage and feature is a call into its sub-package:
text/ (detection, cutting, the angle classifier, recognition, the script check, page
direction), runtime/ (sessions, model files, int8, batching, deadlines), plates/ (task=plates),
korean/ (lang=ko) and layout/ (tables). docs/architecture.md has the map.

One engine serves concurrent requests: onnxruntime sessions are thread-safe, and nothing a
request does changes the engine's state (there are no per-request options to mutate).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ocr_contract.protocol import Line

from . import korean
from .config import EngineConfig
from .images import decode_image
from .layout.regions import layout_outputs, page_regions
from .layout.tables import TableReader
from .plates import PlateReader
from .runtime.batching import MicroBatcher
from .runtime.deadline import DeadlineExceeded, guards
from .runtime.models import int8_recogniser_bytes, locate_models, prepared_model_bytes
from .runtime.quantize import recogniser_precision
from .runtime.sessions import CPU, cpu_count, create_session, keep_freed_memory_for_reuse
from .text import classify, detect, orientation, recognize, scripts, small_text
from .text.crops import SURE_READING, crop_line, edge_fragments, fills_image, image_box
from .text.cut import Cut
from .text.lines import OcrLine, axis_aligned, char_quads, rounded, turned_back

__all__ = ["DeadlineExceeded", "OcrEngine", "OcrLine"]

log = logging.getLogger(__name__)

AUTO_GPU_BATCH_WAIT_MS = 5.0


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
        # one onnxruntime thread each; their batches are small, and two single-threaded batches
        # beat one batch on two threads (docs/decisions.md, 2026-11-21, single-threaded lanes).
        # The pool is shared, so concurrent requests never run more batches than there are lanes.
        self.lanes = (c.threads or cpu_count()) if on_cpu else 1
        batch_threads = 1 if on_cpu else c.threads
        self._pool = ThreadPoolExecutor(self.lanes, thread_name_prefix="ocr-batch") if self.lanes > 1 else None
        self._map = self._pool.map if self._pool else map
        self.cls = (
            create_session(prepared_model_bytes(files.cls), "cls", c.provider, batch_threads) if c.use_cls else None
        )
        self.rec_precision = recogniser_precision(c.precision, on_cpu)
        # With its features as a second output: they tell where a line is in a script the
        # model cannot read (text/scripts.py).
        rec_model = scripts.with_features(prepared_model_bytes(files.rec))
        # int8 reads most lines as fp32 does, but not the ones the model hesitates on (degraded
        # photos, Traditional or rare characters): a line with a character read under
        # fp32_retry_below is read again in fp32 (see _read_cut()).
        self.rec_fp32 = None
        if self.rec_precision == "int8":
            if c.fp32_retry_below > 0:
                self.rec_fp32 = create_session(rec_model, "rec (fp32, for unsure lines)", c.provider, batch_threads)
            rec_model = int8_recogniser_bytes(rec_model)
        self.rec = create_session(rec_model, f"rec ({self.rec_precision})", c.provider, batch_threads)
        self.charset = recognize.charset_from_metadata(self.rec)
        # Leave out what is in a script the recogniser cannot read (text/scripts.py).
        self.script_check = c.script_check
        # Read pages in the direction they run (text/orientation.py); off only to measure what
        # that costs (make bench, the `turned` row).
        self.by_page_direction = True
        # Plates (task=plates): PP-OCR under the Chinese grammar, our Korean models under theirs.
        self.plates = PlateReader(self.charset, c.provider, batch_threads)
        # Tables (asked for with the `tables` option): layout and structure models.
        self.tables = TableReader(c.provider, c.threads)
        # Korean lines, when asked for (lang=ko): Tesseract's Korean LSTM (on the CPU, a GPU or
        # not), at most one API object per core, made when first needed.
        self.korean = korean.KoreanReader(c.threads or cpu_count())
        # Cross-request batching of recognition: strips of every in-flight request share batches,
        # `lanes` batches running at once. `auto` batches on a GPU only: on a CPU, which one
        # request already keeps busy, it gained nothing (docs/decisions.md, 2026-11-21).
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

    @property
    def korean_plates(self) -> list:
        """Our Korean plate models, each with its decoder (plates.PlateReader.korean)."""
        return self.plates.korean

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
        return guards(deadline, self._map)

    def _detect(self, image: np.ndarray, plan: detect.Resize) -> np.ndarray:
        """The detector's probability map of `image` resized as `plan` says."""
        return self.det.run(None, {self.det.get_inputs()[0].name: detect.preprocess(image, plan)})[0]

    def _read_strips(self, session, strips: list[np.ndarray], mapper, exact: bool = False) -> list:
        """recognize.read_lines with the engine's batch and strip width."""
        cfg = self.config
        return recognize.read_lines(
            session, self.charset, strips, cfg.rec_batch, cfg.rec_min_width, mapper, exact=exact
        )

    def _cut_lines(
        self,
        image: np.ndarray,
        check,
        mapper,
        drop_slivers: bool = True,
        by_page_direction: bool = True,
        larger_view: int = 0,
    ) -> Cut | None:
        """Detect the lines and cut each out upright; None when there is no line. `drop_slivers`:
        leave out the thin lines at the top or bottom edge that are surely pieces of lines the
        crop cut (crops.edge_fragments). `by_page_direction`: order the lines as the page is
        read (orientation.py), not only top to bottom and left to right. `larger_view`: a long
        side (px) at which the photo is also looked at, for lines where none was found
        (small_text.larger_view); 0: not."""
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
        if larger_view > cfg.detection.max_side:
            boxes = small_text.larger_view(self._detect, image, boxes, cfg.detection, larger_view, check)
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
            if direction == orientation.TURNED_RIGHT and not orientation.is_vertical_text(
                image, boxes, lambda cells: self._read_strips(self.rec, cells, mapper)
            ):
                return Cut(boxes, cut_from, cut_widths, strips, flipped, unless_sure, direction)
            if direction in (orientation.UPSIDE_DOWN, orientation.TURNED_LEFT):
                return Cut(boxes, cut_from, cut_widths, strips, flipped, unless_sure, direction)
            if direction == orientation.TURNED_RIGHT:
                order = orientation.page_order(boxes, direction, height, width)
                boxes, unless_sure = boxes[order], unless_sure[order]
                cut_from, cut_widths = [cut_from[i] for i in order], [cut_widths[i] for i in order]
                strips, flipped = [strips[i] for i in order], [flipped[i] for i in order]
        return Cut(boxes, cut_from, cut_widths, strips, flipped, unless_sure)

    def require_lang(self, lang: str | None) -> None:
        """ApiError 501 LanguageNotAvailable, saying what to install, where `lang` cannot be read here."""
        if lang == "ko" and not self.korean.available:
            raise korean.language_not_available(self.korean.problem)

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
        lines are read too (korean/)."""
        self.require_lang(lang)
        check, mapper = self._guards(deadline)
        # With Korean asked for, the page is read as it stands: the classifier takes many Hangul
        # lines for upside-down ones, so its flips cannot tell the page's direction (korean/
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
        return [turned_back(line, cut.turned, *image.shape[:2]) for line in lines]

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
            texts = self._read_strips(self.rec, strips, mapper)
        if lang != "ko" and any(flipped):
            texts, flipped = self._flips_checked(strips, texts, flipped, mapper, deadline)
            strips = [_half_turned(s) if was != now else s for s, was, now in zip(strips, cut.flipped, flipped)]
        if self.rec_fp32 is not None:
            unsure = [i for i, reading in enumerate(texts) if reading.weakest < cfg.fp32_retry_below]
            # The second look is at each strip's own width, without its bucket's padding: an
            # unsure line is the one padding can tip (docs/decisions.md, 2026-12-07, the studies
            # moved out of the code).
            if unsure:
                again = self._read_strips(self.rec_fp32, [strips[i] for i in unsure], mapper, exact=True)
                for i, reading in zip(unsure, again):
                    texts[i] = reading
        if lang == "ko":
            texts = self._with_korean(strips, texts, flipped, mapper, deadline)
        lines = []
        for i, (line_box, whole, maybe_piece) in enumerate(zip(boxes, texts, unless_sure)):
            # A line partly in a script the model cannot read is cut there, that part left out
            # (text/scripts.py); any other line is one piece, as read.
            pieces = scripts.readable_parts(whole) if self.script_check else [scripts.Piece(whole, 0.0, 1.0)]
            for reading, start, end in pieces:
                if reading.score < (SURE_READING if maybe_piece else cfg.text_score) or not reading.text.strip():
                    continue
                box = line_box
                if (start, end) != (0.0, 1.0):
                    span = char_quads([(start, end)], cut_from[i], cut_widths[i], strips[i].shape[1], flipped[i])
                    box = np.asarray(span[0], np.float32)
                top, left, w, h = axis_aligned(box, height, width)
                chars = (
                    char_quads(reading.spans, cut_from[i], cut_widths[i], strips[i].shape[1], flipped[i])
                    if detail
                    else ()
                )
                lines.append(
                    OcrLine(reading.text, reading.score, tuple(map(tuple, box.tolist())), top, left, w, h, chars)
                )
        return lines

    def _flips_checked(
        self, strips: list[np.ndarray], texts: list, flipped: list[bool], mapper, deadline
    ) -> tuple[list, list[bool]]:
        """Each line the classifier turned half round read as it stands as well, and kept the
        way it reads with the higher score. The classifier, sure as it may be (FLIP_THRESHOLD),
        turns short lines of small print (a number, a two-letter code, a short heading in a
        table) that are upright: read upside down they come out as other characters or are
        dropped, while the recogniser is plainly surer of them the right way up."""
        turned = [i for i, f in enumerate(flipped) if f]
        back = [_half_turned(strips[i]) for i in turned]
        if self.rec_batcher is not None:
            again = recognize.read_lines_batched(self.rec_batcher, back, self.config.rec_min_width, deadline)
        else:
            again = self._read_strips(self.rec, back, mapper)
        texts, flipped = list(texts), list(flipped)
        for i, reading in zip(turned, again):
            if reading.score > texts[i].score:
                texts[i], flipped[i] = reading, False
        return texts, flipped

    @property
    def _exact_rec(self):
        """The recogniser session to use where exactness matters more than speed: the fp32 one
        where the engine has one beside its int8 recogniser, else the only one."""
        return self.rec_fp32 if self.rec_fp32 is not None else self.rec

    def _with_korean(self, strips: list[np.ndarray], texts: list, flipped: list[bool], mapper, deadline) -> list:
        """Each line's reading with Korean asked for (korean.with_korean): Tesseract on the
        engine's lanes, PP-OCR (fp32 where there is one) for the places of non-Korean words."""
        session = self._exact_rec
        return korean.with_korean(
            self.korean, strips, texts, flipped, lambda crops: self._read_strips(session, crops, map), mapper, deadline
        )

    def read_tables(
        self,
        image: np.ndarray,
        deadline: float | None = None,
        detail: bool = False,
        lang: str | None = None,
        layout: list[np.ndarray] | None = None,
    ) -> tuple[list, list]:
        """(the lines as read() answers them, as API items; the tables of the image, layout/).
        The tables are filled from the lines' characters, so the lines are read with them.
        `layout`: the layout model's answer on this image, where read_layout gave it already."""
        lines: list[Line] = [line.to_api(True) for line in self.read(image, deadline=deadline, detail=True, lang=lang)]  # type: ignore[misc]
        check, _ = self._guards(deadline)
        check()
        tables = self.tables.read(image, lines, layout)
        if not detail:
            for line in lines:
                line.pop("box", None)
                line.pop("chars", None)
        return lines, tables

    def read_layout(self, image: np.ndarray) -> list[np.ndarray]:
        """The layout model's answer on a page, for a page whose tables and regions are both
        asked for (a job's Markdown): the model is run once for both."""
        return layout_outputs(self.tables.layout, image)

    def read_regions(self, image: np.ndarray, layout: list[np.ndarray] | None = None) -> list:
        """The layout model's regions on a page (layout/regions.py): titles, figures, captions,
        tables, headers, footers; for Markdown (the jobs API's "outputs": ["markdown"])."""
        return page_regions(self.tables.layout, self.tables.layout_labels, image, outputs=layout)

    def read_plates(self, image: np.ndarray, deadline: float | None = None, country: str | None = None) -> list[dict]:
        """Licence plates in a photo or a crop, read under their grammar (plates/):
        [{"value", "conf", "box": 4 corners}], most confident first; [] when there is none.
        `country` ("cn", "kr") answers only that country's plates; without it each line is read
        both ways and keeps the reading its grammar is surer of."""
        check, mapper = self._guards(deadline)
        # A thin line on the edge of a plate crop may be a two-row plate's small top row, whole,
        # the crop cut tight over it; the grammar, not its thickness, says whether it is a plate's.
        # Plates are small in the photos they come in: a larger view finds more of them
        # (ocr_contract.limits.PLATE_DETECTOR_MAX_SIDE_PX).
        cut = self._cut_lines(
            image, check, mapper, drop_slivers=False, by_page_direction=False, larger_view=self.config.plate_max_side
        )
        if cut is None:
            return []
        # fp32 where there is one: int8 loses more of the tiny province characters
        # (docs/decisions.md, 2026-12-07, the studies moved out of the code).
        session, cfg = self._exact_rec, self.config
        found = self.plates.read(
            image,
            cut,
            lambda strips: recognize.line_probabilities(session, strips, cfg.rec_batch, cfg.rec_min_width, mapper),
            check,
            country,
        )
        return [{"value": reading.text, "conf": round(reading.conf, 4), "box": rounded(box)} for reading, box in found]


def _half_turned(strip: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(strip[::-1, ::-1])
