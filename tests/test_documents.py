"""Documents and long images through the real Lambda handler and the real page renderer, with
SageMaker stood in for: hostile files are answered in the route's own JSON within the time
budget and without the Lambda's memory, and one page's failure is that page's alone.

The stand-in reads no text; what is checked is what reaches it (pages, in order, how many at
once) and what the client gets back.
"""

import base64
import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from PIL import Image

from frontend import endpoint
from frontend.handler import handler
from tests import hostile
from tests.conftest import fixture_image

ROOT = Path(__file__).resolve().parent.parent
CLOVA = "/custom/v1/{domainId}/{signature}/general"
CROPPING = "/v1.0/appkeys/{appKey}/general/cropping"
# The deployed Lambda's memory; what the handler and its renderer may use together.
LAMBDA_MEMORY_MB = 1024
PROCESS_TREE_LIMIT_MB = 900


class Context:
    aws_request_id = "lambda-req-1"

    def __init__(self, remaining_s: float = 28.0):
        self._until = time.monotonic() + remaining_s

    def get_remaining_time_in_millis(self) -> int:
        return int(1000 * max(0.0, self._until - time.monotonic()))


def busy_error() -> ClientError:
    """What sagemaker-runtime raises when the container answers 503 ServerBusy: ModelError (424)
    carrying the container's status and JSON body."""
    body = json.dumps({"error": {"code": "ServerBusy", "message": "the server is busy; retry shortly"}})
    return ClientError(
        {"Error": {"Code": "ModelError", "Message": body}, "OriginalStatusCode": 503, "OriginalMessage": body},
        "InvokeEndpoint",
    )


class Runtime:
    """sagemaker-runtime: answers one line per image, naming the image's size; `busy(n)` images
    are answered ServerBusy `n` times before they are read. Counts calls in flight."""

    def __init__(self, busy_times: int = 0, always_busy=lambda size: False):
        self.images: list[bytes] = []
        self.attributes: list[str] = []
        self.busy_times, self.always_busy = busy_times, always_busy
        self.lock = threading.Lock()
        self.in_flight = self.most_in_flight = 0
        self._busy_left: dict[bytes, int] = {}

    def invoke_endpoint(self, **request):
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(0.02)  # a model call takes time: overlapping calls overlap
            image = request["Body"]
            size = Image.open(io.BytesIO(image)).size
            with self.lock:
                left = self._busy_left.setdefault(image, self.busy_times)
                if left > 0 or self.always_busy(size):
                    self._busy_left[image] = left - 1
                    raise busy_error()
                self.images.append(image)
                self.attributes.append(request["CustomAttributes"])
            line = {
                "words": f"{size[0]}x{size[1]}",
                "location": {"top": 0, "left": 0, "width": size[0], "height": size[1]},
                "score": 0.99,
            }
            return {"Body": io.BytesIO(json.dumps([line]).encode()), "ContentType": "application/json"}
        finally:
            with self.lock:
                self.in_flight -= 1


@pytest.fixture
def runtime(monkeypatch):
    monkeypatch.setenv("ENDPOINT_NAME", "ocr-endpoint")
    fake = Runtime()
    monkeypatch.setattr(endpoint, "_runtime", lambda timeout: fake)
    return fake


def clova(data: bytes, fmt: str = "pdf", context: Context | None = None, **asked) -> tuple[int, dict]:
    message = {
        "version": "V2",
        "requestId": "r-1",
        "timestamp": 1722225600000,
        "images": [{"format": fmt, "name": "doc", "data": base64.b64encode(data).decode()}],
        **asked,
    }
    event = {
        "httpMethod": "POST",
        "resource": CLOVA,
        "path": "/custom/v1/1/sig/general",
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(message),
        "isBase64Encoded": False,
        "requestContext": {"requestId": "api-1", "resourcePath": CLOVA},
    }
    response = handler(event, context or Context())
    return response["statusCode"], json.loads(response["body"])


def pdf_of(pictures) -> bytes:
    out = io.BytesIO()
    pictures[0].save(out, "PDF", save_all=True, append_images=pictures[1:], resolution=72)
    return out.getvalue()


def white_pages(count: int) -> list[Image.Image]:
    # Distinct sizes, so that each page can be told apart at the stand-in.
    return [Image.new("RGB", (300 + 10 * n, 200), "white") for n in range(count)]


def test_a_pdfs_pages_are_read_in_order_a_few_at_a_time(runtime, monkeypatch):
    monkeypatch.setenv("OCR_PAGE_CONCURRENCY", "2")
    status, body = clova(pdf_of(white_pages(10)))
    assert status == 200
    assert [image["inferResult"] for image in body["images"]] == ["SUCCESS"] * 10
    assert [image["convertedImageInfo"]["pageIndex"] for image in body["images"]] == list(range(10))
    # Each page is a scan: read at the scan's own pixels, whatever resolution the PDF declares.
    widths = [image["convertedImageInfo"]["width"] for image in body["images"]]
    assert widths == [300 + 10 * n for n in range(10)]
    assert runtime.most_in_flight <= 2
    assert all("lane=bulk" in attributes for attributes in runtime.attributes)


def test_a_page_answered_server_busy_is_tried_again(monkeypatch):
    monkeypatch.setenv("ENDPOINT_NAME", "ocr-endpoint")
    fake = Runtime(busy_times=2)
    monkeypatch.setattr(endpoint, "_runtime", lambda timeout: fake)
    status, body = clova(pdf_of(white_pages(3)))
    assert status == 200 and [image["inferResult"] for image in body["images"]] == ["SUCCESS"] * 3


def test_a_page_that_stays_busy_fails_alone(monkeypatch):
    monkeypatch.setenv("ENDPOINT_NAME", "ocr-endpoint")
    pages = white_pages(3)
    pages[1] = Image.new("RGB", (300, 400), "white")  # the one taller page: always busy
    fake = Runtime(always_busy=lambda size: size[1] > 300)  # the scan at its own pixels
    monkeypatch.setattr(endpoint, "_runtime", lambda timeout: fake)
    status, body = clova(pdf_of(pages), context=Context(remaining_s=6))
    assert status == 200
    results = [(image["inferResult"], image["convertedImageInfo"]["pageIndex"]) for image in body["images"]]
    assert results == [("SUCCESS", 0), ("ERROR", 1), ("SUCCESS", 2)]
    assert body["images"][1]["message"].startswith("ServerBusy") and body["images"][1]["fields"] == []
    assert body["images"][0]["fields"] and body["images"][2]["fields"]


@pytest.mark.parametrize(
    "make, readable",
    [
        (hostile.lying_page_count_pdf, 1),  # /Count 10, one page
        (hostile.broken_kids_pdf, 1),  # a font and a missing object among the pages
    ],
)
def test_a_page_tree_that_lies_fails_only_its_missing_pages(runtime, make, readable):
    status, body = clova(make())
    assert status == 200
    results = [image["inferResult"] for image in body["images"]]
    assert results.count("SUCCESS") == readable and set(results) <= {"SUCCESS", "FAILURE"}
    failed = [image for image in body["images"] if image["inferResult"] == "FAILURE"]
    assert all(image["message"].startswith("InvalidImage") for image in failed)


def test_a_page_tree_with_a_cycle_is_a_400_not_a_500(runtime):
    status, body = clova(hostile.page_tree_cycle_pdf())
    assert (status, body["code"]) == (400, "InvalidImage")
    assert not runtime.images


@pytest.mark.parametrize("group4", [False, True])
def test_a_tiff_page_over_the_pixel_limit_is_image_too_large_from_its_header(runtime, group4):
    start = time.monotonic()
    status, body = clova(hostile.huge_tiff(13000, group4=group4), fmt="tiff")
    assert (status, body["code"]) == (400, "ImageTooLarge") and "13000x13000" in body["message"]
    assert time.monotonic() - start < 3  # nothing was decoded


def test_a_16_bit_tiff_page_is_read_not_blank(runtime):
    status, _ = clova(hostile.sixteen_bit_tiff(fixture_image("line.png")), fmt="tiff")
    assert status == 200
    sent = Image.open(io.BytesIO(runtime.images[0])).convert("L")
    assert sent.getextrema()[0] < 64  # the text's dark strokes survived (convert("RGB") made them white)


def test_rendering_stops_at_the_deadline_and_says_which_pages(runtime):
    # Ten pages that each take PDFium about a second: with 7 s left, the answer comes in time,
    # the pages rendered are read, and the others are reported as out of time.
    start = time.monotonic()
    status, body = clova(hostile.nested_xobjects_pdf(depth=6, pages=10), context=Context(remaining_s=7))
    elapsed = time.monotonic() - start
    assert elapsed < 7, elapsed
    if status == 200:
        results = [image["inferResult"] for image in body["images"]]
        assert "ERROR" in results
        assert all(
            image["message"].startswith("Timeout") for image in body["images"] if image["inferResult"] == "ERROR"
        )
    else:
        assert (status, body["code"]) == (504, "Timeout")


def test_a_transparent_long_image_is_cut_into_slices_outside_the_lambdas_memory(runtime):
    image = hostile.transparent_long_png(4096, 16384)
    boundary = "b0undary"
    form = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="long.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    # NHN's multipart upload, base64-encoded by API Gateway (a binary media type).
    event = {
        "httpMethod": "POST",
        "resource": CROPPING,
        "path": "/v1.0/appkeys/k/general/cropping",
        "headers": {"Content-Type": f"multipart/form-data; boundary={boundary}"},
        "body": base64.b64encode(form).decode(),
        "isBase64Encoded": True,
        "requestContext": {"requestId": "r"},
    }
    response = handler(event, Context())
    body = json.loads(response["body"])
    assert response["statusCode"] == 200, body
    assert body["result"]["slicesImages"] == 5 and len(runtime.images) == 5
    # Transparent pixels were laid on white, as the container reads a transparent image.
    assert Image.open(io.BytesIO(runtime.images[0])).convert("L").getextrema() == (255, 255)


# Each hostile file is answered in the CLOVA door's own JSON within the budget, and the process
# that runs the handler plus its renderer stay under the Lambda's memory. Run in a fresh process
# so that its peak memory is its own.
MEMORY_SCRIPT = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from tests import hostile
from tests.test_documents import Runtime, clova, Context
from frontend import endpoint
import os
os.environ["ENDPOINT_NAME"] = "ocr-endpoint"
endpoint._runtime = lambda timeout: Runtime()
made = getattr(hostile, {name!r})(*{args!r})
fmt = "pdf" if made.startswith(b"%PDF") else "tiff"
start = time.monotonic()
status, body = clova(made, fmt=fmt, context=Context())
elapsed = time.monotonic() - start
# VmHWM: this process's own peak (ru_maxrss would include the forking test process's).
peak_kb = int(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")))
print(json.dumps({{"status": status, "body": body, "elapsed": elapsed, "self_mb": peak_kb / 1024,
                  "children_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}}))
"""


@pytest.mark.parametrize(
    "name, args",
    [
        ("nested_xobjects_pdf", ()),  # 10^6 drawn forms: 1.73 GB before
        ("huge_tiff", (13000,)),  # 1.60 GB before
        ("repeated_stream_pdf", ()),  # 1.04 GB before
        ("inflated_operators_pdf", ()),  # 1.03 GB before
        ("fax_image_pdf", (10,)),  # 10 pages of 20000 px fax images: 27.7 s before
        ("nested_xobjects_pdf", (7, 10, 10)),  # ten such pages: each past the memory cap
    ],
)
@pytest.mark.slow
def test_hostile_documents_stay_within_the_lambdas_memory_and_time(name, args):
    script = MEMORY_SCRIPT.format(root=str(ROOT), name=name, args=args)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    status, body = outcome["status"], outcome["body"]
    assert outcome["elapsed"] < 26
    assert outcome["self_mb"] + outcome["children_mb"] < PROCESS_TREE_LIMIT_MB, outcome
    assert status in (200, 400, 413, 504), body
    if status == 200:
        assert {"images", "requestId", "version"} <= set(body)
    else:
        assert set(body) == {"code", "message", "requestId"}  # CLOVA's error shape


def test_a_pdf_larger_than_the_renderers_cap_is_counted_and_rendered_from_its_file(tmp_path, monkeypatch):
    # A job's document (up to 500 MB) is handed to the renderer as an open file, which the
    # worker reads as PDFium asks: the address-space cap (64 MB here) need not exceed the file.
    from documents.render import count_pages, render
    from tests.large_documents import MB, write_large_pdf

    monkeypatch.setenv("OCR_RENDER_MEMORY_MB", "64")
    path = tmp_path / "large.pdf"
    assert write_large_pdf(path, pages=3, filler_bytes=100 * MB) > 64 * MB
    with path.open("rb") as file:
        assert count_pages(file, "pdf", time.monotonic() + 30) == 3
        pages = list(render(file, "pdf", time.monotonic() + 30, first_page=1))
    # Pages 2 and 3, 310 and 320 pt wide and 200 pt high, at 200 dpi (to the pixel).
    assert [(page.index, page.error) for page in pages] == [(1, None), (2, None)]
    for page, points in zip(pages, (310, 320)):
        assert abs(page.width - points * 200 / 72) < 1 and abs(page.height - 200 * 200 / 72) < 1
        assert Image.open(io.BytesIO(page.image)).size == (page.width, page.height)


def test_the_container_reads_a_document_larger_than_the_renderers_cap(tmp_path, monkeypatch):
    # The async endpoint's task=document (inference/serving/document_pages.py) hands the body
    # to the renderer as a file too: piped, a document over the cap failed every range.
    from inference.serving.document_pages import read_document
    from ocr_contract.protocol import InvokeOptions
    from tests.large_documents import MB, write_large_pdf

    class Engine:  # reads nothing: the pages' rendering is what is measured here
        def require_lang(self, lang):
            pass

        def read(self, image, deadline, lang):
            return []

    monkeypatch.setenv("OCR_RENDER_MEMORY_MB", "64")
    path = tmp_path / "large.pdf"
    write_large_pdf(path, pages=3, filler_bytes=100 * MB)
    options = InvokeOptions.parse("v=1,task=document,pages=2-3")
    pages, _ = read_document(Engine(), path.read_bytes(), time.monotonic() + 60, options)
    assert [(page["page"], page["error"]) for page in pages] == [(2, None), (3, None)]
    assert [round(page["width"] * 72 / 200) for page in pages] == [310, 320]


def test_a_page_asked_for_tables_and_regions_runs_the_layout_model_once(engine):
    # A job's Markdown asks each page for its tables and its layout regions; both start from
    # the layout model's answer on the page, which costs about as much as detection's small
    # pass: it must be run once a page, and give what each would alone.
    from inference.images import decode_image
    from inference.serving.document_pages import read_document
    from ocr_contract.protocol import InvokeOptions
    from tests.conftest import fixture_bytes

    image = decode_image(fixture_bytes("ruled_table.png"))
    alone_tables = engine.read_tables(image)[1]
    alone_regions = engine.read_regions(image)
    session = engine.tables.layout
    runs = []
    real_run = session.run
    session.run = lambda *args, **kwargs: runs.append(1) or real_run(*args, **kwargs)
    try:
        options = InvokeOptions.parse("v=1,task=document,tables=1,layout=1")
        pages, _ = read_document(engine, fixture_bytes("ruled_table.png"), time.monotonic() + 60, options)
    finally:
        session.run = real_run
    assert len(runs) == 1
    assert pages[0]["regions"] == alone_regions and any(r["type"] == "table" for r in alone_regions)
    assert pages[0]["tables"] == alone_tables and alone_tables
