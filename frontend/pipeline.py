"""What every door shares: getting an image (bytes sent, or fetched from a URL), checking it
against the contract, and reading it with the inference endpoint.

A door (frontend/doors/) turns its API's request into these calls and the lines back into its
API's answer; the guards (URL guard, sizes, formats, decode cost, deadlines) live here and in
ocr_contract, once.
"""

from __future__ import annotations

import json

from ocr_contract import ApiError, ErrorCode
from ocr_contract.image_header import ImageHeader, inspect_image
from ocr_contract.protocol import Lane, Lang, Line, Plate, Table
from urlfetch.fetch import fetch_http

from .endpoint import invoke
from .s3_fetch import fetch_s3
from .shrink import fit_invoke_limit


def fetch_image(url: str, deadline: float) -> bytes:
    """The bytes behind an http(s) or s3 URL, through the URL guard and within the deadline."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "s3":
        return fetch_s3(url)
    if scheme in ("http", "https"):
        return fetch_http(url, deadline=deadline)
    raise ApiError(ErrorCode.INVALID_URL, f"URL scheme {scheme or '(none)'!r} is not supported; use http, https or s3")


def read_image(
    image: bytes,
    request_id: str,
    deadline: float,
    detail: bool = False,
    header: ImageHeader | None = None,
    lane: Lane = "interactive",
    lang: Lang | None = None,
) -> list[Line]:
    """The lines the endpoint reads in an image: the main API's items, and with `detail` each
    line's corners (`box`) and its characters' (`chars`), all in the image's own pixels.
    `lane` bulk for a page or slice of a larger request (ocr_contract.protocol); `lang` "ko" to
    read Korean lines too."""
    lines, scale = _invoke_checked(image, request_id, deadline, header, detail=detail, lane=lane, lang=lang)
    if scale != 1.0:
        _rescale(lines, scale)
    return lines


def read_image_tables(
    image: bytes,
    request_id: str,
    deadline: float,
    detail: bool = False,
    header: ImageHeader | None = None,
    lane: Lane = "interactive",
    lang: Lang | None = None,
) -> tuple[list[Line], list[Table]]:
    """The lines as read_image answers them, and the image's tables (ocr_contract.protocol
    Table: cells with rows, columns, spans, text and the pieces of lines they hold), all in the
    image's own pixels."""
    answer, scale = _invoke_checked(
        image, request_id, deadline, header, detail=detail, lane=lane, tables=True, lang=lang
    )
    lines, tables = answer["lines"], answer["tables"]
    if scale != 1.0:
        _rescale(lines, scale)
        for table in tables:
            table["box"] = _unscaled(table["box"], scale)
            for cell in table["cells"]:
                cell["box"] = _unscaled(cell["box"], scale)
                _rescale(cell["lines"], scale)
    return lines, tables


def read_plates(
    image: bytes, request_id: str, deadline: float, header: ImageHeader | None = None, country: str | None = None
) -> list[Plate]:
    """The licence plates the endpoint reads in an image: [{"value", "conf", "box"}], most
    confident first, boxes in the image's own pixels; `country` ("cn", "kr") reads only its plates."""
    plates, scale = _invoke_checked(image, request_id, deadline, header, task="plates", country=country)
    if scale != 1.0:
        for plate in plates:
            plate["box"] = _unscaled(plate["box"], scale)
    return plates


def _invoke_checked(image: bytes, request_id: str, deadline: float, header: ImageHeader | None, **options):
    """(the endpoint's JSON answer, the scale of the image it read against the original).

    The header is checked first (format, size, decode cost), so a refused image costs no
    model call; an image over SageMaker's invoke limit is re-encoded to fit (shrink.py)."""
    if header is None:
        inspect_image(image)
    image, scale = fit_invoke_limit(image)
    return json.loads(invoke(image, request_id, deadline, **options)), scale


def _rescale(lines: list[Line], scale: float) -> None:
    """Lines of a shrunk image mapped back to the original's pixels."""
    for line in lines:
        location = line["location"]
        for key in ("top", "left", "width", "height"):
            location[key] = int(round(location[key] / scale))
        if "box" in line:
            line["box"] = _unscaled(line["box"], scale)
            line["chars"] = [_unscaled(quad, scale) for quad in line["chars"]]


def _unscaled(points: list, scale: float) -> list:
    """Points of a shrunk image mapped back to the original's pixels."""
    return [[x / scale, y / scale] for x, y in points]
