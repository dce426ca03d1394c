"""The searchable PDF (jobs/outputs/pdf.py, font.py, images.py) without models: result pages made
here, the PDF read back as PDFium and Poppler read it (bench/searchable.py)."""

from __future__ import annotations

import io
import shutil

import pikepdf
import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageDraw

from bench.searchable import (
    check_pdfium_page,
    check_poppler_page,
    image_streams,
    pdfium_pages,
    poppler_pages,
    scanned_pdf,
)
from jobs.outputs.font import GLYPHLESS_TTF, build_glyphless_ttf, to_unicode_cmap, width
from jobs.outputs.pdf import write_searchable

POPPLER = shutil.which("pdftotext") is not None
needs_poppler = pytest.mark.skipif(not POPPLER, reason="Poppler's pdftotext is not installed (poppler-utils)")


def jpeg(width: int = 800, height: int = 1000, seed: int = 0) -> bytes:
    picture = Image.new("RGB", (width, height), (250, 250, 245))
    draw = ImageDraw.Draw(picture)
    for n in range(12):
        draw.rectangle((40, 60 + 70 * n, 40 + 300 + 20 * ((n + seed) % 7), 90 + 70 * n), fill=(30, 30, 30))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=80)
    return out.getvalue()


LINES = [
    ("纾困申请表", (100, 40, 300, 40)),
    ("繁體中文：臺灣銀行", (100, 120, 400, 36)),
    ("Invoice No. 08215563", (100, 200, 420, 30)),
    ("대한민국 서울특별시", (100, 260, 380, 34)),
    ("金额：¥1,234.50（含税）", (100, 320, 500, 36)),
    ("𠀀𠀁古字", (100, 380, 200, 36)),
    ("$", (600, 380, 14, 22)),
    ("竖排文字", (700, 300, 40, 200)),  # a vertical line: runs down its column
]


def page_of(number: int, width: int = 800, height: int = 1000, lines=LINES, **extra) -> dict:
    return {
        "document": "scan.pdf",
        "page": number,
        "width": width,
        "height": height,
        "lines": [
            {"words": words, "location": {"left": x, "top": y, "width": w, "height": h}, "score": 0.99}
            for words, (x, y, w, h) in lines
        ],
        "error": None,
        **extra,
    }


def test_the_committed_font_is_the_one_fonttools_makes_and_tiny():
    pytest.importorskip("fontTools")
    assert build_glyphless_ttf() == GLYPHLESS_TTF and len(GLYPHLESS_TTF) < 1024


def test_widths_and_the_tounicode_map():
    assert (width(ord("中")), width(ord("A")), width(ord("한")), width(ord("，")), width(ord("“"))) == (
        1000,
        500,
        1000,
        1000,
        1000,
    )
    cmap = to_unicode_cmap({"𠀀": 0xD800}).decode()
    assert "<D800> <D840DC00>" in cmap and "<4E00> <4EFF> <4E00>" in cmap and "<D800> <D8FF>" not in cmap
    # A CMap block holds at most 100 entries.
    assert all(int(n) <= 100 for n in __import__("re").findall(r"(\d+) beginbf", cmap))


@pytest.fixture
def scanned(tmp_path):
    source = tmp_path / "scan.pdf"
    source.write_bytes(scanned_pdf([jpeg(seed=0), jpeg(seed=1)], dpi=137))
    return source


def test_a_scan_keeps_its_pages_and_image_bytes_and_gains_text_where_its_lines_are(scanned, tmp_path):
    target = tmp_path / "out.pdf"
    written = write_searchable(scanned, "pdf", [page_of(1), page_of(2)], target)
    assert (written.pages, written.layered, written.lines) == (2, 2, 2 * len(LINES))
    assert image_streams(target) == image_streams(scanned)
    with pikepdf.open(scanned) as before, pikepdf.open(target) as after:
        assert [list(p.mediabox) for p in before.pages] == [list(p.mediabox) for p in after.pages]
    for page, extracted in zip([page_of(1), page_of(2)], pdfium_pages(target)):
        score, ious = check_pdfium_page(page, extracted)
        assert score == 1.0, extracted["text"]
        assert min(ious) >= 0.9, ious
    # The layer is invisible: the pages render as they did.
    for a, b in zip(pdfium.PdfDocument(str(scanned)), pdfium.PdfDocument(str(target))):
        assert a.render(scale=0.5).to_pil().tobytes() == b.render(scale=0.5).to_pil().tobytes()


@needs_poppler
def test_poppler_reads_the_same_text_in_the_same_places(scanned, tmp_path):
    target = tmp_path / "out.pdf"
    write_searchable(scanned, "pdf", [page_of(1), page_of(2)], target)
    sizes = [p["size"] for p in pdfium_pages(target)]
    for page, extracted, size in zip([page_of(1), page_of(2)], poppler_pages(target), sizes):
        score, ious = check_poppler_page(page, extracted, size)
        assert score == 1.0, extracted["text"]
        assert min(ious) >= 0.9, ious


def odd_pdf(rotate: int) -> bytes:
    """Two pages sharing one inherited /Resources, a crop box inside the media box, a content
    stream that leaves its graphics state unbalanced, and /Rotate on the page tree."""
    pdf = pikepdf.new()
    image = pikepdf.Stream(pdf, b"")
    image.write(jpeg(400, 500), filter=pikepdf.Name.DCTDecode)
    image.Type, image.Subtype, image.Width, image.Height = pikepdf.Name.XObject, pikepdf.Name.Image, 400, 500
    image.ColorSpace, image.BitsPerComponent = pikepdf.Name.DeviceRGB, 8
    shared = pdf.make_indirect(pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=pdf.make_indirect(image))))
    for _ in range(2):
        page = pdf.add_blank_page(page_size=(400, 500))
        del page.obj["/Resources"]
        page.obj.CropBox = [20, 30, 380, 470]
        page.obj.Contents = pdf.make_stream(b"q 2 0 0 2 0 0 cm q 200 0 0 250 0 0 cm /Im0 Do Q")  # one q unclosed
    pdf.Root.Pages.Resources = shared
    pdf.Root.Pages.Rotate = rotate
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_rotated_cropped_pages_with_inherited_resources_get_their_text_in_place(tmp_path, rotate):
    source = tmp_path / "odd.pdf"
    source.write_bytes(odd_pdf(rotate))
    shown = pdfium.PdfDocument(str(source))[0]
    width, height = (round(v * 2) for v in shown.get_size())  # read at 144 dpi, as displayed
    lines = [("横排文字 Horizontal", (40, 60, 360, 40)), ("第二行", (40, 140, 150, 40))]
    pages = [page_of(n, width, height, lines) for n in (1, 2)]
    target = tmp_path / "out.pdf"
    write_searchable(source, "pdf", pages, target)
    for page, extracted in zip(pages, pdfium_pages(target)):
        score, ious = check_pdfium_page(page, extracted)
        assert score == 1.0 and min(ious) >= 0.9, (rotate, extracted["text"], ious)
    for a, b in zip(pdfium.PdfDocument(str(source)), pdfium.PdfDocument(str(target))):
        assert a.render(scale=0.5).to_pil().tobytes() == b.render(scale=0.5).to_pil().tobytes()
    assert image_streams(target) == image_streams(source)
    with pikepdf.open(target) as after:  # one image, still shared by both pages, never copied
        images = {o.objgen for o in after.objects if isinstance(o, pikepdf.Stream) and o.get("/Subtype") == "/Image"}
        assert len(images) == 1


def test_pages_read_from_their_text_layer_or_failed_get_no_second_layer(scanned, tmp_path):
    target = tmp_path / "out.pdf"
    failed = {**page_of(2), "lines": [], "error": {"code": "Timeout", "message": "late"}}
    written = write_searchable(scanned, "pdf", [page_of(1, source="text"), failed], target)
    assert written.layered == 0
    assert [p["text"] for p in pdfium_pages(target)] == ["", ""]
    mixed = page_of(1, source="mixed")
    for n, line in enumerate(mixed["lines"]):
        line["source"] = "ocr" if n == 0 else "text"  # the text layer's lines: the PDF has them already
    write_searchable(scanned, "pdf", [mixed], target)
    assert pdfium_pages(target)[0]["text"] == "纾困申请表"  # only the line OCR read gets a layer


def test_a_jpeg_becomes_one_page_at_its_own_resolution_with_its_bytes(tmp_path):
    picture = Image.new("RGB", (600, 300), "white")
    out = io.BytesIO()
    picture.save(out, "JPEG", dpi=(200, 200))
    source = tmp_path / "photo.jpg"
    source.write_bytes(out.getvalue())
    target = tmp_path / "photo.pdf"
    write_searchable(source, None, [page_of(1, 600, 300, [("收据", (10, 10, 100, 40))])], target)
    with pikepdf.open(target) as pdf:
        assert len(pdf.pages) == 1 and [float(v) for v in pdf.pages[0].mediabox] == [0, 0, 216, 108]
        (image,) = pdf.pages[0].get_images().values()
        assert image.read_raw_bytes() == out.getvalue()
    assert pdfium_pages(target)[0]["text"] == "收据"


def test_a_png_with_alpha_and_a_two_frame_tiff_become_pdfs(tmp_path):
    png = tmp_path / "a.png"
    Image.new("RGBA", (300, 200), (0, 0, 0, 0)).save(png)
    write_searchable(png, None, [page_of(1, 300, 200, [("透明", (10, 10, 80, 30))])], tmp_path / "a.pdf")
    rendered = pdfium.PdfDocument(str(tmp_path / "a.pdf"))[0].render().to_pil().convert("RGB")
    assert rendered.getpixel((50, 50)) == (255, 255, 255)  # transparency laid on white
    tiff = tmp_path / "b.tif"
    frames = [Image.new("1", (400, 300), 1), Image.new("L", (300, 400), 200)]
    frames[0].save(tiff, save_all=True, append_images=frames[1:], dpi=(300, 300), compression="tiff_deflate")
    pages = [page_of(1, 400, 300, [("第一页", (10, 10, 90, 30))]), page_of(2, 300, 400, [("第二页", (10, 10, 90, 30))])]
    write_searchable(tiff, "tiff", pages, tmp_path / "b.pdf")
    assert [p["text"] for p in pdfium_pages(tmp_path / "b.pdf")] == ["第一页", "第二页"]


def test_the_text_layer_adds_little_to_a_scan(tmp_path):
    """A dense page (80 lines) adds a few kilobytes; the bound is 5% + 4 KB a page."""
    source = tmp_path / "scan.pdf"
    pages = 20
    source.write_bytes(scanned_pdf([jpeg(seed=n) for n in range(pages)]))
    dense = [(f"第{n}行：申请人的姓名和地址 Applicant {n}", (40, 10 + 12 * n, 700, 11)) for n in range(80)]
    target = tmp_path / "out.pdf"
    write_searchable(source, "pdf", [page_of(n, lines=dense) for n in range(1, pages + 1)], target)
    grown = target.stat().st_size - source.stat().st_size
    assert grown <= 0.05 * source.stat().st_size + 4096 * pages, grown
    assert grown / pages < 3500
