"""PDF pages as they are (issue #39), over HTTP through the local stack (`make serve`'s):

1. scans: PDFs made from the same XFUND page scans at 100, 137, 200, 300 and 400 dpi (each JPEG
   embedded as it is) and as a CCITT G4 bilevel scan, read by a job and by the CLOVA route:
   character F1 against XFUND's labels beside POST /general_ocr on the original images (for
   G4: the bilevel image as PNG);
2. born-digital: Chinese PDFs made now by fpdf2 (Noto Sans CJK embedded), headless Chromium's
   print to PDF, and fpdf2's without its ToUnicode maps (6-12 pt text, a table, two columns),
   each read by a job with the text layer (auto) and without (ignore): CER against the text
   they hold, pages/s, and each page's source;
3. six 10-page born-digital documents at once through the CLOVA route: every status.

    python -m bench.pdf_pages [--pages 10] [--data ../shared/eval]     (bench/documents.py runs it)
"""

from __future__ import annotations

import argparse
import base64
import io
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
from tests import pdfs  # noqa: E402

CLOVA_PATH = "/custom/v1/bench/signature/general"
DPIS = (100, 137, 200, 300, 400)
CLOVA_PAGES = 3


def _call(method: str, url: str, body: bytes | None = None, timeout: float = 600) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def cer(got: str, want: str) -> float:
    got, want = metrics.normalise(got), metrics.normalise(want)
    return metrics.edit_distance(got, want) / max(len(want), 1)


def job(base: str, path: Path, **asked) -> tuple[list[dict], float]:
    start = time.perf_counter()
    status, body = _call("POST", base + "/jobs", json.dumps({"input": path.as_uri(), **asked}).encode())
    assert status == 202, body[:300]
    job_id = json.loads(body)["jobId"]
    while True:
        state = json.loads(_call("GET", f"{base}/jobs/{job_id}")[1])
        if state["status"] in ("SUCCEEDED", "PARTIAL", "FAILED"):
            break
        time.sleep(0.2)
    seconds = time.perf_counter() - start
    lines = [json.loads(line) for line in _call("GET", state["resultUrl"])[1].decode().splitlines() if line]
    return lines, seconds


def clova(base: str, document: bytes, **asked) -> tuple[int, dict | None]:
    body = json.dumps(
        {
            "version": "V2",
            "requestId": "bench",
            "timestamp": int(time.time() * 1000),
            "images": [{"format": "pdf", "name": "doc", "data": base64.b64encode(document).decode()}],
            **asked,
        }
    ).encode()
    status, raw = _call("POST", base + CLOVA_PATH, body, timeout=60)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None


def general_ocr(base: str, image: bytes) -> str:
    status, raw = _call("POST", base + "/general_ocr", json.dumps({"img": base64.b64encode(image).decode()}).encode())
    return "".join(line["words"] for line in json.loads(raw)) if status == 200 else ""


def page_text(page: dict) -> str:
    return "".join(line["words"] for line in page["lines"])


def scans(base: str, folder: Path, rows: list[dict], manifest_dir: Path) -> list[tuple]:
    from PIL import Image

    truth = ["".join(line["text"] for line in row["lines"]) for row in rows]
    jpegs = [(manifest_dir / row["image"]).read_bytes() for row in rows]
    bilevel = [
        Image.open(io.BytesIO(data)).convert("L").point(lambda v: 255 if v > 170 else 0).convert("1") for data in jpegs
    ]
    pngs = []
    for picture in bilevel:
        encoded = io.BytesIO()
        picture.save(encoded, "PNG")
        pngs.append(encoded.getvalue())
    with ThreadPoolExecutor(4) as pool:  # POST /general_ocr on the originals, 4 at once
        sync_jpeg = metrics.pooled_f1(list(zip(pool.map(lambda d: general_ocr(base, d), jpegs), truth)))
        sync_g4 = metrics.pooled_f1(list(zip(pool.map(lambda d: general_ocr(base, d), pngs), truth)))
    out: list[tuple] = []
    sets = [(f"JPEG at {dpi} dpi", [pdfs.ScanPage(d, dpi=dpi) for d in jpegs], sync_jpeg) for dpi in DPIS]
    sets.append(("CCITT G4 at 300 dpi", [pdfs.ScanPage(picture=p, dpi=300) for p in bilevel], sync_g4))
    for name, pages, sync in sets:
        document = pdfs.scanned_pdf(pages)
        path = folder / f"scan-{len(out)}.pdf"
        path.write_bytes(document)
        lines, _ = job(base, path)
        job_f1 = metrics.pooled_f1([(page_text(page), want) for page, want in zip(lines, truth)])
        # CLOVA: the same pages, CLOVA_PAGES to a request (what two cores read within the 29 s
        # the gateway gives a request), each request's PDF made alike.
        texts, failed = [], 0
        for first in range(0, len(pages), CLOVA_PAGES):
            status, body = clova(base, pdfs.scanned_pdf(pages[first : first + CLOVA_PAGES]))
            images = (body or {}).get("images", []) if status == 200 else []
            failed += sum(1 for image in images if image["inferResult"] != "SUCCESS") + (0 if images else CLOVA_PAGES)
            texts += ["".join(f["inferText"] for f in image["fields"]) for image in images]
        clova_f1 = metrics.pooled_f1(list(zip(texts, truth)))
        out.append((name, sync, job_f1, clova_f1, failed, {page["source"] for page in lines}))
    return out


PRODUCERS = (
    ("fpdf2, Noto Sans CJK embedded", lambda n: pdfs.text_pdf(n)),
    ("headless Chromium, print to PDF", lambda n: pdfs.chromium_pdf(n)),
    ("fpdf2, its ToUnicode maps taken away", lambda n: pdfs.without_tounicode(pdfs.text_pdf(n, compress=False))),
)


def born_digital(base: str, folder: Path, count: int) -> list[tuple]:
    want = pdfs.expected_text()
    out: list[tuple] = []
    for name, make in PRODUCERS:
        path = folder / f"digital-{len(out)}.pdf"
        path.write_bytes(make(count))
        row: list = [name]
        for layer in ("auto", "ignore"):
            lines, seconds = job(base, path, textLayer=layer)
            got = "".join(page_text(page) for page in lines)
            row += [cer(got, want * count), metrics.pooled_f1([(got, want * count)]), count / seconds]
            row += [sorted({page["source"] for page in lines})]
        out.append(tuple(row))
    return out


def six_at_once(base: str, count: int = 10) -> list[tuple[int, float, str]]:
    documents = [pdfs.text_pdf(count) if n % 2 else pdfs.chromium_pdf(count) for n in range(6)]

    def send(document: bytes) -> tuple[int, float, str]:
        start = time.perf_counter()
        status, body = clova(base, document)
        results = sorted({image["inferResult"] for image in body["images"]}) if status == 200 and body else []
        code = "" if status == 200 else str((body or {}).get("code"))
        return status, round(time.perf_counter() - start, 1), ",".join(results) or code

    with ThreadPoolExecutor(6) as pool:
        return list(pool.map(send, documents))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pdf_pages", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--pages", type=int, default=10, help="XFUND scans per scanned PDF (and pages per born-digital one)"
    )
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "eval")
    args = parser.parse_args(argv)
    manifest = args.data / "xfund_zh" / "pages.jsonl"
    if not manifest.is_file():
        print(f"no XFUND pages at {manifest}; pass --data DIR", file=sys.stderr)
        return 2
    why = pdfs.fonts_available()
    if why:
        print(f"cannot make born-digital PDFs: {why}", file=sys.stderr)
        return 2
    rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = rows[: args.pages]
    folder = Path(tempfile.mkdtemp(prefix="bench-pdf-pages-"))
    try:
        stack = LocalStack(("--jobs-input", str(folder), "--jobs-data", str(folder / "data")))
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    with stack:
        scanned = scans(stack.base, folder, rows, manifest.parent)
        digital = born_digital(stack.base, folder, args.pages)
        together = six_at_once(stack.base)

    print(f"\nScanned PDFs of {len(rows)} XFUND pages (character F1 against XFUND's labels)\n")
    print(
        f"| PDF | POST /general_ocr, the images | job | CLOVA ({CLOVA_PAGES} pages a request) | CLOVA pages not read "
        "| job pages' source |\n|---|---|---|---|---|---|"
    )
    for name, sync, job_f1, clova_f1, failed, sources in scanned:
        print(f"| {name} | {sync:.4f} | {job_f1:.4f} | {clova_f1:.4f} | {failed} | {', '.join(sorted(sources))} |")
    print(f"\nBorn-digital PDFs, {args.pages} pages each, as jobs (CER against the text they hold)\n")
    print("| producer | textLayer | CER | character F1 | pages/s | source |\n|---|---|---|---|---|---|")
    for name, *measured in digital:
        for layer, (rate, score, speed, sources) in zip(("auto", "ignore (OCR)"), (measured[:4], measured[4:])):
            print(f"| {name} | {layer} | {rate:.4f} | {score:.4f} | {speed:.2f} | {', '.join(sources)} |")
        print(f"| | text layer's pages/s over OCR's | | | {measured[2] / measured[6]:.1f}x | |")
    print("\nSix 10-page born-digital documents at once (CLOVA route): (status, s, pages' inferResult)")
    print(f"- {together}")
    ok = (
        all(abs(job_f1 - sync) <= 0.002 and abs(clova_f1 - sync) <= 0.002 for _, sync, job_f1, clova_f1, *_ in scanned)
        and all(status == 200 for status, _, _ in together)
        and all(row[1] == 0 for row in digital[:2])
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
