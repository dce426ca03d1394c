"""`make bench` (fourth part): the jobs API beside the synchronous route, through the local stack.

Makes a PDF of real scans (XFUND pages, 60 by default: the 50 pages, then the first again), starts
`python -m local` with that folder as its jobs input, and over HTTP:
1. submits the PDF as a job, polls GET /jobs/{id} every second (pagesDone must advance while
   RUNNING), fetches the result and scores each page's text against XFUND's labels (character
   F1, as `make bench` scores pages);
2. sends the same pages as images to POST /general_ocr, four at a time, and scores them alike;
and prints both, with pages/s. The job's pages are the PDF's rendered pages, the synchronous ones
the scans themselves, so the F1 figures may differ by the rendering.

    python -m bench.jobs [--pages 60] [--data ../shared/eval]
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import metrics  # noqa: E402  (the repo root is on the path from here on)
from bench.stack import LocalStack  # noqa: E402


def _call(method: str, url: str, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _f1(pairs: list[tuple[str, str]]) -> float:
    matched = predicted = reference = 0
    for got, want in pairs:
        m, p, r = metrics.char_prf(metrics.normalise(got), metrics.normalise(want))
        matched, predicted, reference = matched + m, predicted + p, reference + r
    precision, recall = matched / max(predicted, 1), matched / max(reference, 1)
    return 2 * precision * recall / max(precision + recall, 1e-9)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.jobs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=60)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "eval")
    args = parser.parse_args()
    manifest = args.data / "xfund_zh" / "pages.jsonl"
    if not manifest.is_file():
        print(f"no XFUND pages at {manifest}; pass --data DIR", file=sys.stderr)
        return 2
    from PIL import Image

    rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [rows[n % len(rows)] for n in range(args.pages)]
    truth = ["".join(line["text"] for line in row["lines"]) for row in rows]
    scans = [(manifest.parent / row["image"]).read_bytes() for row in rows]
    folder = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    pictures = [Image.open(manifest.parent / row["image"]).convert("RGB") for row in rows]
    # At 200 dpi, what the renderer renders at: each page comes back at its scan's own size.
    pictures[0].save(folder / "scans.pdf", "PDF", save_all=True, append_images=pictures[1:], resolution=200)

    try:
        stack = LocalStack(("--jobs-input", str(folder), "--jobs-data", str(folder / "data")))
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    base = stack.base
    try:
        start = time.perf_counter()
        status, body = _call("POST", base + "/jobs", json.dumps({"input": (folder / "scans.pdf").as_uri()}).encode())
        if status != 202:
            print(f"POST /jobs answered {status}: {body[:300]!r}", file=sys.stderr)
            return 1
        job_id = json.loads(body)["jobId"]
        progress = []
        while True:
            job = json.loads(_call("GET", f"{base}/jobs/{job_id}")[1])
            progress.append((round(time.perf_counter() - start), job["status"], job["pagesDone"]))
            if job["status"] in ("SUCCEEDED", "PARTIAL", "FAILED"):
                break
            time.sleep(1)
        job_s = time.perf_counter() - start
        lines = [json.loads(line) for line in _call("GET", job["resultUrl"])[1].decode().splitlines() if line]
        job_f1 = _f1([("".join(w["words"] for w in page["lines"]), want) for page, want in zip(lines, truth)])
        advancing = sorted({done for _, state, done in progress if state == "RUNNING"})

        def read(scan: bytes) -> str:
            code, answer = _call(
                "POST", base + "/general_ocr", json.dumps({"img": base64.b64encode(scan).decode()}).encode()
            )
            return "".join(line["words"] for line in json.loads(answer)) if code == 200 else ""

        start = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            sync_text = list(pool.map(read, scans))
        sync_s = time.perf_counter() - start
        sync_f1 = _f1(list(zip(sync_text, truth)))
    finally:
        stack.close()

    job_rate, sync_rate = len(lines) / job_s, len(scans) / sync_s
    print(f"\n{args.pages} XFUND scans (the 50 pages, repeated), local stack, this machine's CPU\n")
    print("| path | status | pages | char F1 | pages/s |\n|---|---|---|---|---|")
    print(f"| POST /jobs, one {args.pages}-page PDF | {job['status']} | {len(lines)} | {job_f1:.4f} | {job_rate:.2f} |")
    print(f"| POST /general_ocr, the scans, 4 at a time | - | {len(scans)} | {sync_f1:.4f} | {sync_rate:.2f} |")
    print(f"\npagesDone seen while RUNNING: {advancing[:12]}{' ...' if len(advancing) > 12 else ''}")
    print(f"job pages/s over the synchronous route's: {job_rate / sync_rate:.2f}")
    ok = job["status"] == "SUCCEEDED" and len(lines) == args.pages and len(advancing) > 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
