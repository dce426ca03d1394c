"""A small image server on 127.0.0.1 for the URL-fetching tests (threads, stdlib only)."""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ImageServer:
    """Routes: /file/<name> serves bytes given in `files`; /status/<n>; /redirect/<n> (n hops
    to /file/line.png); /to?url=... (302 to any URL); /slow (dribbles forever); /huge (streams
    11 MiB without a length); /big-length (declares 20 MiB)."""

    def __init__(self, files: dict[str, bytes]):
        files_ = files

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

            def do_GET(self):
                path, _, query = self.path.partition("?")
                parts = path.strip("/").split("/")
                if parts[0] == "file" and parts[1] in files_:
                    return self._send(200, files_[parts[1]], [("Content-Type", "image/png")])
                if parts[0] == "status":
                    return self._send(int(parts[1]), b"nope")
                if parts[0] == "redirect":
                    hops = int(parts[1])
                    target = f"/redirect/{hops - 1}" if hops > 1 else "/file/line.png"
                    return self._send(302, headers=[("Location", target)])
                if parts[0] == "to":
                    from urllib.parse import parse_qs

                    return self._send(302, headers=[("Location", parse_qs(query)["url"][0])])
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
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
