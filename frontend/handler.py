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

from ocr_contract import ApiError, ErrorCode, check_content_type, parse_request
from ocr_contract.image_header import inspect_image
from ocr_contract.limits import FRONTEND_BUDGET_S

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


# Leave this much of the Lambda's remaining time for writing the answer.
ANSWER_MARGIN_S = 1.0


def _request_id(event: dict, context) -> str:
    request_context = event.get("requestContext")
    context_id = request_context.get("requestId") if isinstance(request_context, dict) else None
    return str(context_id or getattr(context, "aws_request_id", None) or "local")[:128]


def _deadline(context) -> float:
    """When this request must be done: its share of API Gateway's 29 s, and never past the
    Lambda's own timeout."""
    budget = float(FRONTEND_BUDGET_S)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        budget = min(budget, remaining() / 1000 - ANSWER_MARGIN_S)
    return time.monotonic() + budget


def _header(event: dict, name: str) -> str | None:
    headers = event.get("headers")
    if not isinstance(headers, dict):
        return None
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name:
            return value if isinstance(value, str) else None
    return None


def _body_of(event: dict) -> str | bytes | None:
    body = event.get("body")
    if body is not None and event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (ValueError, TypeError):
            raise ApiError(ErrorCode.INVALID_REQUEST, "the request body could not be decoded") from None
    return body


def _image_for(url: str, deadline: float) -> bytes:
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "s3":
        return fetch_s3(url)
    if scheme in ("http", "https"):
        return fetch_http(url, deadline=deadline)
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
    deadline = _deadline(context)
    if not isinstance(event, dict):
        event = {}
    request_id = _request_id(event, context)
    record = {"requestId": request_id}
    status = 500
    try:
        method = event.get("httpMethod", "POST")
        if method != "POST":
            raise ApiError(ErrorCode.METHOD_NOT_ALLOWED, f"{str(method)[:20]} is not allowed; use POST /general_ocr")
        check_content_type(_header(event, "content-type"))
        request = parse_request(_body_of(event))
        record["source"] = "img" if request.image is not None else request.url.split(":", 1)[0].lower()[:10]
        image = request.image if request.image is not None else _image_for(request.url, deadline)
        record["bytes"] = len(image)
        # Format, size and decode cost from the header: a refused image costs no model call.
        inspect_image(image)
        image, scale = fit_invoke_limit(image)
        result = invoke(image, request_id, deadline)
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
