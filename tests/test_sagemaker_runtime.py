"""`make serve`'s stand-in for SageMaker's runtime API, in front of the real inference server:
what the Lambda's boto3 client gets is what it gets from AWS (InvokeEndpoint's 6 MB and 60 s,
a container's error as ModelError 424 carrying its status and body), so the handler's error
mapping runs for real."""

import asyncio
import json
import threading

import boto3
import pytest
from aiohttp.test_utils import TestClient, TestServer
from botocore.config import Config

from frontend import endpoint
from inference.serving.server import create_app
from local.sagemaker_runtime import create_runtime
from ocr_contract import ApiError
from tests.conftest import EXPECTED, fixture_bytes, norm


def run(scenario, engine, timeout_s=60.0):
    async def main():
        async with TestServer(create_app(engine=engine, workers=1, queue=2)) as server:
            runtime = create_runtime(str(server.make_url("")), timeout_s=timeout_s)
            async with TestClient(TestServer(runtime)) as client:
                await scenario(client)

    asyncio.run(main())


def test_an_answer_passes_through(engine):
    async def scenario(client):
        r = await client.post(
            "/endpoints/ocr/invocations",
            data=fixture_bytes("receipt.png"),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert r.status == 200
        assert [norm(line["words"]) for line in await r.json()] == [norm(t) for t in EXPECTED["receipt.png"]]

    run(scenario, engine)


def test_a_containers_error_is_a_model_error_carrying_its_status_and_body(engine):
    async def scenario(client):
        r = await client.post(
            "/endpoints/ocr/invocations", data=b"GIF89a" + b"\x00" * 30, headers={"Content-Type": "image/png"}
        )
        assert r.status == 424 and r.headers["X-Amzn-ErrorType"] == "ModelError"
        body = await r.json()
        assert body["OriginalStatusCode"] == 400
        assert json.loads(body["OriginalMessage"])["error"]["code"] == "UnsupportedImageFormat"

    run(scenario, engine)


def test_over_6_mb_is_refused_before_the_container(engine):
    async def scenario(client):
        r = await client.post(
            "/endpoints/ocr/invocations", data=b"\xff" * (6 * 1024 * 1024 + 1), headers={"Content-Type": "image/png"}
        )
        assert r.status == 413 and "exceeded" in (await r.json())["message"]

    run(scenario, engine)


def test_a_container_slower_than_the_runtimes_limit_is_a_timed_out_model_error(engine):
    release = threading.Event()

    class Stuck:
        provider, rec_precision = engine.provider, engine.rec_precision

        def read(self, image, deadline=None, detail=False, lang=None):
            release.wait(10)
            return []

    async def scenario(client):
        r = await client.post(
            "/endpoints/ocr/invocations", data=fixture_bytes("line.png"), headers={"Content-Type": "image/png"}
        )
        release.set()
        assert r.status == 424 and "timed out" in (await r.json())["message"]

    run(scenario, Stuck(), timeout_s=0.3)


def test_the_lambdas_boto3_client_reads_the_containers_own_error(engine, monkeypatch):
    # The handler's real path: botocore parses the stand-in's ModelError as it parses AWS's.
    async def scenario(client):
        url = str(client.make_url(""))
        monkeypatch.setenv("ENDPOINT_NAME", "ocr")
        runtime = boto3.client(
            "sagemaker-runtime",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
            config=Config(retries={"total_max_attempts": 1}),
        )
        monkeypatch.setattr(endpoint, "_runtime", lambda timeout: runtime)
        with pytest.raises(ApiError) as caught:
            await asyncio.get_running_loop().run_in_executor(None, endpoint.invoke, b"GIF89a" + b"\x00" * 30, "r-1")
        assert caught.value.code.value == "UnsupportedImageFormat" and caught.value.status == 400

    run(scenario, engine)
