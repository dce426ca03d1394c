"""The jobs API on a laptop: a SQLite file (SqliteJobStore), a folder (FolderBlobs) and a thread
pool reading ranges with the local inference server (LocalRunner), in the `python -m local`
process. Settings (local/__main__.py sets them from its flags):

    JOBS_DATA        the data folder: jobs.sqlite3, results/ (default ~/.local/state/zh-ocr/jobs)
    JOBS_INPUT       the one folder file:// inputs may come from (make serve JOBS_INPUT=~/scans)
    JOBS_API_URL     the local API's own URL, for resultUrl (http://127.0.0.1:8080)
    JOBS_MAX_RANGES  ranges read at once, over all jobs (default DEFAULT_MAX_RANGES, 4)
    OCR_INFERENCE_URL  the inference server (the container), called directly as SageMaker's
                       asynchronous inference calls it in AWS
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ocr_contract import ApiError, ErrorCode
from ocr_contract.jobs import JobRequest

from ..model import Job
from .blobs import FolderBlobs, file_uri
from .runner import LocalRunner
from .store import SqliteJobStore

__all__ = ["FolderBlobs", "LocalBackend", "LocalRunner", "SqliteJobStore", "backend", "file_uri"]

DATA_ENV = "JOBS_DATA"
INPUT_ENV = "JOBS_INPUT"
API_URL_ENV = "JOBS_API_URL"
MAX_RANGES_ENV = "JOBS_MAX_RANGES"
# Ranges in flight: enough that the last ranges of a job keep both workers of the local server
# busy (with 2, a 60-page job read its last 20 pages one at a time: 0.77x the synchronous rate).
DEFAULT_MAX_RANGES = 4
DEFAULT_DATA = Path.home() / ".local" / "state" / "zh-ocr" / "jobs"


class LocalBackend:
    default_owner: str | None = "local"

    def __init__(
        self,
        data: Path | str,
        input_folder: Path | str | None = None,
        api_url: str = "http://127.0.0.1:8080",
        inference_url: str = "",
        max_in_flight: int = 2,
    ):
        self.input_folder = Path(input_folder).expanduser().resolve() if input_folder else None
        self.store = SqliteJobStore(Path(data) / "jobs.sqlite3")
        self.blobs = FolderBlobs(data, (self.input_folder,) if self.input_folder else (), api_url)
        self.runner = LocalRunner(self.store, self.blobs, inference_url, max_in_flight)

    def start(self, job: Job) -> None:
        self.runner.submit(job.job_id)

    def check_request(self, request: JobRequest) -> None:
        """What the local stack reads: http(s) (checked by the door) and file:// under JOBS_INPUT."""
        scheme = request.input.split(":", 1)[0].lower()
        if scheme == "s3":
            raise ApiError(
                ErrorCode.INVALID_URL,
                "the local stack reads file:// (under JOBS_INPUT) and http(s) inputs; s3:// needs the deployed API",
            )
        if request.output is not None:
            raise ApiError(
                ErrorCode.INVALID_REQUEST, "the local stack keeps results in its data folder; leave 'output' out"
            )
        if scheme == "file":
            parts = urlsplit(request.input)
            path = Path(unquote(parts.path)).resolve()
            folder = self.input_folder
            if (
                parts.netloc not in ("", "localhost")
                or folder is None
                or not (path == folder or path.is_relative_to(folder))
            ):
                raise ApiError(
                    ErrorCode.URL_NOT_ALLOWED,
                    "file:// inputs must lie under the folder the local stack was started with "
                    + (
                        f"({folder})"
                        if folder
                        else "(none: start it with `make serve JOBS_INPUT=DIR` or --jobs-input DIR)"
                    ),
                )


_backend: LocalBackend | None = None
_lock = threading.Lock()


INFERENCE_URL_ENV = "OCR_INFERENCE_URL"


def backend() -> LocalBackend:
    """The process's local backend, made from the environment on first use."""
    global _backend
    with _lock:
        if _backend is None:
            _backend = LocalBackend(
                os.environ.get(DATA_ENV) or DEFAULT_DATA,
                os.environ.get(INPUT_ENV) or None,
                os.environ.get(API_URL_ENV) or "http://127.0.0.1:8080",
                os.environ.get(INFERENCE_URL_ENV, ""),
                int(os.environ.get(MAX_RANGES_ENV) or DEFAULT_MAX_RANGES),
            )
        return _backend


def reset() -> None:
    """Forget the process's backend (tests)."""
    global _backend
    with _lock:
        if _backend is not None:
            _backend.runner.stop()
        _backend = None
