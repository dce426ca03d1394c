"""A request as API Gateway's REST proxy integration hands it to the Lambda, read once."""
from __future__ import annotations

import base64
from dataclasses import dataclass, field

from ocr_contract import ApiError, ErrorCode


@dataclass(frozen=True)
class Incoming:
    method: str
    path: str
    headers: dict[str, str]   # names lower-cased
    body: str | bytes | None  # bytes when the gateway passed it base64-encoded (binary media types)
    query: dict[str, str] = field(default_factory=dict)  # the query string's parameters

    @classmethod
    def from_event(cls, event: dict) -> Incoming:
        headers = event.get("headers")
        headers = {k.lower(): v for k, v in headers.items() if isinstance(k, str) and isinstance(v, str)} \
            if isinstance(headers, dict) else {}
        body = event.get("body")
        if body is not None and event.get("isBase64Encoded"):
            try:
                body = base64.b64decode(body, validate=True)
            except (ValueError, TypeError):
                raise ApiError(ErrorCode.INVALID_REQUEST, "the request body could not be decoded") from None
        path = event.get("path")
        query = event.get("queryStringParameters")
        query = {k: v for k, v in query.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(query, dict) else {}
        return cls(str(event.get("httpMethod", "POST")), path if isinstance(path, str) else "", headers, body, query)

    @property
    def media_type(self) -> str:
        """The Content-Type without its parameters, lower-cased ("" when there is none)."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def body_bytes(self) -> bytes:
        if self.body is None:
            return b""
        return self.body if isinstance(self.body, bytes) else self.body.encode("utf-8", "surrogatepass")
