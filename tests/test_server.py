"""The inference server: the SageMaker container contract over HTTP."""
import asyncio
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from inference.config import EngineConfig
from inference.server import create_app
from tests.conftest import EXPECTED, fixture_bytes, norm, png_header


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
        for path in ("/invocations", "/endpoints/any-name/invocations"):
            r = await client.post(path, data=fixture_bytes("receipt.png"), headers={"Content-Type": "image/png"})
            assert r.status == 200
            lines = await r.json()
            assert [norm(l["words"]) for l in lines] == [norm(t) for t in EXPECTED["receipt.png"]]
            assert set(lines[0]) == {"words", "location", "score"}
            assert r.headers["X-Request-Id"]
    run(app, scenario)


def test_request_id_from_sagemaker_custom_attributes(app):
    async def scenario(client):
        r = await client.post("/invocations", data=b"junk", headers={
            "Content-Type": "application/octet-stream", "X-Amzn-SageMaker-Custom-Attributes": "requestId=abc-123"})
        body = await r.json()
        assert r.status == 400 and body["requestId"] == "abc-123" and r.headers["X-Request-Id"] == "abc-123"
    run(app, scenario)


@pytest.mark.parametrize("body,headers,status,code", [
    (b"not an image", {}, 400, "InvalidImage"),
    (b"GIF89a" + b"\x00" * 30, {}, 400, "UnsupportedImageFormat"),
    (None, {}, 400, "ImageTooLarge"),
    (b"", {}, 400, "InvalidImage"),
    (b"{}", {"Content-Type": "application/json"}, 400, "InvalidRequest"),
])
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
        r = await client.post("/invocations", data=b"\x00" * (10 * 1024 * 1024 + 10), headers={"Content-Type": "image/png"})
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
        await asyncio.sleep(0.3)
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

        def read(self, image):
            gate.wait(10)
            return original(image)

    app = create_app(engine=SlowEngine(), workers=1, queue=1)

    async def scenario(client):
        post = lambda: client.post("/invocations", data=fixture_bytes("line.png"), headers={"Content-Type": "image/png"})  # noqa: E731
        first, second = asyncio.ensure_future(post()), asyncio.ensure_future(post())
        await asyncio.sleep(0.3)
        ping = await client.get("/ping")
        assert ping.status == 200                      # not blocked by inference
        third = await post()                           # 1 running + 1 queued: full
        assert third.status == 503 and (await third.json())["error"]["code"] == "ServerBusy"
        gate.set()
        assert [(await r).status for r in (first, second)] == [200, 200]
    run(app, scenario)


def test_runtime_api_path_wraps_errors_as_sagemaker_does(app):
    async def scenario(client):
        r = await client.post("/endpoints/ocr/invocations", data=b"GIF89a" + b"\x00" * 30, headers={"Content-Type": "image/png"})
        assert r.status == 424 and r.headers["X-Amzn-ErrorType"] == "ModelError"
        body = await r.json()
        assert body["OriginalStatusCode"] == 400
        assert json.loads(body["OriginalMessage"])["error"]["code"] == "UnsupportedImageFormat"
    run(app, scenario)
