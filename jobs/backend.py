"""Where the jobs API's door (frontend/doors/jobs.py) gets its store, blobs and starter: the
same door code in AWS and on a laptop, the backend chosen by JOBS_BACKEND.

    JOBS_BACKEND=local   jobs.local.backend(): SQLite, a folder, a thread pool (python -m local)
    JOBS_BACKEND=aws     jobs.aws.backend(): DynamoDB, S3, Step Functions (the deployed stack)

A backend module has `backend() -> Backend` (made once per process).
"""

from __future__ import annotations

import importlib
import os
from typing import Protocol

from ocr_contract import ApiError, ErrorCode
from ocr_contract.jobs import JobRequest

from .model import Job
from .ports import Blobs, JobStore

BACKEND_ENV = "JOBS_BACKEND"
BACKENDS = ("local", "aws")


class Backend(Protocol):
    store: JobStore
    blobs: Blobs
    # The owner of requests that carry no identity (no API key id, no IAM principal): "local" on
    # a laptop; None in AWS, where such a request is refused (403).
    default_owner: str | None

    def start(self, job: Job) -> None:
        """Start a job the door just stored (QUEUED): local, hand it to the LocalRunner; AWS,
        start the Step Functions execution (named by the job id, so a retry cannot start two)."""

    def check_request(self, request: JobRequest) -> None:
        """The backend's own rules on a request, after the door's (http(s) inputs through the URL
        guard, s3:// inputs and outputs in ALLOWED_BUCKETS): local, file:// inputs under
        JOBS_INPUT and no s3; AWS, no file://. ApiError to refuse."""


def backend() -> Backend:
    name = os.environ.get(BACKEND_ENV, "aws").strip().lower()
    if name not in BACKENDS:
        raise ApiError(ErrorCode.INTERNAL_ERROR, f"{BACKEND_ENV}={name[:20]!r}: the jobs backend is one of {BACKENDS}")
    try:
        module = importlib.import_module(f"jobs.{name}")
    except ImportError:
        raise ApiError(
            ErrorCode.INTERNAL_ERROR, f"the jobs API is not available here (no jobs.{name} backend)"
        ) from None
    return module.backend()
