"""A small image server on 127.0.0.1 for the URL-fetching tests (threads, stdlib only)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ImageServer:
    """Routes: /file/<name> serves bytes given in `files` (names percent-decoded, so non-ASCII
    names work); /status/<n>; /redirect/<n> (n hops to /file/line.png); /to?url=... (302 to
    any URL); /slow (dribbles forever); /huge (streams 11 MiB without a length); /big-length
    (declares 20 MiB); /host (answers the Host header it got, as text).

    Hostile peers, each of which never finishes unless the client gives up: /trickle-headers
    (one header byte every 2 s), /continue-flood (endless `100 Continue`), /trickle-chunks (a
    chunk-size line a byte at a time), /slow-redirect/<n> (each hop answered after `hop_delay`
    seconds). /raw-location?to=... redirects with the Location's bytes sent raw (UTF-8).
    `pace` scales the hostile peers' intervals (0.1: ten times as fast, for a deadline ten
    times as short). `requests` counts the requests per path."""

    def __init__(self, files: dict[str, bytes], hop_delay: float = 4.5, pace: float = 1.0):
        files_ = files
        counts = self.requests = {}

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body=b"", headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                if not any(k == "Content-Length" for k, _ in headers):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _dribble(self, prefix: bytes, unit: bytes, every: float, seconds: float = 60):
                try:
                    self.wfile.write(prefix)
                    self.wfile.flush()
                    for _ in range(int(seconds / every)):
                        self.wfile.write(unit)
                        self.wfile.flush()
                        time.sleep(every)
                except OSError:
                    pass
                self.close_connection = True

            def do_GET(self):
                from urllib.parse import parse_qs, unquote

                path, _, query = self.path.partition("?")
                path = unquote(path)
                counts[path] = counts.get(path, 0) + 1
                parts = path.strip("/").split("/")
                if parts[0] == "file" and len(parts) > 1 and parts[1] in files_:
                    return self._send(200, files_[parts[1]], [("Content-Type", "image/png")])
                if parts[0] == "status":
                    return self._send(int(parts[1]), b"nope")
                if parts[0] == "redirect":
                    hops = int(parts[1])
                    target = f"/redirect/{hops - 1}" if hops > 1 else "/file/line.png"
                    return self._send(302, headers=[("Location", target)])
                if parts[0] == "to":
                    return self._send(302, headers=[("Location", parse_qs(query)["url"][0])])
                if parts[0] == "raw-location":
                    target = parse_qs(query)["to"][0].encode("utf-8")
                    self.wfile.write(b"HTTP/1.1 302 Found\r\nLocation: " + target + b"\r\nContent-Length: 0\r\n\r\n")
                    return None
                if parts[0] == "odd-length":  # a Content-Length of a non-ASCII digit, then the image
                    body = files_["line.png"]
                    self.wfile.write(
                        "HTTP/1.1 200 OK\r\nContent-Length: ²\r\nConnection: close\r\n\r\n".encode() + body
                    )
                    self.close_connection = True
                    return None
                if parts[0] == "host":
                    return self._send(200, self.headers.get("Host", "").encode(), [("Content-Type", "text/plain")])
                if parts[0] == "trickle-headers":
                    return self._dribble(b"HTTP/1.1 200 OK\r\n", b"X", 2.0 * pace)
                if parts[0] == "continue-flood":
                    return self._dribble(b"", b"HTTP/1.1 100 Continue\r\n\r\n", 0.01 * pace)
                if parts[0] == "trickle-chunks":
                    return self._dribble(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"0", 1.0 * pace)
                if parts[0] == "slow-redirect":
                    time.sleep(hop_delay)
                    hops = int(parts[1])
                    return self._send(
                        302, headers=[("Location", f"/slow-redirect/{hops - 1}" if hops > 1 else "/file/line.png")]
                    )
                if parts[0] == "slow":
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    self.end_headers()
                    try:
                        for _ in range(600):
                            self.wfile.write(b"\x00")
                            self.wfile.flush()
                            time.sleep(0.05)
                    except OSError:
                        pass
                    return None
                if parts[0] == "huge":
                    self.send_response(200)
                    self.end_headers()
                    try:
                        for _ in range(11 * 16):
                            self.wfile.write(b"\x00" * 65536)
                    except OSError:
                        pass
                    self.close_connection = True
                    return None
                if parts[0] == "big-length":
                    self.send_response(200)
                    self.send_header("Content-Length", str(20 * 1024 * 1024))
                    self.end_headers()
                    return None
                return self._send(404, b"not found")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # clients that hang up are the point
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        # shutdown() waits for serve_forever's next poll: every 0.5 s by default, in each test's teardown.
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
