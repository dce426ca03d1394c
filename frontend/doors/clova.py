"""The CLOVA door: NAVER CLOVA OCR's General OCR (V1 and V2), images and documents.

    POST /custom/v1/{domainId}/{signature}/general
      JSON {version, requestId, timestamp, lang?, images: [{format, name, url | data}],
            enableTableDetection?}, or multipart/form-data: `message` (that JSON) and `file`

`lang` naming `ko` ("ko", "ko, ja") reads Korean lines too; `ja` and `zh-TW` change nothing.

V2 answers words (a line split at spaces, each with its own box; `lineBreak` marks a line's
last word; a Chinese run with no spaces is one word), V1 answers lines and omits `lineBreak`,
`type` and `convertedImageInfo`, as CLOVA's document says. PDF and TIFF pages are each an entry
of `images[]`, in page order. The domainId and signature are accepted and ignored: the secret
(X-OCR-SECRET header) is checked in AWS by the authorizer (frontend/authorizer.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

from documents.render import Page, document_kind, render
from documents.text_layer import answer as page_answer
from ocr_contract import MAX_IMAGE_BYTES, ApiError, ErrorCode, image_too_large
from ocr_contract.image_header import inspect_image
from ocr_contract.protocol import Lane, Lang, Line, Table
from ocr_contract.request import MAX_URL_LENGTH, TextLayer, decode_base64_image, text_layer
from ocr_contract.routes import CLOVA_GENERAL

from .. import layout
from ..fanout import read_parts
from ..forms import parse_form
from ..incoming import Incoming
from ..pipeline import fetch_image, read_image, read_image_tables
from ..shrink import INVOKE_LIMIT_BYTES

ROUTES = (CLOVA_GENERAL,)
# CLOVA sends its secret in X-OCR-SECRET; in AWS it is this API's key (frontend/authorizer.py).
SECRET_HEADER = "x-ocr-secret"
FORMATS = ("jpg", "jpeg", "png", "pdf", "tif", "tiff")
VERSIONS = ("V1", "V2")
MAX_ID_LENGTH = 256
# A page is "long" (convertedImageInfo.longImage) when its long side is this many times its short.
LONG_IMAGE_RATIO = 3.0
# Rendering stops this long before the request's deadline, leaving the last pages time to be
# read (pages are read while the next ones render).
READ_RESERVE_S = 4.0
# A page that could not be read is answered alone (inferResult), the others as usual. CLOVA's
# FAILURE is "recognition failure" (the page itself: broken, too large, too costly); ERROR is
# "recognition processing exception" (ours: time, capacity).
PAGE_FAILURES = frozenset(
    {
        ErrorCode.INVALID_IMAGE,
        ErrorCode.IMAGE_TOO_LARGE,
        ErrorCode.PAYLOAD_TOO_LARGE,
        ErrorCode.UNSUPPORTED_IMAGE_FORMAT,
    }
)


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
        raise ApiError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            f"Content-Type {incoming.media_type[:100]!r} is not accepted; "
            "send application/json, or multipart/form-data with 'message' and 'file'",
        )
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
        raise _invalid('\'version\' must be "V1" or "V2"')
    request_id = message.get("requestId")
    if not isinstance(request_id, str) or not request_id or len(request_id) > MAX_ID_LENGTH:
        raise _invalid(f"'requestId' must be a non-empty string of at most {MAX_ID_LENGTH} characters")
    timestamp = message.get("timestamp")
    if isinstance(timestamp, str) and timestamp.isascii() and timestamp.isdigit() and len(timestamp) < 20:
        timestamp = int(timestamp)
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        raise _invalid("'timestamp' must be an integer (milliseconds)")
    lang = clova_lang(message.get("lang"))
    layer = text_layer(message.get("textLayer"))  # ours: a PDF page's own text where it can be trusted
    tables = message.get("enableTableDetection", False)
    if not isinstance(tables, bool):
        raise _invalid("'enableTableDetection' must be true or false")
    images = message.get("images")
    if not isinstance(images, list) or len(images) != 1 or not isinstance(images[0], dict):
        raise _invalid('\'images\' must be an array of exactly one image: [{"format", "name", "url" or "data"}]')
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
            raise ApiError(
                ErrorCode.INVALID_URL, f"images[0].url is {len(url)} characters; at most {MAX_URL_LENGTH} are accepted"
            )
    return {
        "version": version,
        "requestId": request_id,
        "timestamp": timestamp,
        "tables": tables,
        "lang": lang,
        "textLayer": layer,
        "name": name,
        "data": data,
        "url": url,
    }


# CLOVA's languages (its document: `ko`, `ja`, `zh-TW`; several joined by commas, "ko, ja").
CLOVA_LANGS = ("ko", "ja", "zh-TW")


def clova_lang(value: object) -> Lang | None:
    """What CLOVA's `lang` asks of us: "ko" when it names Korean (alone or with others), so that
    Korean lines are read too; None otherwise (`ja`, `zh-TW` and no `lang`: PP-OCR reads Chinese,
    Traditional included, and Latin). A value CLOVA does not document is the caller's error."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid('\'lang\' must be a string such as "ko" or "ko, ja, zh-TW"')
    known = {lang.lower(): lang for lang in CLOVA_LANGS}
    asked = [part.strip() for part in value.split(",")]
    unknown = [part for part in asked if part.lower() not in known]
    if unknown or not value.strip():
        raise _invalid(
            f"'lang' {value[:40]!r} is not one of CLOVA's languages: give {', '.join(CLOVA_LANGS)}, "
            'or several joined by commas ("ko, ja"), or leave it out'
        )
    return "ko" if "ko" in (part.lower() for part in asked) else None


def _pages(
    data: bytes, deadline: float, layer: TextLayer = "auto", tables: bool = False
) -> tuple[Iterator[Page], bool]:
    """The pages to read (made as they are read, for a document) and whether the file was a
    document. Decided by the bytes, never by the declared format. A PDF page comes as it is
    (documents/pdf_pages.py): a scan's own pixels (its JPEG as it is, where it decodes to them),
    its text layer (`layer` auto), or a render at a resolution chosen from its content."""
    kind = document_kind(data)
    if kind is not None:
        pages = render(
            data,
            kind,
            deadline - READ_RESERVE_S,
            max_output_bytes=INVOKE_LIMIT_BYTES,
            text_layer=layer,
            page_image=tables,
        )
        return pages, True
    header = inspect_image(data)
    return iter([Page(0, data, header.width, header.height)]), False


def _read_page(
    page: Page, request_id: str, deadline: float, detail: bool, document: bool, tables: bool, lang: Lang | None
) -> tuple[list[Line], list[Table]]:
    """The page's lines (in the page's pixel space) and tables. A PDF page is answered from its
    plan (documents/text_layer.py): its text layer's lines, OCR's, or both. Tables are found
    and filled by the endpoint, from OCR's lines."""
    if page.error is not None:
        raise page.error
    if page.plan is not None and page.plan.plan == "text" and not tables:
        return page_answer(page.plan, None)[0], []
    assert page.image is not None
    lane: Lane = "bulk" if document else "interactive"
    # The characters' boxes are asked for where the text layer's lines are placed beside OCR's.
    detail = detail or (page.plan is not None and page.plan.plan != "ocr")
    found: list[Table] = []
    if tables:
        lines, found = read_image_tables(page.image, request_id, deadline, detail=detail, lane=lane, lang=lang)
    else:
        lines = read_image(page.image, request_id, deadline, detail=detail, lane=lane, lang=lang)
    if page.plan is not None:
        lines = page_answer(page.plan, lines)[0]
    return lines, found


def _vertices(quad: layout.Quad) -> dict:
    return {"vertices": [{"x": round(float(x), 1), "y": round(float(y), 1)} for x, y in quad]}


def _fields(lines: list[Line], v2: bool) -> list[dict]:
    if not v2:  # V1: one field per line
        return [
            {
                "valueType": "ALL",
                "boundingPoly": _vertices(layout.line_quad(line)),
                "inferText": line["words"],
                "inferConfidence": round(line["score"], 4),
            }
            for line in lines
        ]
    return [
        {
            "valueType": "ALL",
            "boundingPoly": _vertices(word.quad),
            "inferText": word.text,
            "inferConfidence": round(word.score, 4),
            "type": "NORMAL",
            "lineBreak": word.last_in_line,
        }
        for line in lines
        for word in layout.words(line)
    ]


def _tables(tables: list[Table], v2: bool) -> list[dict]:
    """The tables as CLOVA's document describes `tables[]`: cells (rowIndex, columnIndex,
    rowSpan, columnSpan, inferConfidence, cellTextLines[] of cellWords[] with inferText), the
    table's inferText and inferConfidence; boundingPoly at every level in V2 only."""

    def poly(quad: list[list[float]]) -> dict:
        return {"boundingPoly": _vertices(quad)} if v2 else {}

    out = []
    for table in tables:
        cells = []
        for cell in table["cells"]:
            text_lines = [
                {
                    **poly(layout.line_quad(piece)),
                    "inferConfidence": round(piece["score"], 4),
                    "cellWords": [
                        {**poly(word.quad), "inferConfidence": round(word.score, 4), "inferText": word.text}
                        for word in layout.words(piece)
                    ],
                }
                for piece in cell["lines"]
            ]
            cells.append(
                {
                    **poly(cell["box"]),
                    "cellTextLines": text_lines,
                    "inferConfidence": round(cell["score"], 4),
                    "rowSpan": cell["rowSpan"],
                    "rowIndex": cell["row"],
                    "columnSpan": cell["columnSpan"],
                    "columnIndex": cell["column"],
                }
            )
        out.append(
            {
                "cells": cells,
                "inferText": " ".join(cell["text"] for cell in table["cells"] if cell["text"]),
                "inferConfidence": round(table["score"], 4),
                **poly(table["box"]),
            }
        )
    return out


def answer(incoming: Incoming, request_id: str, deadline: float, record: dict) -> tuple[int, dict]:
    message, file = _message_and_file(incoming)
    request = _checked(message, file is not None)
    if file is not None:
        data, record["source"] = file, "form"
    elif request["data"]:
        data, record["source"] = decode_base64_image(request["data"], "images[0].data"), "data"
    else:
        data, record["source"] = (
            fetch_image(request["url"].strip(), deadline),
            request["url"].split(":", 1)[0].lower()[:10],
        )
    if len(data) > MAX_IMAGE_BYTES:
        raise image_too_large(len(data))
    record["bytes"] = len(data)
    pages, document = _pages(data, deadline, request["textLayer"], request["tables"])
    v2 = request["version"].upper() == "V2"
    # Tables are filled from the characters' boxes, so they are asked for with `detail` (V1 too).
    want_tables = request["tables"]
    answers = read_parts(
        pages,
        lambda page, until: _read_page(
            page, request_id, until, v2 or want_tables, document, want_tables, request["lang"]
        ),
        deadline,
    )
    record["pages"] = len(answers)
    failed = [answer for _, answer in answers if isinstance(answer, ApiError)]
    if failed and len(failed) == len(answers):  # no page was read: the request failed
        raise failed[0]
    if failed:
        record["pagesFailed"] = len(failed)
    images = []
    for page, read in answers:
        lines, tables = read if not isinstance(read, ApiError) else (read, [])
        if not v2 and want_tables and not isinstance(lines, ApiError):
            # V1's fields stay as without tables: each line's location, not its detected corners.
            lines = [{key: value for key, value in line.items() if key not in ("box", "chars")} for line in lines]  # type: ignore[misc]
        entry = {
            "uid": uuid.uuid4().hex,
            "name": request["name"],
            "inferResult": "SUCCESS",
            "message": "SUCCESS",
            "validationResult": {"result": "NO_REQUESTED"},
        }
        if v2 and document:
            entry["convertedImageInfo"] = {  # the page's pixel space: a scan's own, or the page at its resolution
                "width": page.plan.width if page.plan is not None else page.width,
                "height": page.plan.height if page.plan is not None else page.height,
                "pageIndex": page.index,
            }
            size = (entry["convertedImageInfo"]["width"], entry["convertedImageInfo"]["height"])
            entry["convertedImageInfo"]["longImage"] = 0 < max(size) >= LONG_IMAGE_RATIO * min(size)
        if isinstance(lines, ApiError):
            entry["inferResult"] = "FAILURE" if lines.code in PAGE_FAILURES else "ERROR"
            entry["message"] = f"{lines.code.value}: {lines.message}"
            lines = []
        entry["fields"] = _fields(lines, v2)
        if want_tables:
            entry["tables"] = _tables(tables, v2)
        images.append(entry)
    return 200, {
        "version": request["version"],
        "requestId": request["requestId"],
        "timestamp": request["timestamp"],
        "images": images,
    }


def error_body(error: ApiError, request_id: str) -> dict:
    return {"code": error.code.value, "message": error.message, "requestId": request_id}
