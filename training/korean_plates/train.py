"""Train the Korean plate recogniser on synthetic plates and export it to ONNX.

    make train-plates-kr          (python -m training.korean_plates.train)

It trains each shipped model (inference/korean_plates.MODEL_PATHS) as MODELS says (its seed, the
layouts it draws), one after the other; `--model K` trains the K-th (0 or 1), `--seed N` and
`--out PATH` change its seed and where it goes. Everything is seeded: the plates drawn
(render.py, TRAIN_FONTS and training augmentations only), their order and the initial weights. On 2 CPU cores that compute bfloat16 natively (AVX512-BF16
or AMX) a model takes about 30 to 37 minutes (1,698 to 2,226 s measured, 5 to 10 of them drawing
the plates); on
others the network trains in float32: on 2 AMD EPYC cores with AVX2 only, about 1.5 to 2 hours
(0.66-0.74 s per step instead of 0.18-0.26). PyTorch runs here only
(requirements-train.txt): the container and the Lambda load the ONNX file with onnxruntime. The
same seed gives the same plates; the weights can still differ in their last bits between CPUs
(float summation order, and bfloat16 or not), the accuracy does not.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from inference.plates.grammar import KOREAN_CHARSET
from inference.plates.korean_model import INPUT_HEIGHT, INPUT_WIDTH, MODEL_PATHS, model_input

from .render import LAYOUTS, LAYOUTS_BEFORE_2004, TRAIN_DIGIT_FONTS, TRAIN_FONTS, Fonts, sample

# The shipped models, in the order of MODEL_PATHS: (seed, layouts drawn). On the real crops this
# pair read 97 of 129; two seeds of the 2004 renderer paired, 93 (docs/decisions.md, 2026-12-04).
MODELS = ((20261121, LAYOUTS_BEFORE_2004), (20261204, LAYOUTS))
INDEX = {c: i + 1 for i, c in enumerate(KOREAN_CHARSET)}  # 0 is the CTC blank


def _chunk(args: tuple[int, int, int, tuple[str, ...]]) -> tuple[np.ndarray, list[str]]:
    seed, chunk, size, layouts = args
    fonts = Fonts(TRAIN_FONTS, TRAIN_DIGIT_FONTS)
    rng = np.random.default_rng([seed, chunk])
    samples = [sample(fonts, rng, layouts=layouts) for _ in range(size)]
    images = (model_input([s.image for s in samples]) * 127.5 + 127.5).round().astype(np.uint8)[:, 0]
    return images, [s.text for s in samples]


def make_set(
    seed: int, count: int, layouts: tuple[str, ...] = LAYOUTS, chunk: int = 2000, workers: int = 2
) -> tuple[np.ndarray, list[str]]:
    """`count` training plates as uint8 model inputs, and their texts; the same for the same seed."""
    jobs = [(seed, k, min(chunk, count - k * chunk), layouts) for k in range(math.ceil(count / chunk))]
    with Pool(workers) as pool:
        parts = pool.map(_chunk, jobs)
    return np.concatenate([p[0] for p in parts]), [t for p in parts for t in p[1]]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=120_000, help="synthetic plates to train on")
    parser.add_argument("--steps", type=int, default=6_000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--width", type=int, default=160, help="the network's channels per time step")
    parser.add_argument("--model", type=int, choices=range(len(MODELS)), help="train this shipped model only")
    parser.add_argument("--seed", type=int, help="its seed instead of the shipped one's (without --model: model 0)")
    parser.add_argument(
        "--out", type=Path, help="where it goes instead of inference/weights (without --model: model 0)"
    )
    args = parser.parse_args(argv)
    if args.model is None and (args.seed is not None or args.out is not None):
        args.model = 0
    chosen = range(len(MODELS)) if args.model is None else [args.model]
    jobs = [(MODELS[k][0], MODELS[k][1], MODEL_PATHS[k]) for k in chosen]
    if args.model is not None:
        seed, layouts, out = jobs[0]
        jobs = [(seed if args.seed is None else args.seed, layouts, args.out or out)]
    for seed, layouts, out in jobs:
        args.seed, args.layouts, args.out = seed, layouts, out
        _train_one(args)
    return 0


def _train_one(args) -> None:
    import torch

    started = time.monotonic()
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    images, texts = make_set(args.seed, args.samples, args.layouts)
    val_images, val_texts = make_set(args.seed + 1, 2000, args.layouts)
    print(f"{len(texts)} training plates drawn in {time.monotonic() - started:.0f} s", flush=True)
    model = train((images, texts), (val_images, val_texts), args, started)
    _export(model, args.out, args)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) in {time.monotonic() - started:.0f} s")


def bf16_native() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX): there, training in it
    (weights kept in float32) is 2-3 times faster; elsewhere it would be emulated, and slower."""
    import torch

    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(check and check())


def train(data, validation, args, started: float):
    """The network trained on `data` (uint8 model inputs, texts), checked every 500 steps on
    `validation`; seeded by args.seed (torch.manual_seed before drawing)."""
    import torch
    from torch import nn

    from .model import PlateNet

    images, texts = data
    model = PlateNet(len(KOREAN_CHARSET) + 1, args.width).to(memory_format=torch.channels_last)
    fast = bf16_native()
    print(
        "training in bfloat16"
        if fast
        else "training in float32: this CPU computes no bfloat16 natively, "
        "so it takes about 4 times as long (2.5 to 3 hours on 2 cores)",
        flush=True,
    )
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=2e-3, total_steps=args.steps, pct_start=0.1)
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    order = torch.Generator().manual_seed(args.seed)
    targets = [torch.tensor([INDEX[c] for c in t]) for t in texts]

    def batch_of(idx):
        x = torch.from_numpy(images[idx].astype(np.float32) / 127.5 - 1.0).unsqueeze(1)
        y = [targets[i] for i in idx]
        return x.contiguous(memory_format=torch.channels_last), torch.cat(y), torch.tensor([len(t) for t in y])

    step, permutation, cursor = 0, torch.randperm(len(texts), generator=order), 0
    model.train()
    while step < args.steps:
        if cursor + args.batch > len(texts):
            permutation, cursor = torch.randperm(len(texts), generator=order), 0
        idx = permutation[cursor : cursor + args.batch].numpy()
        cursor += args.batch
        x, y, lengths = batch_of(idx)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast):
            logits = model(x)  # (N, T, C)
        log_probs = logits.float().log_softmax(2).permute(1, 0, 2)  # (T, N, C); the loss in float32
        steps_in = torch.full((len(idx),), log_probs.shape[0], dtype=torch.long)
        loss = ctc(log_probs, y, steps_in, lengths)
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimiser.step()
        schedule.step()
        step += 1
        if step % 500 == 0 or step == args.steps:
            accuracy = _greedy_accuracy(model, *validation)
            model.train()
            print(
                f"step {step}: loss {loss.item():.4f}, validation exact (greedy) {accuracy:.2%}, "
                f"{time.monotonic() - started:.0f} s",
                flush=True,
            )
    return model.to(memory_format=torch.contiguous_format)


def _greedy_accuracy(model, images: np.ndarray, texts: list[str]) -> float:
    import torch

    model.eval()
    right = 0
    with torch.no_grad():
        for start in range(0, len(texts), 256):
            x = torch.from_numpy(images[start : start + 256].astype(np.float32) / 127.5 - 1.0).unsqueeze(1)
            best = model(x).argmax(2).numpy()
            for row, text in zip(best, texts[start : start + 256]):
                chars = [KOREAN_CHARSET[c - 1] for k, c in enumerate(row) if c and (k == 0 or c != row[k - 1])]
                right += "".join(chars) == text
    return right / len(texts)


def _export(model, out: Path, args) -> None:
    import onnx
    import torch

    model.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, 1, INPUT_HEIGHT, INPUT_WIDTH)
    torch.onnx.export(
        model,
        dummy,
        str(out),
        input_names=["x"],
        output_names=["logits"],
        dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )
    proto = onnx.load(str(out))
    for key, value in {
        "charset": json.dumps(KOREAN_CHARSET, ensure_ascii=False),
        "trained_on": "synthetic plates only (training/korean_plates/render.py), no real plate",
        "seed": str(args.seed),
        "layouts": ",".join(args.layouts),
        "samples": str(args.samples),
        "steps": str(args.steps),
        "width": str(args.width),
    }.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(out))


if __name__ == "__main__":
    raise SystemExit(main())
