"""The CLOVA door: NAVER CLOVA OCR's General OCR (V1 and V2), images and documents.

    POST /custom/v1/{domainId}/{signature}/general
      JSON {version, requestId, timestamp, lang?, images: [{format, name, url | data}],
            enableTableDetection?}, or multipart/form-data: `message` (that JSON) and `file`

V2 answers words (a line split at spaces, each with its own box; `lineBreak` marks a line's
last word; a Chinese run with no spaces is one word), V1 answers lines and omits `lineBreak`,
`type` and `convertedImageInfo`, as CLOVA's document says. PDF and TIFF pages are each an entry
of `images[]`, in page order. The domainId and signature are accepted and ignored: the secret
(X-OCR-SECRET header) is checked in AWS by the authorizer (frontend/authorizer.py).
"""
from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from ocr_contract import MAX_IMAGE_BYTES, ApiError, ErrorCode, image_too_large
from ocr_contract.image_header import inspect_image
from ocr_contract.request import MAX_URL_LENGTH, decode_base64_image

from .. import layout
from ..forms import parse_form
from ..incoming import Incoming
from ..pages import Page, pdf_pages, tiff_pages
from ..pipeline import fetch_image, read_image

PATH = r"/custom/v1/[^/]{1,128}/[^/]{1,256}/general"
# CLOVA sends its secret in X-OCR-SECRET; in AWS it is this API's key (frontend/authorizer.py).
SECRET_HEADER = "x-ocr-secret"
FORMATS = ("jpg", "jpeg", "png", "pdf", "tif", "tiff")
VERSIONS = ("V1", "V2")
MAX_ID_LENGTH = 256
# A page is "long" (convertedImageInfo.longImage) when its long side is this many times its short.
LONG_IMAGE_RATIO = 3.0


def _invalid(message: str) -> ApiError:
    return ApiError(ErrorCode.INVALID_REQUEST, message)


def _message_and_file(incoming: Incoming) -> tuple[dict, bytes | None]:
    if incoming.media_type == "multipart/form-data":
        fields = parse_form(incoming.headers["content-type"], incoming.body_bytes())
        if "message" not in fields:
            raise _invalid("the form has no 'message' field; send the request JSON in it, and the file in 'file'")
        text, file = fields["message"][0], fields.get("file", (None, None))[0]
        if not file:
            raise _invalid("the form has no 'file'; send the image or document as -F 'file=@name.pdf'")
    elif incoming.media_type in ("application/json", ""):
        text, file = incoming.body_bytes(), None
    else:
        raise ApiError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, f"Content-Type {incoming.media_type[:100]!r} is not accepted; "
                                                         "send application/json, or multipart/form-data with 'message' and 'file'")
    try:
        message = json.loads(text or b"null")
    except (ValueError, RecursionError):
        raise _invalid("the request message is not valid JSON") from None
    if not isinstance(message, dict):
        raise _invalid("the request message must be a JSON object with version, requestId, timestamp and images")
    return message, file


def _checked(message: dict, has_file: bool) -> dict:
    """The message's fields, validated as CLOVA's document describes them."""
    version = message.get("version")
    if not isinstance(version, str) or version.upper() not in VERSIONS:
        raise _invalid("'version' must be \"V1\" or \"V2\"")
    request_id = message.get("requestId")
    if not isinstance(request_id, str) or not request_id or len(request_id) > MAX_ID_LENGTH:
        raise _invalid(f"'requestId' must be a non-empty string of at most {MAX_ID_LENGTH} characters")
    timestamp = message.get("timestamp")
    if isinstance(timestamp, str) and timestamp.isascii() and timestamp.isdigit() and len(timestamp) < 20:
        timestamp = int(timestamp)
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        raise _invalid("'timestamp' must be an integer (milliseconds)")
    lang = message.get("lang")
    if lang is not None and not isinstance(lang, str):
        raise _invalid("'lang' must be a string such as \"ko\" or \"zh-TW\"")
    tables = message.get("enableTableDetection", False)
    if not isinstance(tables, bool):
        raise _invalid("'enableTableDetection' must be true or false")
    images = message.get("images")
    if not isinstance(images, list) or len(images) != 1 or not isinstance(images[0], dict):
        raise _invalid("'images' must be an array of exactly one image: [{\"format\", \"name\", \"url\" or \"data\"}]")
    image = images[0]
    fmt, name = image.get("format"), image.get("name")
    if not isinstance(fmt, str) or fmt.lower() not in FORMATS:
        raise ApiError(ErrorCode.UNSUPPORTED_IMAGE_FORMAT, f"images[0].format must be one of {', '.join(FORMATS)}")
    if not isinstance(name, str) or not name or len(name) > MAX_ID_LENGTH:
        raise _invalid(f"images[0].name must be a non-empty string of at most {MAX_ID_LENGTH} characters")
    data, url = image.get("data"), image.get("url")
    if not has_file:
        if data is not None and not isinstance(data, str):
            raise _invalid("images[0].data must be a base64 string")
        if url is not None and not isinstance(url, str):
            raise _invalid("images[0].url must be a string")
        if not data and not (url and url.strip()):
            raise _invalid("images[0] needs 'data' (base64) or 'url'")
        if not data and url and len(url) > MAX_URL_LENGTH:
            raise ApiError(ErrorCode.INVALID_URL, f"images[0].url is {len(url)} characters; at most {MAX_URL_LENGTH} are accepted")
    return {"version": version, "requestId": request_id, "timestamp": timestamp, "tables": tables,
            "name": name, "data": data, "url": url}


def _pages(data: bytes, deadline: float) -> tuple[list[Page], bool]:
    """The pages to read and whether the file was a document. Decided by the bytes, never by
    the declared format."""
    if data.startswith(b"%PDF"):
        return pdf_pages(data, deadline), True
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return tiff_pages(data, deadline), True
    header = inspect_image(data)
    return [Page(data, header.width, header.height, 0)], False


def _vertices(quad: layout.Quad) -> dict:
    return {"vertices": [{"x": round(float(x), 1), "y": round(float(y), 1)} for x, y in quad]}


def _fields(lines: list[dict], v2: bool) -> list[dict]:
    if not v2:  # V1: one field per line
        return [{"valueType": "ALL", "boundingPoly": _vertices(layout.line_quad(line)), "inferText": line["words"],
                 "inferConfidence": round(line["score"], 4)} for line in lines]
    return [{"valueType": "ALL", "boundingPoly": _vertices(word.quad), "inferText": word.text,
             "inferConfidence": round(word.score, 4), "type": "NORMAL", "lineBreak": word.last_in_line}
            for line in lines for word in layout.words(line)]


def answer(incoming: Incoming, request_id: str, deadline: float, record: dict) -> tuple[int, dict]:
    message, file = _message_and_file(incoming)
    request = _checked(message, file is not None)
    if file is not None:
        data, record["source"] = file, "form"
    elif request["data"]:
        data, record["source"] = decode_base64_image(request["data"], "images[0].data"), "data"
    else:
        data, record["source"] = fetch_image(request["url"].strip(), deadline), request["url"].split(":", 1)[0].lower()[:10]
    if len(data) > MAX_IMAGE_BYTES:
        raise image_too_large(len(data))
    record["bytes"] = len(data)
    pages, document = _pages(data, deadline)
    record["pages"] = len(pages)
    v2 = request["version"].upper() == "V2"
    with ThreadPoolExecutor(len(pages)) as pool:  # pages are read at once, within the deadline
        read = list(pool.map(lambda page: read_image(page.image, request_id, deadline, detail=v2), pages))
    if time.monotonic() > deadline:
        raise ApiError(ErrorCode.TIMEOUT, "the pages could not be read in time; send fewer pages")
    images = []
    for page, lines in zip(pages, read):
        entry = {"uid": uuid.uuid4().hex, "name": request["name"], "inferResult": "SUCCESS", "message": "SUCCESS",
                 "validationResult": {"result": "NO_REQUESTED"}}
        if v2 and document:
            entry["convertedImageInfo"] = {
                "width": page.width, "height": page.height, "pageIndex": page.index,
                "longImage": max(page.width, page.height) >= LONG_IMAGE_RATIO * min(page.width, page.height)}
        entry["fields"] = _fields(lines, v2)
        if request["tables"]:
            entry["tables"] = []  # tables are not detected yet (README)
        images.append(entry)
    return 200, {"version": request["version"], "requestId": request["requestId"], "timestamp": request["timestamp"],
                 "images": images}


def error_body(error: ApiError, request_id: str) -> dict:
    return {"code": error.code.value, "message": error.message, "requestId": request_id}
