import io
import json
import unicodedata
from pathlib import Path

import pytest
from PIL import Image

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "fixtures.json").read_text(encoding="utf-8"))


def norm(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_image(name: str) -> Image.Image:
    return Image.open(FIXTURES / name)


def encode(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb's shape)."""
    import struct
    import zlib

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def texts(lines) -> list[str]:
    return [norm(line.text if hasattr(line, "text") else line["words"]) for line in lines]


@pytest.fixture(scope="session")
def engine():
    from inference.config import EngineConfig
    from inference.engine import OcrEngine

    return OcrEngine(EngineConfig(threads=2))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body: bytes | None = None, timeout: float = 60, headers=None):
    """(status, parsed JSON or raw bytes, headers) without raising on 4xx/5xx."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method=method, headers=headers or {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw, hdrs = response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        status, raw, hdrs = exc.code, exc.read(), exc.headers
    try:
        return status, json.loads(raw), hdrs
    except ValueError:
        return status, raw, hdrs


class LocalStack:
    """`python -m local` as a user runs it (`make serve`), on free ports."""

    def __init__(self, extra_args=(), env=None, wait_ready=True):
        import os
        import subprocess
        import sys
        import time

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-m", "local", "--port", str(self.port)]
        if "--inference-url" not in extra_args:
            args += ["--inference-port", str(free_port())]
        # Logs go to a file: an unread pipe fills up and blocks the servers' log writes.
        import tempfile

        self.log = tempfile.NamedTemporaryFile("w+", prefix="local-stack-", suffix=".log", delete=False)
        self.process = subprocess.Popen(
            args + list(extra_args), env={**os.environ, "OCR_THREADS": "2", **(env or {})},
            stdout=self.log, stderr=subprocess.STDOUT, text=True,
            cwd=str(Path(__file__).resolve().parent.parent))
        deadline = time.time() + 180
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the local stack exited:\n" + Path(self.log.name).read_text())
            try:
                status, _, _ = http("GET", self.base + "/ping", timeout=2)
                if status == 200 or (not wait_ready and status in (200, 503)):
                    return
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError("the local stack did not become ready in 180 s")

    def post(self, payload, timeout: float = 60):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return http("POST", self.base + "/general_ocr", body, timeout=timeout)

    def stop(self) -> int:
        import signal

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # what Ctrl-C sends
            try:
                self.process.wait(timeout=40)
            except Exception:
                self.process.kill()
                raise
        return self.process.returncode


@pytest.fixture(scope="session")
def local_stack():
    stack = LocalStack(env={"OCR_TEST_ALLOW_LOOPBACK_URLS": "1", "ALLOWED_BUCKETS": ""})
    yield stack
    stack.stop()
