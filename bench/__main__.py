"""`make bench`: accuracy and latency of our engine beside rapidocr and tesseract.

Each system runs in a child process of its own, one after another, so that each has the
machine to itself and its peak RSS is its own. Prints a markdown table.

`ours http` is our engine reached the way users reach it, over HTTP through the local stack
(`make serve`). Its accuracy must equal in-process `ours` within 0.001 with no failed
request; otherwise the bench says so and exits 1.

    python -m bench [--data ../shared/eval] [--threads 2] [--limit N] [--systems ours,...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from . import metrics

SETS = ("crops", "loose", "tight", "traditional", "pages", "td500", "plates", "street", "turned")
# Sets read as one line each, scored by CER and exact lines.
LINE_SETS = ("crops", "loose", "tight", "traditional", "plates")
SYSTEMS = ("ours", "ours-http", "ours-fp32", "rapidocr-default", "rapidocr-max960", "tesseract")
# Over HTTP the API answers axis-aligned boxes, so TD500's polygon coverage is not comparable.
SETS_OF = {"ours-http": ("crops", "loose", "tight", "traditional", "pages", "plates", "street")}
HTTP_TOLERANCE = 0.001
# The slow systems read a seeded prefix of the big sets, so that a full run stays near 15 minutes;
# the table prints how many images each cell saw.
CAPS = {
    "rapidocr-default": {"plates": 200, "loose": 200, "tight": 200, "traditional": 200},
    "tesseract": {"crops": 200, "plates": 200, "loose": 200, "tight": 200, "traditional": 200},
}


def read_image(path: str | Path):
    """An eval image (BGR), or FileNotFoundError: a missing file is a broken set, not a miss."""
    image = cv2.imread(str(path))
    if image is None:
        raise FileNotFoundError(path)
    return image


def load_set(data: Path, name: str) -> list[dict]:
    from . import sets

    if name in ("loose", "tight"):
        path = sets.loose_and_tight(data)[0 if name == "loose" else 1]
    elif name == "traditional":
        path = sets.traditional(data)
    else:
        path = {
            "crops": data / "xfund_zh" / "crops.jsonl",
            "pages": data / "xfund_zh" / "pages.jsonl",
            "turned": data / "xfund_zh" / "pages.jsonl",
            "td500": data / "msra_td500_subset" / "manifest.jsonl",
            "plates": data / "plates_cn_lprnet" / "manifest.jsonl",
            "street": data / "plates_cn_easypr" / "manifest.jsonl",
        }[name]
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        row["path"] = str(path.parent / row["image"])
    return rows


def score_set(name: str, rows: list[dict], predictions: list[list]) -> dict:
    if name in LINE_SETS:
        norm = metrics.normalise_plate if name == "plates" else metrics.normalise
        errors = total = exact = 0
        for row, pred in zip(rows, predictions):
            got, want = norm("".join(t for t, _ in pred)), norm(row["text"])
            errors += metrics.edit_distance(got, want)
            total += len(want)
            exact += got == want
        return {"cer": errors / max(total, 1), "exact": exact / max(len(rows), 1)}
    if name == "pages":
        matched = predicted = reference = 0
        for row, pred in zip(rows, predictions):
            m, p, r = metrics.char_prf(
                metrics.normalise("".join(t for t, _ in pred)),
                metrics.normalise("".join(line["text"] for line in row["lines"])),
            )
            matched, predicted, reference = matched + m, predicted + p, reference + r
        precision, recall = matched / max(predicted, 1), matched / max(reference, 1)
        return {"precision": precision, "recall": recall, "f1": 2 * precision * recall / max(precision + recall, 1e-9)}
    if name == "street":
        return {"exact": _street_plates_read(rows, predictions)}
    # td500: detection recall, difficult lines are "don't care"
    hit = total = 0
    for row, pred in zip(rows, predictions):
        boxes = [box for _, box in pred]
        for line in row["lines"]:
            if line.get("difficult"):
                continue
            total += 1
            hit += metrics.covered(line["points"], boxes, row["height"], row["width"])
    return {"recall": hit / max(total, 1)}


def _street_plates_read(rows: list[dict], predictions: list[list]) -> float:
    """Share of the plates in street photos read exactly, the photo sent whole as a scene
    (street_plates)."""
    read, total = street_plates(rows, predictions)
    return read / max(total, 1)


def street_plates(rows: list[dict], predictions: list[list]) -> tuple[int, int]:
    """(plates read exactly, plates) in street photos, each photo sent whole as a scene.

    A plate's reading is the lines whose centre lies inside its labelled box, left to right
    (a plate may be detected as two lines either side of its dot); the labelled boxes are
    tight, so they are grown by half their height first. Other text in the photo is ignored."""
    read = total = 0
    for row, pred in zip(rows, predictions):
        for plate in row["plates"]:
            total += 1
            (cx, cy), (w, h), angle = cv2.minAreaRect(np.asarray(plate["box"], np.float32))
            short = min(w, h)
            region = cv2.boxPoints(((cx, cy), (w + short, h + short), angle))
            inside = []
            for text, box in pred:
                x, y = (float(v) for v in np.asarray(box, np.float32).mean(axis=0))
                if cv2.pointPolygonTest(region, (x, y), False) >= 0:
                    inside.append((x, text))
            got = metrics.normalise_plate("".join(text for _, text in sorted(inside)))
            read += got == metrics.normalise_plate(plate["text"])
    return read, total


def worker(system: str, data: Path, sets: list[str], threads: int, limit: int | None) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from .systems import make

    engine = make(system, threads)
    out: dict = {"system": engine.name, "sets": {}}
    try:
        _measure(engine, system, data, sets, limit, out)
    finally:
        if hasattr(engine, "close"):
            engine.close()
    if hasattr(engine, "errors"):
        out["errors"] = engine.errors
    # Over HTTP the engine runs in the local stack's processes; this one is only the client.
    out["peak_rss_mb"] = None if system == "ours-http" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _measure(engine, system: str, data: Path, sets: list[str], limit: int | None, out: dict) -> None:
    for name in [s for s in sets if s in SETS_OF.get(system, SETS)]:
        try:
            rows = load_set(data, name)
        except (RuntimeError, ImportError) as exc:  # a generated set whose font or package is missing
            print(f"  set {name} skipped: {exc}", file=sys.stderr)
            continue
        cap = min(x for x in (limit, CAPS.get(system, {}).get(name), len(rows)) if x)
        rows = rows[:cap]
        if name == "turned":
            if hasattr(engine, "engine"):  # our engine in-process only
                out["sets"][name] = turned_pages(engine.engine, rows)
            continue
        engine.read(rows[0]["path"])  # warm-up, not timed
        predictions, latencies = [], []
        for row in rows:
            start = time.perf_counter()
            predictions.append(engine.read(row["path"]))
            latencies.append(time.perf_counter() - start)
        out["sets"][name] = {
            "n": len(rows),
            **score_set(name, rows, predictions),
            "median_ms": 1000 * metrics.percentile(latencies, 50),
            "p95_ms": 1000 * metrics.percentile(latencies, 95),
        }


def turned_pages(engine, rows: list[dict]) -> dict:
    """XFUND pages turned 90, 180 and 270 degrees: how far each answer's text is from the
    upright page's (edit distance over the upright text's length). And the upright pages read
    with the page-direction step on and off, alternately in one run: F1 and latency of both."""
    turns = (cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_180, cv2.ROTATE_90_COUNTERCLOCKWISE)
    distances: list[list[float]] = [[], [], []]
    times: dict = {"on": [], "off": [], "turned": []}
    texts: dict = {"on": [], "off": []}

    def timed(image, key):
        start = time.perf_counter()
        text = metrics.normalise("".join(line.text for line in engine.read(image)))
        times[key].append(time.perf_counter() - start)
        return text

    engine.read(cv2.imread(rows[0]["path"]))  # warm-up
    for i, row in enumerate(rows):
        image = cv2.imread(row["path"])
        assert image is not None, row["path"]
        for key in ("on", "off") if i % 2 == 0 else ("off", "on"):
            engine.by_page_direction = key == "on"
            texts[key].append(timed(image, key))
        engine.by_page_direction = True
        upright = texts["on"][-1]
        for k, turn in enumerate(turns):
            got = timed(cv2.rotate(image, turn), "turned")
            distances[k].append(metrics.edit_distance(got, upright) / max(len(upright), 1))
    result: dict = {"n": len(rows), "median_ms": 1000 * metrics.percentile(times["turned"], 50)}
    for k, degrees in enumerate((90, 180, 270)):
        result[f"ned_{degrees}_mean"] = float(np.mean(distances[k]))
        result[f"ned_{degrees}_max"] = float(np.max(distances[k]))
    for key in ("on", "off"):
        matched = predicted = reference = 0
        for row, text in zip(rows, texts[key]):
            m, p, r = metrics.char_prf(text, metrics.normalise("".join(line["text"] for line in row["lines"])))
            matched, predicted, reference = matched + m, predicted + p, reference + r
        precision, recall = matched / max(predicted, 1), matched / max(reference, 1)
        result[f"upright_f1_{key}"] = 2 * precision * recall / max(precision + recall, 1e-9)
        result[f"upright_ms_{key}"] = 1000 * metrics.percentile(times[key], 50)
    return result


def turned_table(results: list[dict]) -> str:
    lines = []
    for r in results:
        t = r["sets"].get("turned")
        if not t:
            continue
        lines.append(
            f"\n{r['system']}, XFUND pages turned (n={t['n']}): edit distance to the upright answer, mean/max: "
            + ", ".join(f"{d}° {t[f'ned_{d}_mean']:.4f}/{t[f'ned_{d}_max']:.4f}" for d in (90, 180, 270))
            + f"; turned page median {t['median_ms']:.0f} ms. Upright pages, page-direction step off -> on: "
            f"F1 {t['upright_f1_off']:.4f} -> {t['upright_f1_on']:.4f}, "
            f"median {t['upright_ms_off']:.0f} -> {t['upright_ms_on']:.0f} ms"
        )
    return "\n".join(lines)


REFERENCE = "rapidocr max960"
# For each set, the scores compared with the reference, and whether higher is better.
COMPARED = {
    "crops": [("cer", False)],
    "loose": [("cer", False)],
    "tight": [("cer", False)],
    "traditional": [("cer", False)],
    "pages": [("f1", True)],
    "td500": [("recall", True)],
    "plates": [("exact", True)],
    "street": [("exact", True)],
}


def reference_check(results: list[dict]) -> list[str]:
    """Sets on which our engine (in-process or over HTTP) reads worse than rapidocr's own
    pipeline on the same inputs, in the same run (empty when none)."""
    by_name = {r["system"]: r for r in results}
    reference = by_name.get(REFERENCE)
    if not reference:
        return []
    problems = []
    for system in ("ours", "ours http"):
        ours = by_name.get(system)
        if not ours:
            continue
        for name, scores in COMPARED.items():
            a, b = ours["sets"].get(name), reference["sets"].get(name)
            if not a or not b or a["n"] != b["n"]:
                continue
            for key, higher_is_better in scores:
                worse = a[key] < b[key] - 1e-9 if higher_is_better else a[key] > b[key] + 1e-9
                if worse:
                    problems.append(f"{system} {name} {key} {a[key]:.4f} against {REFERENCE}'s {b[key]:.4f}")
    return problems


def http_check(results: list[dict]) -> list[str]:
    """Why the HTTP row does not match in-process (empty when it does)."""
    by_name = {r["system"]: r for r in results}
    ours, http = by_name.get("ours"), by_name.get("ours http")
    if not http:
        return []
    problems = []
    if http.get("errors"):
        problems.append(f"{http['errors']} request(s) over HTTP failed")
    if not ours:
        return problems
    for name, key in (
        ("crops", "cer"),
        ("crops", "exact"),
        ("loose", "cer"),
        ("tight", "cer"),
        ("traditional", "cer"),
        ("pages", "f1"),
        ("plates", "exact"),
        ("street", "exact"),
    ):
        a, b = ours["sets"].get(name, {}).get(key), http["sets"].get(name, {}).get(key)
        if a is not None and b is not None and abs(a - b) > HTTP_TOLERANCE:
            problems.append(f"{name} {key}: {b:.4f} over HTTP against {a:.4f} in-process")
    return problems


def fmt(value, spec):
    return "n/a" if value is None else format(value, spec)


def pct(value):
    return None if value is None else 100 * value


def table(results: list[dict]) -> str:
    head = (
        "| system | crops CER | crops exact | loose CER (tight) | Traditional CER | pages F1 (P/R) | TD500 recall "
        "| plates exact | street plates | page ms median/p95 | crop ms | plate ms | peak RSS MB |"
    )
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for r in results:
        s = r["sets"]
        g = lambda k, s=s: s.get(k, {})  # noqa: E731

        def n(k, s=s, g=g):
            return f" (n={g(k)['n']})" if k in s else ""

        lines.append(
            f"| {r['system']} "
            f"| {fmt(g('crops').get('cer') and 100 * g('crops')['cer'], '.2f')}%{n('crops')} "
            f"| {fmt(g('crops').get('exact') and 100 * g('crops')['exact'], '.1f')}% "
            f"| {fmt(pct(g('loose').get('cer')), '.2f')}% ({fmt(pct(g('tight').get('cer')), '.2f')}%){n('loose')} "
            f"| {fmt(pct(g('traditional').get('cer')), '.2f')}%{n('traditional')} "
            f"| {fmt(g('pages').get('f1'), '.4f')} ({fmt(g('pages').get('precision'), '.3f')}/{fmt(g('pages').get('recall'), '.3f')}){n('pages')} "
            f"| {fmt(g('td500').get('recall'), '.3f')}{n('td500')} "
            f"| {fmt(g('plates').get('exact') and 100 * g('plates')['exact'], '.1f')}%{n('plates')} "
            f"| {fmt(pct(g('street').get('exact')), '.1f')}%{n('street')} "
            f"| {fmt(g('pages').get('median_ms'), '.0f')} / {fmt(g('pages').get('p95_ms'), '.0f')} "
            f"| {fmt(g('crops').get('median_ms'), '.1f')} "
            f"| {fmt(g('plates').get('median_ms'), '.1f')} "
            f"| {fmt(r['peak_rss_mb'], '.0f')} |"
        )
    by_name = {r["system"]: r for r in results}
    ref = by_name.get("rapidocr default")
    for name in ("ours", "ours fp32"):
        ours = by_name.get(name)
        if ours and ref and "pages" in ours["sets"] and "pages" in ref["sets"]:
            ratio = ours["sets"]["pages"]["median_ms"] / ref["sets"]["pages"]["median_ms"]
            lines.append(f"\nMedian page latency, {name} / rapidocr default: **{ratio:.2f}x**")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    default_data = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"
    parser.add_argument("--data", type=Path, default=default_data, help="dataset folder (default ../shared/eval)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, help="at most N images per set (quick runs)")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--json-out", type=Path, help="also write the raw results here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sets = [s for s in args.sets.split(",") if s]
    if args.worker:
        print(json.dumps(worker(args.worker, args.data, sets, args.threads, args.limit)))
        return 0
    if not args.data.is_dir():
        print(f"no dataset folder at {args.data}; pass --data", file=sys.stderr)
        return 2
    results = []
    for system in [s for s in args.systems.split(",") if s]:
        print(f"running {system} ...", file=sys.stderr, flush=True)
        cmd = [
            sys.executable,
            "-m",
            "bench",
            "--worker",
            system,
            "--data",
            str(args.data),
            "--threads",
            str(args.threads),
            "--sets",
            ",".join(sets),
        ]
        if args.limit:
            cmd += ["--limit", str(args.limit)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        if proc.returncode != 0:
            print(f"  {system} failed, skipped: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            continue
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(table(results))
    print(turned_table(results))
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2))
    problems = http_check(results)
    if problems:
        print(
            "\n**FAIL: the user's path (HTTP) does not read as well as the engine in-process:** " + "; ".join(problems)
        )
        return 1
    worse = reference_check(results)
    if worse:
        print(f"\n**FAIL: worse than {REFERENCE} on the same inputs:** " + "; ".join(worse))
        return 1
    if any(r["system"] == REFERENCE for r in results):
        print(f"\nReference check: ours reads every set at least as well as {REFERENCE}.")
    if any(r["system"] == "ours http" for r in results):
        print(f"\nHTTP check: `ours http` equals in-process `ours` within {HTTP_TOLERANCE}, with no failed request.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
