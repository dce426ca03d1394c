"""HTTP details shared by our two aiohttp servers (the container's and `make serve`'s gateway).

- A request body is read whole: `StreamReader.read(n)` returns whatever is buffered, up to n
  bytes, not n bytes, which cut large uploads short at random. The size cap is enforced while
  reading, so an over-long body is refused without being held in memory.
- Every answer is JSON, the ones aiohttp writes itself for malformed HTTP included.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler, RequestPayloadError

from ocr_contract import ApiError, ErrorCode, error_body


async def read_body(request: web.Request, limit: int, too_large: Callable[[int], ApiError]) -> bytes:
    """The whole body, at most `limit` bytes; `too_large(size)` is raised past that."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise too_large(declared)
    chunks, size = [], 0
    try:
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise too_large(size)
            chunks.append(chunk)
    except (HttpProcessingError, RequestPayloadError, ValueError) as exc:
        # A body aiohttp cannot decode (a bad Content-Encoding, broken chunk framing).
        raise ApiError(
            ErrorCode.INVALID_REQUEST,
            f"the request body could not be read ({type(exc).__name__}); send it plainly, without Content-Encoding",
        ) from None
    return b"".join(chunks)


# aiohttp's status for a request it could not parse -> our code and message.
_PROTOCOL_ERRORS = {
    413: (ErrorCode.PAYLOAD_TOO_LARGE, "the request is too large"),
    431: (ErrorCode.INVALID_REQUEST, "the request headers are too large"),
}
_MALFORMED = (ErrorCode.INVALID_REQUEST, "the HTTP request is malformed; send a well-formed HTTP/1.1 request")
# The applications whose malformed requests are answered in our JSON (ours: the container's
# server and the local gateway); any other aiohttp application in the process keeps aiohttp's own.
_ours: weakref.WeakSet = weakref.WeakSet()
_installed = False


def install_json_protocol_errors(app: web.Application) -> None:
    """Make aiohttp's own answers to malformed HTTP (bad request line, headers, framing) to
    `app` JSON bodies in our error shape, instead of plain text. aiohttp builds those in
    RequestHandler.handle_error, before any application code or middleware runs, so the one
    way in is that method: it is wrapped once per process, and answers in JSON only for the
    applications registered here."""
    global _installed
    _ours.add(app)
    if _installed:
        return
    original = RequestHandler.handle_error

    def handle_error(self, request, status=500, exc=None, message=None):
        response = original(self, request, status, exc, message)
        serving = getattr(getattr(self, "_request_handler", None), "__self__", None)
        if serving not in _ours:
            return response
        status = response.status
        default = _MALFORMED if status < 500 else (ErrorCode.INTERNAL_ERROR, "internal error")
        code, text = _PROTOCOL_ERRORS.get(status, default)
        json_response = web.Response(
            status=status, text=json.dumps(error_body(code, text, None)), content_type="application/json"
        )
        json_response.force_close()
        return json_response

    RequestHandler.handle_error = handle_error  # type: ignore[method-assign]
    _installed = True
