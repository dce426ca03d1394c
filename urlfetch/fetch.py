"""Fetching an image over http(s) with every guard: checked addresses, a byte cap, at most 3
redirects (each checked again as if the client had sent it), and one deadline for the whole.

The deadline is enforced at the socket: every send and receive may wait only until it, so no
peer can stretch a fetch by trickling its status line or headers a byte at a time, flooding
`100 Continue` responses, dribbling chunk-size lines, or spacing out redirects. DNS lookups
wait for it too (url_guard.resolve).
"""

from __future__ import annotations

import http.client
import io
import socket
import ssl
import time
from typing import cast
from urllib.parse import urljoin

from ocr_contract import MAX_IMAGE_BYTES, ApiError, ErrorCode
from ocr_contract.limits import URL_FETCH_TIMEOUT_S

from .guard import Target, check_http_url, percent_encode

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 5.0  # longest wait for any single read or write
TOTAL_TIMEOUT_S = float(URL_FETCH_TIMEOUT_S)  # the whole fetch, every hop included
MAX_REDIRECTS = 3
USER_AGENT = "zh-ocr-endpoint/1.0 (+image fetcher)"
_CHUNK = 64 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)


class _Deadline(Exception):
    pass


class _DeadlineSocket:
    """A connected socket whose every operation waits at most READ_TIMEOUT_S and never past
    the fetch's deadline. http.client reads through makefile(), which reads through us."""

    def __init__(self, sock: socket.socket, deadline: float):
        self._sock = sock
        self._deadline = deadline

    def _arm(self) -> None:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise _Deadline()
        self._sock.settimeout(min(READ_TIMEOUT_S, remaining))

    def sendall(self, data) -> None:
        self._arm()
        self._sock.sendall(data)

    def recv_into(self, buffer, nbytes: int = 0) -> int:
        self._arm()
        return self._sock.recv_into(buffer, nbytes)

    # http.client closes the connection while its response still reads from makefile()'s
    # file (a body delimited by the connection's end): like socket.socket, really close only
    # once no file reads from us.
    _io_refs = 0
    _closed = False

    def makefile(self, mode: str = "rb", buffering: int | None = None):
        self._io_refs += 1
        # SocketIO needs only recv_into() and _decref_socketios(): we are a socket to it.
        return io.BufferedReader(socket.SocketIO(cast(socket.socket, self), "rb"), io.DEFAULT_BUFFER_SIZE)

    def _decref_socketios(self) -> None:
        self._io_refs = max(0, self._io_refs - 1)
        if self._closed and self._io_refs == 0:
            self._sock.close()

    def close(self) -> None:
        self._closed = True
        if self._io_refs == 0:
            self._sock.close()


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address that was checked, whatever DNS says now."""

    def __init__(self, target: Target, deadline: float):
        super().__init__(target.host, target.port, timeout=CONNECT_TIMEOUT_S)
        self._address = target.address
        self._deadline = deadline

    def _raw_socket(self) -> socket.socket:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise _Deadline()
        sock = socket.create_connection((self._address, self.port), timeout=min(CONNECT_TIMEOUT_S, remaining))
        sock.settimeout(min(READ_TIMEOUT_S, max(0.01, self._deadline - time.monotonic())))
        return sock

    def connect(self):
        self.sock = _DeadlineSocket(self._raw_socket(), self._deadline)


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    default_port = 443  # so that the Host header of https://host/ carries no ":443"
    _context = ssl.create_default_context()

    def connect(self):
        # SNI and certificate checks use the URL's host name, not the address.
        tls = self._context.wrap_socket(self._raw_socket(), server_hostname=self.host)
        self.sock = _DeadlineSocket(tls, self._deadline)


def _fail(message: str) -> ApiError:
    return ApiError(ErrorCode.URL_FETCH_FAILED, message)


def _too_slow(total_s: float | None = None) -> ApiError:
    total_s = TOTAL_TIMEOUT_S if total_s is None else total_s
    return _fail(f"the URL was too slow: the image did not arrive within {total_s:.0f} s")


def _location(raw: str) -> str:
    """A Location header as a browser reads it: http.client decodes header bytes as Latin-1,
    while servers send UTF-8; bytes that are not UTF-8 are kept, percent-encoded."""
    data = raw.encode("latin-1", errors="replace")
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        return percent_encode(data).strip()


def fetch_http(
    url: str, deadline: float | None = None, max_bytes: int | None = None, timeout_s: float | None = None
) -> bytes:
    """The image at an http(s) URL; `deadline` (time.monotonic()) may shorten `timeout_s`. The
    jobs API fetches documents with a larger budget (`max_bytes`, `timeout_s`)."""
    timeout_s = TOTAL_TIMEOUT_S if timeout_s is None else timeout_s
    max_bytes = MAX_IMAGE_BYTES if max_bytes is None else max_bytes
    limit = time.monotonic() + timeout_s
    deadline = min(deadline, limit) if deadline is not None else limit
    for _ in range(MAX_REDIRECTS + 1):
        target = check_http_url(url, timeout_s=deadline - time.monotonic())
        if time.monotonic() >= deadline:
            raise _too_slow(timeout_s)
        status, location, body = _get_once(target, deadline, max_bytes, timeout_s)
        if status in _REDIRECTS:
            if not location:
                raise _fail(f"the URL answered HTTP {status} without a Location to follow")
            url = urljoin(url, _location(location))
            continue
        return body
    raise _fail(f"the URL redirected more than {MAX_REDIRECTS} times")


def _size(limit: int) -> str:
    return f"{limit} bytes ({limit / 1024 / 1024:.0f} MiB)"


def _get_once(
    target: Target, deadline: float, max_bytes: int = MAX_IMAGE_BYTES, total_s: float | None = None
) -> tuple[int, str | None, bytes]:
    conn_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    conn = conn_class(target, deadline)
    try:
        conn.request(
            "GET",
            target.path,
            headers={
                "User-Agent": USER_AGENT,
                "Accept": "image/*",
                "Accept-Encoding": "identity",
            },
        )
        response = conn.getresponse()
        if response.status in _REDIRECTS:
            return response.status, response.getheader("Location"), b""
        if response.status != 200:
            reason = "".join(c for c in str(response.reason)[:80] if c.isprintable())
            raise _fail(f"the URL answered HTTP {response.status} {reason}".rstrip())
        declared = (response.getheader("Content-Length") or "").strip()
        if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
            raise _fail(f"the image at the URL is {declared} bytes; at most {_size(max_bytes)} are accepted")
        chunks, size = [], 0
        while True:
            chunk = response.read1(_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise _fail(f"the image at the URL is over {_size(max_bytes)}")
            chunks.append(chunk)
        return 200, None, b"".join(chunks)
    except ApiError:
        raise
    except _Deadline:
        raise _too_slow(total_s) from None
    except TimeoutError:
        if time.monotonic() >= deadline - 0.05:
            raise _too_slow(total_s) from None
        raise _fail(f"the URL was too slow: it sent nothing for {READ_TIMEOUT_S:.0f} s") from None
    except ssl.SSLError as exc:
        raise _fail(f"the TLS connection to {target.host} failed ({exc.reason or type(exc).__name__})") from None
    except ConnectionRefusedError:
        raise _fail(f"{target.host} refused the connection") from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise _fail(f"the URL could not be fetched ({type(exc).__name__})") from None
    finally:
        conn.close()
