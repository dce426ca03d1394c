"""Loading the models: offline, prepared once, and loud when something is wrong."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from inference.config import EngineConfig
from inference.engine import OcrEngine
from inference.runtime import models
from inference.runtime.quantize import recogniser_precision
from inference.runtime.sessions import ProviderError, create_session, requested_providers
from inference.text.scripts import with_features


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


@pytest.mark.models
def test_denormal_weights_are_zeroed_and_output_is_identical(tmp_path, monkeypatch):
    monkeypatch.setenv("OCR_CACHE_DIR", str(tmp_path))
    det = models.locate_models().det
    original = det.read_bytes()
    prepared = models.prepared_model_bytes(det)

    def denormals(raw):
        model = onnx.load_from_string(raw)
        return sum(
            int(models.denormal_mask(numpy_helper.to_array(i)).sum())
            for i in model.graph.initializer
            if i.data_type == onnx.TensorProto.FLOAT
        )

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


def test_precision_is_int8_on_the_cpu_unless_configured(monkeypatch):
    assert recogniser_precision("auto", on_cpu=True) == "int8"
    assert recogniser_precision("auto", on_cpu=False) == "fp32"
    assert recogniser_precision("fp32", on_cpu=True) == "fp32"
    with pytest.raises(ValueError, match="unknown precision"):
        recogniser_precision("fp16", on_cpu=True)
    monkeypatch.setenv("OCR_PRECISION", "FP32")
    assert EngineConfig.from_env().precision == "fp32"


def test_int8_recogniser_is_built_here_from_the_shipped_weights(engine):
    assert engine.rec_precision == "int8"
    prepared = with_features(models.prepared_model_bytes(models.locate_models().rec))
    int8 = onnx.load_from_string(models.int8_recogniser_bytes(prepared))  # cached by the engine
    assert list(models.cache_dir().glob("rec.*.int8.onnx"))
    ops = [node.op_type for node in int8.graph.node]
    assert ops.count("Gelu") == 13 and "Erf" not in ops  # the exported Gelu was fused
    weights = {i.name: i.data_type for i in int8.graph.initializer}
    convs = [n for n in int8.graph.node if n.op_type == "Conv"]
    dequantized = {n.output[0]: n.input[0] for n in int8.graph.node if n.op_type == "DequantizeLinear"}
    assert convs and all(weights.get(dequantized.get(c.input[1])) == onnx.TensorProto.INT8 for c in convs)
    head = [n for n in int8.graph.node if n.op_type == "MatMul"][-1]
    assert weights.get(head.input[1]) == onnx.TensorProto.FLOAT  # the CTC head stays fp32


def test_cuda_sessions_are_set_up_for_shapes_that_change_every_request(monkeypatch):
    # No GPU here: a stand-in records what the engine asks onnxruntime for, as a CUDA build would
    # receive it, and answers as a working CUDA session would.
    from inference.runtime import sessions

    created = []

    class FakeSession:
        def __init__(self, model, options, providers):
            created.append(providers)
            self.providers = providers

        def get_providers(self):
            return [sessions.CUDA, sessions.CPU]

        def get_provider_options(self):
            # What onnxruntime reports: each provider's options, by name.
            return {name: opts for name, opts in (p if isinstance(p, tuple) else (p, {}) for p in self.providers)}

    monkeypatch.setattr(sessions.ort, "get_available_providers", lambda: [sessions.CUDA, sessions.CPU])
    monkeypatch.setattr(sessions.ort, "InferenceSession", FakeSession)
    session = create_session(b"model", "det", "cuda", 0)
    cuda_options = session.get_provider_options()[sessions.CUDA]
    # No exhaustive cuDNN benchmark for each new input shape, no doubling of the memory arena.
    assert cuda_options["cudnn_conv_algo_search"] in ("HEURISTIC", "DEFAULT")
    assert cuda_options["arena_extend_strategy"] == "kSameAsRequested"
    assert created[0][-1] == sessions.CPU
