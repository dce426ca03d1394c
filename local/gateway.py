"""A local stand-in for API Gateway: HTTP requests become REST proxy events for the real Lambda
handler, and its answers become HTTP responses.

It enforces what the real gateway and Lambda enforce before our code runs, so that local
behaviour matches the deployed one: the 10 MB request limit of API Gateway and the 6 MB
synchronous payload limit of Lambda.
"""
from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from types import SimpleNamespace

import aiohttp
from aiohttp import web

from ocr_contract import ApiError, ErrorCode

API_GATEWAY_MAX_BODY = 10 * 1024 * 1024
LAMBDA_MAX_PAYLOAD = 6 * 1024 * 1024
STATIC = Path(__file__).resolve().parent / "static"
INFERENCE_URL = web.AppKey("inference_url", str)


def _error(error: ApiError, request_id: str) -> web.Response:
    return web.json_response(error.body(request_id), status=error.status, headers={"X-Request-Id": request_id})


def proxy_event(request: web.Request, body: bytes, request_id: str) -> dict:
    """The event API Gateway's REST proxy integration sends to the Lambda."""
    try:
        text, is_base64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        import base64

        text, is_base64 = base64.b64encode(body).decode("ascii"), True
    return {
        "resource": "/general_ocr",
        "path": request.path,
        "httpMethod": request.method,
        "headers": dict(request.headers),
        "queryStringParameters": dict(request.query) or None,
        "body": text if body else None,
        "isBase64Encoded": is_base64,
        "requestContext": {"requestId": request_id, "stage": "local", "httpMethod": request.method,
                           "resourcePath": "/general_ocr", "identity": {"sourceIp": request.remote}},
    }


async def general_ocr(request: web.Request) -> web.Response:
    from frontend.handler import handler  # the deployed Lambda's own code

    request_id = str(uuid.uuid4())
    too_large = ApiError(ErrorCode.PAYLOAD_TOO_LARGE, "the request body is over API Gateway's 10 MB limit; send large images by url")
    if (request.content_length or 0) > API_GATEWAY_MAX_BODY:
        return _error(too_large, request_id)
    body = await request.content.read(API_GATEWAY_MAX_BODY + 1)
    if len(body) > API_GATEWAY_MAX_BODY:
        return _error(too_large, request_id)
    event = proxy_event(request, body, request_id)
    if len(json.dumps(event)) > LAMBDA_MAX_PAYLOAD:
        return _error(ApiError(ErrorCode.PAYLOAD_TOO_LARGE,
                               "the request is over Lambda's 6 MB payload limit (base64 images up to about 4.4 MB); send larger images by url"),
                      request_id)
    context = SimpleNamespace(aws_request_id=str(uuid.uuid4()), function_name="local-frontend")
    result = await asyncio.get_running_loop().run_in_executor(None, handler, event, context)
    return web.Response(status=result["statusCode"], headers=result.get("headers") or {}, body=result["body"].encode("utf-8"))


async def ping(request: web.Request) -> web.Response:
    """The inference server's readiness, as seen through the gateway."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session:
            async with session.get(request.app[INFERENCE_URL] + "/ping") as answer:
                return web.json_response(await answer.json(content_type=None), status=answer.status)
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
        return web.json_response({"status": "inference server unreachable"}, status=503)


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


@web.middleware
async def json_errors(request: web.Request, handler):
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return _error(ApiError(ErrorCode.NOT_FOUND, f"no such path: {request.path}; use POST /general_ocr"), str(uuid.uuid4()))
    except web.HTTPMethodNotAllowed:
        return _error(ApiError(ErrorCode.METHOD_NOT_ALLOWED, f"{request.method} is not allowed on {request.path}"), str(uuid.uuid4()))


def create_gateway(inference_url: str) -> web.Application:
    # The body limit is enforced in general_ocr, so that the answer is our JSON error.
    app = web.Application(middlewares=[json_errors], client_max_size=API_GATEWAY_MAX_BODY + 1024 * 1024)
    app[INFERENCE_URL] = inference_url.rstrip("/")
    app.router.add_post("/general_ocr", general_ocr)
    app.router.add_get("/ping", ping)
    app.router.add_get("/", index)
    return app
