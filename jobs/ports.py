"""What the job's steps need from where they run. Two sets of adapters implement these:
jobs/aws/ (DynamoDB, S3) and jobs/local/ (a SQLite file, a folder).

URIs name objects: `s3://bucket/key` in AWS, `file:///absolute/path` locally; each Blobs takes
its own kind and refuses the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Protocol

from ocr_contract.jobs import Status

from .model import Job


class JobStore(Protocol):
    def create(self, job: Job) -> None:
        """Store a new job (its id is new: never overwrite)."""

    def get(self, job_id: str) -> Job | None:
        """The job, or None when unknown or expired."""

    def set_status(
        self, job_id: str, status: Status, *, result_key: str | None = None, error: dict | None = None
    ) -> None:
        """Move the job to `status` (and record where its result is, or why it failed);
        updated_at is now. A finished job's status never changes again."""

    def add(self, job_id: str, **increments: int) -> None:
        """Atomically add to counters (documents_total, documents_done, pages_total, pages_done,
        pages_failed); updated_at is now. Progress for GET /jobs/{id}: the finishing step
        recomputes the final counts from the result's parts, so a step repeated after a crash
        cannot skew them."""

    def unfinished(self) -> list[Job]:
        """Jobs QUEUED or RUNNING (what a restarted local stack resumes)."""


class Blobs(Protocol):
    # The URI prefix (ending in "/") under which a job without an `output` keeps its files:
    # `s3://<the stack's bucket>/jobs/` in AWS, `file:///<data folder>/results/` locally. A job's
    # own prefix is `<output or results><jobId>/` (jobs.steps.job_prefix).
    results: str

    def size(self, uri: str) -> int:
        """The object's size in bytes; ApiError UrlFetchFailed when it does not exist."""

    def read(self, uri: str, max_bytes: int) -> bytes:
        """The object's bytes; ApiError PayloadTooLarge past max_bytes."""

    def download(self, uri: str, file: BinaryIO, max_bytes: int) -> int:
        """Write the object's bytes into `file` (an open binary file, from where it stands) a
        piece at a time, never holding the whole object; return how many were written.
        ApiError PayloadTooLarge past max_bytes (refused before a byte is written where the
        size is known first), UrlFetchFailed when it does not exist."""

    def copy(self, source: str, target: str) -> None:
        """Copy one object to another URI (S3: CopyObject, up to 5 GB in one request, the bytes
        never passing through here). UrlFetchFailed when the source does not exist."""

    def listing(self, prefix: str) -> Iterator[tuple[str, int]]:
        """(uri, size) of every object under the prefix, in key order, lazily (a prefix may
        hold millions)."""

    def write(self, uri: str, data: bytes) -> None: ...

    def exists(self, uri: str) -> bool: ...

    def concat(self, parts: list[str], uri: str) -> None:
        """Write the parts' bytes, in order, as one object (S3: a multipart upload copying
        each part; parts under 5 MB are joined first)."""

    def upload(self, uri: str, path: str, content_type: str) -> int:
        """Store a local file (a job's output: a searchable PDF may be as large as its input)
        as the object at `uri`, whole or not at all, a piece at a time (S3: a multipart upload
        past a part's size); return its size."""

    def head(self, uri: str, max_bytes: int) -> bytes:
        """At most the first max_bytes of the object (all of a smaller one); UrlFetchFailed
        when it does not exist."""

    def url(self, uri: str, expires_s: int) -> str:
        """A URL the caller can GET the object at: presigned in AWS, the local stack's own."""
