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

import io
import math
import time
from concurrent.futures import ThreadPoolExecutor

from ocr_contract import MAX_SIDE_PX, ApiError, ErrorCode
from ocr_contract.image_header import ImageHeader

from .shrink import upright_rgb

SLICE_ASPECT = 1.5
OVERLAP = 0.2
MIN_OVERLAP_PX = 256
DETECTOR_SIDE_PX = 960
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
        raise ApiError(ErrorCode.IMAGE_TOO_LARGE, f"the image would need {count} slices; at most {MAX_SLICES} are read "
                                                  "(send a shorter image, or one cut in parts)")
    step = (length - size) / (count - 1)
    return [(round(i * step), round(i * step) + size) for i in range(count)]


def read_long_image(image: bytes, header: ImageHeader, read, deadline: float) -> tuple[list[dict], int]:
    """(lines in the whole image's pixels, number of slices). `read(bytes, deadline)` reads
    one slice (the shared pipeline); slices are read concurrently."""
    if len(plan_slices(max(header.width, header.height), min(header.width, header.height))) == 1:
        return read(image, deadline), 1
    # Sliced as the container reads it (upright, so the answer's coordinates are the same as for
    # an image read whole; transparency on white).
    picture = upright_rgb(image)
    width, height = picture.size
    tall = height >= width
    length, short = (height, width) if tall else (width, height)
    spans = plan_slices(length, short)

    def encode(span):
        a, b = span
        piece = picture.crop((0, a, width, b) if tall else (a, 0, b, height))
        out = io.BytesIO()
        if header.format == "JPEG":
            piece.save(out, "JPEG", quality=95)
        else:
            piece.save(out, "PNG", compress_level=1)
        return out.getvalue()

    with ThreadPoolExecutor(min(len(spans), 8)) as pool:
        answers = list(pool.map(lambda span: read(encode(span), deadline), spans))
    if time.monotonic() > deadline:
        raise ApiError(ErrorCode.TIMEOUT, "the long image could not be read in time; send a shorter one")
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


def _owner(line: dict, spans: list[tuple[int, int]], length: int, tall: bool) -> int:
    """The slice whose share of the image holds the line's centre (shares split at the middle
    of each overlap)."""
    loc = line["location"]
    centre = loc["top"] + loc["height"] / 2 if tall else loc["left"] + loc["width"] / 2
    for index in range(len(spans) - 1):
        if centre < (spans[index][1] + spans[index + 1][0]) / 2:
            return index
    return len(spans) - 1


def _overlap(a: dict, b: dict) -> float:
    """The area two lines' boxes share, over the smaller box's."""
    la, lb = a["location"], b["location"]
    w = min(la["left"] + la["width"], lb["left"] + lb["width"]) - max(la["left"], lb["left"])
    h = min(la["top"] + la["height"], lb["top"] + lb["height"]) - max(la["top"], lb["top"])
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / max(min(la["width"] * la["height"], lb["width"] * lb["height"]), 1)


def _shift(line: dict, offset: int, tall: bool) -> None:
    """A slice's line moved into the whole image's pixels."""
    axis = 1 if tall else 0
    line["location"]["top" if tall else "left"] += offset
    if "box" in line:
        for point in line["box"]:
            point[axis] += offset
        for quad in line["chars"]:
            for point in quad:
                point[axis] += offset
