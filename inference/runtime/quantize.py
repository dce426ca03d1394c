"""int8 recogniser for the CPU: the same PP-OCRv6 weights, quantized here, never downloaded.

Recognition is about 80% of a page on a CPU, and in fp32 its convolutions already run near the
CPU's peak: only fewer bits make it faster. Quantized (int8 weights per output channel, uint8
activations), it reads a form page's 70 lines 1.8x faster on this 2-core machine (980 -> 536
ms). The `ours fp32` row of `make bench` shows what it costs in accuracy.

The recipe, and why each step:
- opset 20, so that per-channel quantization and the standard Gelu operator exist;
- the exported Gelu (Div, Erf, Add, Mul, Mul) fused into one Gelu node: otherwise every
  consumer of a dequantized tensor gets its own copy of the dequantization;
- onnxruntime's basic graph optimizations (batch norms and affine layers folded into the
  convolutions), as onnxruntime's quantization pre-processing does;
- static QDQ quantization of Conv and MatMul, calibrated by percentile on the committed strips
  in calibration/rec_strips.png (see calibration/render.py; percentile measured 0.92% crops CER
  where min/max gave 1.27%). The CTC head's MatMul stays fp32: its logits become the scores,
  and uint8 logits would coarsen them.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

CALIBRATION_SHEET = Path(__file__).resolve().parent / "calibration" / "rec_strips.png"
RECIPE = "int8-qdq-v1"  # part of the cache key: change it when the recipe changes
STRIP_WIDTH, BATCH = 320, 8  # the sheet's strips are recognize.HEIGHT px high, one under another
PRECISIONS = ("auto", "fp32", "int8")


def recogniser_precision(precision: str, on_cpu: bool) -> str:
    """int8 or fp32. `auto` quantizes only where it pays: on the CPU (above); GPUs run fp32."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "int8" if on_cpu else "fp32"
    return precision


def calibration_batches() -> list[np.ndarray]:
    """The committed strips, normalised as the engine normalises them, in batches."""
    import cv2

    from ..text.recognize import HEIGHT, normalise

    sheet = cv2.imread(str(CALIBRATION_SHEET), cv2.IMREAD_GRAYSCALE)
    if sheet is None:
        raise FileNotFoundError(f"calibration strips missing: {CALIBRATION_SHEET}")
    strips = [cv2.cvtColor(sheet[y : y + HEIGHT], cv2.COLOR_GRAY2BGR) for y in range(0, sheet.shape[0], HEIGHT)]
    inputs = [normalise(strip, STRIP_WIDTH) for strip in strips]
    return [np.stack(inputs[i : i + BATCH]) for i in range(0, len(inputs), BATCH)]


def _fuse_gelu(model) -> int:
    """Replace x * 0.5 * (1 + erf(x / sqrt 2)), as exported, by one Gelu node. Returns the count."""
    from onnx import NodeProto, helper

    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def only_consumer(node, op_type):
        users = consumers.get(node.output[0], [])
        return users[0] if len(users) == 1 and users[0].op_type == op_type else None

    replaced: dict[int, NodeProto] = {}
    dropped: set[int] = set()
    for erf in [n for n in graph.node if n.op_type == "Erf"]:
        div = producer.get(erf.input[0])
        add = only_consumer(erf, "Add")
        mul = add and only_consumer(add, "Mul")
        half = mul and only_consumer(mul, "Mul")
        if div is None or div.op_type != "Div" or half is None or div.input[0] not in mul.input:
            continue
        dropped.update(id(n) for n in (div, erf, add, mul))
        replaced[id(half)] = helper.make_node("Gelu", [div.input[0]], [half.output[0]], name=f"{half.name}_gelu")
    nodes = [replaced.get(id(n), n) for n in graph.node if id(n) not in dropped]
    del graph.node[:]
    graph.node.extend(nodes)
    return len(replaced)


@contextlib.contextmanager
def _without_preprocessing_advice():
    def drop(record: logging.LogRecord) -> bool:
        return "pre-process" not in record.getMessage()

    logging.root.addFilter(drop)
    try:
        yield
    finally:
        logging.root.removeFilter(drop)


def quantize_recogniser(fp32_model: bytes) -> bytes:
    """The int8 (QDQ) recogniser built from the fp32 one. Takes ~15 s; cache the result."""
    import onnx
    import onnxruntime as ort
    from onnx import version_converter
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    model = version_converter.convert_version(onnx.load_from_string(fp32_model), 20)
    fused = _fuse_gelu(model)
    batches = calibration_batches()

    class Strips(CalibrationDataReader):
        def __init__(self):
            self._batches = iter(batches)

        def get_next(self):
            batch = next(self._batches, None)
            return None if batch is None else {model.graph.input[0].name: batch}

    # The quantization tool writes intermediate models next to its inputs: keep them out of
    # the working directory.
    with tempfile.TemporaryDirectory(prefix="ocr-quantize-") as tmp:
        src, pre, out = Path(tmp, "fp32.onnx"), Path(tmp, "pre.onnx"), Path(tmp, "int8.onnx")
        onnx.save(model, src)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.log_severity_level = 3  # not a warning per initializer the optimizer folds away
        options.optimized_model_filepath = str(pre)
        ort.InferenceSession(str(src), options, providers=["CPUExecutionProvider"])
        matmuls = [n.name for n in onnx.load(pre).graph.node if n.op_type == "MatMul"]
        # The calibrator print()s its settings (stdout is the CLI's JSON), and the tool warns
        # that the model was not pre-processed, which it was, above.
        with contextlib.redirect_stdout(io.StringIO()), _without_preprocessing_advice():
            quantize_static(
                str(pre),
                str(out),
                Strips(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                op_types_to_quantize=["Conv", "MatMul"],
                nodes_to_exclude=matmuls[-1:],  # the CTC head
                calibrate_method=CalibrationMethod.Percentile,
                extra_options={"WeightSymmetric": True, "CalibPercentile": 99.99, "CalibTensorRangeSymmetric": False},
            )
        log.info(
            "quantized the recogniser to int8 (%d Gelu fused, %d calibration strips)",
            fused,
            sum(len(b) for b in batches),
        )
        return out.read_bytes()
