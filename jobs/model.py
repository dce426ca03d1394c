"""A job's record and its units of work, as the ports store and pass them."""

from __future__ import annotations

from dataclasses import dataclass, field

from ocr_contract.jobs import FINISHED, JobRequest, Status


@dataclass
class Job:
    job_id: str  # 32 hex digits, random (ocr_contract.jobs.JOB_ID)
    owner: str  # who may see it: the API key's id, or the IAM principal's ARN ("local" locally)
    request: JobRequest
    status: Status = "QUEUED"
    documents_total: int = 0
    documents_done: int = 0
    pages_total: int = 0
    pages_done: int = 0
    pages_failed: int = 0
    created_at: str = ""  # ISO 8601, UTC
    updated_at: str = ""
    result_key: str | None = None  # where the result lines are, once finished (Blobs URI)
    error: dict | None = None  # {"code", "message"} when the job as a whole failed
    expires_at: int = 0  # epoch seconds: the record and the results are deleted after it

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


@dataclass(frozen=True)
class Document:
    """One input document of a job, in input order."""

    index: int  # 0-based, the order of the result
    uri: str  # where its bytes are (Blobs URI: s3://..., or the local folder's)
    name: str  # what the result lines call it: the S3 key or the URL
    size: int = 0


@dataclass(frozen=True)
class Range:
    """Pages `first`..`last` (1-based, inclusive) of a document: one model invocation, retried alone."""

    document: Document
    first: int
    last: int
    pages_total: int = 0  # the document's page count (0 when it could not be counted)
    # Set when the document cannot be read at all (over MAX_DOCUMENT_PAGES or
    # MAX_DOCUMENT_BYTES, not a PDF/TIFF/image, unreadable): its one range, pages 1-1, is then
    # recorded with this error without invoking the model ({"code", "message"}).
    error: dict | None = None

    @property
    def key(self) -> str:
        """Names the range's part of the result; parts sort in the result's order."""
        return f"{self.document.index:07d}-{self.first:05d}"


def document_to_dict(document: Document) -> dict:
    """A Document as JSON (Step Functions state, a manifest line)."""
    return {"index": document.index, "uri": document.uri, "name": document.name, "size": document.size}


def document_from_dict(data: dict) -> Document:
    return Document(int(data["index"]), str(data["uri"]), str(data["name"]), int(data.get("size", 0)))


def range_to_dict(unit: Range) -> dict:
    """A Range as JSON (Step Functions state, a Map item)."""
    return {
        "document": document_to_dict(unit.document),
        "first": unit.first,
        "last": unit.last,
        "pagesTotal": unit.pages_total,
        "error": unit.error,
    }


def range_from_dict(data: dict) -> Range:
    return Range(
        document_from_dict(data["document"]),
        int(data["first"]),
        int(data["last"]),
        int(data.get("pagesTotal", 0)),
        data.get("error"),
    )


@dataclass
class Plan:
    """What a job reads: its documents, and each one's ranges once counted."""

    documents: list[Document] = field(default_factory=list)
