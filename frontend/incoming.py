"""A request as API Gateway's REST proxy integration hands it to the Lambda, read once."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from ocr_contract import ApiError, ErrorCode


@dataclass(frozen=True)
class Incoming:
    method: str
    path: str  # as the client sent it (behind a custom domain, with its base path)
    headers: dict[str, str]  # names lower-cased
    body: str | bytes | None  # bytes when the gateway passed it base64-encoded (binary media types)
    query: dict[str, str] = field(default_factory=dict)  # the query string's parameters
    route: str = ""  # the API's route template (ocr_contract.routes) the request came in by
    context: dict = field(default_factory=dict)  # API Gateway's requestContext (identity, domainName, stage)

    @classmethod
    def from_event(cls, event: dict) -> Incoming:
        headers = event.get("headers")
        headers = (
            {k.lower(): v for k, v in headers.items() if isinstance(k, str) and isinstance(v, str)}
            if isinstance(headers, dict)
            else {}
        )
        body = event.get("body")
        if body is not None and event.get("isBase64Encoded"):
            try:
                body = base64.b64decode(body, validate=True)
            except (ValueError, TypeError):
                raise ApiError(ErrorCode.INVALID_REQUEST, "the request body could not be decoded") from None
        path = event.get("path")
        query = event.get("queryStringParameters")
        query = (
            {k: v for k, v in query.items() if isinstance(k, str) and isinstance(v, str)}
            if isinstance(query, dict)
            else {}
        )
        return cls(
            str(event.get("httpMethod", "POST")),
            path if isinstance(path, str) else "",
            headers,
            body,
            query,
            route_of(event),
            event["requestContext"] if isinstance(event.get("requestContext"), dict) else {},
        )

    @property
    def media_type(self) -> str:
        """The Content-Type without its parameters, lower-cased ("" when there is none)."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def body_bytes(self) -> bytes:
        if self.body is None:
            return b""
        return self.body if isinstance(self.body, bytes) else self.body.encode("utf-8", "surrogatepass")


# The principal our authorizer gives an allowed request: the API key's id (never its value), which
# the Lambda reads as requestContext.authorizer.principalId: whose jobs a caller may see
# (frontend/doors/jobs.py).
KEY_PRINCIPAL = "apiKeyId:"


def route_of(event: dict) -> str:
    """The route a proxy or REQUEST-authorizer event came in by: API Gateway's `resource` (the
    template, `/v1.0/appkeys/{appKey}/general`), or `requestContext.resourcePath`; the request
    path only when neither is there (a hand-made event). The path is not the route behind a
    custom domain: a base path mapping puts its prefix in front (`/ocr/general_ocr`)."""
    context = event.get("requestContext")
    for candidate in (
        event.get("resource"),
        context.get("resourcePath") if isinstance(context, dict) else None,
        event.get("path"),
    ):
        if isinstance(candidate, str) and candidate:
            return candidate
    return ""
