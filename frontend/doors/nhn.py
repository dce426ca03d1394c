"""The NHN door: NHN Cloud General OCR, and its segmentation ("cropping") API for long images.

    POST /v1.0/appkeys/{appKey}/general            multipart `image`, or JSON {"imageUrl": ...}
    POST /v1.0/appkeys/{appKey}/general/cropping   the same, for long images (cut into slices)

Both take our `?lang=ko` (not NHN's): Korean lines are read too (docs/compatibility.md).

NHN documents two result shapes (v1, v2) for one URI; the answer carries both, so a client of
either reads what it knows: v2's `listOfInferTexts`/`listOfBoundingBoxes` (words grouped by
block) and v1's `listOfInferTextList`/`listOfBoundingBoxList`/`resolution` (the same words,
flat). The appKey is accepted and ignored: the API key (Authorization header) is checked in
AWS by the authorizer (frontend/authorizer.py).
"""

from __future__ import annotations

import json

from ocr_contract import ApiError, ErrorCode
from ocr_contract.image_header import inspect_image
from ocr_contract.limits import LONG_IMAGE_MAX_SIDE_PX
from ocr_contract.request import MAX_URL_LENGTH, ocr_lang
from ocr_contract.routes import NHN_CROPPING, NHN_GENERAL

from .. import layout
from ..forms import parse_form
from ..incoming import Incoming
from ..long_images import read_long_image
from ..pipeline import fetch_image, read_image

ROUTES = (NHN_GENERAL, NHN_CROPPING)
# NHN sends its secret key in Authorization; in AWS it is this API's key (frontend/authorizer.py).
SECRET_HEADER = "authorization"

# NHN's header carries a negative resultCode on failure; ours, one per error kind (README).
RESULT_CODES = {
    ErrorCode.INVALID_REQUEST: -40,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: -41,
    ErrorCode.INVALID_URL: -42,
    ErrorCode.URL_NOT_ALLOWED: -43,
    ErrorCode.URL_FETCH_FAILED: -44,
    ErrorCode.INVALID_IMAGE: -45,
    ErrorCode.UNSUPPORTED_IMAGE_FORMAT: -46,
    ErrorCode.IMAGE_TOO_LARGE: -47,
    ErrorCode.PAYLOAD_TOO_LARGE: -48,
    ErrorCode.NOT_FOUND: -49,
    ErrorCode.METHOD_NOT_ALLOWED: -50,
    ErrorCode.FORBIDDEN: -51,
    ErrorCode.TOO_MANY_REQUESTS: -52,
    ErrorCode.TIMEOUT: -60,
    ErrorCode.MODEL_NOT_READY: -61,
    ErrorCode.SERVER_BUSY: -62,
    ErrorCode.LANGUAGE_NOT_AVAILABLE: -63,
    ErrorCode.INTERNAL_ERROR: -99,
}
FILE_TYPES = {"JPEG": "jpg", "PNG": "png", "BMP": "bmp"}


def request_image(incoming: Incoming, deadline: float, record: dict) -> bytes:
    """The image of an NHN request: the `image` file of a form, or the JSON's `imageUrl`."""
    if incoming.media_type == "multipart/form-data":
        fields = parse_form(incoming.headers["content-type"], incoming.body_bytes())
        if "image" not in fields or not fields["image"][0]:
            raise ApiError(ErrorCode.INVALID_REQUEST, "the form has no 'image' file; send it as -F 'image=@file.png'")
        record["source"] = "form"
        return fields["image"][0]
    if incoming.media_type not in ("application/json", ""):
        raise ApiError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            f"Content-Type {incoming.media_type[:100]!r} is not accepted; send "
            "multipart/form-data with an 'image' file, or application/json with 'imageUrl'",
        )
    try:
        payload = json.loads(incoming.body_bytes() or b"null")
    except (ValueError, RecursionError):
        raise ApiError(ErrorCode.INVALID_REQUEST, "the request body is not valid JSON") from None
    url = payload.get("imageUrl") if isinstance(payload, dict) else None
    if not isinstance(url, str) or not url.strip():
        raise ApiError(
            ErrorCode.INVALID_REQUEST,
            'send {"imageUrl": "https://..."} as JSON, or the image as a multipart \'image\' file',
        )
    if len(url) > MAX_URL_LENGTH:
        raise ApiError(
            ErrorCode.INVALID_URL, f"'imageUrl' is {len(url)} characters; at most {MAX_URL_LENGTH} are accepted"
        )
    record["source"] = url.split(":", 1)[0].lower()[:10]
    return fetch_image(url.strip(), deadline)


def corners(quad) -> dict:
    """NHN's box: integer corners x1..y4, clockwise from the top-left."""
    return {f"{axis}{i + 1}": int(round(point[k])) for i, point in enumerate(quad) for k, axis in enumerate("xy")}


def resolution(header) -> str:
    """NHN's `resolution`: `normal` from HD (1280 x 720, either orientation) up, else `low`."""
    long_side, short_side = max(header.width, header.height), min(header.width, header.height)
    return "normal" if long_side >= 1280 and short_side >= 720 else "low"


def success(result: dict) -> dict:
    return {"header": {"isSuccessful": True, "resultCode": 0, "resultMessage": "SUCCESS"}, "result": result}


def answer(incoming: Incoming, request_id: str, deadline: float, record: dict) -> tuple[int, dict]:
    cropping = incoming.route == NHN_CROPPING or incoming.route.endswith("/cropping")
    lang = ocr_lang(incoming.query.get("lang"), "the query parameter lang")
    image = request_image(incoming, deadline, record)
    record["bytes"] = len(image)
    if cropping:
        header = inspect_image(image, max_side=LONG_IMAGE_MAX_SIDE_PX)
        lines, slices = read_long_image(
            image,
            header,
            lambda data, until, lane: read_image(data, request_id, until, detail=True, lane=lane, lang=lang),
            deadline,
        )
    else:
        header = inspect_image(image)
        lines = read_image(image, request_id, deadline, detail=True, header=header, lang=lang)
    words_of = [layout.words(line) for line in lines]
    groups = [[w for i in group for w in words_of[i]] for group in layout.blocks(lines)]
    groups = [g for g in groups if g]
    flat = [w for g in groups for w in g]
    result: dict[str, object] = {
        "fileType": FILE_TYPES[header.format],
        # v2: words grouped by block
        "listOfInferTexts": [{"inferTexts": [{"value": w.text, "conf": round(w.score, 4)} for w in g]} for g in groups],
        "listOfBoundingBoxes": [{"boundingBoxes": [corners(w.quad) for w in g]} for g in groups],
        # v1: the same words, flat
        "listOfInferTextList": [{"value": w.text, "conf": round(w.score, 4)} for w in flat],
        "listOfBoundingBoxList": [corners(w.quad) for w in flat],
        "resolution": resolution(header),
    }
    if cropping:
        result["slicesImages"] = slices
    return 200, success(result)


def error_body(error: ApiError, request_id: str) -> dict:
    return {
        "header": {
            "isSuccessful": False,
            "resultCode": RESULT_CODES.get(error.code, -99),
            "resultMessage": f"{error.code.value}: {error.message}",
        },
        "requestId": request_id,
    }
