"""The Lambda behind API Gateway's POST /general_ocr (REST API, proxy integration).

    request JSON -> image bytes (base64 `img`, or fetched `url`) -> SageMaker endpoint -> JSON

Every answer is JSON with a request id; nothing a client sends can surface a stack trace.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import time

from ocr_contract import ApiError, ErrorCode, parse_request

from .endpoint import invoke
from .http_fetch import fetch_http
from .s3_fetch import fetch_s3
from .shrink import fit_invoke_limit

log = logging.getLogger()
log.setLevel(os.environ.get("LOG_LEVEL", "INFO"))


def _response(status: int, body, request_id: str) -> dict:
    payload = body if isinstance(body, (bytes, str)) else json.dumps(body, ensure_ascii=False)
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8")
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json; charset=utf-8", "X-Request-Id": request_id},
        "body": payload,
        "isBase64Encoded": False,
    }


def _request_id(event: dict, context) -> str:
    context_id = (event.get("requestContext") or {}).get("requestId")
    return context_id or getattr(context, "aws_request_id", None) or "local"


def _body_of(event: dict) -> str | bytes | None:
    body = event.get("body")
    if body is not None and event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except ValueError:
            raise ApiError(ErrorCode.INVALID_REQUEST, "the request body could not be decoded") from None
    return body


def _image_for(url: str) -> bytes:
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "s3":
        return fetch_s3(url)
    if scheme in ("http", "https"):
        return fetch_http(url)
    raise ApiError(ErrorCode.INVALID_URL, f"URL scheme {scheme or '(none)'!r} is not supported; use http, https or s3")


def _rescale(result: bytes, scale: float) -> bytes:
    """Map boxes of a shrunk image back to the original's pixels."""
    lines = json.loads(result)
    for line in lines:
        loc = line["location"]
        for key in loc:
            loc[key] = int(round(loc[key] / scale))
    return json.dumps(lines, ensure_ascii=False).encode("utf-8")


def handler(event: dict, context) -> dict:
    start = time.perf_counter()
    request_id = _request_id(event, context)
    record = {"requestId": request_id}
    status = 500
    try:
        method = event.get("httpMethod", "POST")
        if method != "POST":
            raise ApiError(ErrorCode.METHOD_NOT_ALLOWED, f"{method} is not allowed; use POST /general_ocr")
        request = parse_request(_body_of(event))
        record["source"] = "img" if request.image is not None else request.url.split(":", 1)[0].lower()
        image = request.image if request.image is not None else _image_for(request.url)
        record["bytes"] = len(image)
        image, scale = fit_invoke_limit(image)
        result = invoke(image, request_id)
        if scale != 1.0:
            result = _rescale(result, scale)
        status = 200
        return _response(200, result, request_id)
    except ApiError as exc:
        status = exc.status
        record["error"] = exc.code.value
        return _response(exc.status, exc.body(request_id), request_id)
    except Exception:
        log.exception("unhandled error, requestId=%s", request_id)
        record["error"] = ErrorCode.INTERNAL_ERROR.value
        return _response(500, ApiError(ErrorCode.INTERNAL_ERROR, f"internal error; quote requestId {request_id}").body(request_id), request_id)
    finally:
        record.update({"status": status, "ms": round(1000 * (time.perf_counter() - start), 1)})
        log.info(json.dumps(record))
