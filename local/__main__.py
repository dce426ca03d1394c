"""`python -m local` (`make serve`): the inference server and the local gateway, on CPU.

    POST http://127.0.0.1:${PORT:-8080}/general_ocr    the API, through the real Lambda handler
    GET  http://127.0.0.1:${PORT:-8080}/               a page to drop an image on
    GET  http://127.0.0.1:${PORT:-8080}/ping           readiness of the models
    POST http://127.0.0.1:${PORT:-8080}/jobs           the jobs API (docs/jobs.md); file:// inputs
                                                       from --jobs-input DIR (JOBS_INPUT) only

The inference server runs as a child process on INFERENCE_PORT (default PORT+1), exactly as
in the container; the Lambda handler reaches it through boto3's sagemaker-runtime client.
Prints a `ready` line once the models answer. Ctrl-C stops both.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

from aiohttp import web

from jobs.local import DEFAULT_MAX_RANGES

from .gateway import create_gateway


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # As the servers bind: a port whose last connections linger in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _watch(
    server: subprocess.Popen | None, inference_url: str, api: str, started: float, stopping: threading.Event
) -> None:
    """Print `ready` once the models answer; stop everything if the inference server dies, so
    that the gateway never goes on answering 500s for a server that is gone. Once we stop it
    ourselves (`stopping`), its exit is expected: a second SIGINT then would interrupt the wait
    for it and end the process with a traceback."""
    announced = False
    while not stopping.is_set():
        if server is not None and server.poll() is not None and not stopping.is_set():
            print(
                f"error: the inference server exited (code {server.returncode}); see its messages above. Stopping.",
                file=sys.stderr,
                flush=True,
            )
            os.kill(os.getpid(), signal.SIGINT)
            return
        if not announced:
            try:
                with urllib.request.urlopen(inference_url + "/ping", timeout=2) as answer:
                    if answer.status == 200:
                        print(f"ready in {time.monotonic() - started:.0f} s: POST {api}/general_ocr", flush=True)
                        announced = True
                        if server is None:
                            return
            except OSError:
                pass
        time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--inference-port", type=int, default=int(os.environ.get("INFERENCE_PORT", "0")))
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument(
        "--inference-url",
        default=os.environ.get("INFERENCE_URL"),
        help="use an inference server that already runs there (a container, say) instead of starting one",
    )
    parser.add_argument(
        "--jobs-input",
        default=os.environ.get("JOBS_INPUT") or None,
        help="the folder whose files POST /jobs may read as file:// inputs (make serve JOBS_INPUT=DIR)",
    )
    parser.add_argument(
        "--jobs-data",
        default=os.environ.get("JOBS_DATA") or None,
        help="where jobs and their results are kept (default ~/.local/state/zh-ocr/jobs); unfinished jobs resume on start",
    )
    parser.add_argument(
        "--jobs-max-ranges",
        type=int,
        default=int(os.environ.get("JOBS_MAX_RANGES") or DEFAULT_MAX_RANGES),
        help=f"page ranges the jobs read at once (default {DEFAULT_MAX_RANGES})",
    )
    args = parser.parse_args()
    started = time.monotonic()
    inference_port = args.inference_port or args.port + 1
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    # Fail fast, before loading anything, when a port is taken.
    wanted = [("PORT", args.host, args.port)] + (
        [] if args.inference_url else [("INFERENCE_PORT", "127.0.0.1", inference_port)]
    )
    for _name, host, port in wanted:
        if not _port_is_free(host, port):
            print(
                f"error: port {port} on {host} is in use; choose others, e.g. `make serve PORT={args.port + 10}` "
                f"(the inference server takes PORT+1, or set INFERENCE_PORT)",
                file=sys.stderr,
            )
            return 2

    inference_url = args.inference_url or f"http://127.0.0.1:{inference_port}"
    # The Lambda handler's settings, as the CDK stack sets them in AWS.
    os.environ.setdefault("ENDPOINT_NAME", "local-ocr")
    # The jobs API's local runner calls the inference server directly (jobs/local).
    os.environ["OCR_INFERENCE_URL"] = inference_url
    # SAGEMAKER_ENDPOINT_URL: the gateway starts a stand-in for SageMaker's runtime API in front of
    # the inference server and points the handler's boto3 client at it (local/sagemaker_runtime.py).
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    # boto3 signs requests even for a local endpoint; dummy credentials keep it from searching.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")

    # The jobs API's local backend (jobs/local/), in this process: the door reaches it in-process.
    os.environ["JOBS_BACKEND"] = "local"
    loopback = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
    os.environ["JOBS_API_URL"] = f"http://{f'[{loopback}]' if ':' in loopback else loopback}:{args.port}"
    os.environ["JOBS_MAX_RANGES"] = str(args.jobs_max_ranges)
    if args.jobs_data:
        os.environ["JOBS_DATA"] = str(os.path.abspath(os.path.expanduser(args.jobs_data)))
    if args.jobs_input:
        folder = os.path.abspath(os.path.expanduser(args.jobs_input))
        if not os.path.isdir(folder):
            print(f"error: --jobs-input {folder} is not a folder", file=sys.stderr)
            return 2
        os.environ["JOBS_INPUT"] = folder
    else:
        os.environ.pop("JOBS_INPUT", None)
    from jobs.local import backend as jobs_backend

    jobs = jobs_backend()

    server = None
    if args.inference_url:
        print(f"using the inference server at {inference_url}", flush=True)
    else:
        child_env = {**os.environ, "SAGEMAKER_BIND_TO_PORT": str(inference_port), "OCR_HOST": "127.0.0.1"}
        server = subprocess.Popen([sys.executable, "-m", "inference", "serve"], env=child_env)
        print(
            f"inference server (pid {server.pid}) starting on {inference_url}, "
            f"provider {os.environ.get('OCR_PROVIDER', 'cpu')}; loading models...",
            flush=True,
        )
    api = f"http://{args.host}:{args.port}"
    print(f"API:  POST {api}/general_ocr   demo: {api}/   (Ctrl-C stops both)", flush=True)
    stopping = threading.Event()
    threading.Thread(target=_watch, args=(server, inference_url, api, started, stopping), daemon=True).start()
    print(
        f"jobs: POST {api}/jobs, data in {jobs.blobs.root}"
        + (f", file:// inputs from {jobs.input_folder}" if jobs.input_folder else ""),
        flush=True,
    )
    jobs.runner.start()  # resumes unfinished jobs once the models answer
    try:
        web.run_app(
            create_gateway(inference_url, args.port, args.host),
            host=args.host,
            port=args.port,
            access_log=None,
            print=None,
        )
    finally:
        stopping.set()
        jobs.runner.stop()
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=35)
            except subprocess.TimeoutExpired:
                server.kill()
    return 1 if server is not None and server.returncode not in (0, None, -signal.SIGTERM) else 0


if __name__ == "__main__":
    sys.exit(main())
