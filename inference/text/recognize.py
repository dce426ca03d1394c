"""Text recognition (PP-OCRv6 rec, SVTR-based, CTC head) with width-sorted batches."""

from __future__ import annotations

import math

import cv2
import numpy as np

from . import scripts
from .reading import Reading

HEIGHT = 48


def charset_from_metadata(session) -> list[str]:
    """CTC classes: blank, the model's characters (from its ONNX metadata), then space."""
    meta = session.get_modelmeta().custom_metadata_map
    if "character" not in meta:
        raise RuntimeError("the recognition model carries no 'character' list in its metadata")
    return ["<blank>"] + meta["character"].splitlines() + [" "]


def pad_sides(strip: np.ndarray, fraction: float) -> np.ndarray:
    """Widen a strip by `fraction` of its height on the left and right, repeating its edge pixels.

    Text that touches the side of its strip (a plate crop, a line at the image border) loses
    its first or last character otherwise: on the plate set, 0.3 reads 2-3 more plates in 100,
    and crops' CER falls from 0.87% to 0.76%.
    """
    pad = int(round(strip.shape[0] * fraction))
    if pad <= 0:
        return strip
    return cv2.copyMakeBorder(strip, 0, 0, pad, pad, cv2.BORDER_REPLICATE)


def grey_unless_hue_only(strip: np.ndarray, keep: float = 0.5) -> np.ndarray:
    """The strip in grey (3 channels), unless grey would erase its text.

    Read in grey, white-on-blue plates come out right 4 more times in 100; the form crops and
    pages read the same. But text that differs from its background in hue alone (red on a
    green of the same brightness) vanishes in grey. So the strip stays in colour when its grey
    contrast is under `keep` of its contrast along its main colour axis (scaled so that a grey
    image scores 1; plates score 0.83-1.12, such red-on-green 0.01).
    """
    # Every other pixel on both axes is plenty to compare two contrasts, and 4x cheaper.
    sample = strip[::2, ::2]
    covariance, _ = cv2.calcCovarMatrix(  # type: ignore[call-overload]  # OpenCV takes None for the mean it outputs; its stubs do not
        sample.reshape(-1, 3), None, cv2.COVAR_NORMAL | cv2.COVAR_ROWS | cv2.COVAR_SCALE
    )
    colour_spread = math.sqrt(max(float(cv2.eigen(covariance)[1][0, 0]), 0.0) / 3)
    grey = cv2.cvtColor(strip, cv2.COLOR_BGR2GRAY)
    if float(cv2.meanStdDev(grey[::2, ::2])[1][0, 0]) < keep * colour_spread:
        return strip
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)


def scaled_width(strip: np.ndarray, width: int) -> int:
    """The strip's width once scaled to HEIGHT, at most `width`."""
    h, w = strip.shape[:2]
    return min(width, max(1, int(math.ceil(HEIGHT * w / h))))


def normalise(strip: np.ndarray, width: int, colour: bool = False) -> np.ndarray:
    """A strip as the recogniser's input: HEIGHT px high, padded to `width`, scaled to [-1, 1];
    in grey unless that would erase its text (grey_unless_hue_only), or in colour if asked."""
    new_w = scaled_width(strip, width)
    resized = cv2.resize(strip, (new_w, HEIGHT), interpolation=cv2.INTER_LINEAR)
    if not colour:
        resized = grey_unless_hue_only(resized)
    out = np.zeros((3, HEIGHT, width), dtype=np.float32)
    out[:, :, :new_w] = resized.transpose(2, 0, 1).astype(np.float32) * (2.0 / 255.0) - 1.0
    return out


def char_spans(runs: list[tuple[int, int]], lengths: list[int], steps: int, content: float) -> tuple:
    """Where each character lies along its strip, from the CTC time steps that emitted it.

    `runs`: for each decoded token, its first and last time step; `lengths`: its characters;
    `steps`: the output's time steps; `content`: the share of the input width that is the strip
    (the rest is batch padding). A CTC peak is narrower than its glyph, so the boundary between
    two tokens is put midway between their runs, the first token starts where the strip starts
    and the last ends where it ends: the spans tile the strip, never overlap, and a space
    token's span is the gap between two words. A token of several characters is split evenly.
    """
    if not runs:
        return ()
    edges = [0.0]
    for (_, end), (start, _) in zip(runs, runs[1:]):
        edges.append((end + 1 + start) / 2 / steps / content)
    edges.append(1.0)
    spans: list[tuple[float, float]] = []
    for i, count in enumerate(lengths):
        a, b = min(max(edges[i], 0.0), 1.0), min(max(edges[i + 1], 0.0), 1.0)
        spans.extend((a + (b - a) * k / count, a + (b - a) * (k + 1) / count) for k in range(count))
    return tuple(spans)


def ctc_decode(
    probs: np.ndarray, charset: list[str], content: list[float] | None = None, classes: np.ndarray | None = None
) -> list[Reading]:
    """Greedy CTC: best class per step, repeats collapsed, blanks dropped; score = mean prob kept.

    `content`: for each row, the share of the input's width its strip fills (1.0 when unpadded),
    to place each character along the strip (char_spans). `classes`: each step's script classes
    (scripts.step_classes), kept with each reading for the steps over its strip."""
    best = probs.argmax(axis=2)
    best_prob = np.take_along_axis(probs, best[:, :, None], axis=2)[:, :, 0]
    steps = probs.shape[1]
    results = []
    for row, (indices, confidence) in enumerate(zip(best, best_prob)):
        keep = np.ones(len(indices), dtype=bool)
        keep[1:] = indices[1:] != indices[:-1]
        keep &= indices != 0
        tokens = [charset[i] for i in indices[keep]]
        runs = []  # each token's steps: from its first to the last before the class changes
        for start in np.flatnonzero(keep):
            end = start
            while end + 1 < steps and indices[end + 1] == indices[start]:
                end += 1
            runs.append((int(start), int(end)))
        kept = confidence[keep]
        share = content[row] if content else 1.0
        spans = char_spans(runs, [len(t) for t in tokens], steps, share)
        results.append(
            Reading(
                "".join(tokens),
                float(kept.mean()) if keep.any() else 0.0,
                float(kept.min()) if keep.any() else 0.0,
                spans,
                tuple(float(p) for token, p in zip(tokens, kept) for _ in token),
                tuple((a + b + 1) / 2 / steps / share for token, (a, b) in zip(tokens, runs) for _ in token),
                None if classes is None else classes[row, : max(1, math.ceil(steps * share))],
                1.0 / (steps * share),
            )
        )
    return results


def decode_outputs(outputs: list, charset: list[str], content: list[float]) -> list[Reading]:
    """The recogniser's outputs -> readings: the CTC softmax decoded, and where the model also
    gives its features (scripts.with_features), each step's script classes."""
    classes = scripts.step_classes(outputs[1]) if len(outputs) > 1 else None
    return ctc_decode(outputs[0], charset, content, classes)


# Every strip is padded to one of a few fixed widths: its reading then does not depend on the
# strips it is batched with, strips of different requests can share batches (runtime/batching.py), and
# the model sees few input shapes (each new shape grows onnxruntime's memory arena, and on a GPU
# costs a slower first run).
WIDTH_BUCKETS = (128, 192, 256, 320, 384, 480, 640, 800, 960, 1280, 1600, 1920, 2560, 3200)


def bucket_width(strip: np.ndarray, min_width: int) -> int:
    need = max(min_width, int(math.ceil(HEIGHT * strip.shape[1] / strip.shape[0])))
    return next((w for w in WIDTH_BUCKETS if w >= need), int(math.ceil(need / 640)) * 640)


def _batches(widths: list[int], batch_size: int):
    """Strips grouped by their width bucket into batches of at most `batch_size` strips and at
    most `batch_size` x 960 px of total input width, so a page of long lines does not grow
    onnxruntime's memory arena past what short lines need."""
    budget = batch_size * 960
    for width in sorted(set(widths)):
        members = [i for i, w in enumerate(widths) if w == width]
        step = max(1, min(batch_size, budget // width))
        for first in range(0, len(members), step):
            yield members[first : first + step], width


def _prepared(strip: np.ndarray, width: int, colour: bool = False) -> tuple[np.ndarray, float]:
    """A strip as the model's input at `width` (normalise), and the share of that width it fills."""
    return normalise(strip, width, colour), scaled_width(strip, width) / width


def _in_batches(strips: list[np.ndarray], widths: list[int], batch_size: int, mapper, run) -> list:
    """`run(chunk, width)` over the strips batched by width (_batches), the results put back
    in the strips' order."""
    results: list = [None] * len(strips)
    for chunk, out in mapper(lambda planned: (planned[0], run(*planned)), list(_batches(widths, batch_size))):
        for i, result in zip(chunk, out):
            results[i] = result
    return results


def read_lines(
    session,
    charset: list[str],
    strips: list[np.ndarray],
    batch_size: int,
    min_width: int,
    mapper=map,
    exact: bool = False,
) -> list[Reading]:
    """Recognise every strip, each padded to its width bucket (bucket_width) and batched with the
    strips of the same bucket.

    A strip's reading depends on how much padding follows it: padded to the widest strip of
    its batch (as PaddleOCR does), the same line read differently depending on the other lines
    of the page. Padded to a bucket of its own width, it reads the same on any page, alone or
    batched across requests (read_lines_batched), and the model sees a few fixed input shapes.
    With `exact`, each strip is read at its own width instead (min_width at least), batched only
    with strips of that width. `mapper` runs the batches: `map`, or a thread pool's map to run
    several at once.
    """
    if not strips:
        return []
    widths = [
        max(min_width, scaled_width(strip, 1 << 20)) if exact else bucket_width(strip, min_width) for strip in strips
    ]
    input_name = session.get_inputs()[0].name

    def read(chunk: list[int], width: int) -> list[Reading]:
        inputs, content = zip(*(_prepared(strips[i], width) for i in chunk))
        return decode_outputs(session.run(None, {input_name: np.stack(inputs)}), charset, list(content))

    return _in_batches(strips, widths, batch_size, mapper, read)


def line_probabilities(
    session, strips: list[np.ndarray], batch_size: int, min_width: int, mapper=map
) -> list[np.ndarray]:
    """Each strip's CTC output (time steps x classes, softmax), the steps over its padding cut
    off: what a constrained decoder (plates/grammar.py) searches instead of the greedy path.

    Each strip is read twice, in grey and in colour, and the two outputs averaged: a character
    one view blurs the other often keeps, as the plates' tiny province characters (docs/decisions.md,
    2026-12-07, the studies moved out of the code)."""
    input_name = session.get_inputs()[0].name

    def read(chunk: list[int], width: int) -> list[np.ndarray]:
        views = []
        for colour in (False, True):
            inputs, content = zip(*(_prepared(strips[i], width, colour) for i in chunk))
            views.append(session.run(None, {input_name: np.stack(inputs)})[0])
        probs = (views[0] + views[1]) / 2
        return [probs[k, : max(1, math.ceil(probs.shape[1] * share))] for k, share in enumerate(content)]

    return _in_batches(strips, [bucket_width(strip, min_width) for strip in strips], batch_size, mapper, read)


def batch_runner(session, charset: list[str]):
    """What a MicroBatcher runs for one width: normalised strips -> their readings."""
    input_name = session.get_inputs()[0].name

    def run(width: int, items: list[tuple[np.ndarray, float]]) -> list[Reading]:
        outputs = session.run(None, {input_name: np.stack([array for array, _ in items])})
        return decode_outputs(outputs, charset, [content for _, content in items])

    return run


def read_lines_batched(
    batcher, strips: list[np.ndarray], min_width: int, deadline: float | None = None
) -> list[Reading]:
    """Every strip read through the shared batcher, each padded to its width bucket."""
    widths = [bucket_width(strip, min_width) for strip in strips]
    futures = [batcher.submit(width, _prepared(strip, width), deadline) for strip, width in zip(strips, widths)]
    return [future.result() for future in futures]
