"""The Lambda handler, with SageMaker stubbed (botocore Stubber) and S3 mocked (moto)."""
import base64
import io
import json

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws
from PIL import Image

from frontend import endpoint, handler as handler_module, s3_fetch
from frontend.handler import handler
from frontend.shrink import INVOKE_LIMIT_BYTES
from tests.conftest import fixture_bytes

ANSWER = [{"words": "中文", "location": {"top": 1, "left": 2, "width": 30, "height": 10}, "score": 0.99}]


class Context:
    aws_request_id = "lambda-req-1"


def event(body, method="POST", base64_body=False):
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    if base64_body:
        body = base64.b64encode(body.encode() if isinstance(body, str) else body).decode()
    return {"httpMethod": method, "resource": "/general_ocr", "path": "/general_ocr", "body": body,
            "isBase64Encoded": base64_body, "requestContext": {"requestId": "api-req-1"}}


@pytest.fixture
def sagemaker(monkeypatch):
    monkeypatch.setenv("ENDPOINT_NAME", "ocr-endpoint")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("sagemaker-runtime", region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
    monkeypatch.setattr(endpoint, "_client", client)
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def ok(stub, body_check=ANY):
    stub.add_response("invoke_endpoint", {"Body": io.BytesIO(json.dumps(ANSWER).encode()), "ContentType": "application/json"},
                      {"EndpointName": "ocr-endpoint", "Body": body_check, "ContentType": "application/octet-stream",
                       "Accept": "application/json", "CustomAttributes": "requestId=api-req-1"})


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


@pytest.mark.parametrize("status,code", [(400, "ImageTooLarge"), (400, "UnsupportedImageFormat"), (413, "PayloadTooLarge"),
                                         (503, "ModelNotReady")])
def test_container_errors_keep_their_status_and_code(sagemaker, status, code):
    original = json.dumps({"error": {"code": code, "message": "from the container"}, "requestId": "container-id"})
    sagemaker.add_client_error("invoke_endpoint", service_error_code="ModelError", service_message="x",
                               http_status_code=424,
                               response_meta={}, modeled_fields={"OriginalStatusCode": status, "OriginalMessage": original})
    assert answer(handler(event({"img": "AAAA"}), Context())) == (
        status, {"error": {"code": code, "message": "from the container"}, "requestId": "api-req-1"})


def test_unreadable_container_error_is_500_without_details(sagemaker):
    sagemaker.add_client_error("invoke_endpoint", service_error_code="ModelError", service_message="x", http_status_code=424,
                               modeled_fields={"OriginalStatusCode": 500, "OriginalMessage": "Traceback (most recent call last): ..."})
    status, body = answer(handler(event({"img": "AAAA"}), Context()))
    assert status == 500 and body["error"]["code"] == "InternalError"
    assert "Traceback" not in json.dumps(body) and "api-req-1" in body["error"]["message"]


def test_endpoint_not_in_service_is_503(sagemaker):
    sagemaker.add_client_error("invoke_endpoint", service_error_code="ValidationError",
                               service_message="Endpoint ocr-endpoint of account 1 not found.", http_status_code=400)
    assert answer(handler(event({"img": "AAAA"}), Context()))[1]["error"]["code"] == "ModelNotReady"


@pytest.mark.parametrize("ev,status,code", [
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
])
def test_request_errors_never_reach_the_endpoint(sagemaker, ev, status, code):
    got_status, body = answer(handler(ev, Context()))
    assert (got_status, body["error"]["code"]) == (status, code)
    assert body["requestId"] == "api-req-1"


def test_unexpected_failure_is_500_with_request_id_and_no_trace(sagemaker, monkeypatch):
    def boom(*a, **k):
        raise KeyError("secret internals")

    monkeypatch.setattr(handler_module, "invoke", boom)
    status, body = answer(handler(event({"img": "AAAA"}), Context()))
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


@pytest.mark.parametrize("url,status,code", [
    ("s3://secret-bucket/a.png", 403, "UrlNotAllowed"),
    ("s3://team-images/missing.png", 400, "UrlFetchFailed"),
    ("s3://team-images/huge.png", 400, "UrlFetchFailed"),
])
def test_s3_refusals(sagemaker, s3, url, status, code):
    got_status, body = answer(handler(event({"url": url}), Context()))
    assert (got_status, body["error"]["code"]) == (status, code), body


def test_no_bucket_is_allowed_by_default(sagemaker, monkeypatch):
    monkeypatch.delenv("ALLOWED_BUCKETS", raising=False)
    assert answer(handler(event({"url": "s3://any-bucket/a.png"}), Context()))[0] == 403


def test_images_over_the_invoke_limit_are_shrunk_and_boxes_mapped_back(sagemaker, monkeypatch):
    import numpy as np

    noise = np.random.default_rng(1).integers(0, 256, (1500, 1800, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noise).save(out, "PNG")
    big = out.getvalue()
    assert INVOKE_LIMIT_BYTES < len(big) <= 10 * 1024 * 1024
    sent = {}

    def fake_invoke(image, request_id):
        sent["image"] = image
        return json.dumps(ANSWER).encode()

    monkeypatch.setattr(handler_module, "invoke", fake_invoke)
    status, body = answer(handler(event({"img": base64.b64encode(big).decode()}), Context()))
    assert status == 200
    assert len(sent["image"]) <= INVOKE_LIMIT_BYTES
    shrunk = Image.open(io.BytesIO(sent["image"]))
    scale = shrunk.width / 1800
    expected = {k: int(round(v / scale)) for k, v in ANSWER[0]["location"].items()}
    assert body[0]["location"] == expected
