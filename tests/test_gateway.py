"""The local stand-in for API Gateway + Lambda (`make serve`): AWS's limits as AWS enforces
them, and the laptop it runs on kept safe from other sites' pages."""

import asyncio
import json
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer

from local import gateway
from local.gateway import create_gateway
from tests.conftest import free_port


def run(scenario, port=None):
    port = port or free_port()

    async def main():
        app = create_gateway("http://127.0.0.1:9", port)
        async with TestClient(TestServer(app, port=port)) as client:
            return await scenario(client, port)

    return asyncio.run(main())


@pytest.fixture
def fake_lambda(monkeypatch):
    """The Lambda handler replaced by one that records its event and answers 200."""
    seen = {}

    def handler(event, context):
        seen["event"], seen["remaining_ms"] = event, context.get_remaining_time_in_millis()
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "[]"}

    import frontend.handler

    monkeypatch.setattr(frontend.handler, "handler", handler)
    return seen


async def _json(response):
    return response.status, json.loads(await response.text())


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.nip.io:{port}", "localhost:1", ""])
def test_requests_for_other_hosts_are_refused(fake_lambda, host):
    # DNS rebinding: a page on evil.example whose name is made to resolve to 127.0.0.1 sends
    # requests with Host: evil.example. Only loopback names with this port are answered.
    async def scenario(client, port):
        status, body = await _json(
            await client.post(
                "/general_ocr", data=b"{}", headers={"Host": host.format(port=port), "Content-Type": "application/json"}
            )
        )
        assert (status, body["error"]["code"]) == (403, "Forbidden")

    run(scenario)
    assert "event" not in fake_lambda


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", "LOCALHOST:{port}"])
def test_loopback_hosts_are_answered(fake_lambda, host):
    async def scenario(client, port):
        r = await client.post(
            "/general_ocr",
            data=b'{"img": "AAAA"}',
            headers={"Host": host.format(port=port), "Content-Type": "application/json"},
        )
        assert r.status == 200

    run(scenario)


def test_cross_site_requests_are_refused(fake_lambda):
    async def scenario(client, port):
        status, body = await _json(
            await client.post(
                "/general_ocr",
                data=b'{"img": "AAAA"}',
                headers={"Origin": "https://evil.example", "Content-Type": "text/plain"},
            )
        )
        assert (status, body["error"]["code"]) == (403, "Forbidden")
        # The demo page's own requests carry this server's origin.
        r = await client.post(
            "/general_ocr",
            data=b'{"img": "AAAA"}',
            headers={"Origin": f"http://127.0.0.1:{port}", "Content-Type": "application/json"},
        )
        assert r.status == 200

    run(scenario)


def test_the_lambda_sees_its_remaining_time_run_down(fake_lambda):
    from ocr_contract.limits import FRONTEND_TIMEOUT_S

    async def scenario(client, port):
        await client.post("/general_ocr", data=b'{"img": "AAAA"}', headers={"Content-Type": "application/json"})

    run(scenario)
    assert 0 < fake_lambda["remaining_ms"] <= FRONTEND_TIMEOUT_S * 1000
    assert fake_lambda["event"]["headers"]["Content-Type"] == "application/json"


def test_api_gateways_29_s_limit_is_enforced(monkeypatch):
    import threading

    import frontend.handler

    released = threading.Event()  # the stand-in Lambda runs until the test has its answer
    monkeypatch.setattr(gateway, "API_GATEWAY_TIMEOUT_S", 0.5)
    monkeypatch.setattr(frontend.handler, "handler", lambda event, context: released.wait(10))

    async def scenario(client, port):
        start = time.monotonic()
        try:
            status, body = await _json(
                await client.post("/general_ocr", data=b"{}", headers={"Content-Type": "application/json"})
            )
        finally:
            released.set()
        assert (status, body["error"]["code"]) == (504, "Timeout") and time.monotonic() - start < 2

    run(scenario)


def test_slow_requests_do_not_hold_up_others(monkeypatch):
    # In AWS each request in flight has a Lambda of its own: eight slow documents must not make
    # a ninth, quick request wait for them (six handler threads did).
    import threading

    import frontend.handler

    release = threading.Event()
    slow_started = threading.Semaphore(0)

    def handler(event, context):
        if json.loads(event["body"]).get("slow"):
            slow_started.release()
            release.wait(10)
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "[]"}

    monkeypatch.setattr(frontend.handler, "handler", handler)

    async def scenario(client, port):
        headers = {"Content-Type": "application/json"}
        slow = [
            asyncio.ensure_future(client.post("/general_ocr", data=b'{"slow": 1}', headers=headers)) for _ in range(8)
        ]
        loop = asyncio.get_running_loop()
        try:
            for _ in range(8):  # every slow request is inside its handler
                assert await loop.run_in_executor(None, slow_started.acquire, True, 5)
            start = time.monotonic()
            quick = await client.post("/general_ocr", data=b"{}", headers=headers)
            assert quick.status == 200 and time.monotonic() - start < 2
        finally:
            release.set()
        assert [(await response).status for response in slow] == [200] * 8

    run(scenario)


def test_an_img_over_the_gateways_schema_limit_is_refused_as_api_gateway_does(fake_lambda):
    from ocr_contract.limits import IMG_MAX_BASE64_CHARS
    from ocr_contract.request import SCHEMA_ERROR_MESSAGE

    async def scenario(client, port):
        body = json.dumps({"img": "A" * (IMG_MAX_BASE64_CHARS + 4)}).encode()
        # Whatever the Content-Type: the deployed API checks every body against its schema.
        for content_type in ("application/json", "text/plain"):
            status, answer = await _json(
                await client.post("/general_ocr", data=body, headers={"Content-Type": content_type})
            )
            assert (status, answer["error"]["code"], answer["error"]["message"]) == (
                400,
                "InvalidRequest",
                SCHEMA_ERROR_MESSAGE,
            )

    run(scenario)
    assert "event" not in fake_lambda


def test_lambdas_6_mb_payload_limit_is_enforced(fake_lambda):
    async def scenario(client, port):
        # Within the schema (a short img), but over 6 MB with the JSON's own whitespace.
        body = b'{"img": "AAAA"' + b" " * (6 * 1024 * 1024) + b"}"
        status, answer = await _json(
            await client.post("/general_ocr", data=body, headers={"Content-Type": "application/json"})
        )
        assert (status, answer["error"]["code"]) == (413, "PayloadTooLarge") and "6 MB" in answer["error"]["message"]

    run(scenario)
    assert "event" not in fake_lambda
