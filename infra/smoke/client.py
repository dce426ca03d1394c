"""HTTP as a client calls the API: its secret header to the API only, redirects followed by hand."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from .common import MAX_REDIRECTS, REQUEST_TIMEOUT_S
from .stack import Target

# -- HTTP -----------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int | None  # None: no answer (connection refused, timeout)
    body: bytes
    seconds: float
    error: str = ""  # why there was no answer
    redirected: str = ""  # where a redirect led (the host)

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # answered as the 3xx itself: Client follows redirects by hand


_opener = urllib.request.build_opener(_NoRedirects)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class Client:
    """Calls the API with each route's own secret header (or a SigV4 signature), and follows
    redirects by hand: a hop to another origin (S3's presigned URL) carries no secret at all."""

    def __init__(self, target: Target, timeout: float = REQUEST_TIMEOUT_S):
        self.target = target
        self.timeout = timeout

    def _authorised(self, method: str, url: str, headers: dict, body: bytes, secret_header: str) -> dict:
        headers = dict(headers)
        if self.target.api_key is not None:
            headers[secret_header] = self.target.api_key
        if self.target.sign is not None:
            headers = self.target.sign(method, url, headers, body)
        return headers

    def call(
        self, method: str, url: str, body: bytes = b"", headers: dict | None = None, secret_header: str = "x-api-key"
    ) -> Answer:
        started = time.perf_counter()
        redirected = ""
        for _hop in range(MAX_REDIRECTS + 1):
            own = _origin(url) == _origin(self.target.base)
            sent = self._authorised(method, url, headers or {}, body, secret_header) if own else {}
            request = urllib.request.Request(url, data=body or None, method=method, headers=sent)
            try:
                with _opener.open(request, timeout=self.timeout) as response:
                    return Answer(
                        response.status, response.read(), time.perf_counter() - started, redirected=redirected
                    )
            except urllib.error.HTTPError as exc:
                status, raw, location = exc.code, exc.read(), exc.headers.get("Location")
            except (OSError, ValueError, http.client.HTTPException) as exc:
                reason = getattr(exc, "reason", exc)
                return Answer(None, b"", time.perf_counter() - started, error=str(reason)[:200], redirected=redirected)
            if status not in (301, 302, 303, 307, 308) or not location:
                return Answer(status, raw, time.perf_counter() - started, redirected=redirected)
            url = urljoin(url, location)
            redirected = f"{status} to {urlsplit(url).hostname}"
            if status == 303 or (status in (301, 302) and method == "POST"):
                method, body, headers = "GET", b"", {}
        return Answer(None, b"", time.perf_counter() - started, error=f"more than {MAX_REDIRECTS} redirects")
