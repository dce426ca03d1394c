"""The plate route (task=plates): the lines the engine cut, read as Chinese plates by PP-OCR and
as Korean plates by our own models, each in the views it reads best, and the readings to answer
chosen (answers.read).

The views, and why each (docs/decisions.md, Plates, has what was tried and measured):
- PP-OCR reads each line cut tighter across its text and a little longer than the detector cut
  it (CHINESE_PLATE_ENDS, CHINESE_PLATE_SIDES): the detector's margin takes in the plate's rim,
  and the small province character is lost first. A line that is the whole image is read whole.
- Our Korean models read each line as the detector cut it, never widened by repeating its edge
  pixels (PP-OCR's side padding): they learnt lines so, and read the repeated pixels as a digit.
- A two-row pair is read with its rows laid side by side (korean_model.stack_rows), each row cut
  along its own box, and again with each row narrower (KOREAN_PAIR_SQUEEZE), nearer the
  proportions of the plates our renderer draws.
- A line read whole (a crop of one plate) is also read along its text row, that row cut a little
  tighter (KOREAN_CROP_SIDES), and that tighter row made wider where it is short for its height
  (korean_crop_stretch); never turned by the angle classifier, which turns some upright plates.
- Every Korean view is read as cut and sheared upright at its measured slant and either side of
  it (slant.variants): plates are often photographed from one side.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import cv2
import numpy as np

from ..text.crops import crop_line, reframed
from ..text.cut import Cut
from . import slant
from .answers import Reader, read
from .candidates import joined, stacked_rows
from .grammar import KOREAN, PlateDecoder, PlateReading
from .korean_model import KoreanPlateReader, korean_plate_readers, scaled_across, stack_rows

# PP-OCR's cut of a line for the Chinese grammar (crops.reframed): 0.2 of the line's thickness
# added at each end, 0.1 taken off the top and the bottom (docs/decisions.md, 2026-12-04,
# Chinese plate lines cut tighter across the text).
CHINESE_PLATE_ENDS = 0.2
CHINESE_PLATE_SIDES = -0.1
# A crop's text row read once more cut 0.05 of its height tighter at the top and the bottom
# (docs/decisions.md, 2026-12-04, a crop's Korean row also read a little tighter).
KOREAN_CROP_SIDES = -0.05
# Real Korean plates are set in other proportions than our renderer draws
# (training/korean_plates/render.py; docs/decisions.md, 2026-12-05, Korean plates also read in
# the proportions our models learnt): a crop's tighter row is also read up to KOREAN_CROP_STRETCH
# times as wide, never longer for its height than KOREAN_ROW_ASPECT (the median of the
# renderer's one-row plates, so that a Chinese plate crop is not stretched into a Korean one),
# and a pair with each row KOREAN_PAIR_SQUEEZE times as wide.
KOREAN_CROP_STRETCH = 1.5
KOREAN_ROW_ASPECT = 4.2
KOREAN_PAIR_SQUEEZE = 0.8


def korean_crop_stretch(width: float, height: float) -> float:
    """How much wider a crop's text row `width` x `height` is read (KOREAN_CROP_STRETCH); 1 or
    less: not stretched."""
    return min(KOREAN_CROP_STRETCH, KOREAN_ROW_ASPECT * height / max(width, 1.0))


def chinese_strips(image: np.ndarray, cut: Cut) -> list[np.ndarray]:
    """The lines cut for PP-OCR to read as Chinese plates: tighter across the text than the
    detector's boxes, a little longer (CHINESE_PLATE_SIDES, CHINESE_PLATE_ENDS), turned as the
    classifier turned them. A line that is the whole image (a plate crop) is read whole, as cut."""
    strips = []
    for box, whole, strip, flip in zip(cut.boxes, cut.read_whole(), cut.strips, cut.flipped):
        if whole:
            strips.append(strip)
            continue
        # Past the image's edge the warp repeats the edge pixels, as pad_sides would.
        tight = crop_line(image, reframed(box, CHINESE_PLATE_ENDS, CHINESE_PLATE_SIDES))
        strips.append(cv2.rotate(tight, cv2.ROTATE_180) if flip else tight)
    return strips


class KoreanViews(NamedTuple):
    """What our Korean models read of a cut's lines: images(), and the readers of their matrices."""

    lines: list[np.ndarray]  # each line as the detector cut it, without PP-OCR's side padding
    pairs: list[np.ndarray]  # each stacked pair's rows side by side, then each pair again narrower
    crops: list[dict[int, np.ndarray]]  # more views of the lines read whole: line -> image, per view

    def images(self) -> list[np.ndarray]:
        """Every image to read, in the order readers() takes their matrices back."""
        return [*self.lines, *self.pairs, *(image for view in self.crops for image in view.values())]

    def readers(self, decoder: PlateDecoder, matrices: Sequence[np.ndarray], slanted: bool) -> list[Reader]:
        """One model's matrices of images() as answers.Readers: the lines with the pairs (two views
        of each, answers.Reader.paired), then one reader per crop view, which sees only its lines."""
        taken = iter(matrices)
        lines = [next(taken) for _ in self.lines]
        pairs = [next(taken) for _ in self.pairs]
        readers = [Reader(decoder, lines, pairs, slanted=slanted)]
        for view in self.crops:
            seen: list[np.ndarray | None] = [None] * len(self.lines)
            for line in view:
                seen[line] = next(taken)
            readers.append(Reader(decoder, seen, [], slanted=slanted))
        return readers


def korean_views(image: np.ndarray, cut: Cut, pairs: list[tuple[int, int]]) -> KoreanViews:
    """The views of the cut's lines and `pairs` (candidates.stacked_rows) our Korean models read."""
    strips = cut.unpadded_strips()
    whole = cut.read_whole()
    # A line read whole is read along its text row too (and a pair's rows are cut so: on tight
    # crops of two-row plates the bottom row's box covers the crop, which holds the top row too).
    rows = [
        (cv2.rotate(crop_line(image, box), cv2.ROTATE_180) if flip else crop_line(image, box)) if read_whole else strip
        for box, flip, read_whole, strip in zip(cut.boxes, cut.flipped, whole, strips)
    ]
    stacked = [stack_rows([rows[top], rows[bottom]]) for top, bottom in pairs]
    narrower = [stack_rows([scaled_across(rows[line], KOREAN_PAIR_SQUEEZE) for line in pair]) for pair in pairs]
    # Only the lines read whole have the crop views: another line's would be its plain strip
    # again, read once more for nothing, and its readings at a slant would pass for two shears
    # that agree (answers.read).
    own = [k for k, read_whole in enumerate(whole) if read_whole]
    tight = [crop_line(image, reframed(cut.boxes[k], 0.0, KOREAN_CROP_SIDES)) for k in own]
    stretches = [korean_crop_stretch(row.shape[1], row.shape[0]) for row in tight]
    wider = {k: scaled_across(row, by) for k, row, by in zip(own, tight, stretches) if by > 1.0}
    crops = [view for view in ({k: rows[k] for k in own}, dict(zip(own, tight)), wider) if view]
    return KoreanViews(strips, stacked + narrower, crops)


class PlateReader:
    """The plate route's models and decoders: PP-OCR's CTC output under the Chinese grammar, and
    each of our Korean models (korean_model.MODEL_PATHS) under the Korean one."""

    def __init__(self, charset: list[str], provider: str, threads: int):
        self.chinese = PlateDecoder(charset)
        # Each Korean model reads every line; a place keeps the surest reading (answers.read).
        self.korean: list[tuple[KoreanPlateReader, PlateDecoder]] = [
            (reader, PlateDecoder(reader.charset, KOREAN)) for reader in korean_plate_readers(provider, threads)
        ]

    def read(
        self,
        image: np.ndarray,
        cut: Cut,
        recognise: Callable[[list[np.ndarray]], list[np.ndarray]],
        check: Callable[[], None],
        country: str | None = None,
    ) -> list[tuple[PlateReading, np.ndarray]]:
        """The plates among the cut's lines, most confident first. `recognise(strips)`: PP-OCR's
        CTC matrices of strips (recognize.line_probabilities); `check()` raises past the
        request's deadline; `country` ("cn", "kr") answers only that country's plates."""
        pairs = stacked_rows(cut.boxes)
        # Asked for Korean plates only, the lines are still read as Chinese ones, but only as
        # rivals: a Korean reading found only at a slant must beat them (answers.read).
        check()
        lines = recognise(chinese_strips(image, cut))
        readers = [Reader(self.chinese, lines, joined(lines, pairs), answers=country != "kr")]
        if country in (None, "kr"):
            check()
            views = korean_views(image, cut, pairs)
            inputs = views.images()
            variants = [[view, *slant.variants(view)] for view in inputs]
            for model, decoder in self.korean:
                check()
                # One call per model, every view at every shear, shear by shear.
                matrices = model.probabilities([view for shear in zip(*variants) for view in shear])
                for k, start in enumerate(range(0, len(matrices), len(inputs))):
                    readers += views.readers(decoder, matrices[start : start + len(inputs)], slanted=k > 0)
        return read(readers, cut.boxes, pairs, check)
