"""Stand-ins at the protocol's edge, for testing the Lambda without models or AWS.

FakeRuntime is a sagemaker-runtime client: `invoke_endpoint` answers the container's JSON
(inference/server.py) for whatever image it is sent, as the real endpoint would, but read by a
"detector" that needs no model: every dark rectangle in the image is a line. Its text says
which rectangle it is (`rect<width>`, the rectangle's width in the image it was sent), so a
test can tell each line apart, whole or cut. With `detail=chars` (the NHN and CLOVA doors) each
line also has its corners and one quad per character, spread evenly across the line.

`api_event` builds the event API Gateway's REST proxy integration hands the Lambda.
"""

from __future__ import annotations

import base64
import io
import json

import numpy as np
from PIL import Image


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def dark_rectangles(image: Image.Image) -> list[tuple[int, int, int, int]]:
    """(left, top, right, bottom) of each dark rectangle (apart from the others by a light gap),
    in reading order: rows of rectangles top to bottom, each row left to right."""
    dark = np.asarray(image.convert("L"), dtype=np.uint8) < 128
    out = []
    for top, bottom in _runs(dark.any(axis=1)):
        band = dark[top:bottom]
        for left, right in _runs(band.any(axis=0)):
            for t, b in _runs(band[:, left:right].any(axis=1)):
                out.append((left, top + t, right, top + b))
    return out


def line_for(rect: tuple[int, int, int, int], detail: bool, text: str | None = None) -> dict:
    left, top, right, bottom = rect
    text = text or f"rect{right - left}"
    line = {
        "words": text,
        "location": {"top": top, "left": left, "width": right - left, "height": bottom - top},
        "score": 0.9,
    }
    if detail:
        line["box"] = [[left, top], [right, top], [right, bottom], [left, bottom]]
        step = (right - left) / len(text)
        line["chars"] = [
            [
                [left + i * step, top],
                [left + (i + 1) * step, top],
                [left + (i + 1) * step, bottom],
                [left + i * step, bottom],
            ]
            for i in range(len(text))
        ]
    return line


class FakeRuntime:
    """sagemaker-runtime's invoke_endpoint, answered as the container answers. `lines`, when
    given, is answered for every image instead of what the dark-rectangle detector finds;
    `plates` is answered for task=plates. Every call is recorded in `calls`."""

    def __init__(
        self, lines: list[dict] | None = None, plates: list[dict] | None = None, tables: list[dict] | None = None
    ):
        self.lines, self.plates, self.tables = lines, plates or [], tables or []
        self.calls: list[dict] = []

    def invoke_endpoint(self, **request):
        attributes = dict(item.split("=", 1) for item in request["CustomAttributes"].split(","))
        image = Image.open(io.BytesIO(request["Body"]))
        image.load()
        self.calls.append({**request, "attributes": attributes, "size": image.size})
        if attributes.get("task") == "plates":
            answer = self.plates
        elif self.lines is not None:
            answer = self.lines
        else:
            answer = [line_for(rect, attributes.get("detail") == "chars") for rect in dark_rectangles(image)]
        if attributes.get("tables") == "1" and attributes.get("task", "lines") == "lines":
            answer = {"lines": answer, "tables": self.tables}
        return {"Body": io.BytesIO(json.dumps(answer).encode()), "ContentType": "application/json"}


def api_event(
    path: str,
    body: bytes | str | None,
    content_type: str | None = "application/json",
    method: str = "POST",
    headers: dict | None = None,
    query: dict | None = None,
) -> dict:
    """An API Gateway REST proxy event for `path`; binary bodies (multipart, the API's binary
    media type) base64-encoded, as the gateway passes them."""
    binary = isinstance(body, bytes)
    all_headers = {**({"Content-Type": content_type} if content_type else {}), **(headers or {})}
    return {
        "httpMethod": method,
        "resource": path,
        "path": path,
        "headers": all_headers,
        "queryStringParameters": query,
        "requestContext": {"requestId": "api-req-1"},
        "body": base64.b64encode(body).decode() if binary else body,
        "isBase64Encoded": binary,
    }


def multipart(
    fields: dict[str, tuple[str | None, bytes, str | None]], boundary: str = "----unit-test-boundary"
) -> tuple[bytes, str]:
    """(body, Content-Type) of a multipart/form-data form: {name: (filename, content, content type)}."""
    parts = []
    for name, (filename, content, content_type) in fields.items():
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n" + (
            f"Content-Type: {content_type}\r\n" if content_type else ""
        )
        parts.append(head.encode() + b"\r\n" + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def page_with_rectangles(
    size: tuple[int, int], rects: list[tuple[int, int, int, int]], mode: str = "RGB"
) -> Image.Image:
    """A white image with black rectangles (left, top, right, bottom): lines for FakeRuntime."""
    image = Image.new("RGB", size, "white")
    for left, top, right, bottom in rects:
        image.paste((0, 0, 0), (left, top, right, bottom))
    return image.convert(mode) if mode != "RGB" else image


def encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()
