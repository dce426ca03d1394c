"""Reading a searchable PDF back as viewers do, for the outputs bench (bench/outputs.py) and the
tests (tests/test_outputs_pdf.py):

    scanned_pdf(jpegs, dpi)        a scanned PDF as a scanner writes it: each JPEG embedded as it
                                   is (DCTDecode), one per page, at `dpi`
    pdfium_pages(path)             PDFium's text of each page, and each character's box
    poppler_pages(path)            Poppler's (pdftotext -bbox-layout): each page's lines of words
    pdfjs_pages(path)              pdf.js's, in headless Chromium: its messages, each page's items
    image_streams(path)            each page's image streams, raw, as stored
    check_page(...)                a page's character F1 against the job's lines, and the IoU of
                                   each line's extracted span with the line's box

Boxes are compared in the page's displayed space (x right, y down, in points): the job's lines
scaled from the page's pixels, the viewers' boxes turned the same way.
"""

from __future__ import annotations

import hashlib
import html
import io
import re
import shutil
import subprocess
import sys
import threading
from collections import Counter
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.metrics import box_iou

ROOT = Path(__file__).resolve().parent.parent
PDFJS_VERSION = "6.5.438"
PDFJS_DIR = ROOT / "build" / "pdfjs"
CHECK_PAGE = ROOT / "bench" / "pdfjs" / "check.html"

Box = tuple[float, float, float, float]  # x0, y0, x1, y1; y down


def normalise(text: str) -> str:
    import unicodedata

    return "".join(unicodedata.normalize("NFKC", text).split())


def f1(got: str, want: str) -> float:
    p, r = Counter(normalise(got)), Counter(normalise(want))
    matched = sum((p & r).values())
    total = sum(p.values()) + sum(r.values())
    return 1.0 if total == 0 else 2 * matched / total


def union(boxes: list[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def scanned_pdf(jpegs: list[bytes], dpi: float = 137.0) -> bytes:
    """Each JPEG on a page of its own, embedded as it is, at `dpi` (137: an office scanner's
    medium setting on A4 for 1131 x 1600 px)."""
    import pikepdf
    from PIL import Image

    pdf = pikepdf.new()
    for data in jpegs:
        with Image.open(io.BytesIO(data)) as picture:
            width, height, mode = picture.width, picture.height, picture.mode
        image = pikepdf.Stream(pdf, b"")
        image.write(data, filter=pikepdf.Name.DCTDecode)
        image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
        image.Width, image.Height, image.BitsPerComponent = width, height, 8
        image.ColorSpace = pikepdf.Name.DeviceGray if mode == "L" else pikepdf.Name.DeviceRGB
        page_w, page_h = width * 72 / dpi, height * 72 / dpi
        page = pdf.add_blank_page(page_size=(page_w, page_h))
        page.obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=pdf.make_indirect(image)))
        page.obj.Contents = pdf.make_stream(f"q {page_w:.4f} 0 0 {page_h:.4f} 0 0 cm /Im0 Do Q".encode())
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def image_streams(path: Path | str) -> list[list[str]]:
    """Each page's image XObjects (sha256 of their raw, stored bytes), in resource order."""
    import pikepdf

    found = []
    with pikepdf.open(path) as pdf:
        for page in pdf.pages:
            hashes = []
            for _, image in sorted(page.get_images().items()):
                hashes.append(hashlib.sha256(image.read_raw_bytes()).hexdigest())
            found.append(hashes)
    return found


def pdfium_pages(path: Path | str) -> list[dict]:
    """Per page: PDFium's text (its own characters, the spaces and line breaks it makes up left
    out), each character's box (loose: its advance and the font's ascent and descent) in the
    displayed page, y down, and the page's displayed size."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw  # type: ignore[import-untyped]

    pages = []
    document = pdfium.PdfDocument(str(path))
    try:
        for page in document:
            width, height = page.get_size()
            rotation = page.get_rotation()
            text = page.get_textpage()
            chars = []
            box = page.get_bbox()  # the crop box, as PDFium shows it
            count = text.count_chars()
            index = 0
            while index < count:
                unit = raw.FPDFText_GetUnicode(text.raw, index)
                step = 1
                if 0xD800 <= unit < 0xDC00 and index + 1 < count:  # a character beyond the BMP: two units
                    low = raw.FPDFText_GetUnicode(text.raw, index + 1)
                    unit, step = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00), 2
                generated = raw.FPDFText_IsGenerated(text.raw, index)
                char = chr(unit) if unit else ""
                if not generated and char not in ("\r", "\n", ""):
                    left, bottom, right, top = text.get_charbox(index, loose=True)
                    chars.append((char, _displayed((left, bottom, right, top), box, rotation)))
                index += step
            pages.append({"text": "".join(c for c, _ in chars), "chars": chars, "size": (width, height)})
            text.close()
            page.close()
    finally:
        document.close()
    return pages


def _displayed(rect: tuple[float, float, float, float], crop, rotation: int) -> Box:
    """A user-space rectangle (left, bottom, right, top) in the displayed page (y down)."""
    left, bottom, right, top = rect
    x0, y0, x1, y1 = crop
    corners = [(left, bottom), (right, top)]
    out = []
    for x, y in corners:
        if rotation == 90:
            out.append((y - y0, x - x0))
        elif rotation == 180:
            out.append((x1 - x, y - y0))
        elif rotation == 270:
            out.append((y1 - y, x1 - x))
        else:
            out.append((x - x0, y1 - y))
    (ax, ay), (bx, by) = out
    return min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)


def poppler_pages(path: Path | str) -> list[dict]:
    """Per page: Poppler's text (pdftotext) and its words with their boxes (pdftotext
    -bbox-layout, displayed page, y down)."""
    if shutil.which("pdftotext") is None:
        raise RuntimeError("pdftotext is not installed (Debian: apt-get install poppler-utils)")
    layout = subprocess.run(
        ["pdftotext", "-bbox-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    pages = []
    for page in re.findall(r"<page [^>]*>(.*?)</page>", layout, re.S):
        words = [
            (html.unescape(word), (float(a), float(b), float(c), float(d)))
            for a, b, c, d, word in re.findall(
                r'<word xMin="([\d.-]+)" yMin="([\d.-]+)" xMax="([\d.-]+)" yMax="([\d.-]+)">(.*?)</word>', page
            )
        ]
        pages.append({"text": "".join(w for w, _ in words), "words": words})
    return pages


def line_box(line: dict, page: dict, size: tuple[float, float]) -> Box:
    """The job's line's box in the displayed page's points."""
    where = line["location"]
    sx, sy = size[0] / page["width"], size[1] / page["height"]
    return (
        where["left"] * sx,
        where["top"] * sy,
        (where["left"] + where["width"]) * sx,
        (where["top"] + where["height"]) * sy,
    )


def _runs(text: str, chars: list[tuple[str, Box]]) -> list[list[Box]]:
    """The boxes of each run of `chars` that spells `text` (spaces left out of both)."""
    target = "".join(text.split())
    found: list[list[Box]] = []
    if not target:
        return found
    string = "".join(c for c, _ in chars)
    start = string.find(target)
    while start >= 0:
        found.append([b for _, b in chars[start : start + len(target)]])
        start = string.find(target, start + 1)
    return found


def check_pdfium_page(page: dict, extracted: dict) -> tuple[float, list[float]]:
    """(character F1 of PDFium's text against the page's lines, each line's IoU): a line's span
    is the run of PDFium's characters that spells it (the one nearest its box, where it is
    spelt more than once), its box the union of theirs. PDFium orders a page's characters by
    its own layout analysis, so runs are found, not counted."""
    lines = [line for line in page["lines"] if line["words"].strip()]
    score = f1(extracted["text"], "".join(line["words"] for line in lines))
    chars = [(c, b) for c, b in extracted["chars"] if not c.isspace()]
    ious = []
    for line in lines:
        box = line_box(line, page, extracted["size"])
        ious.append(max((box_iou(union(run), box) for run in _runs(line["words"], chars)), default=0.0))
    return score, ious


def check_poppler_page(page: dict, extracted: dict, size: tuple[float, float]) -> tuple[float, list[float]]:
    """(character F1 of Poppler's text, each line's IoU). Poppler gives words, not characters:
    a line's span is the words that spell it. Where Poppler joins lines that touch into one word
    (OCR boxes of neighbouring cells often overlap), that word is compared with the union of the
    lines it joins (every line whose box lies mostly inside the word's)."""
    lines = [line for line in page["lines"] if line["words"].strip()]
    score = f1(extracted["text"], "".join(line["words"] for line in lines))
    chars: list[tuple[str, Box]] = []
    owners: list[int] = []
    for n, (word, box) in enumerate(extracted["words"]):
        for char in "".join(word.split()):
            chars.append((char, box))
            owners.append(n)
    string = "".join(c for c, _ in chars)
    boxes = [line_box(line, page, size) for line in lines]

    def spans(target: str) -> list[list[int]]:
        found, start = [], string.find(target)
        while start >= 0 and target:
            found.append(sorted(set(owners[start : start + len(target)])))
            start = string.find(target, start + 1)
        return found

    ious = []
    for line, box in zip(lines, boxes):
        candidates = spans("".join(line["words"].split()))
        if not candidates and len(line["words"].split()) > 1:
            # Words a space apart that Poppler's layout put in different blocks: each found
            # alone, the one nearest the line taken.
            parts = [spans(part) for part in line["words"].split()]
            if all(parts):
                chosen: set[int] = set()
                for options in parts:
                    chosen |= set(
                        max(options, key=lambda ws: box_iou(union([extracted["words"][n][1] for n in ws]), box))
                    )
                candidates = [sorted(chosen)]
        best = 0.0
        for words in candidates:
            covered = union([extracted["words"][n][1] for n in words])
            spelt = "".join("".join(extracted["words"][n][0].split()) for n in words)
            joined = [
                b
                for other, b in zip(lines, boxes)
                if "".join(other["words"].split()) in spelt and _inside_share(b, covered) >= 0.5
            ]
            best = max(best, box_iou(covered, union([box, *joined])))
        ious.append(best)
    return score, ious


def _inside_share(inner: Box, outer: Box) -> float:
    ix = max(0.0, min(inner[2], outer[2]) - max(inner[0], outer[0]))
    iy = max(0.0, min(inner[3], outer[3]) - max(inner[1], outer[1]))
    area = (inner[2] - inner[0]) * (inner[3] - inner[1])
    return ix * iy / area if area > 0 else 0.0


def ensure_pdfjs() -> Path:
    """pdfjs-dist (PDFJS_VERSION) under build/pdfjs, installed by npm the first time."""
    dist = PDFJS_DIR / "node_modules" / "pdfjs-dist"
    if not (dist / "package.json").is_file():
        PDFJS_DIR.mkdir(parents=True, exist_ok=True)
        (PDFJS_DIR / "package.json").write_text('{"name": "pdfjs-check", "private": true}\n')
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent", f"pdfjs-dist@{PDFJS_VERSION}"],
            cwd=PDFJS_DIR,
            check=True,
        )
    return dist


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class PdfJs:
    """pdf.js in headless Chromium (Debian's chromium, driven by Playwright): `check(pdf)` opens
    a PDF as Firefox's viewer does and renders every page; `screenshot(pdf, page, png, find)`
    draws a page with pdf.js's text layer and the lines holding `find` selected."""

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        dist = ensure_pdfjs()
        self.folder = PDFJS_DIR / "serve"
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        (self.folder / "pdfjs-dist").symlink_to(dist)
        shutil.copy(CHECK_PAGE, self.folder / "check.html")
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(self.folder)))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._playwright = sync_playwright().start()
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        self.browser = self._playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )

    def _page(self, pdf: Path, width: int = 1200, height: int = 1600):
        shutil.copy(pdf, self.folder / "document.pdf")
        page = self.browser.new_page(viewport={"width": width, "height": height})
        page.goto(f"{self.base}/check.html")
        page.wait_for_function("window.ready === true")
        return page

    def check(self, pdf: Path, render: bool = True) -> dict:
        page = self._page(pdf)
        try:
            return page.evaluate("([url, render]) => window.check(url, render)", ["document.pdf", render])
        finally:
            page.close()

    def screenshot(self, pdf: Path, number: int, png: Path, find: list[str], scale: float = 1.0, clip=None) -> dict:
        page = self._page(pdf)
        try:
            found = page.evaluate(
                "([url, n, scale, find]) => window.select(url, n, scale, find)", ["document.pdf", number, scale, find]
            )
            page.screenshot(
                path=str(png), clip=clip or {"x": 0, "y": 0, "width": found["width"], "height": found["height"]}
            )
            return found
        finally:
            page.close()

    def close(self) -> None:
        self.browser.close()
        self._playwright.stop()
        self.server.shutdown()


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(name, [len(p["text"]) for p in pdfium_pages(name)])
