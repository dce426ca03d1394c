"""`make bench` (fourth part): the jobs API beside the synchronous route, through the local stack.

Makes a PDF of real scans (XFUND pages, 60 by default: the 50 pages, then the first again), starts
`python -m local` with that folder as its jobs input, and over HTTP:
1. submits the PDF as a job, polls GET /jobs/{id} every second (pagesDone must advance while
   RUNNING), fetches the result and scores each page's text against XFUND's labels (character
   F1, as `make bench` scores pages);
2. sends the same pages as images to POST /general_ocr, four at a time, and scores them alike;
and prints both, with pages/s: each PDF page is a scan read at its own pixels, so the figures
should match; then where a page's time goes (render and transfer, detect, recognise).

    python -m bench.jobs [--pages 60] [--data ../shared/eval]
    python -m bench.jobs --soak 1000     a 1,000-page job of one small page repeated: the stack's
                                         memory after 100 and after 1,000 pages, and a `kill -9`
                                         of the stack at half way, restarted: every page once
"""

from __future__ import annotations

import argparse
import base64
import json
import signal
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
from bench.stack import LocalStack, children, rss_mb  # noqa: E402


def _call(method: str, url: str, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.jobs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=60)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "eval")
    parser.add_argument("--soak", type=int, help="pages of a soak job instead (e.g. 1000)")
    args = parser.parse_args()
    if args.soak:
        return soak(args.soak)
    manifest = args.data / "xfund_zh" / "pages.jsonl"
    if not manifest.is_file():
        print(f"no XFUND pages at {manifest}; pass --data DIR", file=sys.stderr)
        return 2
    rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [rows[n % len(rows)] for n in range(args.pages)]
    truth = ["".join(line["text"] for line in row["lines"]) for row in rows]
    scans = [(manifest.parent / row["image"]).read_bytes() for row in rows]
    folder = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    # Each page one JPEG embedded byte for byte on an A4-sized page (about 137 dpi for XFUND's
    # 1131 x 1600 px scans), as an office scanner writes it.
    from tests import pdfs

    (folder / "scans.pdf").write_bytes(pdfs.scanned_pdf([pdfs.ScanPage(scan, dpi=137) for scan in scans]))

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
        job_f1 = metrics.pooled_f1(
            [("".join(w["words"] for w in page["lines"]), want) for page, want in zip(lines, truth)]
        )
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
        sync_f1 = metrics.pooled_f1(list(zip(sync_text, truth)))
    finally:
        stack.close()

    job_rate, sync_rate = len(lines) / job_s, len(scans) / sync_s
    print(f"\n{args.pages} XFUND scans (the 50 pages, repeated), local stack, this machine's CPU\n")
    print("| path | status | pages | char F1 | pages/s |\n|---|---|---|---|---|")
    print(f"| POST /jobs, one {args.pages}-page PDF | {job['status']} | {len(lines)} | {job_f1:.4f} | {job_rate:.2f} |")
    print(f"| POST /general_ocr, the scans, 4 at a time | - | {len(scans)} | {sync_f1:.4f} | {sync_rate:.2f} |")
    print(f"\npagesDone seen while RUNNING: {advancing[:12]}{' ...' if len(advancing) > 12 else ''}")
    print(f"job pages/s over the synchronous route's: {job_rate / sync_rate:.2f}")
    print_where_the_time_goes(folder / "scans.pdf", scans[:10])
    ok = job["status"] == "SUCCEEDED" and len(lines) == args.pages and len(advancing) > 1
    return 0 if ok else 1


def print_where_the_time_goes(pdf: Path, scans: list[bytes]) -> None:
    """Per page, in this process, one page at a time: the renderer's child making the page
    (render + transfer over its pipe), the decode POST /general_ocr does instead, and the
    engine's detection (detector sessions) and recognition (classifier and recogniser)."""
    from documents.render import render
    from inference.config import EngineConfig
    from inference.engine import OcrEngine
    from inference.images import decode_image

    engine = OcrEngine(EngineConfig.from_env())
    spent = {"det": 0.0, "rec": 0.0}

    def timed(session, key):
        run = session.run

        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return run(*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - start

        session.run = wrapper

    timed(engine.det, "det")
    for session in (engine.cls, engine.rec, engine.rec_fp32):
        if session is not None:
            timed(session, "rec")
    count = len(scans)
    start = time.perf_counter()
    pages = list(render(pdf.read_bytes(), "pdf", time.monotonic() + 600, max_pages=count, raw=True))
    made = (time.perf_counter() - start) / count
    start = time.perf_counter()
    images = [decode_image(scan) for scan in scans]
    decoded = (time.perf_counter() - start) / count
    start = time.perf_counter()
    for image in images:
        engine.read(image)
    total = (time.perf_counter() - start) / count
    det, rec = spent["det"] / count, spent["rec"] / count
    print(
        f"\nWhere a page's time goes (ms, mean of {count} pages, one at a time, {pages[0].width}x{pages[0].height} px)"
    )
    print("| stage | job page | POST /general_ocr |\n|---|---|---|")
    print(f"| render + transfer (the renderer's child: decode once, pipe) | {made * 1000:.0f} | - |")
    print(f"| decode (the container, from the request's bytes) | - | {decoded * 1000:.0f} |")
    print(f"| detect (the detector, both passes) | {det * 1000:.0f} | {det * 1000:.0f} |")
    print(f"| cut, classify, recognise (wall clock) | {(total - det) * 1000:.0f} | {(total - det) * 1000:.0f} |")
    print(f"| the engine in all | {total * 1000:.0f} | {total * 1000:.0f} |")
    print(f"(classifier and recogniser sessions: {rec * 1000:.0f} ms a page summed over the engine's parallel lanes)")


def _tree_rss_mb(pid: int) -> float:
    """RSS of a process and its children (the gateway, the job runner, the inference server)."""
    return rss_mb(pid) + sum(rss_mb(child) for child in children(pid))


def soak(pages: int) -> int:
    """A long job through the local stack: flat memory, and a kill -9 survived."""
    from PIL import Image

    folder = Path(tempfile.mkdtemp(prefix="bench-jobs-soak-"))
    page = Image.open(ROOT / "tests" / "fixtures" / "receipt.png").convert("RGB")
    page.save(folder / "long.pdf", "PDF", save_all=True, append_images=[page] * (pages - 1), resolution=200)
    args = ("--jobs-input", str(folder), "--jobs-data", str(folder / "data"))
    stack = LocalStack(args)
    samples: list[tuple[int, int, float]] = []  # (run, pages done, RSS of the stack)
    run = 1
    try:
        status, body = _call(
            "POST", stack.base + "/jobs", json.dumps({"input": (folder / "long.pdf").as_uri()}).encode()
        )
        if status != 202:
            print(f"POST /jobs answered {status}: {body[:300]!r}", file=sys.stderr)
            return 1
        job_id = json.loads(body)["jobId"]
        killed_at = None
        while True:
            job = json.loads(_call("GET", f"{stack.base}/jobs/{job_id}")[1])
            done = job["pagesDone"]
            samples.append((run, done, _tree_rss_mb(stack.pid)))
            if killed_at is None and done >= pages // 2:
                killed_at = done
                import os

                for pid in [stack.pid, *children(stack.pid)]:
                    os.kill(pid, signal.SIGKILL)
                stack.process.wait()
                stack = LocalStack(args)  # the same data folder: the job resumes
                run = 2
                continue
            if job["status"] in ("SUCCEEDED", "PARTIAL", "FAILED"):
                break
            time.sleep(1)
        lines = [json.loads(line) for line in _call("GET", job["resultUrl"])[1].decode().splitlines() if line]
    finally:
        stack.close()
    numbers = [line["page"] for line in lines]
    once = numbers == list(range(1, pages + 1))
    print(f"\nsoak: one {pages}-page PDF as a job, killed with kill -9 at {killed_at} pages done and restarted")
    print(f"- status {job['status']}, {len(lines)} result lines, every page exactly once and in order: {once}")

    def rss(run: int, at_least: int) -> str:
        found = [(done, mb) for r, done, mb in samples if r == run and done >= at_least]
        return f"{found[0][1]:.0f} MB at {found[0][0]}" if found else "-"

    first_last = [(done, mb) for r, done, mb in samples if r == 1][-1]
    second = [(done, mb) for r, done, mb in samples if r == 2]
    print("- RSS of the stack (gateway, job runner and inference server), by pages done:")
    print(f"  before the kill: {rss(1, 100)}, {first_last[1]:.0f} MB at {first_last[0]}")
    if second:
        print(f"  after the restart: {rss(2, (killed_at or 0) + 100)}, {second[-1][1]:.0f} MB at {second[-1][0]}")
    return 0 if job["status"] == "SUCCEEDED" and once else 1


if __name__ == "__main__":
    sys.exit(main())
