"""PDF pages read in the form they hold (issue #39), through the bounded renderer, no models:
scans at their own pixels, born-digital text from the text layer (and when not to trust it), a
resolution chosen from the page's content, the textLayer option, and one renderer per request
on the local stack. The PDFs are made here (tests/pdfs.py)."""

from __future__ import annotations

import io
import threading
import time
import unicodedata

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from documents.render import render
from documents.text_layer import Char, PagePlan, agreement, answer, lines_of
from ocr_contract import ApiError
from tests import pdfs
from tests.conftest import FIXTURES
from tests.test_documents import Runtime, clova

NO_FONTS = pdfs.fonts_available()


def norm(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def scan_jpeg() -> bytes:
    """A real-looking scan: the receipt on a page, as a scanner's JPEG."""
    page = Image.new("RGB", (900, 1200), (246, 244, 240))
    page.paste(Image.open(FIXTURES / "receipt.png").convert("RGB"), (60, 80))
    out = io.BytesIO()
    page.save(out, "JPEG", quality=85)
    return out.getvalue()


def pages_of(document: bytes, **options) -> list:
    return list(render(document, "pdf", time.monotonic() + 60, **options))


def pixels(page) -> np.ndarray:
    return np.frombuffer(page.image, np.uint8).reshape(page.height, page.width, 3)


@pytest.mark.parametrize("dpi", [100, 137, 200, 300, 400])
def test_a_scanned_page_is_read_at_the_scans_own_pixels_whatever_its_dpi(dpi):
    jpeg = scan_jpeg()
    (page,) = pages_of(pdfs.scanned_pdf([pdfs.ScanPage(jpeg, dpi=dpi)]), raw=True)
    # Exactly the pixels POST /general_ocr decodes from the JPEG: no render, no resampling.
    assert (page.width, page.height) == (900, 1200)
    assert np.array_equal(pixels(page), np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")))
    assert page.plan.plan == "ocr" and page.plan.dpi == pytest.approx(dpi, abs=0.5)


def test_a_scan_goes_to_the_endpoint_as_its_own_jpeg():
    jpeg = scan_jpeg()
    (page,) = pages_of(pdfs.scanned_pdf([pdfs.ScanPage(jpeg, dpi=137)]), max_output_bytes=6_000_000)
    assert page.image == jpeg  # as a user would send it to POST /general_ocr


def test_a_bilevel_group_4_scan_is_read_at_its_own_pixels():
    picture = Image.open(io.BytesIO(scan_jpeg())).convert("L").point(lambda v: 255 if v > 160 else 0).convert("1")
    (page,) = pages_of(pdfs.scanned_pdf([pdfs.ScanPage(picture=picture, dpi=300)]), raw=True)
    assert np.array_equal(pixels(page), np.asarray(picture.convert("RGB")))


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_a_turned_scan_is_handed_on_as_the_page_shows_it(rotate):
    jpeg = scan_jpeg()
    (page,) = pages_of(pdfs.scanned_pdf([pdfs.ScanPage(jpeg, dpi=150, rotate=rotate)]), raw=True)
    # /Rotate turns the page clockwise; np.rot90 turns counter-clockwise.
    want = np.rot90(np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")), k=-rotate // 90)
    assert np.array_equal(pixels(page), want)


@pytest.mark.skipif(NO_FONTS is not None, reason=str(NO_FONTS))
def test_a_born_digital_page_gives_its_text_layer_exactly_without_pixels():
    (page,) = pages_of(pdfs.text_pdf(1), raw=True)
    assert page.image is None and page.plan.plan == "text"
    text = norm("".join(line["words"] for line in page.plan.lines))
    assert text == norm(pdfs.expected_text())
    lines, source = answer(page.plan, None, detail=False)
    assert source == "text" and all(line["score"] == 1.0 for line in lines)
    assert set(lines[0]) == {"words", "location", "score"}
    # Boxes in the page's pixel space: an A4 page at its resolution; 6 pt text asks for 300 dpi.
    assert page.plan.dpi == 300 and (page.plan.width, page.plan.height) == (2480, 3508)
    for line in page.plan.lines:
        assert len(line["chars"]) == len(line["words"])
        loc = line["location"]
        assert loc["left"] >= 0 and loc["left"] + loc["width"] <= 2480 and loc["top"] + loc["height"] <= 3508
    table_row = next(n for n, line in enumerate(page.plan.lines) if line["words"] == "序号")
    assert [line["words"] for line in page.plan.lines[table_row : table_row + 5]] == pdfs.TABLE[0]


@pytest.mark.slow
@pytest.mark.skipif(NO_FONTS is not None, reason=str(NO_FONTS))
def test_chromiums_print_to_pdf_gives_its_text_exactly():
    try:
        document = pdfs.chromium_pdf(1)
    except RuntimeError as error:
        pytest.skip(str(error))
    (page,) = pages_of(document, raw=True)
    assert page.plan.plan == "text"
    assert norm("".join(line["words"] for line in page.plan.lines)) == norm(pdfs.expected_text())


@pytest.mark.skipif(NO_FONTS is not None, reason=str(NO_FONTS))
def test_a_cjk_font_without_a_tounicode_map_is_read_by_ocr():
    (page,) = pages_of(pdfs.without_tounicode(pdfs.text_pdf(1, compress=False)), raw=True)
    assert page.plan.plan == "ocr" and page.image is not None and page.plan.lines == []
    # Rendered at the resolution its 6 pt text asks for, not a constant 200 dpi.
    assert page.plan.dpi == 300 and (page.width, page.height) == (2480, 3508)


@pytest.mark.skipif(NO_FONTS is not None, reason=str(NO_FONTS))
def test_text_layer_ignore_reads_every_page_from_pixels_at_a_resolution_from_its_content():
    (small,) = pages_of(pdfs.text_pdf(1), raw=True, text_layer="ignore")
    (large,) = pages_of(pdfs.text_pdf(1, sizes=(12,)), raw=True, text_layer="ignore")
    assert small.plan.plan == large.plan.plan == "ocr" and small.image is not None
    assert small.plan.dpi == 300  # 6 pt text at 28 px an em
    assert 160 <= large.plan.dpi <= 260  # its smallest text is 8 pt (the two columns)


@pytest.mark.skipif(NO_FONTS is not None, reason=str(NO_FONTS))
def test_an_image_holding_text_on_a_text_page_is_read_by_ocr_beside_the_text():
    from fpdf import FPDF

    picture = Image.new("RGB", (600, 120), "white")
    ImageDraw.Draw(picture).text(
        (20, 30), "图片中的文字", fill="black", font=ImageFont.truetype(str(pdfs.CJK_FONT), 60)
    )
    pdf = FPDF(format="A4", unit="pt")
    pdf.add_font("noto", "", str(pdfs.CJK_FONT), collection_font_number=2)
    pdf.add_page()
    pdf.set_font("noto", size=10)
    pdf.multi_cell(0, 16, pdfs.PARAGRAPHS[0])
    pdf.image(picture, x=60, y=200, w=300)
    (page,) = pages_of(bytes(pdf.output()), raw=True)
    assert page.plan.plan == "mixed" and page.image is not None
    # The picture is the image's part of the page, without the text layer's text, placed on the page.
    assert page.width < 0.6 * page.plan.width and page.plan.y > 0
    region = pixels(page)
    assert region.min() < 100  # the image's text is there
    ocr = [{"words": "图片中的文字", "location": {"left": 10, "top": 10, "width": 200, "height": 30}, "score": 0.99}]
    lines, source = answer(page.plan, ocr)
    assert source == "mixed" and [line["words"] for line in lines][-1] == "图片中的文字"
    assert lines[-1]["location"]["top"] == page.plan.y + 10


def test_an_invisible_layer_over_a_scan_is_taken_only_where_it_agrees_with_ocr():
    layer = [
        pdfs.InvisibleLine("北京市朝阳区便利店", 81, 106, 257, 41),
        pdfs.InvisibleLine("发票号码：08215563", 81, 162, 272, 43),
    ]
    (page,) = pages_of(pdfs.scanned_pdf([pdfs.ScanPage(scan_jpeg(), dpi=150, invisible=layer)]), raw=True)
    assert page.plan.plan == "verify" and page.image is not None
    assert [line["words"] for line in page.plan.lines] == ["北京市朝阳区便利店", "发票号码：08215563"]
    top = page.plan.lines[0]["location"]["top"]
    assert abs(top - 106) <= 12  # in the scan's pixels
    right = [{**line, "words": line["words"]} for line in page.plan.lines]
    wrong = [{**line, "words": "北京市朝阳区便利店"[:4] + "口口口口口"} for line in page.plan.lines]
    assert answer(page.plan, right)[1] == "text"
    lines, source = answer(page.plan, wrong)
    assert source == "ocr" and lines[0]["words"].endswith("口口口口口")


def _char(text: str, x: float, y: float = 0.0, size: float = 20.0, **kw) -> Char:
    return Char(text, x, y, x + size, y + size, size, **kw)


def test_characters_become_lines_cut_at_new_lines_and_wide_gaps():
    chars = [_char(c, 20 * n) for n, c in enumerate("合同金额")]
    chars += [_char(c, 200 + 20 * n) for n, c in enumerate("壹万元")]  # the next cell of the row
    chars += [_char(c, 20 * n, 40) for n, c in enumerate("第二行")]
    lines = lines_of(chars, 1000, 1000)
    assert [line["words"] for line in lines] == ["合同金额", "壹万元", "第二行"]
    assert lines[0]["location"] == {"top": 0, "left": 0, "width": 80, "height": 20}
    # Latin words placed apart without a space character are two words.
    latin = [_char(c, 10 * n, size=10) for n, c in enumerate("ab")] + [_char("c", 24, size=10)]
    assert lines_of(latin, 1000, 1000)[0]["words"] == "ab c"


def test_untrusted_characters_send_the_page_to_ocr():
    from documents.pdf_text import untrusted as _untrusted

    def chars(text, unmapped=False, angle=0.0):
        return [
            (c, (20.0 * n, 0.0, 20.0 * n + 20, 20.0), 20.0, angle, True, True, unmapped) for n, c in enumerate(text)
        ]

    assert _untrusted(chars("合同金额")) is None
    assert _untrusted(chars("合同金额", unmapped=True)) == "characters without a Unicode mapping"
    assert _untrusted(chars("合同\ufffd额")) == "characters without a Unicode mapping"
    assert _untrusted(chars("合\x01同")) == "control or unassigned characters"
    assert _untrusted(chars("\ue001\ue002\ue003文字")) == "private-use characters"
    assert _untrusted(chars("\uf0b7 合同 \uf0b7 金额")) is None  # a symbol font's bullets
    assert _untrusted(chars("合同金额", angle=30.0)) == "skewed text"
    vertical = [
        (c, (0.0, 22.0 * n, 20.0, 22.0 * n + 20), 20.0, 0.0, True, True, False) for n, c in enumerate("竖排的中文文字")
    ]
    assert _untrusted(vertical) == "vertical text"


def test_agreement_is_character_f1():
    line = {"words": "发票号码", "location": {"left": 0, "top": 0, "width": 1, "height": 1}, "score": 1.0}
    assert agreement([line], [line]) == 1.0
    assert agreement([line], [{**line, "words": "发票"}]) == pytest.approx(2 * 2 / 6)
    plan = PagePlan("text", 100, 100, 72.0, lines=[line])
    assert answer(plan, None) == ([line], "text")


def test_the_text_layer_option_is_checked_and_carried_to_the_container():
    from ocr_contract.jobs import JobRequest, parse_job_request
    from ocr_contract.protocol import InvokeOptions

    request = parse_job_request({"input": "s3://b/k.pdf", "textLayer": "ignore"})
    assert request.text_layer == "ignore"
    assert JobRequest.from_dict(request.to_dict()).text_layer == "ignore"
    options = request.range_options("job", (1, 20))
    assert "textLayer=ignore" in options.header()
    assert InvokeOptions.parse(options.header()).text_layer == "ignore"
    assert parse_job_request({"input": "s3://b/k.pdf"}).text_layer == "auto"
    with pytest.raises(ApiError) as refused:
        parse_job_request({"input": "s3://b/k.pdf", "textLayer": "never"})
    assert refused.value.status == 400


@pytest.mark.skipif(NO_FONTS is not None, reason=str(NO_FONTS))
def test_the_clova_door_answers_a_born_digital_page_from_its_text_layer_unless_asked_not_to(monkeypatch):
    from frontend import endpoint

    monkeypatch.setenv("ENDPOINT_NAME", "ocr-endpoint")
    runtime = Runtime()
    monkeypatch.setattr(endpoint, "_runtime", lambda timeout: runtime)
    document = pdfs.text_pdf(1)
    status, body = clova(document)
    assert status == 200 and runtime.images == []  # no model call: the text layer is the answer
    fields = body["images"][0]["fields"]
    assert norm("".join(field["inferText"] for field in fields)) == norm(pdfs.expected_text())
    assert {field["inferConfidence"] for field in fields} == {1.0}
    assert body["images"][0]["convertedImageInfo"]["width"] == 2480  # the page at its 300 dpi
    status, body = clova(document, textLayer="ignore")
    assert status == 200 and len(runtime.images) == 1
    assert [field["inferText"] for field in body["images"][0]["fields"]] == ["2480x3508"]
    status, body = clova(document, textLayer="never")
    assert status == 400


def test_the_local_gateway_renders_each_requests_documents_in_a_renderer_of_its_own(monkeypatch):
    """Six documents at once are six renders, as six Lambdas make them: none waits for another's
    renderer (on one renderer, the second here ran out of time: 504 "other documents were being
    rendered")."""
    import documents.render as rendering
    from local.gateway import create_gateway

    monkeypatch.delenv("OCR_RENDER_SLOTS", raising=False)
    monkeypatch.setattr(rendering, "_slots", threading.BoundedSemaphore(1))  # as a fresh process has
    create_gateway("http://127.0.0.1:9", 8080)
    document = pdfs.scanned_pdf([pdfs.ScanPage(scan_jpeg(), dpi=150)] * 3)
    started = [render(document, "pdf", time.monotonic() + 3, raw=True) for _ in range(6)]
    firsts = [next(pages) for pages in started]  # each holds its renderer until its last page
    assert [page.index for page in firsts] == [0] * 6
    for pages in started:
        assert len(list(pages)) == 2


@pytest.mark.skipif(NO_FONTS is not None, reason=str(NO_FONTS))
def test_a_page_of_more_text_than_a_page_holds_is_read_from_its_pixels(monkeypatch):
    import pypdfium2 as pdfium

    from documents import pdf_pages, pdf_text

    monkeypatch.setattr(pdf_text, "MAX_PAGE_CHARS", 100)  # the page holds about 480
    job = {"max_side": 4096, "max_page_pixels": 40_000_000, "dpi": 200, "raw": True}
    page = pdf_pages.read_page(pdfium.PdfDocument(pdfs.text_pdf(1)), 0, job)
    assert page.plan.plan == "ocr" and page.plan.lines == [] and page.picture is not None


def test_on_a_mixed_page_each_line_says_where_it_came_from_and_the_pdf_layers_every_ocr_line():
    # OCR's score of a clean line can be 1.0 in float32 like a text layer's: only the line's own
    # `source` tells the searchable PDF (jobs/outputs/pdf.py) which lines the PDF lacks.
    from documents.text_layer import PagePlan
    from jobs.outputs.pdf import ocr_lines

    layer = [{"words": "正文第一行", "location": {"left": 50, "top": 40, "width": 300, "height": 20}, "score": 1.0}]
    ocr = [{"words": "图片中的文字", "location": {"left": 10, "top": 10, "width": 200, "height": 30}, "score": 1.0}]
    plan = PagePlan("mixed", 1000, 1400, 144.0, x=100, y=300, lines=layer)
    for detail in (True, False):
        lines, source = answer(plan, ocr, detail=detail)
        assert source == "mixed"
        assert [(line["words"], line["source"]) for line in lines] == [("正文第一行", "text"), ("图片中的文字", "ocr")]
        page = {"page": 1, "width": 1000, "height": 1400, "source": source, "lines": lines, "error": None}
        assert [line["words"] for line in ocr_lines(page)] == ["图片中的文字"]
    assert "source" not in layer[0]  # the plan's own lines are not changed
