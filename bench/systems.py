"""The OCR systems under comparison, each behind one call: image path -> [(text, 4-point box)]."""
from __future__ import annotations

import os
import shutil
import subprocess


class Ours:
    """Our engine as configured by the environment; `precision` pins the recogniser's weights
    (the default row runs what `make serve` runs: int8 on a CPU; the fp32 row is what a GPU runs)."""

    def __init__(self, threads: int, precision: str | None = None):
        from inference.config import EngineConfig
        from inference.engine import OcrEngine

        base = EngineConfig.from_env()
        overrides = {"threads": threads, **({"precision": precision} if precision else {})}
        self.engine = OcrEngine(EngineConfig(**{**base.__dict__, **overrides}))
        self.name = "ours" if precision is None else f"ours {precision}"

    def read(self, path: str):
        with open(path, "rb") as f:
            data = f.read()
        return [(line.text, line.box) for line in self.engine.read_bytes(data)]


class RapidOCR:
    """rapidocr 3.10's own pipeline on the same model files (the reference)."""

    def __init__(self, threads: int, max960: bool):
        from rapidocr import RapidOCR as Engine

        params = {"EngineConfig.onnxruntime.intra_op_num_threads": threads, "Global.log_level": "warning"}
        if max960:
            params.update({"Det.limit_type": "max", "Det.limit_side_len": 960})
        self.name = "rapidocr max960" if max960 else "rapidocr default"
        self.engine = Engine(params=params)

    def read(self, path: str):
        with open(path, "rb") as f:
            result = self.engine(f.read())
        if result.txts is None or result.boxes is None:
            return []
        return [(t, b.tolist()) for t, b in zip(result.txts, result.boxes)]


class Tesseract:
    name = "tesseract chi_sim"

    def __init__(self, threads: int):
        if not shutil.which("tesseract"):
            raise RuntimeError("tesseract is not installed (apt-get install tesseract-ocr-chi-sim)")
        self.env = {**os.environ, "OMP_THREAD_LIMIT": str(threads)}

    def read(self, path: str):
        # TSV gives words with boxes; words of one line are joined, one entry per line.
        out = subprocess.run(
            ["tesseract", path, "stdout", "-l", "chi_sim", "--psm", "3", "tsv"],
            capture_output=True, text=True, env=self.env, timeout=300,
        ).stdout
        lines: dict[tuple, list] = {}
        for row in out.splitlines()[1:]:
            cols = row.split("\t")
            if len(cols) < 12 or cols[0] != "5" or not cols[11].strip():
                continue
            key = (cols[2], cols[3], cols[4])
            x, y, w, h = map(int, cols[6:10])
            lines.setdefault(key, []).append((cols[11], x, y, w, h))
        result = []
        for words in lines.values():
            x0 = min(w[1] for w in words); y0 = min(w[2] for w in words)
            x1 = max(w[1] + w[3] for w in words); y1 = max(w[2] + w[4] for w in words)
            result.append(("".join(w[0] for w in words), [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]))
        return result


def make(name: str, threads: int):
    if name == "ours":
        return Ours(threads)
    if name == "ours-fp32":
        return Ours(threads, precision="fp32")
    if name == "rapidocr-default":
        return RapidOCR(threads, max960=False)
    if name == "rapidocr-max960":
        return RapidOCR(threads, max960=True)
    if name == "tesseract":
        return Tesseract(threads)
    raise ValueError(name)
