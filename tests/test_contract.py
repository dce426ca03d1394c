"""The request contract, shared by the Lambda and the local stack."""

import base64
import json

import pytest

from ocr_contract import ApiError, parse_request
from ocr_contract.errors import ErrorCode, error_status


def code_of(body) -> str:
    with pytest.raises(ApiError) as info:
        parse_request(body)
    return info.value.code.value


def test_url_and_img_requests():
    assert parse_request('{"url": " https://example.com/a.png "}').url == "https://example.com/a.png"
    data = b"\x89PNG-not-really"
    assert parse_request(json.dumps({"img": base64.b64encode(data).decode()})).image == data
    prefixed = "data:image/png;base64," + base64.b64encode(data).decode()
    assert parse_request(json.dumps({"img": prefixed})).image == data
    wrapped = base64.encodebytes(data * 40).decode()  # MIME-style line breaks are tolerated
    assert parse_request(json.dumps({"img": wrapped})).image == data * 40


@pytest.mark.parametrize(
    "body,code",
    [
        (None, "InvalidRequest"),
        ("", "InvalidRequest"),
        ("{not json", "InvalidRequest"),
        ("[1, 2]", "InvalidRequest"),
        ('"url"', "InvalidRequest"),
        ("{}", "InvalidRequest"),
        ('{"url": "https://a/b", "img": "AAAA"}', "InvalidRequest"),
        ('{"url": 5}', "InvalidRequest"),
        ('{"img": ["AAAA"]}', "InvalidRequest"),
        ('{"img": null}', "InvalidRequest"),
        ('{"image": "AAAA"}', "InvalidRequest"),
        ('{"url": "https://a/b", "extra": 1}', "InvalidRequest"),
        ('{"url": ""}', "InvalidUrl"),
        ('{"url": "https://a/' + "x" * 3000 + '"}', "InvalidUrl"),
        ('{"img": "***not base64***"}', "InvalidImage"),
        ('{"img": "QUJ"}', "InvalidImage"),
        ('{"img": ""}', "InvalidImage"),
        ('{"img": "5Lit5paH"}', None),  # valid: decoding is the container's job, not the parser's
    ],
)
def test_bad_requests(body, code):
    if code is None:
        assert parse_request(body).image
    else:
        assert code_of(body) == code


def test_oversized_image_is_413():
    big = base64.b64encode(b"\x00" * (10 * 1024 * 1024 + 1)).decode()
    assert code_of(json.dumps({"img": big})) == "PayloadTooLarge"
    assert code_of("x" * (15 * 1024 * 1024)) == "PayloadTooLarge"


def test_every_code_has_its_documented_status():
    documented = {
        "InvalidRequest": 400,
        "InvalidImage": 400,
        "UnsupportedImageFormat": 400,
        "ImageTooLarge": 400,
        "PayloadTooLarge": 413,
        "InvalidUrl": 400,
        "UrlNotAllowed": 403,
        "UrlFetchFailed": 400,
        "InternalError": 500,
        "ModelNotReady": 503,
    }
    for code, status in documented.items():
        assert error_status(code) == status
    body = ApiError(ErrorCode.IMAGE_TOO_LARGE, "too big").body("req-1")
    assert body == {"error": {"code": "ImageTooLarge", "message": "too big"}, "requestId": "req-1"}
