import io
import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import settings
from PIL import Image

# `pytest --hypothesis-profile=fast` (make test-fast): the property tests run a tenth of their cases.
settings.register_profile("fast", max_examples=10)

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
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


# Tests that use these fixtures load the OCR models (`models`) or start the local stack as
# processes (`e2e`); `make test-fast` leaves both out. Tests that load models on their own are
# marked where they are written.
_MARKS_BY_FIXTURE = {"engine": "models", "rapidocr": "models", "local_stack": "e2e"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        for fixture, mark in _MARKS_BY_FIXTURE.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(getattr(pytest.mark, mark))


def texts(lines) -> list[str]:
    return [norm(line.text if hasattr(line, "text") else line["words"]) for line in lines]


@pytest.fixture(scope="session")
def engine():
    from inference.config import EngineConfig
    from inference.engine import OcrEngine

    return OcrEngine(EngineConfig(threads=2))


@pytest.fixture
def fake_runtime(monkeypatch):
    """The SageMaker endpoint replaced at the protocol (tests/fakes.py): no model, no AWS."""
    from frontend import endpoint
    from tests.fakes import FakeRuntime

    fake = FakeRuntime()
    monkeypatch.setenv("ENDPOINT_NAME", "ocr-endpoint")
    monkeypatch.setattr(endpoint, "_runtime", lambda timeout: fake)
    return fake


@pytest.fixture(scope="session")
def synthesized_app():
    """(Template, cloud assembly) of the CDK app as cdk.json configures it, synthesized once for
    the tests of the deployment (test_infra.py, test_cleanup_assets.py)."""
    from tests.test_infra import synth

    return synth()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto_url():
    """A moto server on a free port for the module's tests: AWS's APIs over real HTTP (presigned
    URLs fetched, clients configured by endpoint URL as the deployed code is)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def http(method: str, url: str, body: bytes | None = None, timeout: float = 60, headers=None):
    """(status, parsed JSON or raw bytes, headers) without raising on 4xx/5xx."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url, data=body, method=method, headers=headers or {"Content-Type": "application/json"}
    )
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

        # Open for the stack's lifetime (closed in stop()), so not a `with` block.
        self.log = tempfile.NamedTemporaryFile("w+", prefix="local-stack-", suffix=".log", delete=False)  # noqa: SIM115
        self.process = subprocess.Popen(
            args + list(extra_args),
            env={**os.environ, "OCR_THREADS": "2", **(env or {})},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=str(Path(__file__).resolve().parent.parent),
        )
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


def _canvas_with_text(width: int, height: int, seed: int, noise: int, colour: bool = True) -> Image.Image:
    """A real-size picture: the receipt fixture pasted at a few places on a textured background
    (noise makes the file as large as a photo or a scan of that size really is)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    background = 235 + rng.integers(-noise, noise + 1, (height, width, 3 if colour else 1), dtype=np.int16)
    if not colour:
        background[::2] = 235  # a scan's paper: grain on half the rows
    background = np.broadcast_to(background, (height, width, 3))
    canvas = Image.fromarray(np.clip(background, 0, 255).astype(np.uint8))
    receipt = fixture_image("receipt.png").convert("RGB")
    for i in range(3):
        canvas.paste(receipt, (int(width * (0.1 + 0.3 * i)), int(height * (0.15 + 0.3 * i))))
    return canvas


@pytest.fixture(scope="session")
def real_size_images() -> dict:
    """The sizes users send: a ~3 MB phone photo (JPEG), a 4096x4096 page (PNG) and a ~9.5 MB
    PNG (over SageMaker's 6 MB: the Lambda must shrink it). Built at run time, deterministic."""
    photo = encode(_canvas_with_text(3000, 2000, 1, 40), "JPEG", quality=93)
    page = encode(_canvas_with_text(4096, 4096, 2, 1, colour=False), "PNG")
    big = encode(_canvas_with_text(3500, 1500, 3, 60), "PNG")
    sizes = {"photo.jpg": len(photo), "page.png": len(page), "big.png": len(big)}
    assert 2_500_000 < sizes["photo.jpg"] < 4_000_000 and 9_000_000 < sizes["big.png"] < 10 * 1024 * 1024, sizes
    return {"photo.jpg": photo, "page.png": page, "big.png": big}


def many_scan_jpeg(side: int = 4096, target_bytes: int = 1_200_000) -> bytes:
    """A progressive JPEG whose smallest scan is repeated until the file is `target_bytes`: a
    valid-looking file that costs libjpeg minutes of CPU (each scan is a pass over every block)."""
    data = encode(Image.new("L", (side, side), 255), "JPEG", progressive=True, quality=90)
    end = data.rfind(b"\xff\xd9")
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xDA]
    spans = [(a, b) for a, b in zip(starts, starts[1:] + [end])]
    a, b = min(spans, key=lambda span: span[1] - span[0])
    scan = data[a:b]
    return data[:end] + scan * ((target_bytes - len(data)) // len(scan)) + b"\xff\xd9"
