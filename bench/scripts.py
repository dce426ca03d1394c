"""Lines in scripts the recogniser cannot read: are any still answered at score >= 0.5?

    python -m bench.scripts [--pages 24] [--seed 2026] [--eval ../shared/eval] [--eval-limit N]

Pages are rendered now (training/scripts/render.py, the held-out fonts: none of them trained the
classifier): ten lines each, Chinese (Simplified, Traditional), kana and Latin beside Hangul,
Thai, Arabic, Devanagari, Hebrew and Cyrillic, some lines mixing a readable and an unreadable
part; every other page degraded (blur, downscaling, noise, JPEG). Each page is sent as users send
it, `{"img": base64}` to POST /general_ocr of the local stack (`make serve`), to two stacks: one
as served, one with the check off (OCR_SCRIPT_CHECK=0), one after the other in alternating order.

Printed: the unreadable parts answered at score >= 0.5 (any answered line over at least half a
line height of one), with the check and without; the readable lines, whether their answer is
unchanged (same items, text, score and box); the readable parts of mixed lines, their CER; the
median page latency of each stack.

With --eval, also XFUND pages (F1) and TD500 (recall) read in this process with the check on and
off, alternately, page by page: what the check changes on real pages, and what it costs.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from training.scripts import render

from . import metrics

DEFAULT_EVAL = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"


def ask(base: str, image: np.ndarray) -> tuple[list[dict], float]:
    """The page's answer from POST /general_ocr, and the seconds it took."""
    ok, png = cv2.imencode(".png", image)
    assert ok
    body = json.dumps({"img": base64.b64encode(png.tobytes()).decode()}).encode()
    request = urllib.request.Request(
        base + "/general_ocr", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as answer:
        lines = json.loads(answer.read())
    return lines, time.perf_counter() - started


def _row(item: dict, page: render.Page) -> int | None:
    """The page line an answered item lies on (most vertical overlap), or None."""
    loc = item["location"]
    top, bottom = loc["top"], loc["top"] + loc["height"]
    overlaps = [min(bottom, line.box[3]) - max(top, line.box[1]) for line in page.lines]
    best = int(np.argmax(overlaps))
    return best if overlaps[best] > 0 else None


def _covers(item: dict, segment: render.Segment) -> int:
    loc = item["location"]
    return max(0, min(loc["left"] + loc["width"], segment.right) - max(loc["left"], segment.left))


def score_page(page: render.Page, answer: list[dict]) -> dict:
    """Unreadable parts answered at >= 0.5; each line's items; readable parts' (errors, length)."""
    by_row: dict[int, list[dict]] = {}
    for item in answer:
        row = _row(item, page)
        if row is not None:
            by_row.setdefault(row, []).append(item)
    unreadable = leaked = 0
    errors = length = 0
    leaks = []
    for k, line in enumerate(page.lines):
        items = [item for item in by_row.get(k, []) if item["score"] >= 0.5]
        height = line.box[3] - line.box[1]
        for segment in line.segments:
            if segment.script in render.UNREADABLE:
                unreadable += 1
                over = [
                    (item["words"], round(item["score"], 3)) for item in items if _covers(item, segment) >= height / 2
                ]
                leaked += bool(over)
                if over:
                    leaks.append((segment.script, line.text, over))
            elif line.unreadable():
                # The readable part of a mixed line: the words of the items mostly over it.
                words = "".join(
                    item["words"]
                    for item in items
                    if _covers(item, segment) >= 0.5 * min(item["location"]["width"], segment.right - segment.left)
                )
                want = metrics.normalise(segment.text)
                errors += metrics.edit_distance(metrics.normalise(words), want)
                length += len(want)
    return {
        "unreadable": unreadable,
        "leaked": leaked,
        "errors": errors,
        "length": length,
        "rows": by_row,
        "leaks": leaks,
    }


def rendered(args) -> dict:
    from bench.stack import LocalStack

    pages = [render.page(args.seed + k, "held", degraded=k % 2 == 1) for k in range(args.pages)]
    stacks = {"on": LocalStack(), "off": LocalStack(env={"OCR_SCRIPT_CHECK": "0"})}
    totals: dict = {
        key: {
            "unreadable": 0,
            "leaked": 0,
            "errors": 0,
            "length": 0,
            "ms": [],
            "scripts": Counter(),
            "leaks": Counter(),
        }
        for key in stacks
    }
    readable = unchanged = 0
    examples: list[tuple[str, list]] = []
    leaks: list = []
    try:
        for k, page in enumerate(pages):
            answers = {}
            for key in ("on", "off") if k % 2 == 0 else ("off", "on"):
                answers[key], seconds = ask(stacks[key].base, page.image)
                totals[key]["ms"].append(1000 * seconds)
            scored = {key: score_page(page, answers[key]) for key in answers}
            for key, result in scored.items():
                for name in ("unreadable", "leaked", "errors", "length"):
                    totals[key][name] += result[name]
                totals[key]["leaks"].update(script for script, _, _ in result["leaks"])
                totals[key]["scripts"].update(
                    s.script for line in page.lines for s in line.segments if s.script in render.UNREADABLE
                )
                if key == "on":
                    leaks.extend(result["leaks"])
            for row, line in enumerate(page.lines):
                if line.unreadable():
                    got = [(i["words"], round(i["score"], 3)) for i in scored["on"]["rows"].get(row, [])]
                    if len(examples) < 12:
                        examples.append((line.text, got))
                    continue
                readable += 1
                unchanged += scored["on"]["rows"].get(row, []) == scored["off"]["rows"].get(row, [])
    finally:
        for stack in stacks.values():
            stack.close()
    return {"totals": totals, "readable": readable, "unchanged": unchanged, "examples": examples, "leaks": leaks}


def real_pages(args) -> dict:
    """XFUND pages and TD500 read with the check on and off, alternately, in this process."""
    from inference.config import EngineConfig
    from inference.engine import OcrEngine

    from .__main__ import load_set, read_image, score_set

    engine = OcrEngine(EngineConfig(**{**EngineConfig.from_env().__dict__, "threads": args.threads}))
    results = {}
    for name in ("pages", "td500"):
        rows = load_set(args.eval, name)[: args.eval_limit]
        predictions: dict = {"on": [], "off": []}
        times: dict = {"on": [], "off": []}
        changed = 0
        engine.read(read_image(rows[0]["path"]))  # warm-up
        for k, row in enumerate(rows):
            image = read_image(row["path"])
            answers = {}
            for key in ("on", "off") if k % 2 == 0 else ("off", "on"):
                engine.script_check = key == "on"
                started = time.perf_counter()
                answers[key] = engine.read(image)
                times[key].append(time.perf_counter() - started)
                predictions[key].append([(line.text, line.box) for line in answers[key]])
            changed += answers["on"] != answers["off"]
        engine.script_check = True
        results[name] = {
            "n": len(rows),
            "changed": changed,
            **{
                key: {**score_set(name, rows, predictions[key]), "ms": 1000 * metrics.percentile(times[key], 50)}
                for key in ("on", "off")
            },
        }
    engine.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=24)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--eval", type=Path, default=None, help="also XFUND pages and TD500 from this folder")
    parser.add_argument("--eval-limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    missing = render.missing_fonts()
    if missing:
        print(f"no held-out font installed for {missing}: install the packages training/scripts/render.py names")
        return 2
    print(f"\n{datetime.date.today().isoformat()}, python -m bench.scripts {' '.join(argv or sys.argv[1:])}\n")
    if args.pages:
        found = rendered(args)
        print(f"Rendered pages: {args.pages} (10 lines each, held-out fonts, every other one degraded), over HTTP\n")
        print("| check | unreadable parts | answered at >= 0.5 | readable parts of mixed lines, CER | median page ms |")
        print("|---|---|---|---|---|")
        for key in ("off", "on"):
            t = found["totals"][key]
            print(
                f"| {key} | {t['unreadable']} | {t['leaked']} | {t['errors'] / max(t['length'], 1):.3f} "
                f"| {metrics.percentile(t['ms'], 50):.0f} |"
            )
        print("\nBy script, unreadable parts answered at >= 0.5 / parts:")
        for key in ("off", "on"):
            t = found["totals"][key]
            print(
                f"  check {key}: "
                + ", ".join(f"{name} {t['leaks'][name]}/{t['scripts'][name]}" for name in render.UNREADABLE)
            )
        for script, text, over in found["leaks"]:
            print(f"  still answered with the check: {script} {text!r} -> {over}")
        print(f"\nReadable lines (no unreadable part): {found['unchanged']} of {found['readable']} answered unchanged")
        print("\nMixed and unreadable lines, as answered with the check:")
        for text, got in found["examples"]:
            print(f"  {text!r} -> {got}")
    if args.eval:
        print("\nReal pages, in process, the check on and off alternately\n")
        print("| set | n | score off | score on | pages answered differently | median ms off | median ms on |")
        print("|---|---|---|---|---|---|---|")
        for name, r in real_pages(args).items():
            key = "f1" if name == "pages" else "recall"
            print(
                f"| {name} | {r['n']} | {key} {r['off'][key]:.4f} | {key} {r['on'][key]:.4f} | {r['changed']} "
                f"| {r['off']['ms']:.0f} | {r['on']['ms']:.0f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
