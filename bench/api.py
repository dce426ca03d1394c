"""`make bench` (second part): the local stack under load, and what the gateway + Lambda path adds.

Starts `python -m local`, then sends N requests at concurrency C through POST /general_ocr
(gateway -> Lambda handler -> boto3 -> inference server) and the same images straight to the
inference server's /invocations. Prints errors, latency and the median overhead.

    python -m bench.api [--requests 200] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.stack import LocalStack

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ["receipt.png", "line.png", "upside_down.png", "small_plate.png"]


def post(url: str, body: bytes, content_type: str) -> tuple[int, float]:
    """(HTTP status, or 0 for a dropped connection; seconds taken)."""
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError:
        status = 0  # dropped connection
    return status, time.perf_counter() - start


def _load(url: str, bodies: list[bytes], content_type: str, concurrency: int) -> dict:
    with ThreadPoolExecutor(concurrency) as pool:
        start = time.perf_counter()
        results = list(pool.map(lambda b: post(url, b, content_type), bodies))
        wall = time.perf_counter() - start
    latencies = sorted(t for _, t in results)
    return {
        "errors": sum(1 for s, _ in results if s != 200),
        "median_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
        "throughput": len(results) / wall,
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    try:
        stack = LocalStack()
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    port, inference_port = stack.port, stack.inference_port
    try:
        raw = [(ROOT / "tests" / "fixtures" / IMAGES[i % len(IMAGES)]).read_bytes() for i in range(args.requests)]
        api_bodies = [json.dumps({"img": base64.b64encode(b).decode()}).encode() for b in raw]
        # Warm both paths, then measure each in turn (never both at once: they share the CPU).
        _load(f"http://127.0.0.1:{port}/general_ocr", api_bodies[:8], "application/json", args.concurrency)
        direct = _load(f"http://127.0.0.1:{inference_port}/invocations", raw, "image/png", args.concurrency)
        api = _load(f"http://127.0.0.1:{port}/general_ocr", api_bodies, "application/json", args.concurrency)
    finally:
        stack.close()

    print(f"\n{args.requests} requests at concurrency {args.concurrency} (fixtures: {', '.join(IMAGES)})\n")
    print("| path | errors | median ms | p95 ms | requests/s |")
    print("|---|---|---|---|---|")
    for name, r in (("inference server /invocations", direct), ("gateway + Lambda handler /general_ocr", api)):
        print(f"| {name} | {r['errors']} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} | {r['throughput']:.1f} |")
    overhead = api["median_ms"] / direct["median_ms"] - 1
    print(f"\nMedian overhead of the gateway + Lambda path: **{100 * overhead:.1f}%**")
    return 0 if direct["errors"] == 0 and api["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
