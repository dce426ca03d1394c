"""Small text in large photos: a second detection pass at the photo's own resolution, over tiles.

The detector sees a photo scaled to DETECTOR_MAX_SIDE_PX (960 px) on its long side. A 1920 px
photo loses half its pixels to that, a 4096 px one more than three quarters: a plate 40 px high
becomes a 10 px smudge, whose box the detector guesses coarsely or misses (and a two-row plate's
small top row is lost). Recognition already reads each line from the original pixels; what the
first pass loses is where the lines are.

So, where the photo is at least `min_reduction` times larger than the detector's view, the places
where the first pass saw small text are looked at again, at native resolution: the blobs of its
probability map over `blob_thresh` (well under the line threshold, so faint text counts) that are
at most `small_px` detector pixels high, whether the first pass made a line of them or not.

Each is grown by its own height on every side (context: a two-row plate's top row sits that far
above its serial) and widened over the first-pass lines it touches, overlapping places are merged
into tiles, and the tiles are detected again,
smallest text first, until their pixels reach `budget` times the first pass's. A first-pass line
that the tiles found again is replaced by what they found; the tiles' lines that touch a tile's
inner edge (cut by it) are left out, as are those over a first-pass line they did not replace.

Ordinary pages (XFUND's 1600 px scans, TD500's 1280 px photos) are under `min_reduction` and
never reach it: they cost one comparison (docs/decisions.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from . import detect


@dataclass(frozen=True)
class SmallTextConfig:
    min_reduction: float = 2.0  # the pass runs when the detector saw the photo this many times smaller
    small_px: float = 32.0  # first-pass lines at most this high (detector pixels) are looked at again
    blob_thresh: float = 0.1  # probability over which a pixel may be faint or tiny text
    min_blob_px: int = 6  # weak blobs smaller than this (detector pixels) are noise
    budget: float = 1.0  # tile pixels at most this share of the first pass's
    max_tiles: int = 32


Detector = Callable[[np.ndarray, detect.Resize], np.ndarray]  # (image, plan) -> probability map
# larger_view looks again only where it sees the photo at least this many times larger.
LARGER_VIEW_MIN_GAIN = 1.25


def _bounds(boxes: np.ndarray) -> np.ndarray:
    """(N, 4): left, top, right, bottom of each quad."""
    if len(boxes) == 0:
        return np.zeros((0, 4), np.float32)
    return np.concatenate([boxes.min(axis=1), boxes.max(axis=1)], axis=1)


def _intersects(a, b) -> bool:
    """Whether two rectangles (l, t, r, b) share some area."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _area(rect) -> float:
    return (rect[2] - rect[0]) * (rect[3] - rect[1])


def _intersection(a, b) -> float:
    """The area two rectangles (l, t, r, b) share."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h


def _covered(inner: np.ndarray, outer: np.ndarray) -> float:
    """Share of the rectangle `inner`'s area inside `outer`."""
    return _intersection(inner, outer) / max(1e-6, _area(inner))


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over the smaller rectangle."""
    return _intersection(a, b) / max(1e-6, min(_area(a), _area(b)))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    shared = _intersection(a, b)
    return shared / max(1e-6, _area(a) + _area(b) - shared)


def candidates(prob: np.ndarray, plan: detect.Resize, cfg: SmallTextConfig) -> list[tuple[float, np.ndarray]]:
    """(height, l-t-r-b), in detector pixels, of each blob of the probability map over
    `blob_thresh` at most `small_px` high: small text, whether the first pass made a line of it
    or not (a two-row plate's top row is a blob it often drops, or one joined to the serial's)."""
    inner = prob[plan.pad : plan.pad + plan.inner_h, plan.pad : plan.pad + plan.inner_w]
    _, _, stats, _ = cv2.connectedComponentsWithStats((inner > cfg.blob_thresh).astype(np.uint8), connectivity=8)
    places = [
        (float(h), np.array([left, top, left + w, top + h], np.float32) + plan.pad)
        for left, top, w, h, area in stats[1:]
        if area >= cfg.min_blob_px and h <= cfg.small_px
    ]
    return sorted(places, key=lambda place: place[0])


def tiles(
    places: list[tuple[float, np.ndarray]],
    plan: detect.Resize,
    found: np.ndarray,
    height: int,
    width: int,
    cfg: SmallTextConfig,
    max_side: int,
) -> list[tuple[int, int, int, int]]:
    """Native-pixel tiles (l, t, r, b) around the places, each grown by its height and then
    over the whole of each first-pass line it touches (`found`: their l-t-r-b, native pixels;
    lines longer than `max_side` excepted), overlapping tiles merged; smallest text first,
    within the budget of pixels."""
    rects: list[list[float]] = []
    for h, (x0, y0, x1, y1) in places:
        grow = max(h, 4.0)
        rect = [(v - plan.pad) / plan.scale for v in (x0 - grow, y0 - grow, x1 + grow, y1 + grow)]
        for f in found:
            if _intersects(f, rect) and max(f[2] - f[0], f[3] - f[1]) <= max_side:
                rect = [min(rect[0], f[0]), min(rect[1], f[1]), max(rect[2], f[2]), max(rect[3], f[3])]
        rects.append([max(0.0, rect[0]), max(0.0, rect[1]), min(float(width), rect[2]), min(float(height), rect[3])])
    merged: list[list[float]] = []
    for rect in rects:  # in order of priority; a merged tile keeps its first member's place
        for other in merged:
            if _intersects(rect, other):
                other[:] = [
                    min(rect[0], other[0]),
                    min(rect[1], other[1]),
                    max(rect[2], other[2]),
                    max(rect[3], other[3]),
                ]
                break
        else:
            merged.append(rect)
    budget = cfg.budget * plan.out_h * plan.out_w
    chosen, spent = [], 0
    for x0, y0, x1, y1 in merged[: cfg.max_tiles]:
        box = (int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)), int(np.ceil(y1)))
        if box[2] - box[0] < 8 or box[3] - box[1] < 8:
            continue  # a sliver at the photo's edge
        cost = detect._ceil(box[2] - box[0]) * detect._ceil(box[3] - box[1])
        if spent + cost > budget:
            continue
        spent += cost
        chosen.append(box)
    return chosen


def second_pass(
    run: Detector,
    image: np.ndarray,
    prob_map: np.ndarray,
    plan: detect.Resize,
    boxes: np.ndarray,
    det_cfg: detect.DetectionConfig,
    cfg: SmallTextConfig,
    check: Callable[[], None],
) -> np.ndarray:
    """The first pass's boxes (original pixels), with the small text found again at native
    resolution where the photo is large enough for that to add pixels; `check()` (the request's
    deadline) runs before each tile."""
    height, width = image.shape[:2]
    if plan.scale * cfg.min_reduction > 1.0 or plan.pad:
        return boxes
    found_bounds = _bounds(boxes)
    places = candidates(prob_map[0, 0], plan, cfg)
    chosen = tiles(places, plan, found_bounds, height, width, cfg, det_cfg.max_side)
    if not chosen:
        return boxes
    replaced = np.zeros(len(boxes), bool)
    extra: list[np.ndarray] = []
    for left, top, right, bottom in chosen:
        check()
        tile = image[top:bottom, left:right]
        tile_plan = detect.plan_resize(bottom - top, right - left, det_cfg)
        tile_boxes, _ = detect.postprocess(run(tile, tile_plan), tile_plan, bottom - top, right - left, det_cfg)
        if len(tile_boxes) == 0:
            continue
        tile_boxes = tile_boxes + np.array([left, top], np.float32)
        # Lines cut by the tile's inner edges are the first pass's to give.
        tb = _bounds(tile_boxes)
        whole = (
            ((tb[:, 0] > left + 1) | (left == 0))
            & ((tb[:, 1] > top + 1) | (top == 0))
            & ((tb[:, 2] < right - 2) | (right == width))
            & ((tb[:, 3] < bottom - 2) | (bottom == height))
        )
        tile_boxes, tb = tile_boxes[whole], tb[whole]
        tile_rect = np.array([left, top, right, bottom], np.float32)
        for box, bounds in zip(tile_boxes, tb):
            over = [i for i, f in enumerate(found_bounds) if _overlap(bounds, f) > 0.3]
            # Replaces the first-pass lines it overlaps when they lie in this tile; a line the
            # tile holds only in part stays, and this box is left out. A line that an earlier
            # tile found already (tiles overlap) is kept once.
            if any(_overlap(bounds, _bounds(other[None])[0]) > 0.5 for other in extra):
                continue
            if all(_covered(found_bounds[i], tile_rect) > 0.9 for i in over):
                replaced[over] = True
                extra.append(box)
    if not extra:
        return boxes
    return np.concatenate([boxes[~replaced], np.stack(extra)]).astype(np.float32)


def larger_view(
    run: Detector,
    image: np.ndarray,
    boxes: np.ndarray,
    det_cfg: detect.DetectionConfig,
    max_side: int,
    check: Callable[[], None],
) -> np.ndarray:
    """The boxes found so far (original pixels), with the lines that a view of the whole photo
    up to `max_side` px on its long side finds where none of them lies. The plate route's: a
    plate 60 to 120 px wide in a 4,000 px photo is not even a faint blob at the first view's
    960 px, so the second pass above never looks there; at 2048 most are found. The larger view
    misses some that the first one finds (text whose strokes fall between its sizes), so the
    first view's lines stay and the larger one only adds (docs/decisions.md, 2026-12-08)."""
    height, width = image.shape[:2]
    first = detect.plan_resize(height, width, det_cfg)
    larger = dataclasses.replace(det_cfg, max_side=max_side)
    plan = detect.plan_resize(height, width, larger)
    if plan.scale < first.scale * LARGER_VIEW_MIN_GAIN or plan.pad:
        return boxes  # the photo is seen (nearly) as large already
    check()
    found, _ = detect.postprocess(run(image, plan), plan, height, width, larger)
    known = _bounds(boxes)
    new = [box for box, bounds in zip(found, _bounds(found)) if all(_iou(bounds, k) < 0.5 for k in known)]
    if not new:
        return boxes
    return np.concatenate([boxes.reshape(-1, 4, 2), np.stack(new)]).astype(np.float32)
