"""An error that has a way out names it: the route (or body) that takes what was refused. Each
test follows the advice, as a user would, and checks that the route it names answers 200.

The Lambda handler runs for real; SageMaker is a stand-in that answers no lines for every
image it is sent (what the model reads is not the point here, which route takes the file is)."""

import base64
import io
import json
import re

import pytest
from PIL import Image

from frontend.handler import handler
from tests.conftest import png_header

# What a user puts in the placeholders of a route the message quotes.
PLACEHOLDERS = {"appKey": "my-app-key", "domainId": "33675", "signature": "8f694ccb00dbd8001e9b0fcbac"}


class Context:
    aws_request_id = "lambda-req-1"


@pytest.fixture
def runtime(fake_runtime):
    """sagemaker-runtime that reads no text in any image (tests/fakes.py); `calls` are the images sent."""
    fake_runtime.lines = []
    return fake_runtime


def call(path, body: bytes, content_type: str):
    """An API Gateway proxy event for `path`, as the deployed API hands it to the Lambda
    (multipart bodies base64-encoded: the API's binary media type)."""
    binary = content_type.startswith("multipart/")
    event = {
        "httpMethod": "POST",
        "resource": path,
        "path": path,
        "headers": {"Content-Type": content_type},
        "body": base64.b64encode(body).decode() if binary else body.decode(),
        "isBase64Encoded": binary,
        "requestContext": {"requestId": "api-req-1"},
    }
    response = handler(event, Context())
    return response["statusCode"], json.loads(response["body"])


def routes_named(message: str) -> list[str]:
    """The routes a message tells the user to POST to, placeholders filled in."""
    return [
        re.sub(r"\{(\w+)\}", lambda m: PLACEHOLDERS[m.group(1)], route)
        for route in re.findall(r"POST (/[^\s;,.()]+(?:\.[^\s;,()]+)*)", message)
    ]


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height), 255).save(out, "PNG")
    return out.getvalue()


def general_ocr_img(data: bytes) -> bytes:
    return json.dumps({"img": base64.b64encode(data).decode()}).encode()


def multipart(field: str, filename: str, data: bytes, content_type: str) -> tuple[bytes, str]:
    boundary = "----advice-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("size", [(750, 6000), (6000, 750), (1080, 16384)])
def test_a_long_image_refused_by_general_ocr_is_pointed_at_a_route_that_reads_it(runtime, size):
    status, body = call("/general_ocr", general_ocr_img(png(*size)), "application/json")
    assert (status, body["error"]["code"]) == (400, "ImageTooLarge")
    message = body["error"]["message"]
    assert "16384" in message
    routes = routes_named(message)
    assert routes, message
    for route in routes:
        form, content_type = multipart("image", "long.png", png(*size), "image/png")
        status, answer = call(route, form, content_type)
        assert status == 200 and answer["header"]["isSuccessful"] is True, (route, answer)
        assert answer["result"]["slicesImages"] >= 2
    assert runtime.calls  # the model was asked, once per slice


@pytest.mark.parametrize("size", [(5000, 5000), (750, 16385), (4097, 16000)])
def test_an_image_no_route_reads_is_pointed_nowhere(runtime, size):
    # Over 16384 px long, or a short side over 4096 px: the cropping route refuses it too, so
    # naming it would send the user round in a circle.
    status, body = call("/general_ocr", general_ocr_img(png_header(*size)), "application/json")
    assert (status, body["error"]["code"]) == (400, "ImageTooLarge")
    assert routes_named(body["error"]["message"]) == []
    assert not runtime.calls


def _pdf() -> bytes:
    out = io.BytesIO()
    pages = [Image.new("RGB", (300, 200), "white"), Image.new("RGB", (300, 200), "white")]
    pages[0].save(out, "PDF", save_all=True, append_images=pages[1:], resolution=72)
    return out.getvalue()


def _tiff() -> bytes:
    out = io.BytesIO()
    Image.new("L", (300, 200), 255).save(out, "TIFF")
    return out.getvalue()


@pytest.mark.parametrize("kind, data", [("pdf", _pdf()), ("tiff", _tiff())])
@pytest.mark.parametrize("refused_by", ["general_ocr", "nhn"])
def test_a_document_refused_as_an_image_is_pointed_at_the_route_that_reads_documents(runtime, kind, data, refused_by):
    if refused_by == "general_ocr":
        status, body = call("/general_ocr", general_ocr_img(data), "application/json")
        code, message = body["error"]["code"], body["error"]["message"]
    else:
        form, content_type = multipart("image", f"scan.{kind}", data, f"application/{kind}")
        status, body = call("/v1.0/appkeys/my-app-key/general", form, content_type)
        code, message = (
            "UnsupportedImageFormat" if body["header"]["resultCode"] == -46 else None,
            body["header"]["resultMessage"],
        )
    assert (status, code) == (400, "UnsupportedImageFormat")
    assert "10 pages" in message
    routes = routes_named(message)
    assert routes, message
    for route in routes:
        request = {
            "version": "V2",
            "requestId": "r-1",
            "timestamp": 1722225600000,
            "images": [{"format": kind, "name": "scan", "data": base64.b64encode(data).decode()}],
        }
        status, answer = call(route, json.dumps(request).encode(), "application/json")
        assert status == 200, (route, answer)
        assert len(answer["images"]) == (2 if kind == "pdf" else 1)  # a page each


def test_the_page_count_the_message_promises_is_the_one_the_document_route_reads(runtime):
    status, body = call("/general_ocr", general_ocr_img(_pdf()), "application/json")
    promised = int(re.search(r"(\d+) pages", body["error"]["message"]).group(1))
    out = io.BytesIO()
    pages = [Image.new("RGB", (300, 200), "white") for _ in range(promised + 2)]
    pages[0].save(out, "PDF", save_all=True, append_images=pages[1:], resolution=72)
    request = {
        "version": "V2",
        "requestId": "r-1",
        "timestamp": 1722225600000,
        "images": [{"format": "pdf", "name": "scan", "data": base64.b64encode(out.getvalue()).decode()}],
    }
    status, answer = call(routes_named(body["error"]["message"])[0], json.dumps(request).encode(), "application/json")
    assert status == 200
    assert [image["convertedImageInfo"]["pageIndex"] for image in answer["images"]] == list(range(promised))


def test_a_file_upload_to_general_ocr_is_pointed_at_the_routes_that_take_uploads(runtime):
    # `curl -F image=@x.png .../general_ocr`: what a user tries first with a file on disk.
    form, content_type = multipart("image", "x.png", png(200, 100), "image/png")
    status, body = call("/general_ocr", form, content_type)
    assert (status, body["error"]["code"]) == (415, "UnsupportedMediaType")
    message = body["error"]["message"]
    assert '{"img": "<base64>"}' in message  # the JSON this route takes, for those who stay
    routes = routes_named(message)
    assert routes, message
    for route in routes:  # the same upload, unchanged, to each route named
        status, answer = call(route, form, content_type)
        assert status == 200 and answer["header"]["isSuccessful"] is True, (route, answer)


def test_other_refused_content_types_are_not_sent_to_the_upload_routes(runtime):
    # A text/plain post is no file upload: the NHN routes would refuse it too.
    status, body = call("/general_ocr", b'{"img": "AAAA"}', "text/plain")
    assert (status, body["error"]["code"]) == (415, "UnsupportedMediaType")
    assert routes_named(body["error"]["message"]) == []
