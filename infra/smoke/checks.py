"""The checks of the synchronous routes: each route once with its fixture and its own header."""

from __future__ import annotations

import base64
import json
import time
import unicodedata
import uuid
from dataclasses import dataclass

from ocr_contract.routes import (
    CLOVA_GENERAL,
    GENERAL_OCR,
    NHN_CROPPING,
    NHN_GENERAL,
    NHN_VEHICLE_PLATE,
)

from .client import Answer, Client
from .common import FIXTURES, PATH_IDS, PLATE, PLATE_TEXT, RECEIPT, RECEIPT_TEXT, SECRET_HEADERS
from .stack import Target

# -- the checks -----------------------------------------------------------------------------


def norm(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


@dataclass
class Row:
    check: str  # METHOD route
    result: str  # PASS | FAIL | SKIP
    status: int | None = None
    seconds: float | None = None
    detail: str = ""
    advice: str = ""


def _message_of(answer: Answer) -> str:
    """What an error answer says, whichever API's shape it has."""
    body = answer.json()
    if isinstance(body, dict):
        error = body.get("error")
        header = body.get("header")
        if isinstance(error, dict):
            return f"{error.get('code', '')}: {error.get('message', '')}"[:160]
        if isinstance(header, dict) and header.get("resultMessage"):
            return str(header["resultMessage"])[:160]
        if body.get("message"):
            return str(body["message"])[:160]  # API Gateway's own ("Missing Authentication Token", "Forbidden")
    return answer.body[:160].decode("utf-8", "replace")


def logs_advice(target: Target) -> str:
    if target.endpoint_name:
        return (
            "look up the answer's requestId in the frontend Lambda's CloudWatch logs; the endpoint's logs are in "
            f"/aws/sagemaker/Endpoints/{target.endpoint_name}"
        )
    return "look up the answer's requestId in the server's log"


# Our own error codes (ocr_contract/errors.py) that say the job's document could not be had.
INPUT_ERRORS = ("InvalidUrl", "UrlNotAllowed", "UrlFetchFailed")


def advice_for(answer: Answer, target: Target) -> str:
    """What to do about an answer that is not the expected one."""
    if answer.status is None:
        return f"nothing answered at {target.base}: is it running (make serve), and is the URL right?"
    body = answer.json()
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    if code in INPUT_ERRORS:
        return (
            "the API would not read the job's document from its URL: name one it may read with "
            "--job-input s3://BUCKET/doc.pdf (a bucket of allowedBuckets) or a public https URL"
        )
    return {
        401: "the API wants a key: pass --api-key KEY (against a stack, make smoke reads it itself)",
        403: "refused: check the key (auth=apikey: the GetApiKeyCommand output) or, with auth=iam, that your "
        "credentials may call execute-api:Invoke on this API",
        404: "no such route here: deploy this tree (`make deploy`), or check the base URL (with its stage, /prod)",
        429: "throttled, or over the key's daily quota (throttleRate, quotaPerDay): wait, then run it again",
        503: "not ready (models loading, or an endpoint starting): wait a minute, then run it again",
        504: "over API Gateway's 29 s: a serverless endpoint's cold start, or an instance starting: run it again in a minute",
    }.get(answer.status, logs_advice(target))


def _multipart(name: str, filename: str, data: bytes, content_type: str) -> tuple[bytes, str]:
    boundary = f"smoke-{uuid.uuid4().hex}"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def route_url(target: Target, route: str) -> str:
    return target.base + route.format(**PATH_IDS)


def _texts(route: str, body) -> list[str] | None:
    """The texts an API's success answer carries, or None when it is not a success."""
    try:
        if route == GENERAL_OCR:
            return [line["words"] for line in body] if isinstance(body, list) else None
        if route in (NHN_GENERAL, NHN_CROPPING, NHN_VEHICLE_PLATE):
            if not body["header"]["isSuccessful"]:
                return None
            result = body["result"]
            return [
                v["value"] for v in (result["values"] if route == NHN_VEHICLE_PLATE else result["listOfInferTextList"])
            ]
        if route == CLOVA_GENERAL:
            image = body["images"][0]
            return [f["inferText"] for f in image["fields"]] if image["inferResult"] == "SUCCESS" else None
    except (KeyError, IndexError, TypeError):
        return None
    return None


def route_request(route: str) -> tuple[bytes, dict, str, str]:
    """(body, headers, fixture, text it must be read as) of one call of a synchronous route."""
    receipt = (FIXTURES / RECEIPT).read_bytes()
    if route == GENERAL_OCR:
        body = json.dumps({"img": base64.b64encode(receipt).decode()}).encode()
        return body, {"Content-Type": "application/json"}, RECEIPT, RECEIPT_TEXT
    if route in (NHN_GENERAL, NHN_CROPPING):
        body, content_type = _multipart("image", RECEIPT, receipt, "image/png")
        return body, {"Content-Type": content_type}, RECEIPT, RECEIPT_TEXT
    if route == NHN_VEHICLE_PLATE:
        body, content_type = _multipart("image", PLATE, (FIXTURES / PLATE).read_bytes(), "image/png")
        return body, {"Content-Type": content_type}, PLATE, PLATE_TEXT
    if route == CLOVA_GENERAL:
        message = {
            "version": "V2",
            "requestId": f"smoke-{uuid.uuid4().hex[:12]}",
            "timestamp": int(time.time() * 1000),
            "images": [{"format": "png", "name": "receipt", "data": base64.b64encode(receipt).decode()}],
        }
        return json.dumps(message).encode(), {"Content-Type": "application/json"}, RECEIPT, RECEIPT_TEXT
    raise ValueError(route)


SYNC_ROUTES = (GENERAL_OCR, NHN_GENERAL, NHN_CROPPING, NHN_VEHICLE_PLATE, CLOVA_GENERAL)


def check_route(client: Client, route: str) -> Row:
    body, headers, fixture, expected = route_request(route)
    answer = client.call("POST", route_url(client.target, route), body, headers, SECRET_HEADERS[route])
    row = Row(f"POST {route}", "FAIL", answer.status, answer.seconds)
    if answer.status != 200:
        row.detail = answer.error or _message_of(answer)
        row.advice = advice_for(answer, client.target)
        return row
    texts = _texts(route, answer.json())
    if texts is None:
        row.detail, row.advice = (
            f"200, but not a success answer: {_message_of(answer)}",
            advice_for(answer, client.target),
        )
    elif expected not in norm("".join(texts)):
        row.detail = f"{len(texts)} text(s), none reads {expected!r} in {fixture}"
        row.advice = "it answers but does not read the fixture: the model or its image is wrong; " + logs_advice(
            client.target
        )
    else:
        row.result, row.detail = "PASS", f"{len(texts)} text(s), read {expected!r} in {fixture}"
    return row
