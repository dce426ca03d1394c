"""The inference server: the SageMaker container contract over HTTP."""

import asyncio
import json
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer

from inference.config import EngineConfig
from inference.images import decode_image
from inference.serving.server import ADMISSION, SETTINGS, STATE, create_app
from tests.conftest import EXPECTED, fixture_bytes, fixture_image, many_scan_jpeg, norm, png_header


async def until(condition, timeout: float = 10.0) -> None:
    """Waits (without blocking the server's loop) until condition() is true."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        await asyncio.sleep(0.005)


def run(app, scenario):
    async def main():
        async with TestClient(TestServer(app)) as client:
            return await scenario(client)

    return asyncio.run(main())


@pytest.fixture
def app(engine):
    return create_app(engine=engine, workers=2, queue=4)


def test_ping_and_invocations(app):
    async def scenario(client):
        ping = await client.get("/ping")
        assert ping.status == 200 and (await ping.json())["status"] == "ok"
        assert (await ping.json())["precision"] == "int8"  # on a CPU, by default
        for path in ("/invocations",):
            r = await client.post(path, data=fixture_bytes("receipt.png"), headers={"Content-Type": "image/png"})
            assert r.status == 200
            lines = await r.json()
            assert [norm(line["words"]) for line in lines] == [norm(t) for t in EXPECTED["receipt.png"]]
            assert set(lines[0]) == {"words", "location", "score"}
            assert r.headers["X-Request-Id"]

    run(app, scenario)


def test_request_id_from_sagemaker_custom_attributes(app):
    async def scenario(client):
        r = await client.post(
            "/invocations",
            data=b"junk",
            headers={
                "Content-Type": "application/octet-stream",
                "X-Amzn-SageMaker-Custom-Attributes": "requestId=abc-123",
            },
        )
        body = await r.json()
        assert r.status == 400 and body["requestId"] == "abc-123" and r.headers["X-Request-Id"] == "abc-123"

    run(app, scenario)


@pytest.mark.parametrize(
    "body,headers,status,code",
    [
        (b"not an image", {}, 400, "InvalidImage"),
        (b"GIF89a" + b"\x00" * 30, {}, 400, "UnsupportedImageFormat"),
        (None, {}, 400, "ImageTooLarge"),
        (b"", {}, 400, "InvalidImage"),
        (b"{}", {"Content-Type": "application/json"}, 400, "InvalidRequest"),
    ],
)
def test_errors_are_json_with_the_right_status(app, body, headers, status, code):
    body = png_header(60000, 60000) if body is None else body

    async def scenario(client):
        r = await client.post("/invocations", data=body, headers={"Content-Type": "image/png", **headers})
        payload = await r.json()
        assert (r.status, payload["error"]["code"]) == (status, code)
        assert payload["error"]["message"] and payload["requestId"]

    run(app, scenario)


def test_over_10_mib_is_413(app):
    async def scenario(client):
        r = await client.post(
            "/invocations", data=b"\x00" * (10 * 1024 * 1024 + 10), headers={"Content-Type": "image/png"}
        )
        assert r.status == 413 and (await r.json())["error"]["code"] == "PayloadTooLarge"

    run(app, scenario)


def test_unknown_paths_and_methods_are_json(app):
    async def scenario(client):
        r = await client.get("/nope")
        assert r.status == 404 and (await r.json())["error"]["code"] == "NotFound"
        r = await client.get("/invocations")
        assert r.status == 405 and (await r.json())["error"]["code"] == "MethodNotAllowed"

    run(app, scenario)


def test_models_not_loaded_yet(tmp_path, monkeypatch):
    monkeypatch.setenv("OCR_MODEL_DIR", str(tmp_path))  # nothing there: loading fails
    app = create_app(EngineConfig())

    async def scenario(client):
        await until(lambda: app[STATE].get("failed"))  # loading has given up
        assert (await client.get("/ping")).status == 503
        r = await client.post("/invocations", data=fixture_bytes("line.png"), headers={"Content-Type": "image/png"})
        assert r.status == 503 and (await r.json())["error"]["code"] == "ModelNotReady"

    run(app, scenario)


def test_ping_answers_while_inference_runs_and_excess_work_is_refused(engine):
    import threading

    gate = threading.Event()
    original = engine.read

    class SlowEngine:
        provider = engine.provider
        rec_precision = engine.rec_precision

        def read(self, image, deadline=None, detail=False, lang=None):
            gate.wait(10)
            return original(image)

    app = create_app(engine=SlowEngine(), workers=1, queue=1)

    async def scenario(client):
        def post():
            return client.post("/invocations", data=fixture_bytes("line.png"), headers={"Content-Type": "image/png"})

        first, second = asyncio.ensure_future(post()), asyncio.ensure_future(post())
        await until(lambda: app[ADMISSION].in_flight == 2)  # one reading, one queued
        ping = await client.get("/ping")
        assert ping.status == 200  # not blocked by inference
        third = await post()  # 1 running + 1 queued: full
        assert third.status == 503 and (await third.json())["error"]["code"] == "ServerBusy"
        gate.set()
        assert [(await r).status for r in (first, second)] == [200, 200]

    run(app, scenario)


def test_real_size_images_are_read_whole_every_time(app, engine, real_size_images):
    # StreamReader.read(n) returns what is buffered, not n bytes: a 230 KB scan came out
    # "corrupt or truncated" one time in three. Multi-MB bodies, sent repeatedly, must give
    # exactly the in-process answer.
    expected = {
        name: [line.to_api() for line in engine.read(decode_image(data))] for name, data in real_size_images.items()
    }

    async def scenario(client):
        for _ in range(3):
            for name, data in real_size_images.items():
                r = await client.post("/invocations", data=data, headers={"Content-Type": "application/octet-stream"})
                assert r.status == 200, (name, await r.text())
                assert await r.json() == expected[name], name

    run(app, scenario)


def test_decode_bombs_are_refused_at_once_and_ordinary_requests_go_on(engine):
    import time

    bomb = many_scan_jpeg()  # 1.2 MB, 4096x4096, ~36,000 scans: minutes of CPU to decode
    app = create_app(engine=engine, workers=2, queue=4)

    async def scenario(client):
        async def timed(data):
            start = time.monotonic()
            r = await client.post("/invocations", data=data, headers={"Content-Type": "image/jpeg"})
            return r.status, await r.json(), time.monotonic() - start

        results = await asyncio.gather(*[timed(bomb) for _ in range(3)], timed(fixture_bytes("receipt.png")))
        for status, body, elapsed in results[:3]:
            assert (status, body["error"]["code"]) == (400, "InvalidImage") and "scans" in body["error"]["message"]
            assert elapsed < 10
        status, body, elapsed = results[3]
        assert status == 200 and [norm(line["words"]) for line in body] == [norm(t) for t in EXPECTED["receipt.png"]]
        assert elapsed < 10

    run(app, scenario)


def test_a_request_past_its_deadline_is_answered_504_and_frees_its_slot(engine, real_size_images):
    app = create_app(engine=engine, workers=1, queue=0, timeout_s=0.05)

    async def scenario(client):
        r = await client.post("/invocations", data=real_size_images["page.png"], headers={"Content-Type": "image/png"})
        assert r.status == 504 and (await r.json())["error"]["code"] == "Timeout"
        assert app[ADMISSION].in_flight == 0
        # The engine gave up at its next model call: the one worker is free again.
        app[SETTINGS]["timeout_s"] = 60
        r = await client.post("/invocations", data=fixture_bytes("line.png"), headers={"Content-Type": "image/png"})
        assert r.status == 200

    run(app, scenario)


def test_the_callers_own_timeout_shortens_the_deadline(app, real_size_images):
    async def scenario(client):
        r = await client.post(
            "/invocations",
            data=real_size_images["page.png"],
            headers={"Content-Type": "image/png", "X-Amzn-SageMaker-Custom-Attributes": "requestId=r1,timeoutMs=600"},
        )
        assert r.status == 504 and (await r.json())["requestId"] == "r1"

    run(app, scenario)


def raw_exchange(port: int, request: bytes) -> tuple[int, dict | None]:
    """Send raw bytes on a socket; the status and parsed JSON body of the answer (None when
    the body is not JSON)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        return int(head.split()[1]), json.loads(body)
    except ValueError:  # not JSON
        return int(head.split()[1]), None


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: \xd9\xa1\xd9\xa2\r\n\r\n12",  # Arabic-Indic digits
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcd",
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: 10\r\nConnection: close\r\n\r\nnot gzip!!",
    ],
)
def test_malformed_http_is_answered_in_json(app, request_bytes):
    async def scenario(client):
        port = client.server.port
        status, body = await asyncio.get_running_loop().run_in_executor(None, raw_exchange, port, request_bytes)
        assert 400 <= status < 500 and set(body["error"]) == {"code", "message"}, (status, body)

    run(app, scenario)


def test_other_aiohttp_applications_in_the_process_keep_aiohttps_own_answers(app):
    # The JSON answers to malformed HTTP are ours alone: an application we did not register
    # (a library's, a test's) still gets aiohttp's plain-text ones.
    from aiohttp import web

    async def scenario(client):
        port = client.server.port
        theirs = web.Application()
        async with TestClient(TestServer(theirs)) as other:
            request = b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n"
            loop = asyncio.get_running_loop()
            ours_status, ours_body = await loop.run_in_executor(None, raw_exchange, port, request)
            assert 400 <= ours_status < 500 and "error" in ours_body
            their_status, their_body = await loop.run_in_executor(None, raw_exchange, other.server.port, request)
            assert 400 <= their_status < 500 and their_body is None

    run(app, scenario)


def test_a_document_range_is_read_page_by_page_as_each_page_alone_would_be(app):
    # The jobs API's task: pages 2-3 of a 3-page PDF, each page's lines equal to what the
    # lines task answers for that page's image (the same decode, engine and threshold).
    import io

    from documents.render import render
    from ocr_contract.protocol import InvokeOptions

    pictures = [fixture_image(n).convert("RGB") for n in ("line.png", "receipt.png", "hello_world.png")]
    pdf = io.BytesIO()
    pictures[0].save(pdf, "PDF", save_all=True, append_images=pictures[1:], resolution=72)
    page_images = [page.image for page in render(pdf.getvalue(), "pdf", time.monotonic() + 30)]

    async def scenario(client):
        options = InvokeOptions(request_id="job-1", task="document", pages=(2, 3), lane="bulk")
        headers = {"Content-Type": "application/octet-stream", "X-Amzn-SageMaker-Custom-Attributes": options.header()}
        r = await client.post("/invocations", data=pdf.getvalue(), headers=headers)
        assert r.status == 200
        pages = await r.json()
        assert [p["page"] for p in pages] == [2, 3] and all(p["error"] is None for p in pages)
        for page in pages:
            alone = await client.post(
                "/invocations", data=page_images[page["page"] - 1], headers={"Content-Type": "image/png"}
            )
            assert page["lines"] == await alone.json()
        assert [norm(line["words"]) for line in pages[0]["lines"]] == [norm(t) for t in EXPECTED["receipt.png"]]

    run(app, scenario)


def test_a_broken_page_of_a_document_range_fails_alone(app):
    from ocr_contract.protocol import InvokeOptions
    from tests import hostile

    async def scenario(client):
        options = InvokeOptions(task="document", pages=(1, 3))
        headers = {"Content-Type": "application/octet-stream", "X-Amzn-SageMaker-Custom-Attributes": options.header()}
        r = await client.post("/invocations", data=hostile.broken_kids_pdf(), headers=headers)
        assert r.status == 200
        pages = await r.json()
        assert [(p["page"], p["error"] is None) for p in pages] == [(1, True), (2, False), (3, False)]
        assert pages[1]["error"]["code"] == "InvalidImage"

    run(app, scenario)
