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


class OursOverHttp:
    """Our engine the way users reach it: `python -m local` (what `make serve` runs) started in
    a child process, each image sent as `{"img": base64}` to POST /general_ocr, through the
    local gateway, the Lambda handler, boto3 and the inference server. Boxes come back as the
    API's axis-aligned `location`."""

    name = "ours http"

    def __init__(self, threads: int):
        import socket
        import sys
        import time
        import urllib.request
        from pathlib import Path

        def free_port():
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                return s.getsockname()[1]

        self.errors = 0
        self.port = free_port()
        self.stack = subprocess.Popen(
            [sys.executable, "-m", "local", "--port", str(self.port), "--inference-port", str(free_port())],
            cwd=Path(__file__).resolve().parent.parent,
            env={**os.environ, "OCR_THREADS": str(threads)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 300
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ping", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.close()
        raise RuntimeError("the local stack did not become ready")

    def read(self, path: str):
        import base64
        import json
        import urllib.error
        import urllib.request

        with open(path, "rb") as f:
            body = json.dumps({"img": base64.b64encode(f.read()).decode()}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/general_ocr",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as answer:
                lines = json.loads(answer.read())
        except (urllib.error.HTTPError, OSError, ValueError) as exc:
            self.errors += 1
            print(f"  {path}: {exc}", file=__import__("sys").stderr)
            return []
        out = []
        for line in lines:
            loc = line["location"]
            x0, y0, x1, y1 = loc["left"], loc["top"], loc["left"] + loc["width"], loc["top"] + loc["height"]
            out.append((line["words"], [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]))
        return out

    def close(self):
        import signal

        if self.stack.poll() is None:
            self.stack.send_signal(signal.SIGINT)
            self.stack.wait(timeout=60)


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
        from rapidocr.utils.output import RapidOCROutput

        with open(path, "rb") as f:
            result = self.engine(f.read())
        if not isinstance(result, RapidOCROutput):  # what it answers with det, cls and rec all on
            raise TypeError(f"rapidocr answered a {type(result).__name__}")
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
            capture_output=True,
            text=True,
            env=self.env,
            timeout=300,
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
            x0, y0 = min(w[1] for w in words), min(w[2] for w in words)
            x1, y1 = max(w[1] + w[3] for w in words), max(w[2] + w[4] for w in words)
            result.append(("".join(w[0] for w in words), [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]))
        return result


def make(name: str, threads: int):
    if name == "ours":
        return Ours(threads)
    if name == "ours-fp32":
        return Ours(threads, precision="fp32")
    if name == "ours-http":
        return OursOverHttp(threads)
    if name == "rapidocr-default":
        return RapidOCR(threads, max960=False)
    if name == "rapidocr-max960":
        return RapidOCR(threads, max960=True)
    if name == "tesseract":
        return Tesseract(threads)
    raise ValueError(name)
