"""The Lambda behind every route of the API (REST API, proxy integration).

    request -> its door (frontend/doors/) -> image bytes -> SageMaker endpoint -> the door's JSON

Every answer is JSON with a request id, in the shape of the API that was called; nothing a
client sends can surface a stack trace.
"""

from __future__ import annotations

import json
import logging
import os
import time

from ocr_contract import ApiError, ErrorCode
from ocr_contract.limits import FRONTEND_BUDGET_S
from ocr_contract.routes import method_of

from . import doors
from .incoming import Incoming, route_of

log = logging.getLogger()
log.setLevel(os.environ.get("LOG_LEVEL", "INFO"))


def _response(status: int, body, request_id: str, headers: dict[str, str] | None = None) -> dict:
    payload = body if isinstance(body, (bytes, str)) else json.dumps(body, ensure_ascii=False)
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8")
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json; charset=utf-8", "X-Request-Id": request_id, **(headers or {})},
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


def handler(event: dict, context) -> dict:
    start = time.perf_counter()
    deadline = _deadline(context)
    if not isinstance(event, dict):
        event = {}
    request_id = _request_id(event, context)
    record: dict[str, object] = {"requestId": request_id}
    status = 500
    route = route_of(event)
    # Errors are answered in the shape of the API that was called, from the first check on.
    matched = doors.door_for(route)
    door = matched or doors.general_ocr
    record["door"] = door.__name__.rsplit(".", 1)[-1]
    try:
        if route and matched is None:  # API Gateway routes only ours here
            raise ApiError(ErrorCode.NOT_FOUND, f"no such path: {route[:100]}; use POST /general_ocr")
        incoming = Incoming.from_event(event)
        # Each route takes one method: POST, but the jobs API's GETs (ocr_contract.routes).
        allowed = method_of(route) if matched is not None else "POST"
        if incoming.method != allowed:
            raise ApiError(ErrorCode.METHOD_NOT_ALLOWED, f"{incoming.method[:20]} is not allowed; use {allowed}")
        # (status, body), or (status, body, headers): a redirect's Location (the jobs API's result).
        status, body, *headers = door.answer(incoming, request_id, deadline, record)
        return _response(status, body, request_id, *headers)
    except ApiError as exc:
        status = exc.status
        record["error"] = exc.code.value
        return _response(exc.status, door.error_body(exc, request_id), request_id)
    except Exception:
        log.exception("unhandled error, requestId=%s", request_id)
        record["error"] = ErrorCode.INTERNAL_ERROR.value
        error = ApiError(ErrorCode.INTERNAL_ERROR, f"internal error; quote requestId {request_id}")
        return _response(500, door.error_body(error, request_id), request_id)
    finally:
        record.update({"status": status, "ms": round(1000 * (time.perf_counter() - start), 1)})
        log.info(json.dumps(record))
