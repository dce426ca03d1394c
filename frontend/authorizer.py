"""API Gateway's REQUEST authorizer: each API's secret header is the key of this API's usage plan.

Our clients send the API key in `x-api-key`, NHN's in `Authorization`, CLOVA's in
`X-OCR-SECRET` (each door's SECRET_HEADER). The API takes its keys from this authorizer
(apiKeySource AUTHORIZER): a known key is handed to API Gateway as the usage identifier, which
then applies the usage plan (throttle, quota) as for any key. An unknown key is denied with a
body in the called API's own error shape (the ACCESS_DENIED gateway response prints it).
API Gateway caches each answer per header value (infra/ocr_api.py), so this runs once per key
every few minutes, not per request.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import time

from ocr_contract import ApiError, ErrorCode

from . import doors
from .incoming import KEY_PRINCIPAL, route_of

log = logging.getLogger()
log.setLevel(os.environ.get("LOG_LEVEL", "INFO"))

KEYS_TTL_S = 60
_keys: dict = {"values": (), "at": -1e9}


def _known_keys() -> tuple[tuple[str, str], ...]:
    """(value, id) of the account's enabled API keys in this region, listed at most once a
    minute (a key created or revoked is seen within KEYS_TTL_S plus the gateway's cache TTL)."""
    if time.monotonic() - _keys["at"] > KEYS_TTL_S:
        import boto3

        pages = boto3.client("apigateway").get_paginator("get_api_keys").paginate(includeValues=True)
        _keys["values"] = tuple(
            (key["value"], str(key.get("id", "")))
            for page in pages
            for key in page.get("items", [])
            if key.get("enabled") and key.get("value")
        )
        _keys["at"] = time.monotonic()
    return _keys["values"]


def _policy(effect: str, method_arn: str) -> dict:
    # The answer is cached per key for every route of this authorizer: allow the whole stage.
    stage_arn = "/".join(method_arn.split("/", 2)[:2]) + "/*" if "/" in method_arn else method_arn
    return {
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": stage_arn}],
    }


# The deny's body, in the called API's shape, is cached by API Gateway with the deny for every
# later caller of the same header value: it must say nothing of this request. The gateway
# response appends the request id of each request (infra/ocr_api.py, AUTHORIZER_ERROR_TEMPLATE),
# so the authorizer hands it the body without its last brace.
ERROR_BODY_HEAD = "errorBodyHead"


def error_body_head(body: dict) -> str:
    """The JSON of an error body without `requestId` and without its closing brace: the gateway
    response completes it with `, "requestId": "$context.requestId"}`."""
    rest = {key: value for key, value in body.items() if key != "requestId"}
    return json.dumps(rest, ensure_ascii=True)[:-1]


def handler(event: dict, context) -> dict:
    path = route_of(event)
    door = doors.door_for(path) or doors.general_ocr
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items() if isinstance(v, str)}
    key = headers.get(door.SECRET_HEADER, "").strip()
    method_arn = str(event.get("methodArn", ""))
    known = [key_id for value, key_id in _known_keys() if key and hmac.compare_digest(key.encode(), value.encode())]
    if known:
        return {
            "principalId": KEY_PRINCIPAL + known[0],
            "policyDocument": _policy("Allow", method_arn),
            "usageIdentifierKey": key,
        }
    log.info(json.dumps({"denied": door.__name__.rsplit(".", 1)[-1], "path": path[:200]}))
    error = ApiError(ErrorCode.FORBIDDEN, f"the {door.SECRET_HEADER} header is not a key of this API")
    return {
        "principalId": "unknown",
        "policyDocument": _policy("Deny", method_arn),
        "context": {ERROR_BODY_HEAD: error_body_head(door.error_body(error, "-"))},
    }
