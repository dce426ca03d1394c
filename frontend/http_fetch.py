"""Fetching an image over http(s) with every guard: checked addresses, timeouts, a byte cap,
and at most 3 redirects, each checked again as if the client had sent it."""
from __future__ import annotations

import http.client
import socket
import ssl
import time
from urllib.parse import urljoin

from ocr_contract import MAX_IMAGE_BYTES, ApiError, ErrorCode

from .url_guard import Target, check_http_url

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 5.0      # longest wait for any single read
TOTAL_TIMEOUT_S = 12.0    # the whole fetch, redirects included (API Gateway gives us 29 s in all)
MAX_REDIRECTS = 3
USER_AGENT = "zh-ocr-endpoint/1.0 (+image fetcher)"
_CHUNK = 64 * 1024


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address that was checked, whatever DNS says now."""

    def __init__(self, target: Target):
        super().__init__(target.host, target.port, timeout=CONNECT_TIMEOUT_S)
        self._address = target.address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), timeout=CONNECT_TIMEOUT_S)
        self.sock.settimeout(READ_TIMEOUT_S)


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    _context = ssl.create_default_context()

    def connect(self):
        super().connect()
        # SNI and certificate checks use the URL's host name, not the address.
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.host)


def _fail(message: str) -> ApiError:
    return ApiError(ErrorCode.URL_FETCH_FAILED, message)


def fetch_http(url: str) -> bytes:
    deadline = time.monotonic() + TOTAL_TIMEOUT_S
    for _ in range(MAX_REDIRECTS + 1):
        target = check_http_url(url)
        status, location, body = _get_once(target, deadline)
        if status in (301, 302, 303, 307, 308):
            if not location:
                raise _fail(f"the URL answered HTTP {status} without a Location to follow")
            url = urljoin(url, location)
            continue
        return body
    raise _fail(f"the URL redirected more than {MAX_REDIRECTS} times")


def _get_once(target: Target, deadline: float) -> tuple[int, str | None, bytes]:
    conn_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    conn = conn_class(target)
    try:
        conn.request("GET", target.path, headers={
            "User-Agent": USER_AGENT, "Accept": "image/*", "Accept-Encoding": "identity",
        })
        response = conn.getresponse()
        if response.status in (301, 302, 303, 307, 308):
            return response.status, response.getheader("Location"), b""
        if response.status != 200:
            raise _fail(f"the URL answered HTTP {response.status} {response.reason}".rstrip())
        declared = response.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > MAX_IMAGE_BYTES:
            raise _fail(f"the image at the URL is {declared} bytes; at most {MAX_IMAGE_BYTES} bytes (10 MiB) are accepted")
        chunks, size = [], 0
        while True:
            if time.monotonic() > deadline:
                raise _fail(f"the URL was too slow: the image did not arrive within {TOTAL_TIMEOUT_S:.0f} s")
            chunk = response.read1(_CHUNK) if hasattr(response, "read1") else response.read(_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_IMAGE_BYTES:
                raise _fail(f"the image at the URL is over {MAX_IMAGE_BYTES} bytes (10 MiB)")
            chunks.append(chunk)
        return 200, None, b"".join(chunks)
    except ApiError:
        raise
    except socket.timeout:
        raise _fail("the URL was too slow: it did not answer in time") from None
    except ssl.SSLError as exc:
        raise _fail(f"the TLS connection to {target.host} failed ({exc.reason or exc})") from None
    except ConnectionRefusedError:
        raise _fail(f"{target.host}:{target.port} refused the connection") from None
    except (OSError, http.client.HTTPException) as exc:
        raise _fail(f"the URL could not be fetched ({type(exc).__name__}: {exc})") from None
    finally:
        conn.close()
