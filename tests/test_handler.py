"""The Lambda handler, with SageMaker stubbed (botocore Stubber) and S3 mocked (moto)."""

import base64
import io
import json
import os
import time
from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws
from PIL import Image

from frontend import endpoint, pipeline, s3_fetch
from frontend.handler import handler
from frontend.shrink import INVOKE_LIMIT_BYTES
from tests.conftest import encode, fixture_bytes, fixture_image, png_header

LINE = {"img": base64.b64encode(fixture_bytes("line.png")).decode()}
ANSWER = [{"words": "中文", "location": {"top": 1, "left": 2, "width": 30, "height": 10}, "score": 0.99}]


class Context:
    aws_request_id = "lambda-req-1"


def event(body, method="POST", base64_body=False):
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    if base64_body:
        body = base64.b64encode(body.encode() if isinstance(body, str) else body).decode()
    return {
        "httpMethod": method,
        "resource": "/general_ocr",
        "path": "/general_ocr",
        "body": body,
        "isBase64Encoded": base64_body,
        "requestContext": {"requestId": "api-req-1"},
    }


@pytest.fixture
def sagemaker(monkeypatch):
    monkeypatch.setenv("ENDPOINT_NAME", "ocr-endpoint")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client(
        "sagemaker-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    monkeypatch.setattr(endpoint, "_runtime", lambda timeout: client)
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def ok(stub, body_check=ANY):
    stub.add_response(
        "invoke_endpoint",
        {"Body": io.BytesIO(json.dumps(ANSWER).encode()), "ContentType": "application/json"},
        {
            "EndpointName": "ocr-endpoint",
            "Body": body_check,
            "ContentType": "application/octet-stream",
            "Accept": "application/json",
            "CustomAttributes": ANY,
        },
    )


def answer(response):
    return response["statusCode"], json.loads(response["body"])


def test_img_request_is_sent_to_the_endpoint(sagemaker):
    image = fixture_bytes("line.png")
    ok(sagemaker, image)
    response = handler(event({"img": base64.b64encode(image).decode()}), Context())
    assert answer(response) == (200, ANSWER)
    assert response["headers"]["X-Request-Id"] == "api-req-1"
    assert response["headers"]["Content-Type"].startswith("application/json")


def test_base64_encoded_event_body(sagemaker):
    ok(sagemaker)
    body = json.dumps({"img": base64.b64encode(fixture_bytes("line.png")).decode()})
    assert answer(handler(event(body, base64_body=True), Context()))[0] == 200


@pytest.mark.parametrize(
    "status,code",
    [(400, "ImageTooLarge"), (400, "UnsupportedImageFormat"), (413, "PayloadTooLarge"), (503, "ModelNotReady")],
)
def test_container_errors_keep_their_status_and_code(sagemaker, status, code):
    original = json.dumps({"error": {"code": code, "message": "from the container"}, "requestId": "container-id"})
    sagemaker.add_client_error(
        "invoke_endpoint",
        service_error_code="ModelError",
        service_message="x",
        http_status_code=424,
        response_meta={},
        modeled_fields={"OriginalStatusCode": status, "OriginalMessage": original},
    )
    assert answer(handler(event(LINE), Context())) == (
        status,
        {"error": {"code": code, "message": "from the container"}, "requestId": "api-req-1"},
    )


def test_unreadable_container_error_is_500_without_details(sagemaker):
    sagemaker.add_client_error(
        "invoke_endpoint",
        service_error_code="ModelError",
        service_message="x",
        http_status_code=424,
        modeled_fields={"OriginalStatusCode": 500, "OriginalMessage": "Traceback (most recent call last): ..."},
    )
    status, body = answer(handler(event(LINE), Context()))
    assert status == 500 and body["error"]["code"] == "InternalError"
    assert "Traceback" not in json.dumps(body) and "api-req-1" in body["error"]["message"]


def test_endpoint_not_in_service_is_503(sagemaker):
    sagemaker.add_client_error(
        "invoke_endpoint",
        service_error_code="ValidationError",
        service_message="Endpoint ocr-endpoint of account 1 not found.",
        http_status_code=400,
    )
    assert answer(handler(event(LINE), Context()))[1]["error"]["code"] == "ModelNotReady"


@pytest.mark.parametrize(
    "ev,status,code",
    [
        (event("{oops"), 400, "InvalidRequest"),
        (event({"url": "https://a.example/x.png", "img": "AAAA"}), 400, "InvalidRequest"),
        (event({"img": "!!!"}), 400, "InvalidImage"),
        (event({"url": "ftp://example.com/a.png"}), 400, "InvalidUrl"),
        (event({"url": "http://169.254.169.254/latest/meta-data/"}), 403, "UrlNotAllowed"),
        (event({"url": "s3://not-allowed-bucket/a.png"}), 403, "UrlNotAllowed"),
        (event({"url": "s3://Bad_Bucket/a.png"}), 400, "InvalidUrl"),
        (event({"url": "s3://good-bucket"}), 400, "InvalidUrl"),
        (event(None), 400, "InvalidRequest"),
        (event({"url": "x"}, method="GET"), 405, "MethodNotAllowed"),
    ],
)
def test_request_errors_never_reach_the_endpoint(sagemaker, ev, status, code):
    got_status, body = answer(handler(ev, Context()))
    assert (got_status, body["error"]["code"]) == (status, code)
    assert body["requestId"] == "api-req-1"


def test_unexpected_failure_is_500_with_request_id_and_no_trace(sagemaker, monkeypatch):
    def boom(*a, **k):
        raise KeyError("secret internals")

    monkeypatch.setattr(pipeline, "invoke", boom)
    status, body = answer(handler(event(LINE), Context()))
    assert status == 500 and body["error"]["code"] == "InternalError"
    assert "secret" not in json.dumps(body)


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("ALLOWED_BUCKETS", "team-images, other-bucket")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="team-images")
        client.create_bucket(Bucket="secret-bucket")
        client.put_object(Bucket="team-images", Key="scans/line.png", Body=fixture_bytes("line.png"))
        client.put_object(Bucket="team-images", Key="huge.png", Body=b"\x00" * (10 * 1024 * 1024 + 1))
        client.put_object(Bucket="secret-bucket", Key="a.png", Body=fixture_bytes("line.png"))
        monkeypatch.setattr(s3_fetch, "_client", client)
        yield client


def test_s3_image_from_an_allowed_bucket(sagemaker, s3):
    ok(sagemaker, fixture_bytes("line.png"))
    assert answer(handler(event({"url": "s3://team-images/scans/line.png"}), Context())) == (200, ANSWER)


@pytest.mark.parametrize(
    "url,status,code",
    [
        ("s3://secret-bucket/a.png", 403, "UrlNotAllowed"),
        ("s3://team-images/missing.png", 400, "UrlFetchFailed"),
        ("s3://team-images/huge.png", 400, "UrlFetchFailed"),
    ],
)
def test_s3_refusals(sagemaker, s3, url, status, code):
    got_status, body = answer(handler(event({"url": url}), Context()))
    assert (got_status, body["error"]["code"]) == (status, code), body


def test_no_bucket_is_allowed_by_default(sagemaker, monkeypatch):
    monkeypatch.delenv("ALLOWED_BUCKETS", raising=False)
    assert answer(handler(event({"url": "s3://any-bucket/a.png"}), Context()))[0] == 403


def test_a_serverless_endpoints_4_mb_limit_is_kept_when_the_stack_sets_it(tmp_path):
    # SageMaker takes 4 MB per call to a serverless endpoint (6 MB to instances); the stack tells
    # the Lambda which through OCR_INVOKE_LIMIT_BYTES, read when the Lambda starts.
    import subprocess
    import sys

    import numpy as np

    noise = np.random.default_rng(2).integers(0, 256, (1200, 1500, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "big.png", "PNG")
    assert 4_000_000 < (tmp_path / "big.png").stat().st_size < 6_000_000
    script = (
        "import sys; from frontend.shrink import fit_invoke_limit; "
        "sent, scale = fit_invoke_limit(open(sys.argv[1], 'rb').read()); print(len(sent), scale)"
    )
    for limit, fits in (("4000000", lambda n: n <= 4_000_000), ("", lambda n: 4_000_000 < n <= 6_000_000)):
        out = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "big.png")],
            capture_output=True,
            text=True,
            env={**os.environ, "OCR_INVOKE_LIMIT_BYTES": limit},
            cwd=Path(__file__).parent.parent,
        )
        size = int(out.stdout.split()[0])
        assert fits(size), (limit, size, out.stderr)


def test_images_over_the_invoke_limit_are_shrunk_and_boxes_mapped_back(sagemaker, monkeypatch):
    import numpy as np

    noise = np.random.default_rng(1).integers(0, 256, (1500, 1800, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noise).save(out, "PNG")
    big = out.getvalue()
    assert INVOKE_LIMIT_BYTES < len(big) <= 10 * 1024 * 1024
    sent = {}

    def fake_invoke(image, request_id, deadline=None, detail=False, **options):
        sent["image"] = image
        return json.dumps(ANSWER).encode()

    monkeypatch.setattr(pipeline, "invoke", fake_invoke)
    status, body = answer(handler(event({"img": base64.b64encode(big).decode()}), Context()))
    assert status == 200
    assert len(sent["image"]) <= INVOKE_LIMIT_BYTES
    shrunk = Image.open(io.BytesIO(sent["image"]))
    scale = shrunk.width / 1800
    expected = {k: int(round(v / scale)) for k, v in ANSWER[0]["location"].items()}
    assert body[0]["location"] == expected


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonp",
        "image/png",
    ],
)
def test_only_json_bodies_are_accepted(sagemaker, content_type):
    # A browser may POST text/plain or a form to any site without asking first (a CORS "simple"
    # request); refusing them is what keeps other sites' pages out.
    ev = event(LINE)
    ev["headers"] = {"content-type": content_type}
    status, body = answer(handler(ev, Context()))
    assert (status, body["error"]["code"]) == (415, "UnsupportedMediaType")
    assert "application/json" in body["error"]["message"]


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON; charset=UTF-8", None])
def test_json_content_types_are_accepted(sagemaker, content_type):
    ok(sagemaker)
    ev = event(LINE)
    ev["headers"] = {"Content-Type": content_type} if content_type else None
    assert answer(handler(ev, Context()))[0] == 200


@pytest.mark.parametrize("body", [{"img": "x"}, ["a"], 42, True, 1.5])
def test_an_event_body_that_is_not_a_string_is_a_400(sagemaker, body):
    ev = event("x")
    ev["body"] = body
    status, payload = answer(handler(ev, Context()))
    assert (status, payload["error"]["code"]) == (400, "InvalidRequest")
    ev["isBase64Encoded"] = True
    assert answer(handler(ev, Context()))[0] == 400


def test_a_deeply_nested_body_is_a_400(sagemaker):
    status, payload = answer(handler(event("[" * 100_000), Context()))
    assert (status, payload["error"]["code"]) == (400, "InvalidRequest")


def test_images_are_judged_from_their_header_without_calling_the_model(sagemaker):
    # The Stubber has no answer queued: any endpoint call would fail the test. A 7 MB image
    # whose header says 5000 px was sent to SageMaker unchanged (and failed there with a 500).
    too_wide = png_header(5000, 300) + b"\x00" * (7 * 1024 * 1024)
    rows = [
        (too_wide, 400, "ImageTooLarge"),
        (encode(Image.new("RGB", (8, 8)), "GIF"), 400, "UnsupportedImageFormat"),
        (encode(Image.new("RGB", (8, 8)), "WEBP"), 400, "UnsupportedImageFormat"),
        (b"\x89PNG\r\n", 400, "InvalidImage"),
    ]
    for data, status, code in rows:
        got, body = answer(handler(event({"img": base64.b64encode(data).decode()}), Context()))
        assert (got, body["error"]["code"]) == (status, code)


def test_an_image_that_cannot_fit_the_invoke_limit_is_413_not_500(sagemaker, monkeypatch):
    import numpy as np

    from frontend import shrink

    monkeypatch.setattr(shrink, "INVOKE_LIMIT_BYTES", 2_000)  # noise never fits in 2 kB
    noise = Image.fromarray(np.random.default_rng(3).integers(0, 256, (300, 300, 3), dtype=np.uint8))
    got, body = answer(handler(event({"img": base64.b64encode(encode(noise)).decode()}), Context()))
    assert (got, body["error"]["code"]) == (413, "PayloadTooLarge") and "6 MB" in body["error"]["message"]


def test_camera_mpo_jpegs_are_accepted(sagemaker):
    # Phones write .jpg files as MPO: a JPEG with a second frame appended. The first is the photo.
    first, second = fixture_image("line.png").convert("RGB"), Image.new("RGB", (64, 64), "red")
    out = io.BytesIO()
    first.save(out, "MPO", save_all=True, append_images=[second])
    ok(sagemaker, out.getvalue())
    assert answer(handler(event({"img": base64.b64encode(out.getvalue()).decode()}), Context()))[0] == 200


class _NeverAnswers:
    """A stand-in SageMaker runtime that accepts invocations and never answers them."""

    def __init__(self):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        stub = self
        self.invocations = 0
        self.release = threading.Event()  # set when the test is done: the handler threads end

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                stub.invocations += 1
                self.rfile.read(int(self.headers["Content-Length"]))
                stub.release.wait(40)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda *a: None
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()


@pytest.fixture
def never_answers(monkeypatch):
    stub = _NeverAnswers()
    monkeypatch.setenv("ENDPOINT_NAME", "ocr-endpoint")
    monkeypatch.setenv("SAGEMAKER_ENDPOINT_URL", stub.url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setattr(endpoint, "_clients", {})
    yield stub
    stub.release.set()
    stub.httpd.shutdown()


class LambdaContext:
    """Lambda's context: get_remaining_time_in_millis counts down to the function's timeout."""

    aws_request_id = "lambda-req-1"

    def __init__(self, timeout_s: float):
        self.deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self):
        return int(1000 * (self.deadline - time.monotonic()))


def test_an_endpoint_that_never_answers_is_called_once_and_answered_504_before_the_lambda_times_out(never_answers):
    # Lambda kills the function at its timeout and API Gateway answers its own 504 shortly after;
    # a JSON 504 of ours must come first, after exactly one invocation (a retry would make the
    # GPU do the work twice). A Lambda with 3 s left stands in for the real 28 s: the same rule,
    # without waiting it out.
    context = LambdaContext(timeout_s=3.0)
    start = time.monotonic()
    status, body = answer(handler(event(LINE), context))
    elapsed = time.monotonic() - start
    assert (status, body["error"]["code"]) == (504, "Timeout")
    assert context.get_remaining_time_in_millis() > 0, elapsed
    assert never_answers.invocations == 1


def test_the_handlers_own_budget_ends_the_wait_when_the_lambda_has_more_time(never_answers, monkeypatch):
    # The Lambda has its real timeout (28 s) left; the handler's budget (FRONTEND_BUDGET_S, 26 s
    # in production: API Gateway's 29 s less the time to answer; 1.5 s here) is what must end the wait.
    from frontend import handler as handler_module
    from ocr_contract.limits import FRONTEND_TIMEOUT_S

    monkeypatch.setattr(handler_module, "FRONTEND_BUDGET_S", 1.5)
    start = time.monotonic()
    status, body = answer(handler(event(LINE), LambdaContext(timeout_s=FRONTEND_TIMEOUT_S)))
    elapsed = time.monotonic() - start
    assert (status, body["error"]["code"]) == (504, "Timeout")
    assert elapsed < 1.5 + 0.5, elapsed
    assert never_answers.invocations == 1


@pytest.mark.parametrize(
    "path, shape",
    [("/v1.0/appkeys/a/general", "header"), ("/custom/v1/1/s/general", "code"), ("/general_ocr", "error")],
)
def test_errors_take_the_shape_of_the_api_called_from_the_first_check(path, shape):
    # A body API Gateway marked base64 that is not: refused before any door code runs.
    response = handler(
        {
            "httpMethod": "POST",
            "path": path,
            "body": "not base64!",
            "isBase64Encoded": True,
            "requestContext": {"requestId": "r"},
        },
        Context(),
    )
    status, body = answer(response)
    assert status == 400 and shape in body


def custom_domain_event(request: dict, path: str, resource: str) -> dict:
    """The event API Gateway sends behind a custom domain with a base path mapping (`ocr` ->
    this API's stage): the prefixed path in `path`, the route's template in `resource` and
    `requestContext.resourcePath`."""
    return {
        **request,
        "path": path,
        "resource": resource,
        "requestContext": {"requestId": "r", "resourcePath": resource},
    }


def test_behind_a_custom_domain_general_ocr_is_routed_by_its_resource(sagemaker):
    ok(sagemaker)
    status, body = answer(handler(custom_domain_event(event(LINE), "/ocr/general_ocr", "/general_ocr"), Context()))
    assert status == 200 and body == ANSWER


def test_behind_a_custom_domain_the_nhn_route_answers_in_nhns_shape():
    request = event({"imageUrl": "s3://a-bucket-not-allowed/x.png"})
    response = handler(
        custom_domain_event(request, "/ocr/v1.0/appkeys/app/general", "/v1.0/appkeys/{appKey}/general"), Context()
    )
    status, body = answer(response)
    assert status == 403 and body["header"]["resultCode"] == -43  # UrlNotAllowed, answered by the NHN door
