"""Fit the unreadable-script classifier (inference/scripts.py) and write inference/weights/scripts.npz.

    .venv/bin/python -m training.scripts.train [--lines 7200] [--held 900] [--seed 7]

Lines are rendered (render.py) in the training half of the fonts, read by the recogniser as the
engine reads them (the strip padded to its width bucket, int8 for two lines in three and fp32 for
the third: the CPU serves int8, a GPU fp32), and each time step labelled with what lies under its
centre: background, a readable script, or one of the unreadable ones. A two-layer perceptron
(120 -> 64 -> 8, numpy, Adam, a fixed seed) learns the labels from the recogniser's features.
It is then measured on lines in the held-out fonts, per step and per line as the engine uses it
(scripts.unreadable_script, scripts.readable_parts), and the rates printed. Same seed, same
fonts, same weights: nothing is downloaded and nothing but rendered lines is learnt from.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from inference.runtime.models import int8_recogniser_bytes, locate_models, prepared_model_bytes
from inference.text import recognize, scripts

from . import render

HIDDEN = 64
EDGE_PX = 3  # steps whose centre is this close to a part's edge are left out of the fit


def sessions() -> dict:
    """The recogniser with its features output, in fp32 and int8, one thread each."""
    import onnxruntime

    fp32 = scripts.with_features(prepared_model_bytes(locate_models().rec))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    return {
        precision: onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        for precision, model in (("fp32", fp32), ("int8", int8_recogniser_bytes(fp32)))
    }


def labels(line: render.RenderedLine, steps: int, step_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Each step's class (index in scripts.CLASSES) and whether it is clear of every part's edge."""
    centres = (np.arange(steps) + 0.5) * step_px
    classes = np.zeros(steps, np.int64)
    clear = np.ones(steps, bool)
    for segment in line.segments:
        inside = (centres >= segment.left) & (centres <= segment.right)
        label = 1 if segment.script in render.READABLE else scripts.CLASSES.index(segment.script)
        classes[inside] = label
        for edge in (segment.left, segment.right):
            clear &= np.abs(centres - edge) > EDGE_PX * line.image.shape[0] / recognize.HEIGHT
    return classes, clear


def read(session, charset, line: render.RenderedLine):
    """(the recogniser's features over the strip's steps, its reading without step classes, the
    strip px per step)."""
    strip = line.image
    width = recognize.bucket_width(strip, 128)
    array, content = recognize._prepared(strip, width)
    outputs = session.run(None, {session.get_inputs()[0].name: array[None]})
    steps = outputs[0].shape[1]
    keep = max(1, math.ceil(steps * content))
    step_px = strip.shape[1] / (steps * content)
    return outputs[1][0, :keep], recognize.ctc_decode(outputs[0], charset, [content])[0], step_px


def collect(found: dict, seed: int, count: int, half: str, precision_of) -> tuple:
    charset = recognize.charset_from_metadata(next(iter(found.values())))
    features: list[np.ndarray] = []
    classes: list[np.ndarray] = []
    clear: list[np.ndarray] = []
    lines: list[tuple] = []
    for k, line in enumerate(render.lines(seed, count, half)):
        precision = precision_of(k)
        feats, reading, step_px = read(found[precision], charset, line)
        label, ok = labels(line, len(feats), step_px)
        features.append(feats.astype(np.float32))
        classes.append(label)
        clear.append(ok)
        lines.append((line, reading, feats))
    return np.concatenate(features), np.concatenate(classes), np.concatenate(clear), lines


def fit(x: np.ndarray, y: np.ndarray, seed: int, epochs: int = 30, batch: int = 512, lr: float = 2e-3) -> dict:
    """A 120 -> HIDDEN -> classes perceptron, classes weighted to balance, Adam."""
    rng = np.random.default_rng(seed)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    xs = ((x - mean) / std).astype(np.float32)
    k = len(scripts.CLASSES)
    counts = np.bincount(y, minlength=k).astype(np.float32)
    weight = (len(y) / (k * np.maximum(counts, 1))).astype(np.float32)
    params = [
        (rng.standard_normal((x.shape[1], HIDDEN)) * math.sqrt(2 / x.shape[1])).astype(np.float32),
        np.zeros(HIDDEN, np.float32),
        (rng.standard_normal((HIDDEN, k)) * math.sqrt(2 / HIDDEN)).astype(np.float32),
        np.zeros(k, np.float32),
    ]
    moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
    onehot = np.eye(k, dtype=np.float32)
    t = 0
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for first in range(0, len(order), batch):
            idx = order[first : first + batch]
            w0, b0, w1, b1 = params
            hidden = np.maximum(xs[idx] @ w0 + b0, 0)
            logits = hidden @ w1 + b1
            logits -= logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            g = (p - onehot[y[idx]]) * weight[y[idx], None] / len(idx)
            gw1, gb1 = hidden.T @ g + 1e-4 * w1, g.sum(axis=0)
            gh = (g @ w1.T) * (hidden > 0)
            gw0, gb0 = xs[idx].T @ gh + 1e-4 * w0, gh.sum(axis=0)
            t += 1
            for j, grad in enumerate((gw0, gb0, gw1, gb1)):
                m, v = moments[j]
                m *= 0.9
                m += 0.1 * grad
                v *= 0.999
                v += 0.001 * grad * grad
                params[j] -= lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return {
        "classes": np.array(scripts.CLASSES),
        "layers": np.array(2),
        "mean": mean.astype(np.float32),
        "std": std.astype(np.float32),
        "w0": params[0],
        "b0": params[1],
        "w1": params[2],
        "b1": params[3],
    }


def kind(line: render.RenderedLine) -> str:
    found = [s.script for s in line.segments if s.script in render.UNREADABLE]
    if not found:
        return "readable:" + "+".join(s.script for s in line.segments)
    return ("mixed:" if len(line.segments) > 1 else "only:") + found[0]


def measure(lines: list, classifier: scripts.Classifier) -> dict:
    """Per kind of line: how many; how many the engine changes (readable lines) or finds an
    unreadable part in (the others); how many of the others still answer a character read over
    their unreadable part at score >= 0.5."""
    rates: dict = defaultdict(lambda: [0, 0, 0])
    for line, reading, feats in lines:
        reading = reading._replace(classes=classifier.probabilities(feats))
        pieces = scripts.readable_parts(reading)
        width = line.image.shape[1]
        key = kind(line)
        rates[key][0] += 1
        if key.startswith("readable"):
            rates[key][1] += pieces != [scripts.Piece(reading, 0.0, 1.0)]
            continue
        rates[key][1] += bool(scripts.unreadable_script(reading).parts)
        rates[key][2] += any(
            segment.left <= at * width <= segment.right
            for segment in line.segments
            if segment.script in render.UNREADABLE
            for piece in pieces
            if piece.reading.score >= 0.5
            for at in piece.reading.at
        )
    return dict(rates)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=7200, help="training lines")
    parser.add_argument("--held", type=int, default=900, help="held-out lines (other fonts, other seed)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=scripts.WEIGHTS)
    args = parser.parse_args(argv)
    missing = render.missing_fonts(half="train") + render.missing_fonts(half="held")
    if missing:
        print(f"fonts missing for {sorted(set(missing))}: install the packages render.py names", file=sys.stderr)
        return 2
    random.seed(args.seed)
    started = time.time()
    found = sessions()
    x, y, clear, _ = collect(found, args.seed, args.lines, "train", lambda k: "fp32" if k % 3 == 2 else "int8")
    print(f"{len(y)} steps from {args.lines} lines ({time.time() - started:.0f} s)", flush=True)
    weights = fit(x[clear], y[clear], args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **weights)
    classifier = scripts.load(args.out)
    xh, yh, clear_h, held = collect(found, args.seed + 1000, args.held, "held", lambda k: "fp32" if k % 2 else "int8")
    predicted = classifier.probabilities(xh[clear_h]).argmax(axis=1)
    truth = yh[clear_h]
    for k, name in enumerate(scripts.CLASSES):
        sel = truth == k
        print(f"step {name:11s} recall {float((predicted[sel] == k).mean()) if sel.any() else float('nan'):.3f}")
    for key, (count, flagged, leaked) in sorted(measure(held, classifier).items()):
        what = "changed" if key.startswith("readable") else "unreadable part found"
        print(f"held-out lines {key:28s} {count:4d}  {what}: {flagged:4d}  answered at >= 0.5: {leaked:3d}")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes) in {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
