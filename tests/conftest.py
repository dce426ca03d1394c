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


def texts(lines) -> list[str]:
    return [norm(line.text if hasattr(line, "text") else line["words"]) for line in lines]


@pytest.fixture(scope="session")
def engine():
    from inference.config import EngineConfig
    from inference.engine import OcrEngine

    return OcrEngine(EngineConfig(threads=2))
