"""`make bench-gpu`: throughput of the inference container under load, on whatever it runs on.

Against a running container (`--url`), or one this starts on the CPU here (the container's own
server, `python -m inference serve`, with this process's environment): real pages (XFUND scans)
sent as raw bytes to /invocations at each concurrency, then 1,000 requests of 200 different
sizes to see whether memory stays flat. Prints a table (pages/s, p50/p95 latency, GPU busy and
memory sampled with nvidia-smi when there is one, the server's RSS when it is local) and writes
JSON with `--json-out`.

    python -m bench.gpu [--url http://host:8080] [--concurrency 1,8,32,64] [--requests 64]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .api import post

ROOT = Path(__file__).resolve().parent.parent


class Sampler:
    """GPU utilisation and memory (nvidia-smi) and the server's RSS, sampled every 0.5 s."""

    def __init__(self, pid: int | None):
        self.pid = pid
        self.gpu: list[float] = []
        self.gpu_mem: list[float] = []
        self.rss: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        smi = shutil.which("nvidia-smi")
        while not self._stop.wait(0.5):
            if smi:
                out = subprocess.run(
                    [smi, "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits"],
                    capture_output=True,
                    text=True,
                ).stdout.split("\n")[0]
                try:
                    busy, used = (float(v) for v in out.split(","))
                    self.gpu.append(busy)
                    self.gpu_mem.append(used)
                except ValueError:
                    pass
            if self.pid:
                self.rss.append(rss_mb(self.pid))


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def pages(data: Path, sizes: int = 1) -> list[bytes]:
    """The XFUND pages as JPEG; with `sizes` > 1, each page at several scales (0.5x to 1.5x)."""
    from PIL import Image

    files = sorted((data / "xfund_zh" / "pages").glob("*"))
    out = []
    for i in range(max(len(files), sizes)):
        image = Image.open(files[i % len(files)]).convert("RGB")
        if sizes > 1:
            scale = 0.5 + (i % sizes) / max(sizes - 1, 1)
            image = image.resize((max(32, int(image.width * scale)), max(32, int(image.height * scale))))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def load(url: str, bodies: list[bytes], concurrency: int, pid: int | None) -> dict:
    with Sampler(pid) as sampler, ThreadPoolExecutor(concurrency) as pool:
        start = time.perf_counter()
        results = list(pool.map(lambda b: post(url, b, "image/jpeg"), bodies))
        wall = time.perf_counter() - start
    ok = sorted(t for s, t in results if s == 200)
    return {
        "concurrency": concurrency,
        "requests": len(results),
        "errors": sum(1 for s, _ in results if s != 200),
        "pages_per_s": len(ok) / wall,
        "p50_ms": 1000 * statistics.median(ok) if ok else None,
        "p95_ms": 1000 * ok[int(0.95 * (len(ok) - 1))] if ok else None,
        "gpu_busy_pct": statistics.mean(sampler.gpu) if sampler.gpu else None,
        "gpu_mem_mb": max(sampler.gpu_mem) if sampler.gpu_mem else None,
        "rss_mb": max(sampler.rss) if sampler.rss else None,
    }


def start_local_server() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"OCR_MAX_QUEUE": "128", **os.environ}  # the load, not the queue limit, is measured
    server = subprocess.Popen(
        [sys.executable, "-m", "inference", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while time.time() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(url + "/ping", timeout=2) as r:
                if r.status == 200:
                    return server, url
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise RuntimeError("the inference server did not start")


def fmt(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running container (default: start one here)")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "eval")
    parser.add_argument("--concurrency", default="1,8,32,64")
    parser.add_argument("--requests", type=int, default=64, help="requests per concurrency level")
    parser.add_argument("--memory-requests", type=int, default=1000, help="0 skips the memory run")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()

    server, url = (None, args.url.rstrip("/")) if args.url else start_local_server()
    pid = server.pid if server else None
    try:
        with urllib.request.urlopen(url + "/ping", timeout=5) as r:
            info = json.loads(r.read())
        bodies = pages(args.data)
        invoke = url + "/invocations"
        load(invoke, bodies[:4], 2, None)  # warm-up
        levels = [
            load(invoke, [bodies[i % len(bodies)] for i in range(args.requests)], int(c), pid)
            for c in args.concurrency.split(",")
        ]
        memory = None
        if args.memory_requests:
            varied = pages(args.data, sizes=200)
            first = load(invoke, [varied[i % len(varied)] for i in range(100)], 8, pid)
            rss_100 = rss_mb(pid) if pid else None
            rest = load(invoke, [varied[i % len(varied)] for i in range(100, args.memory_requests)], 8, pid)
            memory = {
                "requests": args.memory_requests,
                "errors": first["errors"] + rest["errors"],
                "rss_after_100_mb": rss_100,
                "rss_after_all_mb": rss_mb(pid) if pid else None,
                "gpu_mem_after_100_mb": first["gpu_mem_mb"],
                "gpu_mem_after_all_mb": rest["gpu_mem_mb"],
            }
    finally:
        if server:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=60)

    print(
        f"\nInference server on {info.get('provider')} ({info.get('precision')} recogniser), XFUND pages as JPEG, "
        f"{args.requests} requests per level\n"
    )
    print("| concurrency | errors | pages/s | p50 ms | p95 ms | GPU busy % | GPU memory MB | server RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in levels:
        print(
            f"| {r['concurrency']} | {r['errors']} | {r['pages_per_s']:.2f} | {fmt(r['p50_ms'], '.0f')} | {fmt(r['p95_ms'], '.0f')} "
            f"| {fmt(r['gpu_busy_pct'], '.0f')} | {fmt(r['gpu_mem_mb'], '.0f')} | {fmt(r['rss_mb'], '.0f')} |"
        )
    if memory:
        print(
            f"\nMemory over {memory['requests']} requests of 200 page sizes ({memory['errors']} errors): "
            f"RSS {fmt(memory['rss_after_100_mb'], '.0f')} MB after 100, {fmt(memory['rss_after_all_mb'], '.0f')} MB after all; "
            f"GPU memory {fmt(memory['gpu_mem_after_100_mb'], '.0f')} -> {fmt(memory['gpu_mem_after_all_mb'], '.0f')} MB"
        )
    if args.json_out:
        args.json_out.write_text(json.dumps({"server": info, "levels": levels, "memory": memory}, indent=2))
    return 0 if all(r["errors"] == 0 for r in levels) else 1


if __name__ == "__main__":
    sys.exit(main())
