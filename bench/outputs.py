"""The jobs' outputs (#40) measured through the local stack over HTTP, as a user runs them:
`python -m local` started on free ports, jobs submitted with `python -m jobs.cli submit ...
--pdf --markdown --out DIR`, and the files read back as viewers read them (bench/searchable.py).

    python -m bench.outputs [--pages 60]        a scanned Chinese PDF (XFUND's 50 scans, then the
                                                first again; each JPEG embedded as it is at 137 dpi,
                                                made at run time, never kept) as a job with pdf and
                                                markdown: PDFium's and Poppler's text against the
                                                job's own lines page by page (character F1), each
                                                line's extracted span against its box (IoU), the
                                                image streams, pdf.js (headless Chromium) and
                                                Poppler's messages, the size added
    python -m bench.outputs --memory 100,1000   jobs of that many pages (one small scan repeated)
                                                with pdf: the stack's memory while it reads and
                                                while it writes the searchable PDF
    python -m bench.outputs --writer 100,1000,3000   the PDF writer alone, in a child process: its
                                                peak memory and time for that many dense pages
    python -m bench.outputs --reading           rendered pages of known reading order (two and three
                                                columns under a title, vertical text, running
                                                headers and footers) as a job with markdown: the
                                                normalised edit distance of the Markdown's text
    python -m bench.outputs --tables [SET...]   the project's table images as a job with markdown:
                                                each table the tables feature read is in the
                                                Markdown as the same HTML (so the same TEDS)
    python -m bench.outputs --screenshot PNG    a page of the searchable PDF in pdf.js with a few
                                                lines selected (docs/jobs.md's picture)
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.searchable import (  # noqa: E402
    PdfJs,
    check_pdfium_page,
    check_poppler_page,
    f1,
    image_streams,
    pdfium_pages,
    poppler_pages,
    scanned_pdf,
)
from bench.stack import LocalStack, children, rss_mb  # noqa: E402

XFUND = ROOT.parent / "shared" / "eval" / "xfund_zh"


def tree_rss_mb(pid: int) -> float:
    return rss_mb(pid) + sum(rss_mb(child) for child in children(pid))


class Sampler:
    """The stack's RSS (gateway, runner, inference server) every `every` seconds, tagged with
    what the job was doing (the last status seen)."""

    def __init__(self, pid: int, every: float = 0.25):
        self.pid, self.every, self.phase = pid, every, "start"
        self.samples: list[tuple[float, str, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        start = time.perf_counter()
        while not self._stop.wait(self.every):
            self.samples.append((time.perf_counter() - start, self.phase, tree_rss_mb(self.pid)))

    def stop(self) -> list[tuple[float, str, float]]:
        self._stop.set()
        self._thread.join()
        return self.samples


def submit_with_cli(
    stack: LocalStack, source: Path, out: Path, flags: list[str], sampler: Sampler | None = None
) -> dict:
    """`python -m jobs.cli submit SOURCE FLAGS --out OUT` against the stack; the job's last status."""
    command = [sys.executable, "-m", "jobs.cli", "submit", str(source), "--api", stack.base, "--out", str(out)]
    process = subprocess.Popen([*command, *flags, "--quiet"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    job_id = None
    assert process.stdout is not None
    for line in process.stdout:
        found = re.match(r"job ([0-9a-f]{32}) ", line)
        if found:
            job_id = found.group(1)
            if sampler is not None:
                threading.Thread(target=_phases, args=(stack, job_id, sampler, process), daemon=True).start()
        print("  cli:", line.rstrip())
    if process.wait() not in (0, 3):
        raise RuntimeError(f"the CLI exited {process.returncode}")
    import urllib.request

    with urllib.request.urlopen(f"{stack.base}/jobs/{job_id}", timeout=60) as answer:
        return json.loads(answer.read())


def _phases(stack: LocalStack, job_id: str, sampler: Sampler, process: subprocess.Popen) -> None:
    """Tags the sampler's phase: reading while pages are read, writing once all are (the
    outputs), done once finished."""
    import urllib.request

    while process.poll() is None:
        try:
            with urllib.request.urlopen(f"{stack.base}/jobs/{job_id}", timeout=10) as answer:
                state = json.loads(answer.read())
        except OSError:
            continue
        if state["status"] in ("SUCCEEDED", "PARTIAL", "FAILED"):
            sampler.phase = "done"
            return
        total, done = state["pagesTotal"], state["pagesDone"]
        sampler.phase = "writing" if total and done >= total else "reading"
        time.sleep(0.2)


def acceptance(pages: int) -> int:
    rows = [json.loads(x) for x in (XFUND / "pages.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    rows = [rows[n % len(rows)] for n in range(pages)]
    folder = Path(tempfile.mkdtemp(prefix="bench-outputs-"))
    source = folder / "input" / "scans.pdf"
    source.parent.mkdir()
    source.write_bytes(scanned_pdf([(XFUND / row["image"]).read_bytes() for row in rows], dpi=137))
    out = folder / "out"
    started = time.perf_counter()
    with LocalStack(("--jobs-input", str(source.parent), "--jobs-data", str(folder / "data"))) as stack:
        state = submit_with_cli(stack, source, out, ["--pdf", "--markdown"])
    took = time.perf_counter() - started
    result = [json.loads(x) for x in (out / "result.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    searchable, markdown = out / "scans.pdf", out / "scans.pdf.md"
    print(
        f"\n{pages}-page scanned PDF ({source.stat().st_size / 1e6:.1f} MB, 137 dpi JPEGs as is), job with pdf and markdown"
    )
    print(
        f"- status {state['status']}, {len(result)} pages, {took:.0f} s end to end (the CLI's submit to its last file)"
    )
    print(f"- outputs listed: {[(o['format'], o.get('file')) for o in state.get('outputs', [])]}")
    pdfium, poppler = pdfium_pages(searchable), poppler_pages(searchable)
    f1_pdfium, f1_poppler, iou_pdfium, iou_poppler = [], [], [], []
    for page, a, b in zip(result, pdfium, poppler):
        score, ious = check_pdfium_page(page, a)
        f1_pdfium.append(score)
        iou_pdfium += ious
        score, ious = check_poppler_page(page, b, a["size"])
        f1_poppler.append(score)
        iou_poppler += ious
    low = sorted(iou_pdfium)[: max(1, len(iou_pdfium) // 100)]
    print(
        f"- character F1, PDFium: min {min(f1_pdfium):.4f}, mean {sum(f1_pdfium) / len(f1_pdfium):.4f} over {len(f1_pdfium)} pages"
    )
    print(f"- character F1, Poppler pdftotext: min {min(f1_poppler):.4f}, mean {sum(f1_poppler) / len(f1_poppler):.4f}")
    for name, ious in (("PDFium", iou_pdfium), ("Poppler", iou_poppler)):
        print(
            f"- line IoU ({name}, {len(ious)} lines): min {min(ious):.3f}, mean {sum(ious) / len(ious):.3f}, "
            f"{sum(i >= 0.7 for i in ious)} of {len(ious)} at 0.7 or more"
        )
    print(f"  (the lowest 1% by PDFium: {[round(v, 3) for v in low[:8]]})")
    same = image_streams(searchable) == image_streams(source)
    print(f"- every page's image streams byte-identical to the input's: {same}")
    grown = searchable.stat().st_size - source.stat().st_size
    bound = 0.05 * source.stat().st_size + 4096 * pages
    print(
        f"- size: {source.stat().st_size} -> {searchable.stat().st_size} bytes, +{grown} ({grown / pages:.0f} a page; bound {bound:.0f})"
    )
    poppler_messages = subprocess.run(
        ["pdftotext", str(searchable), "/dev/null"], capture_output=True, text=True
    ).stderr
    info = subprocess.run(["pdfinfo", str(searchable)], capture_output=True, text=True)
    print(
        f"- Poppler: pdftotext said {poppler_messages.strip() or 'nothing'}; pdfinfo exit {info.returncode}, {info.stderr.strip() or 'no messages'}"
    )
    viewer = PdfJs()
    try:
        checked = viewer.check(searchable)
    finally:
        viewer.close()
    text_js = ["".join(item["str"] for item in page["items"]) for page in checked["pages"]]
    f1_js = [f1(got, "".join(line["words"] for line in page["lines"])) for got, page in zip(text_js, result)]
    print(
        f"- pdf.js (headless Chromium): {len(checked['pages'])} pages rendered, messages: {checked['messages'] or 'none'}"
    )
    print(f"- character F1, pdf.js: min {min(f1_js):.4f}, mean {sum(f1_js) / len(f1_js):.4f}")
    text = markdown.read_text(encoding="utf-8")
    print(
        f"- Markdown: {len(text)} characters, {text.count('<!-- page ')} page markers, {text.count('<table>')} tables, {len(re.findall(r'^#+ ', text, re.M))} headings"
    )
    ok = (
        state["status"] == "SUCCEEDED"
        and min(f1_pdfium) >= 0.999
        and min(f1_poppler) >= 0.999
        and min(iou_pdfium + iou_poppler) >= 0.7
        and same
        and grown <= bound
        and not checked["messages"]
    )
    return 0 if ok else 1


def memory(sizes: list[int]) -> int:
    from PIL import Image

    page = Image.open(ROOT / "tests" / "fixtures" / "receipt.png").convert("RGB")
    import io

    picture = io.BytesIO()
    page.save(picture, "JPEG", quality=85)
    print("\nthe stack's RSS (gateway, job runner, inference server) during a job with pdf, one small scan repeated")
    print(
        "| pages | PDF in | reading: peak | writing the PDF: before, peak | PDF out | time |\n|---|---|---|---|---|---|"
    )
    for pages in sizes:
        folder = Path(tempfile.mkdtemp(prefix="bench-outputs-memory-"))
        source = folder / "input" / "long.pdf"
        source.parent.mkdir()
        source.write_bytes(scanned_pdf([picture.getvalue()] * pages, dpi=150))
        with LocalStack(("--jobs-input", str(source.parent), "--jobs-data", str(folder / "data"))) as stack:
            sampler = Sampler(stack.pid)
            started = time.perf_counter()
            state = submit_with_cli(stack, source, folder / "out", ["--pdf"], sampler)
            took = time.perf_counter() - started
            samples = sampler.stop()
        reading = [mb for _, phase, mb in samples if phase == "reading"]
        writing = [mb for _, phase, mb in samples if phase == "writing"]
        before = reading[-1] if reading else 0.0
        out = folder / "out" / "long.pdf"
        print(
            f"| {pages} | {source.stat().st_size / 1e6:.1f} MB | {max(reading, default=0):.0f} MB | "
            f"{before:.0f} MB, {max(writing, default=0):.0f} MB | {out.stat().st_size / 1e6:.1f} MB | {took:.0f} s |"
        )
        if state["status"] != "SUCCEEDED":
            print(f"  the job ended {state['status']}")
            return 1
    return 0


WRITER_CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from jobs.outputs.pdf import write_searchable
pages = int(sys.argv[2])
lines = [{"words": f"第{n}行：申请人的姓名和地址 Applicant {n}", "location": {"left": 40, "top": 10 + 12 * n, "width": 700, "height": 11}} for n in range(80)]
def results():
    for number in range(1, pages + 1):
        yield {"page": number, "width": 800, "height": 1000, "lines": lines, "error": None}
start = time.perf_counter()
written = write_searchable(sys.argv[3], "pdf", results(), sys.argv[4])
# VmHWM, the peak of this process's own memory: ru_maxrss would count the parent's at the fork.
peak = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM")) / 1024
print(json.dumps({"s": time.perf_counter() - start, "maxrss_mb": peak, "lines": written.lines}))
"""


def writer(sizes: list[int]) -> int:
    import io

    from PIL import Image, ImageDraw

    picture = Image.new("L", (1240, 1754), 255)
    ImageDraw.Draw(picture).rectangle((100, 100, 1100, 1600), outline=0, width=3)
    data = io.BytesIO()
    picture.save(data, "JPEG", quality=75)
    print("\nthe PDF writer alone (jobs/outputs/pdf.py), in a child process: 80 lines a page")
    print("| pages | input | output | added a page | peak RSS | time |\n|---|---|---|---|---|---|")
    for pages in sizes:
        folder = Path(tempfile.mkdtemp(prefix="bench-writer-"))
        source, target = folder / "in.pdf", folder / "out.pdf"
        source.write_bytes(scanned_pdf([data.getvalue()] * pages, dpi=150))
        run = subprocess.run(
            [sys.executable, "-c", WRITER_CHILD, str(ROOT), str(pages), str(source), str(target)],
            capture_output=True,
            text=True,
            check=True,
        )
        found = json.loads(run.stdout.strip().splitlines()[-1])
        added = (target.stat().st_size - source.stat().st_size) / pages
        print(
            f"| {pages} | {source.stat().st_size / 1e6:.1f} MB | {target.stat().st_size / 1e6:.1f} MB | "
            f"{added:.0f} B | {found['maxrss_mb']:.0f} MB | {found['s']:.1f} s |"
        )
        source.unlink()
        target.unlink()
    return 0


def tables(sets: list[Path]) -> int:
    """The project's table images as a job with markdown: each table the tables feature read (the
    reader the CLOVA door shapes) must be in the Markdown as the same HTML, so it scores the same
    TEDS; the tables left out (the layout model reads their area as paragraphs) are counted."""
    import shutil

    folder = Path(tempfile.mkdtemp(prefix="bench-outputs-tables-"))
    inputs = folder / "input"
    for data in sets:
        for image in sorted((data / "images").glob("*")):
            target = inputs / data.name / image.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(image, target)
    with LocalStack(("--jobs-input", str(inputs), "--jobs-data", str(folder / "data"))) as stack:
        state = submit_with_cli(stack, inputs, folder / "out", ["--markdown"])
    pages = [json.loads(x) for x in (folder / "out" / "result.jsonl").read_text(encoding="utf-8").splitlines() if x]
    read = kept = 0
    by_document: dict[str, list[dict]] = {}
    for page in pages:
        by_document.setdefault(page["document"], []).append(page)
    for document, its_pages in by_document.items():
        relative = Path(document).relative_to(inputs)
        markdown = (folder / "out" / f"{relative}.md").read_text(encoding="utf-8")
        for page in its_pages:
            for table in page.get("tables") or []:
                read += 1
                kept += table["html"] in markdown
    print(
        f"\ntables of {len(by_document)} images ({', '.join(d.name for d in sets)}) as a job with markdown ({state['status']})"
    )
    print(f"- tables read by the tables feature: {read}; in the Markdown as the same HTML: {kept}")
    return 0 if kept == read else 1


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.outputs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=60)
    parser.add_argument("--memory", help="page counts, e.g. 100,1000")
    parser.add_argument("--writer", help="page counts, e.g. 100,1000,3000")
    parser.add_argument("--reading", action="store_true")
    parser.add_argument("--screenshot", type=Path)
    parser.add_argument("--tables", nargs="*", type=Path, help="table sets (default: ../shared/eval/tables_pubtabnet)")
    args = parser.parse_args()
    if args.memory:
        return memory([int(n) for n in args.memory.split(",")])
    if args.writer:
        return writer([int(n) for n in args.writer.split(",")])
    if args.reading:
        from bench.reading_pages import reading

        return reading(submit_with_cli)
    if args.screenshot:
        return screenshot(args.screenshot)
    if args.tables is not None:
        return tables(args.tables or [ROOT.parent / "shared" / "eval" / "tables_pubtabnet"])
    if not (XFUND / "pages.jsonl").is_file():
        print(f"no XFUND pages at {XFUND}", file=sys.stderr)
        return 2
    return acceptance(args.pages)


def screenshot(target: Path) -> int:
    """XFUND's first scan as a one-page job with pdf, and pdf.js's view of it with its title
    lines selected, cut to the page's top."""
    folder = Path(tempfile.mkdtemp(prefix="bench-shot-"))
    source = folder / "input" / "form.pdf"
    source.parent.mkdir()
    source.write_bytes(scanned_pdf([(XFUND / "pages" / "zh_val_0.jpg").read_bytes()], dpi=137))
    with LocalStack(("--jobs-input", str(source.parent), "--jobs-data", str(folder / "data"))) as stack:
        submit_with_cli(stack, source, folder / "out", ["--pdf"])
    viewer = PdfJs()
    try:
        found = viewer.screenshot(
            folder / "out" / "form.pdf",
            1,
            folder / "full.png",
            ["纾困申请表", "仅限业主", "姓名", "夏艳辰", "出生日期", "1983"],
            scale=1.3,
        )
    finally:
        viewer.close()
    from PIL import Image

    full = Image.open(folder / "full.png").convert("RGB")
    crop = full.crop((12, 0, full.width, int(full.height * 0.3)))  # pdf.js marks line ends at x 0
    target.parent.mkdir(parents=True, exist_ok=True)
    crop.save(target, optimize=True)
    print(f"selected in pdf.js: {found['selected']!r}\nwrote {target} ({target.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
