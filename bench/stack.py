"""`make serve`'s stack (`python -m local`) started for a bench on free loopback ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """A process's resident memory in MB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024
    except (OSError, StopIteration):
        return 0.0


def children(pid: int, command_contains: bytes = b"") -> list[int]:
    """The process's children (whose command line holds `command_contains`), from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                if int(stat.read().rsplit(")", 1)[1].split()[1]) != pid:
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                if command_contains in cmdline.read():
                    found.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found


class LocalStack:
    """The gateway on `port`, the inference server on `inference_port`; `base` is the API's URL.
    Waits for the models (`/ping` 200); RuntimeError when the stack does not come up."""

    def __init__(self, extra_args: tuple[str, ...] = (), env: dict | None = None, ready_s: float = 300):
        self.port, self.inference_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "local",
                "--port",
                str(self.port),
                "--inference-port",
                str(self.inference_port),
                *extra_args,
            ],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + ready_s
        while time.time() < deadline and self.process.poll() is None:
            try:
                with urllib.request.urlopen(self.base + "/ping", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        self.close()
        raise RuntimeError("the local stack did not become ready")

    @property
    def pid(self) -> int:
        return self.process.pid

    def close(self) -> None:
        """Stop it as Ctrl-C does."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
