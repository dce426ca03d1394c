"""`python -m inference IMAGE...`: print the API's JSON for each image (and draw it, if asked).

`python -m inference serve` starts the inference server instead, as SageMaker does.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from ocr_contract import ApiError

from .config import EngineConfig
from .draw import draw_lines
from .engine import OcrEngine
from .images import decode_image


def _prepare_models() -> int:
    """Zero the denormal weights of every model, quantize the recogniser when this configuration
    reads in int8, fetch Tesseract's Korean model, and cache the results (the image build runs this)."""
    from .runtime.models import (
        LAYOUT_MODEL,
        TABLE_MODEL,
        int8_recogniser_bytes,
        locate_models,
        prepared_model_bytes,
        table_model,
    )
    from .runtime.quantize import recogniser_precision
    from .runtime.sessions import CPU, requested_providers
    from .text.scripts import with_features

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config = EngineConfig.from_env()
    files = locate_models()
    for path in (files.det, files.cls, files.rec, table_model(TABLE_MODEL), table_model(LAYOUT_MODEL)):
        prepared_model_bytes(path)
    if recogniser_precision(config.precision, requested_providers(config.provider)[0] == CPU) == "int8":
        int8_recogniser_bytes(with_features(prepared_model_bytes(files.rec)))  # as the engine loads it
    # Korean (lang=ko): Tesseract's kor.traineddata into the model cache; where it cannot be had,
    # a warning says what to install, and everything else serves as before.
    from .korean import prepare as prepare_korean

    prepare_korean()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        from .serving.server import main as serve_main

        return serve_main(argv[1:])
    if argv[:1] == ["--prepare-models"]:
        return _prepare_models()
    parser = argparse.ArgumentParser(
        prog="python -m inference",
        description="Read Chinese text in images; prints the /general_ocr JSON array. "
        "'python -m inference serve' starts the inference server; "
        "'python -m inference --prepare-models' prepares and caches the models.",
    )
    parser.add_argument("images", nargs="+", type=Path, help="jpg/png/bmp files")
    parser.add_argument(
        "--draw",
        type=Path,
        metavar="OUT.png",
        help="also write the image with boxes and text drawn on it (with several images, OUT-<name>.png each)",
    )
    parser.add_argument("--provider", choices=["cpu", "cuda", "auto"], help="default: $OCR_PROVIDER or cpu")
    parser.add_argument("--threads", type=int, help="CPU cores to use (default: $OCR_THREADS or all)")
    parser.add_argument(
        "--precision",
        choices=["auto", "fp32", "int8"],
        help="recogniser weights (default: $OCR_PRECISION or auto: int8 on the CPU, fp32 on a GPU)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    config = EngineConfig.from_env()
    overrides = {
        k: v
        for k, v in (("provider", args.provider), ("threads", args.threads), ("precision", args.precision))
        if v is not None
    }
    engine = OcrEngine(EngineConfig(**{**config.__dict__, **overrides}))
    status = 0
    for path in args.images:
        try:
            image = decode_image(path.read_bytes())
        except OSError as exc:
            print(f"{path}: {exc.strerror or exc}", file=sys.stderr)
            status = 1
            continue
        except ApiError as exc:
            print(f"{path}: {exc.code.value}: {exc.message}", file=sys.stderr)
            status = 1
            continue
        lines = engine.read(image)
        result = [line.to_api() for line in lines]
        if len(args.images) > 1:
            print(json.dumps({"image": str(path), "result": result}, ensure_ascii=False))
        else:
            print(json.dumps(result, ensure_ascii=False, indent=2))
        if args.draw:
            out = args.draw if len(args.images) == 1 else args.draw.with_name(f"{args.draw.stem}-{path.stem}.png")
            draw_lines(image, lines, out)
            print(f"drew {len(lines)} lines on {out}", file=sys.stderr)
    return status
