"""Engine settings, from the environment (the container is configured by SageMaker env vars)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ocr_contract.limits import PLATE_DETECTOR_MAX_SIDE_PX

from .text.detect import DetectionConfig
from .text.small_text import SmallTextConfig


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    try:
        return float(value) if value not in (None, "") else default
    except ValueError:
        raise ValueError(f"{name} must be a number, got {value!r}") from None


def _batch_wait_ms(value: str) -> float:
    if value.strip().lower() in ("", "auto"):
        return -1.0
    try:
        return max(0.0, float(value))
    except ValueError:
        raise ValueError(f"OCR_BATCH_WAIT_MS must be a number of milliseconds or 'auto', got {value!r}") from None


@dataclass(frozen=True)
class EngineConfig:
    provider: str = "cpu"  # cpu | cuda | auto (sessions.PROVIDER_CHOICES)
    precision: str = "auto"  # recogniser weights: auto (int8 on the CPU, fp32 on a GPU) | fp32 | int8
    threads: int = 0  # CPU cores: the detector's onnxruntime threads, and cls/rec batches run
    # at once (one thread each, see engine.py); 0 = all cores
    rec_batch: int = 8  # recognition strips per model call
    rec_min_width: int = 128  # narrowest recognition input, px (PaddleOCR uses 320)
    rec_side_pad: float = 0.3  # strips at the image's edge widened by this fraction of their height
    cls_batch: int = 16
    use_cls: bool = True  # 0/180 degree classification of each line
    text_score: float = 0.5  # lines read with lower confidence are dropped
    fp32_retry_below: float = 0.5  # int8 reads whose least certain character is under this
    # probability are read again in fp32 (0 = never)
    edge_fragment_ratio: float = 0.7  # lines cut by the top/bottom edge and thinner than this share
    # of the thickest whole line are dropped (text/crops.edge_fragments)
    batch_wait_ms: float = -1.0  # > 0: recognition strips of all in-flight requests are batched
    # together, a partial batch waiting at most this long (runtime/batching.py);
    # 0: off; < 0 (auto): 5 ms on a GPU, off on a CPU (make bench-gpu)
    script_check: bool = True  # lines in a script the recogniser cannot read are left out
    # (text/scripts.py); off only to measure what the check changes and costs (bench/scripts.py)
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    # The plate route's detector sees photos up to this long side (ocr_contract.limits); never
    # less than detection.max_side
    plate_max_side: int = PLATE_DETECTOR_MAX_SIDE_PX
    # Small text in large photos: a second detection pass at native resolution (text/small_text.py)
    small_text: SmallTextConfig = field(default_factory=SmallTextConfig)

    @classmethod
    def from_env(cls) -> EngineConfig:
        """The defaults above, each overridden by its OCR_* variable when set."""
        default, detection, small = cls(), DetectionConfig(), SmallTextConfig()
        return cls(
            provider=os.environ.get("OCR_PROVIDER", default.provider).strip().lower(),
            precision=os.environ.get("OCR_PRECISION", default.precision).strip().lower(),
            threads=_env_int("OCR_THREADS", default.threads),
            rec_batch=max(1, _env_int("OCR_REC_BATCH", default.rec_batch)),
            rec_min_width=max(32, _env_int("OCR_REC_MIN_WIDTH", default.rec_min_width)),
            use_cls=os.environ.get("OCR_USE_CLS", "1" if default.use_cls else "0") not in ("0", "false", "no"),
            fp32_retry_below=_env_float("OCR_FP32_RETRY_BELOW", default.fp32_retry_below),
            edge_fragment_ratio=_env_float("OCR_EDGE_FRAGMENT_RATIO", default.edge_fragment_ratio),
            batch_wait_ms=_batch_wait_ms(os.environ.get("OCR_BATCH_WAIT_MS", "auto")),
            script_check=os.environ.get("OCR_SCRIPT_CHECK", "1").strip().lower() not in ("0", "false", "no"),
            detection=DetectionConfig(
                max_side=max(64, _env_int("OCR_DET_MAX_SIDE", detection.max_side)),
                shape_step=max(32, _env_int("OCR_DET_SHAPE_STEP", detection.shape_step)),
            ),
            plate_max_side=max(64, _env_int("OCR_PLATE_DET_MAX_SIDE", default.plate_max_side)),
            # 0 turns the second pass off
            small_text=SmallTextConfig(budget=max(0.0, _env_float("OCR_SMALL_TEXT_BUDGET", small.budget))),
        )
