"""Our own API, POST /general_ocr: the AWS AI Solution Kit's "General OCR (Simplified Chinese)".

{"url": "https://..." | "s3://bucket/key"} or {"img": "<base64>"}, and optionally "lang": "ko"
(Korean lines are read too; docs/api.md)
-> [{"words", "location": {"top", "left", "width", "height"}, "score"}]
"""

from __future__ import annotations

from ocr_contract import ApiError, check_content_type, parse_request
from ocr_contract.routes import GENERAL_OCR

from ..incoming import Incoming
from ..pipeline import fetch_image, read_image

ROUTES = (GENERAL_OCR,)
# The header carrying the API key in AWS (frontend/authorizer.py).
SECRET_HEADER = "x-api-key"


def answer(incoming: Incoming, request_id: str, deadline: float, record: dict) -> tuple[int, list]:
    check_content_type(incoming.headers.get("content-type"))
    request = parse_request(incoming.body)
    if request.image is not None:
        record["source"], image = "img", request.image
    else:
        url = request.url
        assert url is not None, "parse_request answers exactly one of url and image"
        record["source"] = url.split(":", 1)[0].lower()[:10]
        image = fetch_image(url, deadline)
    record["bytes"] = len(image)
    return 200, read_image(image, request_id, deadline, lang=request.lang)


def error_body(error: ApiError, request_id: str) -> dict:
    return error.body(request_id)
