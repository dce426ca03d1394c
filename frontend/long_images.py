"""Long images (tall screenshots, receipts, web captures) read as overlapping slices.

The detector sees at most 960 px on its long side: a 900x9000 capture read whole would shrink
its text ten times, past reading. So the image is cut along its long side into slices of at
most SLICE_ASPECT times its short side (at least the detector's 960 px, at most MAX_SIDE_PX), each read on its own, at
once. Neighbouring slices overlap by OVERLAP of a slice (at least MIN_OVERLAP_PX), more than a
line is tall, so every line lies whole in at least one slice. A line belongs to the slice whose
share of the image holds its centre, the shares split at the middle of each overlap: a line
read whole in one slice and cut in the next is answered once, from the slice where it is
whole (a cut piece's centre lies past the middle, on the far side). Only when that slice did
not see the line at all is the other slice's reading kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from documents.render import Page, render
from ocr_contract import MAX_SIDE_PX, ApiError, ErrorCode
from ocr_contract.image_header import ImageHeader, exif_orientation
from ocr_contract.limits import DETECTOR_MAX_SIDE_PX
from ocr_contract.protocol import Lane, Line

from .fanout import read_parts
from .shrink import INVOKE_LIMIT_BYTES

# Cutting stops this long before the request's deadline, leaving the last slices time to be read.
READ_RESERVE_S = 4.0

SLICE_ASPECT = 1.5
OVERLAP = 0.2
MIN_OVERLAP_PX = 256
DETECTOR_SIDE_PX = DETECTOR_MAX_SIDE_PX
MAX_SLICES = 32


def plan_slices(length: int, short: int) -> list[tuple[int, int]]:
    """[start, end) of each slice along the long side."""
    # The detector shrinks nothing under DETECTOR_SIDE_PX, so a narrow image's slices are that long.
    size = min(MAX_SIDE_PX, max(int(short * SLICE_ASPECT), DETECTOR_SIDE_PX))
    if length <= size:
        return [(0, length)]
    overlap = min(max(int(size * OVERLAP), MIN_OVERLAP_PX), size // 2)
    count = math.ceil((length - overlap) / (size - overlap))
    if count > MAX_SLICES:
        raise ApiError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"the image would need {count} slices; at most {MAX_SLICES} are read "
            "(send a shorter image, or one cut in parts)",
        )
    step = (length - size) / (count - 1)
    return [(round(i * step), round(i * step) + size) for i in range(count)]


def read_long_image(
    image: bytes, header: ImageHeader, read: Callable[[bytes, float, Lane], list[Line]], deadline: float
) -> tuple[list[Line], int]:
    """(lines in the whole image's pixels, number of slices). `read(bytes, deadline, lane)`
    reads one slice (the shared pipeline; lane as in ocr_contract.protocol). Slices are cut in the bounded renderer (pages.py: a
    4096 x 16384 px image decoded in the Lambda's own process could take most of its memory)
    and read as they come, a few at a time; a slice answered ServerBusy is tried again. The
    answer needs every slice (a missing one would silently lose its text), so a slice that
    still fails fails the request."""
    if len(plan_slices(max(header.width, header.height), min(header.width, header.height))) == 1:
        return read(image, deadline, "interactive"), 1
    # The slices' coordinates are the upright image's (EXIF orientation applied), as for an
    # image read whole.
    width, height = upright_size(header, image)
    tall = height >= width
    length, short = (height, width) if tall else (width, height)
    spans = plan_slices(length, short)
    slices = render(
        image,
        "slices",
        deadline - READ_RESERVE_S,
        spans=spans,
        tall=tall,
        format=header.format,
        max_output_bytes=INVOKE_LIMIT_BYTES,
        lossless=header.format != "JPEG",
        max_page_pixels=header.width * header.height,
    )

    def read_slice(piece: Page, until: float) -> list[Line]:
        if piece.error is not None or piece.image is None:
            raise piece.error or ApiError(ErrorCode.INTERNAL_ERROR, "a slice was not made")
        return read(piece.image, until, "bulk")

    answers: list[list[Line]] = []
    for _, answer in read_parts(slices, read_slice, deadline):
        if isinstance(answer, ApiError):
            raise answer
        answers.append(answer)
    for (a, _), lines in zip(spans, answers):
        for line in lines:
            _shift(line, a, tall)
    merged = []
    for index, lines in enumerate(answers):
        for line in lines:
            owner = _owner(line, spans, length, tall)
            # A line outside this slice's share is the owner's to answer; kept only when the
            # owner did not see it (the detector can miss a line in one slice and not the next).
            if owner == index or not any(_overlap(line, other) >= 0.3 for other in answers[owner]):
                merged.append(line)
    return merged, len(spans)


def upright_size(header: ImageHeader, image: bytes) -> tuple[int, int]:
    """(width, height) as viewers show the image: a JPEG whose EXIF orientation turns it a
    quarter has them swapped."""
    if exif_orientation(image) in (5, 6, 7, 8):
        return header.height, header.width
    return header.width, header.height


def _owner(line: Line, spans: list[tuple[int, int]], length: int, tall: bool) -> int:
    """The slice whose share of the image holds the line's centre (shares split at the middle
    of each overlap)."""
    loc = line["location"]
    centre = loc["top"] + loc["height"] / 2 if tall else loc["left"] + loc["width"] / 2
    for index in range(len(spans) - 1):
        if centre < (spans[index][1] + spans[index + 1][0]) / 2:
            return index
    return len(spans) - 1


def _overlap(a: Line, b: Line) -> float:
    """The area two lines' boxes share, over the smaller box's."""
    la, lb = a["location"], b["location"]
    w = min(la["left"] + la["width"], lb["left"] + lb["width"]) - max(la["left"], lb["left"])
    h = min(la["top"] + la["height"], lb["top"] + lb["height"]) - max(la["top"], lb["top"])
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / max(min(la["width"] * la["height"], lb["width"] * lb["height"]), 1)


def _shift(line: Line, offset: int, tall: bool) -> None:
    """A slice's line moved into the whole image's pixels."""
    axis = 1 if tall else 0
    line["location"]["top" if tall else "left"] += offset
    if "box" in line:
        for point in line["box"]:
            point[axis] += offset
        for quad in line["chars"]:
            for point in quad:
                point[axis] += offset
