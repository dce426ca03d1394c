"""The small-text pass (inference/small_text.py) on and off, interleaved in one run.

Each image is read by one engine with the second pass off and on, in alternating order, so both
see the same machine (the CPU is shared). Scores are `make bench`'s (bench/__main__.py): pages F1,
TD500 recall, street plates read; latency is the median per image. Then a 4096x4096 photo with
one small sign (scene(), which tests/test_small_text.py reads too) is read the same way.

    python -m bench.small_text [--data ../shared/eval] [--sets pages,td500,street] [--limit N] [--threads 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent


FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
SC = 2  # Noto Sans CJK SC in the collection
LINE = "沪A·52K39 停车场入口"


def scene(width: int, height: int, size: int, seed: int = 0) -> np.ndarray:
    """A large photo-like picture (a lit gradient, sensor noise) with one small sign on it, BGR."""
    rng = np.random.default_rng(seed)
    light = 120 + 40 * np.linspace(0, 1, width)[None, :, None]
    pixels = np.clip(light + rng.normal(0, 6, (height, width, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, size, index=SC)
    x, y = int(width * 0.55), int(height * 0.62)
    left, top, right, bottom = draw.textbbox((x, y), LINE, font=font)
    draw.rectangle((left - size // 3, top - size // 4, right + size // 3, bottom + size // 4), fill=(250, 250, 245))
    draw.text((x, y), LINE, font=font, fill=(20, 20, 20))
    return np.ascontiguousarray(np.asarray(image)[:, :, ::-1])


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from bench import metrics
    from bench.__main__ import load_set, read_image, score_set
    from inference.config import EngineConfig
    from inference.engine import OcrEngine

    parser = argparse.ArgumentParser(prog="python -m bench.small_text", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "eval")
    parser.add_argument("--sets", default="pages,td500,street")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    engine = OcrEngine(EngineConfig(**{**EngineConfig.from_env().__dict__, "threads": args.threads}))
    on = engine.config
    off = dataclasses.replace(on, small_text=dataclasses.replace(on.small_text, budget=0))
    configs = {"off": off, "on": on}
    print("| set | n | score off -> on | median ms off -> on | images the pass ran on |")
    print("|---|---|---|---|---|")
    for name in args.sets.split(","):
        rows = load_set(args.data, name)[: args.limit]
        predictions: dict[str, list] = {"off": [], "on": []}
        times: dict[str, list[float]] = {"off": [], "on": []}
        engine.read(read_image(rows[0]["path"]))  # warm-up
        for i, row in enumerate(rows):
            image = read_image(row["path"])
            for key in ("off", "on") if i % 2 == 0 else ("on", "off"):
                engine.config = configs[key]
                start = time.perf_counter()
                lines = engine.read(image)
                times[key].append(time.perf_counter() - start)
                predictions[key].append([(line.text, line.box) for line in lines])
        engine.config = on
        ran = sum(
            max(read_image(row["path"]).shape[:2]) >= on.small_text.min_reduction * on.detection.max_side
            for row in rows
        )
        key = {"pages": "f1", "td500": "recall", "street": "exact"}[name]
        a, b = (score_set(name, rows, predictions[k])[key] for k in ("off", "on"))
        ms = [1000 * metrics.percentile(times[k], 50) for k in ("off", "on")]
        print(f"| {name} ({key}) | {len(rows)} | {a:.4f} -> {b:.4f} | {ms[0]:.0f} -> {ms[1]:.0f} | {ran} |")

    image = scene(4096, 4096, 24, seed=1)
    engine.read(image)
    big: dict[str, list[float]] = {"off": [], "on": []}
    found = {}
    for i in range(4):
        for key in ("off", "on") if i % 2 == 0 else ("on", "off"):
            engine.config = configs[key]
            start = time.perf_counter()
            found[key] = [line.text for line in engine.read(image)]
            big[key].append(time.perf_counter() - start)
    engine.config = on
    print(
        f"\n4096x4096 photo with one small sign: {1000 * metrics.percentile(big['off'], 50):.0f} ms off "
        f"({found['off']}), {1000 * metrics.percentile(big['on'], 50):.0f} ms on ({found['on']})"
    )
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
