"""`make bench` (third part): documents through the local stack, as a user's client sends them.

Starts `python -m local` and, over HTTP:
1. four 10-page scanned PDFs at once through the CLOVA route, with single images through
   POST /general_ocr beside them: every answer's status, each page's inferResult, any 503;
2. six hostile documents at once (tests/hostile.py: drawing bombs, 20000 px fax pages, a
   13000 px TIFF) with one ordinary image sent beside them: each answer, and the image's time;
and samples the memory of the process that runs the Lambda handler (the gateway) plus its page
renderers throughout (the inference server, SageMaker's part, is not counted); then
bench/pdf_pages.py: scanned PDFs at 100-400 dpi and CCITT G4 by job and CLOVA beside POST
/general_ocr, born-digital PDFs of three producers with and without their text layer, and six
10-page documents at once.

    python -m bench.documents [--pages DIR]   (default: ../shared/eval/xfund_zh/pages)
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import LocalStack, children, rss_mb  # noqa: E402  (the repo root is on the path from here on)
from tests import hostile  # noqa: E402

DEFAULT_PAGES = ROOT.parent / "shared" / "eval" / "xfund_zh" / "pages"
CLOVA_PATH = "/custom/v1/bench/signature/general"


def post(url: str, body: bytes) -> tuple[int, dict | list | None, float]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except OSError:
        return 0, None, time.perf_counter() - start
    try:
        return status, json.loads(raw), time.perf_counter() - start
    except ValueError:
        return status, None, time.perf_counter() - start


def clova_body(data: bytes, fmt: str) -> bytes:
    return json.dumps(
        {
            "version": "V2",
            "requestId": "bench",
            "timestamp": int(time.time() * 1000),
            "images": [{"format": fmt, "name": "doc", "data": base64.b64encode(data).decode()}],
        }
    ).encode()


class TreeMemory:
    """Peak RSS of a process plus its page renderers, sampled every 20 ms."""

    def __init__(self, pid: int):
        self.pid, self.peak_mb, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            renderers = children(self.pid, b"documents.worker")
            total = rss_mb(self.pid) + sum(rss_mb(child) for child in renderers)
            self.peak_mb = max(self.peak_mb, total)
            self._stop.wait(0.02)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_mb


def scanned_pdf(pages_dir: Path, count: int, offset: int) -> bytes:
    from PIL import Image

    files = sorted(pages_dir.glob("*.jpg"))
    pictures = [Image.open(files[(offset + n) % len(files)]).convert("RGB") for n in range(count)]
    out = io.BytesIO()
    pictures[0].save(out, "PDF", save_all=True, append_images=pictures[1:], resolution=150)
    return out.getvalue()


def documents_under_load(base: str, pages_dir: Path) -> dict:
    pdfs = [scanned_pdf(pages_dir, 10, 10 * n) for n in range(4)]
    image = (ROOT / "tests" / "fixtures" / "receipt.png").read_bytes()
    single = json.dumps({"img": base64.b64encode(image).decode()}).encode()
    with ThreadPoolExecutor(12) as pool:
        start = time.perf_counter()
        documents = [pool.submit(post, base + CLOVA_PATH, clova_body(pdf, "pdf")) for pdf in pdfs]
        singles = []
        for _ in range(8):
            time.sleep(0.5)
            singles.append(pool.submit(post, base + "/general_ocr", single))
        documents_done = [d.result() for d in documents]
        singles_done = [s.result() for s in singles]
        wall = time.perf_counter() - start
    pages = [
        image["inferResult"]
        for status, body, _ in documents_done
        if status == 200 and isinstance(body, dict)
        for image in body["images"]
    ]
    return {
        "documents": [(status, round(seconds, 1)) for status, _, seconds in documents_done],
        "pages": {result: pages.count(result) for result in sorted(set(pages))},
        "singles": [(status, round(seconds, 2)) for status, _, seconds in singles_done],
        "503s": sum(1 for status, _, _ in documents_done + singles_done if status == 503),
        "wall_s": round(wall, 1),
    }


HOSTILE = [
    ("nested form XObjects (10^6 draws)", lambda: hostile.nested_xobjects_pdf(), "pdf"),
    ("10 pages of nested form XObjects", lambda: hostile.nested_xobjects_pdf(7, 10, 10), "pdf"),
    ("content stream listed 10 times", hostile.repeated_stream_pdf, "pdf"),
    ("50 MB of inflated operators", hostile.inflated_operators_pdf, "pdf"),
    ("10 pages of 20000 px fax images", hostile.fax_image_pdf, "pdf"),
    ("13000 px Deflate TIFF", lambda: hostile.huge_tiff(13000), "tiff"),
]


def hostile_beside_an_image(base: str) -> dict:
    image = (ROOT / "tests" / "fixtures" / "receipt.png").read_bytes()
    single = json.dumps({"img": base64.b64encode(image).decode()}).encode()
    bodies = [(name, clova_body(make(), fmt)) for name, make, fmt in HOSTILE]
    with ThreadPoolExecutor(len(bodies) + 1) as pool:
        answers = [(name, pool.submit(post, base + CLOVA_PATH, body)) for name, body in bodies]
        time.sleep(1.0)  # the hostile documents are being rendered
        status, _, seconds = pool.submit(post, base + "/general_ocr", single).result()
        results = []
        for name, future in answers:
            code, body, took = future.result()
            what = (
                body.get("code")
                if isinstance(body, dict) and code != 200
                else (",".join(sorted({i["inferResult"] for i in body["images"]})) if isinstance(body, dict) else "?")
            )
            results.append((name, code, what, round(took, 1)))
    return {"hostile": results, "single": (status, round(seconds, 2))}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.documents", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=Path, default=DEFAULT_PAGES, help="a folder of page scans (jpg)")
    args = parser.parse_args()
    if not args.pages.is_dir():
        print(f"no page scans at {args.pages}; pass --pages DIR", file=sys.stderr)
        return 2
    try:
        stack = LocalStack()
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    with stack:
        memory = TreeMemory(stack.pid)
        load = documents_under_load(stack.base, args.pages)
        attack = hostile_beside_an_image(stack.base)
        peak = memory.stop()

    print("\nFour 10-page scanned PDFs at once (CLOVA route), eight single images beside them")
    print(f"- documents (status, s): {load['documents']}; pages: {load['pages']}; 503 answers: {load['503s']}")
    print(f"- single images (status, s): {load['singles']}")
    print("\nSix hostile documents at once, one ordinary image beside them\n")
    print("| document | status | answer | s |\n|---|---|---|---|")
    for name, code, what, took in attack["hostile"]:
        print(f"| {name} | {code} | {what} | {took} |")
    print(f"\nthe ordinary image: status {attack['single'][0]} in {attack['single'][1]} s")
    print(f"peak memory of the handler's process and its renderers: {peak:.0f} MB")
    ok = (
        load["503s"] == 0
        and all(s == 200 for s, _ in load["documents"])
        and attack["single"][0] == 200
        and all(code in (200, 400, 413, 504) and took < 29 for _, code, _, took in attack["hostile"])
    )
    # PDF pages as they are (#39): scans at their own pixels, born-digital text, six at once.
    from bench import pdf_pages

    as_they_are = pdf_pages.main(["--data", str(args.pages.parent.parent)]) if args.pages == DEFAULT_PAGES else 0
    return 0 if ok and as_they_are == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
