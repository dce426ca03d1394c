"""Loading the models: offline, prepared once, and loud when something is wrong."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from inference import models
from inference.config import EngineConfig
from inference.engine import OcrEngine
from inference.sessions import ProviderError, create_session, requested_providers


def test_models_come_from_the_rapidocr_wheel():
    files = models.locate_models()
    assert files.det.name == models.DET_MODEL and files.det.stat().st_size > 1_000_000
    assert "rapidocr" in str(files.det)


def test_missing_model_fails_at_start_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("OCR_MODEL_DIR", str(tmp_path))
    with pytest.raises(models.ModelLoadError, match="missing"):
        OcrEngine(EngineConfig())


def test_corrupt_model_fails_at_start(tmp_path, monkeypatch):
    for name in models.MODEL_FILES:
        (tmp_path / name).write_bytes(b"\x08\x07garbage" * 100)
    monkeypatch.setenv("OCR_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("OCR_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(models.ModelLoadError, match="corrupt"):
        OcrEngine(EngineConfig())


def test_denormal_weights_are_zeroed_and_output_is_identical(tmp_path, monkeypatch):
    monkeypatch.setenv("OCR_CACHE_DIR", str(tmp_path))
    det = models.locate_models().det
    original = det.read_bytes()
    prepared = models.prepared_model_bytes(det)
    def denormals(raw):
        model = onnx.load_from_string(raw)
        return sum(int(models.denormal_mask(numpy_helper.to_array(i)).sum())
                   for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT)

    assert denormals(original) > 1000
    assert denormals(prepared) == 0
    assert list(tmp_path.glob("*.nodenormal.onnx")), "the prepared model is cached"
    assert models.prepared_model_bytes(det) == prepared

    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 256, 320)).astype(np.float32)
    plain = ort.InferenceSession(original, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    ours = create_session(prepared, "det", "cpu", 2).run(None, {"x": x})[0]
    assert np.array_equal(plain, ours)


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="a GPU build is installed")
def test_cuda_requested_without_cuda_fails_loudly():
    with pytest.raises(ProviderError, match="cuda"):
        requested_providers("cuda")
    with pytest.raises(ProviderError):
        OcrEngine(EngineConfig(provider="cuda"))


def test_auto_provider_runs_on_what_is_there():
    assert requested_providers("auto")[-1] == "CPUExecutionProvider"
    with pytest.raises(ProviderError, match="unknown provider"):
        requested_providers("tpu")
