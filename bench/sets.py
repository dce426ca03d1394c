"""Benchmark sets made at bench time from the labelled data, as users' inputs look.

- `loose` / `tight`: the same XFUND lines cut from their pages with loose margins (10-40% of the
  line height on each side, so the lines above and below are cut by the edge, as a user's crop
  of a form field is) and tightly (the labelled box and 2 px). Their CERs side by side say what
  loose cropping costs.
- `traditional`: Traditional Chinese lines (XFUND's line texts turned Traditional with OpenCC's
  Hong Kong variant), rendered with Noto Sans/Serif CJK TC, half in print and half photo-like
  (blur, a slight turn, uneven light, noise, low resolution, strong JPEG). Characters must come
  back Traditional.

Everything is seeded and written under .bench/sets/ (never committed: XFUND is CC BY-NC-SA).
The Traditional set needs Debian's fonts-noto-cjk and the dev-only opencc package.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".bench" / "sets"
SEED = 20261121
FONTS = [
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 3),  # Noto Sans CJK TC
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 3),
]  # Noto Serif CJK TC
VERSION = 1  # bump when a generator changes, so caches are rebuilt


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


def _write(name: str, rows: list[dict]) -> Path:
    manifest = CACHE / name / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return manifest


def _fresh(name: str, data: Path) -> Path | None:
    """The cached manifest when it was made by this version from this data folder."""
    stamp = CACHE / name / "stamp.json"
    wanted = {"version": VERSION, "data": str(data.resolve())}
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted and (CACHE / name / "manifest.jsonl").is_file():
        return CACHE / name / "manifest.jsonl"
    (CACHE / name).mkdir(parents=True, exist_ok=True)
    return None


def _stamp(name: str, data: Path) -> None:
    (CACHE / name / "stamp.json").write_text(json.dumps({"version": VERSION, "data": str(data.resolve())}))


def loose_and_tight(data: Path) -> tuple[Path, Path]:
    """Manifests of the loose and the tight crops of the same lines."""
    cached_loose, cached_tight = _fresh("loose", data), _fresh("tight", data)
    if cached_loose and cached_tight:
        return cached_loose, cached_tight
    from PIL import Image

    rng = random.Random(SEED)
    pages = [
        json.loads(line)
        for line in (data / "xfund_zh" / "pages.jsonl").read_text(encoding="utf-8").splitlines()
        if line
    ]
    loose: list[dict] = []
    tight: list[dict] = []
    for page_row in pages:
        page = Image.open(data / "xfund_zh" / page_row["image"]).convert("RGB")
        lines = [
            line
            for line in page_row["lines"]
            if _has_cjk(line["text"])
            and not line.get("multiline_suspect")
            and not line.get("vertical_suspect")
            and max(p[1] for p in line["points"]) - min(p[1] for p in line["points"]) >= 8
        ]
        for line in rng.sample(lines, min(8, len(lines))):
            xs, ys = [p[0] for p in line["points"]], [p[1] for p in line["points"]]
            x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
            h = y1 - y0
            margins = [rng.uniform(0.1, 0.4) * h for _ in range(4)]
            name = f"{Path(page_row['image']).stem}_{line['id']}.png"
            for rows, folder, box in (
                (loose, "loose", (x0 - margins[0], y0 - margins[1], x1 + margins[2], y1 + margins[3])),
                (tight, "tight", (x0 - 2, y0 - 2, x1 + 2, y1 + 2)),
            ):
                clipped = (
                    max(0, round(box[0])),
                    max(0, round(box[1])),
                    min(page.width, round(box[2])),
                    min(page.height, round(box[3])),
                )
                page.crop(clipped).save(CACHE / folder / name)
                rows.append({"image": name, "text": line["text"]})
    paths = _write("loose", loose), _write("tight", tight)
    _stamp("loose", data)
    _stamp("tight", data)
    return paths


def traditional(data: Path, count: int = 300) -> Path:
    cached = _fresh("traditional", data)
    if cached:
        return cached
    import io

    import numpy as np
    from opencc import OpenCC
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    fonts = [(path, index) for path, index in FONTS if Path(path).is_file()]
    if not fonts:
        raise RuntimeError("the Traditional set needs Noto CJK fonts: apt-get install fonts-noto-cjk")
    convert = OpenCC("s2hk").convert
    texts = []
    for line in (data / "xfund_zh" / "crops.jsonl").read_text(encoding="utf-8").splitlines():
        text = json.loads(line)["text"]
        converted = convert(text)
        if converted != text and 2 <= len(converted) <= 30:
            texts.append(converted)
    rng = random.Random(SEED)
    texts = rng.sample(texts, min(count, len(texts)))
    rows = []
    for i, text in enumerate(texts):
        font_path, index = fonts[i % len(fonts)]
        size = 36
        font = ImageFont.truetype(font_path, size, index=index)
        left, top, right, bottom = font.getbbox(text)
        margin = int(0.3 * size)
        image = Image.new("RGB", (int(right) + 2 * margin, int(bottom) + 2 * margin), (250, 250, 245))
        ImageDraw.Draw(image).text((margin, margin), text, font=font, fill=(25, 25, 25))
        photo = i % 2 == 1
        if photo:
            image = image.rotate(
                rng.uniform(-3, 3), resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(250, 250, 245)
            )
            pixels: np.ndarray = np.asarray(image).astype(np.float32)
            light = np.linspace(rng.uniform(0.7, 1.0), rng.uniform(0.7, 1.0), pixels.shape[1])[None, :, None]
            pixels = pixels * light + np.random.default_rng(SEED + i).normal(0, 8, pixels.shape)
            image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).filter(
                ImageFilter.GaussianBlur(rng.uniform(0.5, 1.2))
            )
            scale = rng.uniform(22, 30) / image.height
            image = image.resize(
                (max(1, int(image.width * scale)), max(1, int(image.height * scale))), Image.Resampling.BILINEAR
            )
            out = io.BytesIO()
            image.save(out, "JPEG", quality=rng.randint(40, 70))
            image = Image.open(out).convert("RGB")
        name = f"trad_{i:03d}_{'photo' if photo else 'print'}.png"
        image.save(CACHE / "traditional" / name)
        rows.append({"image": name, "text": text, "condition": "photo" if photo else "print"})
    path = _write("traditional", rows)
    _stamp("traditional", data)
    return path
