"""Property-based tests: nothing a client sends yields a 5xx or a non-JSON error.

Over 10,000 generated cases in all (a tenth in `make test-fast`) (hypothesis, derandomized so that CI is reproducible): the
request parser, the Lambda handler with API Gateway events of every shape, the URL guard, and
the image decoder. DNS is answered by a stand-in (no network), mixing public and internal
addresses; the model call is a stand-in that answers an empty result.
"""

import base64
import json
import socket
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frontend import handler as handler_module
from frontend import pipeline
from frontend.s3_fetch import parse_s3_url
from inference.images import decode_image
from ocr_contract import ApiError, ErrorCode, parse_request
from tests.conftest import encode, fixture_image
from urlfetch.guard import check_http_url

CODES = {code.value for code in ErrorCode}


def examples(full: int) -> int:
    """`full` cases under hypothesis's default profile (100 examples); scaled with the profile
    in use: `make test-fast` runs `--hypothesis-profile=fast` (tests/conftest.py), a tenth."""
    return max(10, full * settings.default.max_examples // 100)


SETTINGS = dict(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)


def client_error(exc: ApiError) -> None:
    assert exc.status < 500, (exc.code, exc.message)
    assert exc.code.value in CODES and exc.message


# -- DNS stand-in: a host name's hash picks a public or an internal address -------------------
ADDRESSES = ["8.8.8.8", "10.0.0.1", "127.0.0.1", "169.254.169.254", "::1", "fec0::1", "2606:4700::1111", "192.168.1.1"]


def fake_getaddrinfo(host, port, *args, **kwargs):
    if not host or len(str(host)) > 253:
        raise socket.gaierror("no such host")
    address = ADDRESSES[zlib.crc32(str(host).encode("utf-8", "surrogatepass")) % len(ADDRESSES)]
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return [(family, socket.SOCK_STREAM, 6, "", (address, port))]


@pytest.fixture(autouse=True)
def offline_dns(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    monkeypatch.delenv("OCR_TEST_ALLOW_LOOPBACK_URLS", raising=False)


# -- strategies --------------------------------------------------------------------------------
PNG = encode(fixture_image("line.png").convert("L"))
JPEG = encode(fixture_image("line.png").convert("RGB"), "JPEG", quality=80)
BMP = encode(fixture_image("line.png").convert("RGB").resize((60, 12)), "BMP")

hosts = st.one_of(
    st.sampled_from(
        [
            "example.com",
            "127.0.0.1",
            "0x7f000001",
            "2130706433",
            "[::1]",
            "[fec0::1]",
            "169.254.169.254",
            "例子.测试",
            "xn--fsqu00a.xn--0zwm56d",
            "a..b",
            "-x-.com",
            "[::ffff:10.0.0.1]",
            "localhost",
        ]
    ),
    st.text(min_size=1, max_size=30),
)
urls = st.one_of(
    st.builds(
        lambda scheme, host, port, path, query: f"{scheme}://{host}{port}/{path}{query}",
        st.sampled_from(["http", "https", "HTTP", "ftp", "s3", "file", "gopher", ""]),
        hosts,
        st.sampled_from(["", ":80", ":443", ":22", ":0", ":99999", ":-1", ":8080", ":x"]),
        st.text(max_size=40),
        st.sampled_from(["", "?a=b", "?名=值", "#frag", "?%zz"]),
    ),
    st.text(max_size=100),
)


def mutate(data: bytes, cuts, flips, tail: bytes) -> bytes:
    out = bytearray(data)
    for position, value in flips:
        out[position % len(out)] = value
    cut = cuts % (len(out) + 1)
    return bytes(out[:cut]) + tail


images = st.one_of(
    st.builds(
        mutate,
        st.sampled_from([PNG, JPEG, BMP]),
        st.integers(0, 10_000),
        st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
        st.binary(max_size=40),
    ),
    st.builds(
        lambda magic, rest: magic + rest,
        st.sampled_from([b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBP", b""]),
        st.binary(max_size=200),
    ),
)
# No subnormal floats: onnxruntime turns on flush-to-zero for the whole process.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_subnormal=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
payloads = st.one_of(
    st.fixed_dictionaries({"url": urls}),
    st.fixed_dictionaries(
        {"img": st.one_of(st.builds(lambda b: base64.b64encode(b).decode(), images), st.text(max_size=60))}
    ),
    st.dictionaries(st.sampled_from(["url", "img", "image", "URL", ""]), json_values, max_size=3),
    json_values,
)
bodies = st.one_of(
    payloads.map(lambda p: json.dumps(p, ensure_ascii=False)),
    st.text(max_size=200),
    st.binary(max_size=200),
    st.sampled_from(["[" * 50_000, "{" * 50_000, '{"img": "' + "A" * 100 + '"', "\ufeff{}", "null"]),
)


# -- properties --------------------------------------------------------------------------------
@settings(max_examples=examples(3000), **SETTINGS)
@given(bodies)
def test_the_request_parser_never_fails_with_a_server_error(body):
    try:
        parse_request(body)
    except ApiError as exc:
        client_error(exc)


@settings(max_examples=examples(2500), **SETTINGS)
@given(urls)
def test_the_url_guard_never_fails_with_a_server_error(url):
    try:
        target = check_http_url(url)
    except ApiError as exc:
        client_error(exc)
        return
    assert target.path.isascii() and target.host.isascii()
    assert target.address in ("8.8.8.8", "2606:4700::1111") and target.port in (80, 443)


@settings(max_examples=examples(2000), **SETTINGS)
@given(images)
def test_the_image_decoder_never_fails_with_a_server_error(data):
    try:
        pixels = decode_image(data)
    except ApiError as exc:
        client_error(exc)
        return
    assert pixels.ndim == 3 and pixels.shape[2] == 3


def _fake_fetch(url, deadline=None):
    check_http_url(url)  # the real guard; the bytes are then a fixed image, not a download
    return PNG


events = st.fixed_dictionaries(
    {
        "body": st.one_of(bodies, st.none(), json_values),
        "isBase64Encoded": st.one_of(st.booleans(), json_values),
        "httpMethod": st.sampled_from(["POST", "POST", "POST", "GET", "PUT", ""]),
        "headers": st.one_of(
            st.none(),
            st.dictionaries(
                st.sampled_from(["Content-Type", "content-type", "X-Other"]),
                st.one_of(
                    st.sampled_from(["application/json", "text/plain", "application/json; charset=utf-8"]), json_values
                ),
                max_size=2,
            ),
        ),
        "requestContext": st.one_of(st.fixed_dictionaries({"requestId": st.text(max_size=20)}), json_values),
    },
    optional={"resource": json_values},
)


@settings(max_examples=examples(3000), **SETTINGS)
@given(events)
def test_the_lambda_handler_never_answers_a_server_error(event):
    response = handler_module.handler(event, None)
    assert response["statusCode"] < 500, response
    body = json.loads(response["body"])
    if response["statusCode"] == 200:
        assert body == []
    else:
        assert body["error"]["code"] in CODES and body["error"]["message"] and body["requestId"]


@pytest.fixture(autouse=True)
def stand_in_model_and_fetchers(monkeypatch):
    monkeypatch.setattr(pipeline, "invoke", lambda image, request_id, deadline=None, detail=False, **options: b"[]")
    monkeypatch.setattr(pipeline, "fetch_http", _fake_fetch)
    monkeypatch.setattr(pipeline, "fetch_s3", lambda url: (parse_s3_url(url), PNG)[1])


# -- the NHN and CLOVA doors: their own request shapes, forms included ------------------------
NHN_PATHS = ["/v1.0/appkeys/k/general", "/v1.0/appkeys/k/general/cropping"]
CLOVA_PATH = "/custom/v1/1/sig/general"
b64 = base64.b64encode(PNG).decode()
clova_images = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "format": st.one_of(st.sampled_from(["png", "jpg", "pdf", "tiff", "gif", ""]), json_values),
            "name": st.one_of(st.just("a"), json_values),
            "data": st.one_of(st.sampled_from([b64, "JVBERi0xLjQK", "SUkqAAgAAAA=", "!!"]), json_values),
            "url": st.one_of(
                st.sampled_from(["https://example.com/a.png", "http://10.0.0.1/a.png", "s3://b/k.png"]), json_values
            ),
        },
    ),
    max_size=2,
)
clova_messages = st.fixed_dictionaries(
    {},
    optional={
        "version": st.one_of(st.sampled_from(["V1", "V2", "v2", "V9"]), json_values),
        "requestId": st.one_of(st.just("id"), json_values),
        "timestamp": st.one_of(st.just(1722225600000), st.just("1722225600000"), json_values),
        "images": st.one_of(clova_images, json_values),
        "enableTableDetection": json_values,
    },
)
nhn_bodies = st.fixed_dictionaries(
    {},
    optional={
        "imageUrl": st.one_of(
            st.sampled_from(["https://example.com/a.png", "http://127.0.0.1/a.png", "s3://b/k.png", ""]), json_values
        )
    },
)


def _form(fields: dict, boundary: str = "XyZ") -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value
        for name, value in fields.items()
    ]
    return b"\r\n".join(parts) + f"\r\n--{boundary}--\r\n".encode()


door_events = st.one_of(
    st.tuples(st.sampled_from(NHN_PATHS), st.just("application/json"), nhn_bodies.map(json.dumps)),
    st.tuples(
        st.sampled_from(NHN_PATHS),
        st.just("multipart/form-data; boundary=XyZ"),
        st.sampled_from([PNG, JPEG, b"%PDF-1.4", b""]).map(lambda f: _form({"image": f})),
    ),
    st.tuples(st.just(CLOVA_PATH), st.just("application/json"), clova_messages.map(json.dumps)),
    st.tuples(
        st.just(CLOVA_PATH),
        st.sampled_from(["multipart/form-data; boundary=XyZ", "multipart/form-data"]),
        st.tuples(clova_messages.map(json.dumps), st.sampled_from([PNG, b"II*\x00junk", b"%PDF-junk", b""])).map(
            lambda mf: _form({"message": mf[0].encode(), "file": mf[1]})
        ),
    ),
    st.tuples(
        st.sampled_from(NHN_PATHS + [CLOVA_PATH]),
        st.sampled_from(["text/plain", "multipart/form-data; boundary=XyZ"]),
        st.one_of(st.binary(max_size=300), st.text(max_size=300)),
    ),
)


@settings(max_examples=examples(1500), **SETTINGS)
@given(door_events, st.booleans())
def test_the_other_doors_never_answer_a_server_error(door_event, base64_body):
    path, content_type, body = door_event
    raw = body.encode() if isinstance(body, str) else body
    event = {
        "httpMethod": "POST",
        "path": path,
        "headers": {"Content-Type": content_type},
        "body": base64.b64encode(raw).decode() if base64_body else raw.decode("utf-8", "replace"),
        "isBase64Encoded": base64_body,
        "requestContext": {"requestId": "r"},
    }
    response = handler_module.handler(event, None)
    assert response["statusCode"] < 500, response
    answer = json.loads(response["body"])
    if path == CLOVA_PATH:
        assert response["statusCode"] == 200 or (answer["code"] in CODES and answer["message"])
    else:
        header = answer["header"]
        assert header["isSuccessful"] == (response["statusCode"] == 200)
        assert response["statusCode"] == 200 or (header["resultCode"] < 0 and header["resultMessage"])
