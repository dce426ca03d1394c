"""End to end over HTTP: the local gateway -> the real Lambda handler -> boto3 -> the real
inference server. Every row of the error table, malformed input, and concurrency."""

import base64
import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import EXPECTED, LocalStack, encode, fixture_bytes, fixture_image, free_port, http, norm, png_header
from tests.httpfixtures import ImageServer

pytestmark = pytest.mark.e2e


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def images():
    with ImageServer({"line.png": fixture_bytes("line.png")}) as server:
        yield server


def test_reads_an_uploaded_image(local_stack):
    status, body, headers = local_stack.post({"img": b64(fixture_bytes("receipt.png"))})
    assert status == 200
    assert [norm(line["words"]) for line in body] == [norm(t) for t in EXPECTED["receipt.png"]]
    assert headers["X-Request-Id"]


def test_reads_an_image_by_url(local_stack, images):
    status, body, _ = local_stack.post({"url": images.base + "/file/line.png"})
    assert status == 200 and [norm(line["words"]) for line in body] == [norm(EXPECTED["line.png"][0])]


def test_blank_image_is_an_empty_array(local_stack):
    assert local_stack.post({"img": b64(fixture_bytes("blank.png"))})[:2] == (200, [])


def error_rows(images_base):
    gif = encode(Image.new("RGB", (8, 8)), "GIF")
    wide = encode(Image.new("L", (5000, 10)))
    return [
        (b"{not json", 400, "InvalidRequest"),
        ({"url": "https://example.com/a.png", "img": "AAAA"}, 400, "InvalidRequest"),
        ({"img": 42}, 400, "InvalidRequest"),
        ({"img": "%%% not base64 %%%"}, 400, "InvalidImage"),
        ({"img": b64(b"plain text, not an image")}, 400, "InvalidImage"),
        ({"img": b64(gif)}, 400, "UnsupportedImageFormat"),
        ({"img": b64(wide)}, 400, "ImageTooLarge"),
        ({"img": b64(b"\x00" * (11 * 1024 * 1024))}, 413, "PayloadTooLarge"),
        ({"url": "ftp://example.com/a.png"}, 400, "InvalidUrl"),
        ({"url": "http://169.254.169.254/latest/meta-data/"}, 403, "UrlNotAllowed"),
        ({"url": "http://[::ffff:10.0.0.1]/a.png"}, 403, "UrlNotAllowed"),
        ({"url": "s3://someone-elses-bucket/a.png"}, 403, "UrlNotAllowed"),
        ({"url": images_base + "/status/404"}, 400, "UrlFetchFailed"),
        ({"url": images_base + "/to?url=http://192.168.0.1/x.png"}, 403, "UrlNotAllowed"),
    ]


def test_every_client_error_row(local_stack, images):
    for payload, status, code in error_rows(images.base):
        got_status, body, headers = local_stack.post(payload)
        assert (got_status, body["error"]["code"]) == (status, code), (
            payload if not isinstance(payload, dict) else list(payload),
            body,
        )
        assert body["error"]["message"] and body["requestId"] == headers["X-Request-Id"]


def test_model_not_ready_when_the_endpoint_is_not_up():
    stack = LocalStack(["--inference-url", f"http://127.0.0.1:{free_port()}"], wait_ready=False)
    try:
        status, body, _ = stack.post({"img": b64(fixture_bytes("line.png"))})
        assert (status, body["error"]["code"]) == (503, "ModelNotReady")
    finally:
        stack.stop()


def test_internal_error_when_the_model_answers_garbage(images):
    # The image server answers POSTs with a non-JSON 501 page: what a broken container would do.
    stack = LocalStack(["--inference-url", images.base], wait_ready=False)
    try:
        status, body, _ = stack.post({"img": b64(fixture_bytes("line.png"))})
        assert (status, body["error"]["code"]) == (500, "InternalError")
        assert "<" not in body["error"]["message"] and body["requestId"] in body["error"]["message"]
    finally:
        stack.stop()


def mutated_inputs(seed: int, count: int, images_base: str):
    rng = random.Random(seed)
    png, jpeg = fixture_bytes("line.png"), encode(fixture_image("line.png").convert("RGB"), "JPEG")
    bomb = png_header(60000, 60000)
    loopbacks = [
        "http://127.0.0.1/",
        "http://localhost:8080/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://127.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0177.0.0.1/",
        "http://0/",
        "http://169.254.169.254/",
    ]
    for i in range(count):
        kind = i % 6
        if kind == 0:  # flipped bytes
            data = bytearray(rng.choice([png, jpeg]))
            for _ in range(rng.randint(1, 20)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            yield {"img": b64(bytes(data))}
        elif kind == 1:  # truncated
            data = rng.choice([png, jpeg])
            yield {"img": b64(data[: rng.randrange(1, len(data))])}
        elif kind == 2:  # header claiming a huge image
            yield {"img": b64(bomb + bytes(rng.randrange(256) for _ in range(rng.randint(0, 64))))}
        elif kind == 3:  # broken JSON
            text = json.dumps({"img": b64(png[:200])})
            cut = rng.randrange(1, len(text))
            yield (text[:cut] + rng.choice(["", "}", "\x00", "\\", '"', "]"])).encode()
        elif kind == 4:  # wrong types and shapes
            yield rng.choice(
                [
                    [],
                    [1],
                    "img",
                    1.5,
                    None,
                    {"img": None},
                    {"url": ["x"]},
                    {"img": {"a": 1}},
                    {"url": True},
                    {"img": "", "url": ""},
                    {"URL": "http://a"},
                    {"img": 10**30},
                ]
            )
        else:  # loopback and metadata URLs in every spelling
            yield {"url": rng.choice(loopbacks) + "x.png"}


def test_malformed_and_mutated_inputs_never_5xx(local_stack, images):
    statuses = []
    for payload in mutated_inputs(20261121, 300, images.base):
        status, body, _ = local_stack.post(payload if isinstance(payload, bytes) else json.dumps(payload).encode())
        statuses.append(status)
        assert status < 500, (status, body)
        assert isinstance(body, list) or set(body["error"]) == {"code", "message"}
    assert len(statuses) == 300
    assert http("GET", local_stack.base + "/ping")[0] == 200


def test_concurrent_requests(local_stack):
    payloads = [
        {"img": b64(fixture_bytes(n))} for n in ("line.png", "receipt.png", "upside_down.png", "small_plate.png")
    ] * 4
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(local_stack.post, payloads))
    for payload, (status, body, _) in zip(payloads, results):
        assert status == 200
        assert body == results[payloads.index(payload)][1]


def test_real_size_images_through_the_gateway_match_in_process(local_stack, engine, real_size_images):
    # What users send, the way the README tells them to: a ~3 MB photo and a 4096x4096 page as
    # `img`, a ~9.5 MB PNG by `url` (which the Lambda must shrink under SageMaker's 6 MB).
    from frontend.pipeline import _rescale
    from frontend.shrink import fit_invoke_limit
    from inference.images import decode_image

    def in_process(data):
        sent, scale = fit_invoke_limit(data)
        lines = json.loads(json.dumps([line.to_api() for line in engine.read(decode_image(sent))]))
        if scale != 1.0:
            _rescale(lines, scale)
        return lines

    expected = {name: in_process(data) for name, data in real_size_images.items()}
    assert all(expected.values())
    with ImageServer({"big.png": real_size_images["big.png"]}) as server:
        for _ in range(3):
            for name in ("photo.jpg", "page.png"):
                status, body, _ = local_stack.post({"img": b64(real_size_images[name])}, timeout=120)
                assert status == 200 and body == expected[name], (name, status, body if status != 200 else "")
            status, body, _ = local_stack.post({"url": server.base + "/file/big.png"}, timeout=120)
            assert status == 200 and body == expected["big.png"], (status, body if status != 200 else "")


def test_a_url_with_a_chinese_file_name(local_stack):
    with ImageServer({"发票.png": fixture_bytes("line.png")}) as server:
        status, body, _ = local_stack.post({"url": server.base + "/file/发票.png"})
    assert status == 200 and [norm(line["words"]) for line in body] == [norm(EXPECTED["line.png"][0])]


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"POST /general_ocr HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \xd9\xa1\r\n\r\n1",
        b"POST /general_ocr HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: 9\r\nConnection: close\r\n\r\nnot gzip!",
    ],
)
def test_malformed_http_gets_a_json_answer(local_stack, raw):
    from tests.test_server import raw_exchange

    status, body = raw_exchange(local_stack.port, raw.replace(b"{host}", f"127.0.0.1:{local_stack.port}".encode()))
    assert 400 <= status < 500 and set(body["error"]) == {"code", "message"}


def test_cross_site_form_posts_are_refused(local_stack):
    status, body, _ = http(
        "POST", local_stack.base + "/general_ocr", b'{"img": "AAAA"}', headers={"Content-Type": "text/plain"}
    )
    assert (status, body["error"]["code"]) == (415, "UnsupportedMediaType")
    status, body, _ = http(
        "POST",
        local_stack.base + "/general_ocr",
        b'{"img": "AAAA"}',
        headers={"Content-Type": "application/json", "Origin": "http://evil.example"},
    )
    assert (status, body["error"]["code"]) == (403, "Forbidden")


def test_serve_says_when_it_is_ready_and_ctrl_c_stops_both_processes():
    # One stack for both (each start loads the models): `make serve` prints "ready in", and
    # Ctrl-C ends the gateway and the inference server it started, with exit status 0.
    stack = LocalStack()
    try:
        deadline = time.time() + 10
        while "ready in" not in Path(stack.log.name).read_text() and time.time() < deadline:
            time.sleep(0.2)
        assert "ready in" in Path(stack.log.name).read_text()
        inference_port = int(stack.process.args[stack.process.args.index("--inference-port") + 1])
        assert http("GET", f"http://127.0.0.1:{inference_port}/ping")[0] == 200
    finally:
        assert stack.stop() == 0
    deadline = time.time() + 2
    while time.time() < deadline:  # its socket closes as it exits, moments after the gateway
        try:
            http("GET", f"http://127.0.0.1:{inference_port}/ping", timeout=2)
        except OSError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the inference server still answers after Ctrl-C")


def test_serve_fails_fast_when_its_second_port_is_taken():
    import socket
    import subprocess
    import sys

    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port + 1))
        taken.listen()
        start = time.time()
        result = subprocess.run(
            [sys.executable, "-m", "local", "--port", str(port)], capture_output=True, text=True, timeout=60
        )
    assert result.returncode != 0 and time.time() - start < 20
    assert f"port {port + 1}" in result.stderr and "in use" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_the_readmes_curl_line_works_for_a_multi_megabyte_photo(local_stack, real_size_images, tmp_path):
    # Pasted from the README, with only the file and the port changed. Its first version passed
    # the base64 as one argument: any image over ~96 KB failed with "Argument list too long".
    import re
    import shutil
    import subprocess
    from pathlib import Path

    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    command = re.search(
        r"```bash\n(\{ printf '\{\"img\": \"'; base64 < tests/fixtures/receipt\.png.*?)\n```", readme, re.S
    ).group(1)
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(real_size_images["photo.jpg"])
    command = command.replace("tests/fixtures/receipt.png", str(photo)).replace(
        "127.0.0.1:8080", f"127.0.0.1:{local_stack.port}"
    )
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
    lines = json.loads(result.stdout)
    assert isinstance(lines, list) and len(lines) >= 12, result.stdout[:300] + result.stderr[:300]
