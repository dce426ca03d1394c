"""A local stand-in for API Gateway: HTTP requests become REST proxy events for the real Lambda
handler, and its answers become HTTP responses.

It enforces what AWS enforces before or around our code, so that local behaviour matches the
deployed one: API Gateway's 10 MB request limit and 29 s integration timeout, Lambda's 6 MB
synchronous payload limit and its timeout (the handler sees a context whose remaining time
runs down as in AWS). SageMaker's runtime API, with its own limits, is stood in for by
local/sagemaker_runtime.py, which the gateway starts beside itself.

Unlike API Gateway it runs on a developer's laptop, next to their browser, so it only answers
requests addressed to it by a loopback name (no DNS rebinding) and refuses other sites'
pages (no cross-site requests): a page elsewhere cannot use it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
from aiohttp import web

from documents.render import RENDER_SLOTS_ENV, set_render_slots
from frontend.endpoint import ENDPOINT_URL_ENV
from inference.serving.http_io import install_json_protocol_errors, read_body
from jobs.local.blobs import RESULT_PATH
from local.sagemaker_runtime import create_runtime
from ocr_contract import ApiError, ErrorCode
from ocr_contract.limits import API_GATEWAY_TIMEOUT_S, FRONTEND_TIMEOUT_S, IMG_MAX_BASE64_CHARS, IMG_MAX_BYTES
from ocr_contract.request import SCHEMA_ERROR_MESSAGE
from ocr_contract.routes import BINARY_MEDIA_TYPES, GENERAL_OCR, ROUTES, method_of

API_GATEWAY_MAX_BODY = 10 * 1024 * 1024
LAMBDA_MAX_PAYLOAD = 6 * 1024 * 1024
STATIC = Path(__file__).resolve().parent / "static"
INFERENCE_URL = web.AppKey("inference_url", str)
LAMBDAS = web.AppKey("lambdas", ThreadPoolExecutor)
# In AWS every request in flight has a Lambda of its own (up to the account's concurrency): here
# each has a thread of its own, so that one slow request never waits behind another's, and each
# renders its documents in a renderer of its own (documents/render.py), each renderer within the
# memory cap a Lambda's has (OCR_RENDER_MEMORY_MB): six documents at once are six renders, as six
# Lambdas make them, not a queue whose last requests run out of time.
LOCAL_LAMBDA_CONCURRENCY = 32
ALLOWED_HOSTS = web.AppKey("allowed_hosts", frozenset)
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def _error(error: ApiError, request_id: str) -> web.Response:
    return web.json_response(error.body(request_id), status=error.status, headers={"X-Request-Id": request_id})


class LambdaContext:
    """What the Lambda runtime hands the handler: its id and the time it has left."""

    function_name = "local-frontend"

    def __init__(self, timeout_s: float = FRONTEND_TIMEOUT_S):
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(1000 * (self._deadline - time.monotonic())))


def proxy_event(request: web.Request, body: bytes, request_id: str, resource: str = GENERAL_OCR) -> dict:
    """The event API Gateway's REST proxy integration sends to the Lambda: bodies of the binary
    media types base64-encoded (as the deployed API is configured, infra/ocr_api.py)."""
    media_type = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    binary = media_type in BINARY_MEDIA_TYPES
    try:
        text, is_base64 = (None, True) if binary else (body.decode("utf-8"), False)
    except UnicodeDecodeError:
        text, is_base64 = None, True
    if is_base64:
        text = base64.b64encode(body).decode("ascii")
    return {
        "resource": resource,
        "path": request.path,
        "httpMethod": request.method,
        "headers": dict(request.headers),
        "queryStringParameters": dict(request.query) or None,
        "body": text if body else None,
        "isBase64Encoded": is_base64,
        "requestContext": {
            "requestId": request_id,
            "stage": "local",
            "httpMethod": request.method,
            "resourcePath": resource,
            "identity": {"sourceIp": request.remote},
        },
    }


def _img_over_schema_limit(body: bytes) -> bool:
    """The one rule of API Gateway's request schema that our handler does not apply itself: an
    `img` too long for Lambda's payload limit. The gateway checks bodies of every Content-Type
    against the schema (its `$default` request model, infra/ocr_api.py), so this does too."""
    if len(body) <= IMG_MAX_BASE64_CHARS:
        return False
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return (
        isinstance(payload, dict) and isinstance(payload.get("img"), str) and len(payload["img"]) > IMG_MAX_BASE64_CHARS
    )


def _too_large(size: int) -> ApiError:
    return ApiError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        f"the request body is {size} bytes, over API Gateway's 10 MB limit; send large images by url",
    )


async def to_lambda(request: web.Request) -> web.Response:
    """Every route of the API: the request handed to the Lambda handler, as API Gateway does."""
    from frontend.handler import handler  # the deployed Lambda's own code

    request_id = str(uuid.uuid4())
    body = await read_body(request, API_GATEWAY_MAX_BODY, _too_large)
    if request.path == GENERAL_OCR and _img_over_schema_limit(body):
        # What API Gateway's schema validation answers (infra/ocr_api.py, BAD_REQUEST_BODY).
        return _error(ApiError(ErrorCode.INVALID_REQUEST, SCHEMA_ERROR_MESSAGE), request_id)
    resource = request.match_info.route.resource
    event = proxy_event(request, body, request_id, resource.canonical if resource else request.path)
    if len(json.dumps(event)) > LAMBDA_MAX_PAYLOAD:
        return _error(
            ApiError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"the request is over Lambda's 6 MB payload limit (base64 images up to about {IMG_MAX_BYTES / 1e6:g} MB); send larger images by url",
            ),
            request_id,
        )
    work = asyncio.get_running_loop().run_in_executor(request.app[LAMBDAS], handler, event, LambdaContext())
    try:
        result = await asyncio.wait_for(asyncio.shield(work), API_GATEWAY_TIMEOUT_S)
    except TimeoutError:
        # What API Gateway answers when the integration takes longer (infra/ocr_api.py).
        return _error(
            ApiError(ErrorCode.TIMEOUT, f"the request took longer than {API_GATEWAY_TIMEOUT_S} s; try a smaller image"),
            request_id,
        )
    return web.Response(
        status=result["statusCode"], headers=result.get("headers") or {}, body=result["body"].encode("utf-8")
    )


async def ping(request: web.Request) -> web.Response:
    """The inference server's readiness, as seen through the gateway."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session,
            session.get(request.app[INFERENCE_URL] + "/ping") as answer,
        ):
            return web.json_response(await answer.json(content_type=None), status=answer.status)
    except (TimeoutError, aiohttp.ClientError, ValueError):
        return web.json_response({"status": "inference server unreachable"}, status=503)


def _linked_job(request: web.Request):
    """(the job store, the finished job) a result or output link names: the stand-in for a URL
    S3 presigned, which answers 403 once its time is up; 404 for a job not finished or not the
    local owner's."""
    from jobs.local import backend
    from ocr_contract.jobs import JOB_ID, job_not_found

    job_id = request.match_info["jobId"]
    expires = request.query.get("expires", "")
    if not expires.isdigit() or int(expires) < time.time():
        raise ApiError(ErrorCode.FORBIDDEN, f"this link has expired; GET /jobs/{job_id[:40]}/result answers a new one")
    jobs = backend()
    job = jobs.store.get(job_id) if JOB_ID.fullmatch(job_id) else None
    if job is None or job.owner != jobs.default_owner or not job.finished:
        raise job_not_found(job_id)
    return jobs, job


async def job_result(request: web.Request) -> web.StreamResponse:
    """A finished job's result lines, where GET /jobs/{jobId}/result redirects to locally
    (jobs.local.blobs.RESULT_PATH, FolderBlobs.url)."""
    from ocr_contract.jobs import job_not_found

    jobs, job = _linked_job(request)
    if not job.result_key:
        raise job_not_found(job.job_id)
    return web.FileResponse(
        jobs.blobs.path(job.result_key), headers={"Content-Type": "application/x-ndjson; charset=utf-8"}
    )


async def job_output(request: web.Request) -> web.StreamResponse:
    """A finished job's output file or their list (jobs.local.blobs.OUTPUT_PATH), as job_result."""
    from jobs.outputs.write import content_type, job_output_uri

    jobs, job = _linked_job(request)
    uri = job_output_uri(job, jobs.blobs, request.match_info["file"])
    if uri is None or not jobs.blobs.exists(uri):
        raise ApiError(ErrorCode.NOT_FOUND, f"job {job.job_id} has no output {request.match_info['file'][:200]!r}")
    return web.FileResponse(jobs.blobs.path(uri), headers={"Content-Type": content_type(uri)})


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


@web.middleware
async def json_errors(request: web.Request, handler):
    try:
        return await handler(request)
    except ApiError as exc:
        return _error(exc, str(uuid.uuid4()))
    except web.HTTPNotFound:
        return _error(
            ApiError(ErrorCode.NOT_FOUND, f"no such path: {request.path}; use POST /general_ocr"), str(uuid.uuid4())
        )
    except web.HTTPMethodNotAllowed:
        return _error(
            ApiError(ErrorCode.METHOD_NOT_ALLOWED, f"{request.method} is not allowed on {request.path}"),
            str(uuid.uuid4()),
        )


@web.middleware
async def same_origin_only(request: web.Request, handler):
    """A browser sends any site's requests to 127.0.0.1 too: answer only requests addressed to
    this server by a loopback name and port (a rebound DNS name is refused), and, when a page
    sent them, only from this server's own pages."""
    allowed = request.app[ALLOWED_HOSTS]
    host = request.headers.get("Host", "").lower()
    if host not in allowed:
        return _error(
            ApiError(
                ErrorCode.FORBIDDEN,
                f"the Host header must be this server's loopback address (one of {', '.join(sorted(allowed))})",
            ),
            str(uuid.uuid4()),
        )
    origin = request.headers.get("Origin")
    if origin is not None and origin.lower() not in {f"http://{h}" for h in allowed}:
        return _error(
            ApiError(
                ErrorCode.FORBIDDEN,
                "cross-site requests are refused; call the API from a program, or use the demo page this server serves",
            ),
            str(uuid.uuid4()),
        )
    return await handler(request)


def allowed_hosts(port: int, host: str = "127.0.0.1") -> frozenset:
    """Host header values a request to this server may carry: loopback names, with the port."""
    names = set(LOOPBACK_NAMES)
    if host not in ("0.0.0.0", "::", ""):
        names.add(f"[{host}]" if ":" in host else host)
    return frozenset({f"{name}:{port}" for name in names} | ({*names} if port == 80 else set()))


async def _sagemaker_runtime(app: web.Application):
    """SageMaker's runtime API stand-in (local/sagemaker_runtime.py) on a loopback port of its
    own, for the Lambda handler's boto3 client: started and stopped with the gateway."""
    runner = web.AppRunner(create_runtime(app[INFERENCE_URL]), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    os.environ[ENDPOINT_URL_ENV] = f"http://{host}:{port}"
    yield
    await runner.cleanup()


def create_gateway(inference_url: str, port: int, host: str = "127.0.0.1") -> web.Application:
    # read_body enforces the body limit, so that the answer is our JSON error.
    app = web.Application(
        middlewares=[json_errors, same_origin_only], client_max_size=API_GATEWAY_MAX_BODY + 1024 * 1024
    )
    install_json_protocol_errors(app)
    app[INFERENCE_URL] = inference_url.rstrip("/")
    app[ALLOWED_HOSTS] = allowed_hosts(port, host)
    app[LAMBDAS] = ThreadPoolExecutor(LOCAL_LAMBDA_CONCURRENCY, thread_name_prefix="lambda")
    if not os.environ.get(RENDER_SLOTS_ENV):
        set_render_slots(LOCAL_LAMBDA_CONCURRENCY)

    async def stop_lambdas(app: web.Application) -> None:
        app[LAMBDAS].shutdown(wait=False, cancel_futures=True)

    app.on_cleanup.append(stop_lambdas)
    app.cleanup_ctx.append(_sagemaker_runtime)
    for route in ROUTES:
        app.router.add_route(method_of(route), route, to_lambda)
    app.router.add_get(RESULT_PATH, job_result)
    app.router.add_get("/_local/results/{jobId}/{file:outputs(\\.jsonl|/.+)}", job_output)
    app.router.add_get("/ping", ping)
    app.router.add_get("/", index)
    return app
