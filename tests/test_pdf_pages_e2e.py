"""PDF pages as they are, end to end through the local stack (`python -m local`, real models):
a scanned PDF's pages read by a job and by the CLOVA route exactly as POST /general_ocr reads
the scans themselves, a born-digital PDF answered from its text layer, and six documents at
once each rendered by a renderer of its own (issue #39)."""

from __future__ import annotations

import base64
import io
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from tests import pdfs
from tests.conftest import FIXTURES, http, norm
from tests.test_jobs_e2e import folders, result, start, submit, wait  # noqa: F401  (folders: a fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.models]
NO_FONTS = pdfs.fonts_available()
CLOVA = "/custom/v1/1/sig/general"


def scan() -> tuple[bytes, bytes]:
    """A scan's JPEG and the same page as a bilevel PNG."""
    page = Image.new("RGB", (900, 1100), (246, 244, 240))
    page.paste(Image.open(FIXTURES / "receipt.png").convert("RGB"), (60, 80))
    page.paste(Image.open(FIXTURES / "line.png").convert("RGB"), (60, 600))
    jpeg, png = io.BytesIO(), io.BytesIO()
    page.save(jpeg, "JPEG", quality=85)
    page.convert("L").point(lambda v: 255 if v > 160 else 0).convert("1").save(png, "PNG")
    return jpeg.getvalue(), png.getvalue()


def clova(stack, document: bytes, **asked) -> tuple[int, dict]:
    message = {
        "version": "V2",
        "requestId": "r",
        "timestamp": 0,
        "images": [{"format": "pdf", "name": "doc", "data": base64.b64encode(document).decode()}],
        **asked,
    }
    status, body, _ = http("POST", stack.base + CLOVA, json.dumps(message).encode())
    return status, body


@pytest.fixture(scope="module")
def stack(folders):  # noqa: F811
    stack = start(*folders)
    yield stack
    stack.stop()


def test_a_scanned_pdf_is_read_by_jobs_and_clova_as_general_ocr_reads_the_scans(stack, folders):  # noqa: F811
    jpeg, png = scan()
    bilevel = Image.open(io.BytesIO(png))
    document = pdfs.scanned_pdf([pdfs.ScanPage(jpeg, dpi=137), pdfs.ScanPage(picture=bilevel, dpi=300)])
    (folders[1] / "scans.pdf").write_bytes(document)
    lines = result(wait(stack, submit(stack, (folders[1] / "scans.pdf").as_uri()), 240))
    status, body = clova(stack, document)
    assert status == 200
    for page, words, original in zip(lines, body["images"], (jpeg, png)):
        status, sync, _ = stack.post({"img": base64.b64encode(original).decode()})
        assert status == 200 and sync
        assert [norm(line["words"]) for line in page["lines"]] == [norm(line["words"]) for line in sync]
        assert [line["location"] for line in page["lines"]] == [line["location"] for line in sync]
        assert (page["width"], page["height"], page["source"]) == (900, 1100, "ocr")
        assert norm("".join(field["inferText"] for field in words["fields"])) == norm("".join(x["words"] for x in sync))


@pytest.mark.skipif(NO_FONTS is not None, reason=str(NO_FONTS))
def test_a_born_digital_pdf_is_answered_from_its_text_layer_unless_asked_not_to(stack, folders):  # noqa: F811
    (folders[1] / "digital.pdf").write_bytes(pdfs.text_pdf(2))
    uri = (folders[1] / "digital.pdf").as_uri()
    lines = result(wait(stack, submit(stack, uri), 120))
    assert [page["source"] for page in lines] == ["text", "text"] and lines[0]["dpi"] == 300
    assert norm("".join(line["words"] for page in lines for line in page["lines"])) == norm(pdfs.expected_text() * 2)
    read = result(wait(stack, submit(stack, uri, textLayer="ignore"), 300))
    assert [page["source"] for page in read] == ["ocr", "ocr"]
    assert (read[0]["width"], read[0]["height"]) == (lines[0]["width"], lines[0]["height"])  # the same pixel space


@pytest.mark.skipif(NO_FONTS is not None, reason=str(NO_FONTS))
def test_six_documents_at_once_are_six_renders_not_a_queue(stack):
    documents = [pdfs.text_pdf(10) for _ in range(6)]
    started = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda document: clova(stack, document), documents))
    assert [status for status, _ in answers] == [200] * 6, [body for _, body in answers]
    assert all(image["inferResult"] == "SUCCESS" for _, body in answers for image in body["images"])
    assert time.monotonic() - started < 29
