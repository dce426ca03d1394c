"""Parsing and validating the JSON body of POST /general_ocr."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Literal

from .errors import ApiError, ErrorCode
from .limits import IMG_MAX_BASE64_CHARS, IMG_MAX_BYTES, MAX_BODY_BYTES, MAX_IMAGE_BYTES, image_too_large
from .routes import NHN_CROPPING, NHN_GENERAL

MAX_URL_LENGTH = 2048
# What API Gateway answers when a body fails its JSON schema (infra/ocr_api.py): it cannot say
# which rule failed (the gateway's own text is not safe to put in JSON), so it says them all.
SCHEMA_ERROR_MESSAGE = (
    "the request body must be a JSON object with exactly one of 'url' (a string of at most "
    f"{MAX_URL_LENGTH} characters) or 'img' (standard base64, at most {IMG_MAX_BASE64_CHARS:,} characters, "
    f"about {IMG_MAX_BYTES / 1e6:g} MB of image; send larger images by url), and optionally 'lang': \"ko\" "
    "to read Korean text too"
)
# The languages a caller may ask to be read besides PP-OCR's Chinese and Latin (the `lang` of the
# protocol, ocr_contract.protocol). `ko`: Hangul lines are read by a Korean recogniser
# (inference/korean_text.py).
Lang = Literal["ko"]
LANGS: tuple[Lang, ...] = ("ko",)
# The same rule in API Gateway's request schema (infra/ocr_api.py): one of LANGS in any case,
# blanks round it, or "".
LANG_PATTERN = r"^\s*(" + "|".join("".join(f"[{c.lower()}{c.upper()}]" for c in lang) for lang in LANGS) + r")?\s*$"
_DATA_URL = re.compile(r"^data:image/[a-zA-Z0-9.+-]+;base64,", re.ASCII)
_BASE64_WHITESPACE = re.compile(rb"[\r\n\t ]+")


@dataclass(frozen=True)
class OcrRequest:
    url: str | None = None
    image: bytes | None = None
    lang: Lang | None = None  # "ko": Korean lines are read too


def ocr_lang(value: object, field: str = "'lang'") -> Lang | None:
    """Our `lang` option (the body of /general_ocr, NHN's query string): "ko" (any case) to read
    Korean lines too; absent, null or "" for the default (Chinese and Latin); anything else is the
    caller's error."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiError(ErrorCode.INVALID_REQUEST, f'{field} must be a string: "ko", or leave it out')
    lang = value.strip().lower()
    if lang not in LANGS:
        raise ApiError(
            ErrorCode.INVALID_REQUEST,
            f"{field} {value[:20]!r} is not read; give one of {', '.join(LANGS)} (Korean), or leave it out "
            "for Chinese and Latin text",
        )
    return lang


# A document's text layer (PDF pages' own text: jobs and the CLOVA door take `"textLayer"`):
# `auto` reads a page's text from its text layer where that can be trusted (documents/
# text_layer.py), `ignore` reads every page from its pixels.
TextLayer = Literal["auto", "ignore"]
TEXT_LAYERS: tuple[TextLayer, ...] = ("auto", "ignore")


def text_layer(value: object, field: str = "'textLayer'") -> TextLayer:
    """The `textLayer` option: "auto" (absent or null too) or "ignore"; anything else is the
    caller's error."""
    if value is None:
        return "auto"
    if not isinstance(value, str) or value not in TEXT_LAYERS:
        raise ApiError(
            ErrorCode.INVALID_REQUEST,
            f'{field} must be "auto" (a page\'s own text where it can be trusted, the default) or "ignore" '
            "(every page read from its pixels)",
        )
    return value


def check_content_type(content_type: str | None) -> None:
    """POST /general_ocr takes JSON only: a form post or text/plain is refused with 415 (which
    also keeps browsers' cross-site "simple" requests out). No header at all is read as JSON,
    as API Gateway does."""
    if content_type is None or not str(content_type).strip():
        return
    media_type = str(content_type).split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        shown = str(content_type)[:100].encode("ascii", "replace").decode()
        advice = "send the JSON body with Content-Type: application/json"
        if media_type == "multipart/form-data":
            advice = (
                f"file uploads (multipart field 'image') are taken by the NHN routes POST {NHN_GENERAL} and "
                f'POST {NHN_CROPPING}; here, {advice} ({{"img": "<base64>"}} or {{"url": "..."}})'
            )
        raise ApiError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, f"Content-Type {shown!r} is not accepted; {advice}")


def parse_request(body: str | bytes | None) -> OcrRequest:
    """The request body -> exactly one of url or decoded image bytes, or an ApiError."""
    if body is not None and not isinstance(body, (str, bytes)):
        raise ApiError(ErrorCode.INVALID_REQUEST, "the request body must be JSON text")
    if body is None or body == "" or body == b"":
        raise ApiError(
            ErrorCode.INVALID_REQUEST, 'the request body is empty; send {"url": "..."} or {"img": "<base64>"}'
        )
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"the request body is {len(body)} bytes; images may be at most {MAX_IMAGE_BYTES} bytes (10 MiB) before base64",
        )
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(ErrorCode.INVALID_REQUEST, "the request body is not valid JSON") from None
    except RecursionError:  # [[[[... nested deeper than the parser's stack
        raise ApiError(
            ErrorCode.INVALID_REQUEST, "the request body is nested too deeply; send a flat JSON object"
        ) from None
    if not isinstance(payload, dict):
        raise ApiError(
            ErrorCode.INVALID_REQUEST,
            f'the request body must be a JSON object, not {type(payload).__name__}; send {{"url": "..."}} or {{"img": "<base64>"}}',
        )
    unknown = sorted(set(payload) - {"url", "img", "lang"})
    if unknown:
        raise ApiError(
            ErrorCode.INVALID_REQUEST,
            f"unknown field(s) {', '.join(map(repr, unknown))}; the body takes exactly one of 'url' or 'img', "
            "and optionally 'lang'",
        )
    lang = ocr_lang(payload.get("lang"))
    if ("url" in payload) == ("img" in payload):
        which = "both" if "url" in payload else "neither"
        raise ApiError(ErrorCode.INVALID_REQUEST, f"send exactly one of 'url' or 'img', not {which}")
    if "url" in payload:
        url = payload["url"]
        if not isinstance(url, str):
            raise ApiError(ErrorCode.INVALID_REQUEST, f"'url' must be a string, not {_json_type(url)}")
        url = url.strip()
        if not url:
            raise ApiError(ErrorCode.INVALID_URL, "'url' is empty")
        if len(url) > MAX_URL_LENGTH:
            raise ApiError(
                ErrorCode.INVALID_URL, f"'url' is {len(url)} characters; at most {MAX_URL_LENGTH} are accepted"
            )
        return OcrRequest(url=url, lang=lang)
    img = payload["img"]
    if not isinstance(img, str):
        raise ApiError(ErrorCode.INVALID_REQUEST, f"'img' must be a base64 string, not {_json_type(img)}")
    return OcrRequest(image=decode_base64_image(img), lang=lang)


def decode_base64_image(text: str, field: str = "'img'") -> bytes:
    """The image bytes of a base64 field (`field` names it in messages); whitespace and a
    data-URL prefix are allowed."""
    text = _DATA_URL.sub("", text.strip(), count=1)
    try:
        raw = _BASE64_WHITESPACE.sub(b"", text.encode("ascii"))
        data = base64.b64decode(raw, validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise ApiError(ErrorCode.INVALID_IMAGE, f"{field} is not valid standard base64") from None
    if not data:
        raise ApiError(ErrorCode.INVALID_IMAGE, f"{field} decodes to an empty image")
    if len(data) > MAX_IMAGE_BYTES:
        raise image_too_large(len(data))
    return data


def _json_type(value) -> str:
    return {
        dict: "an object",
        list: "an array",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
        str: "a string",
    }.get(type(value), type(value).__name__)


# The plate door's `country` hint (our addition to NHN's API): which grammar and recogniser read
# the plates. Without it both are tried and each place keeps its more confident reading.
PLATE_COUNTRIES = ("cn", "kr")


def plate_country(value: str | None) -> str | None:
    """The hint, lower-cased, or None when not given; an unknown one is the client's error."""
    if value is None or value == "":
        return None
    country = value.strip().lower()
    if country not in PLATE_COUNTRIES:
        raise ApiError(
            ErrorCode.INVALID_REQUEST,
            f"country {value[:20]!r} is not read; give one of {', '.join(PLATE_COUNTRIES)}, or leave it out",
        )
    return country
