"""The job's steps, written once against the ports (jobs/ports.py): where they run (a Step
Functions state machine's Lambdas in AWS, a thread pool on a laptop) is the caller's business.

    new_job -> [store.create, backend start]
    plan -> write_manifest                      the input's documents, in order, stored once
    document_ranges (ranges, cached)            each document's page ranges (RANGE_PAGES each)
    read_range (or SageMaker Async Inference)   one model invocation per range
    record_range                                the range's part of the result, progress counters
    finish, fail, fail_document, fail_job       the job's end: jobs/finish.py
    status_body, submitted_body                 what the API answers of a job: jobs/answers.py

Files of a job, under its prefix `<output or blobs.results><jobId>/` (job_prefix):

    input/document              an http(s) input, fetched once through the URL guard
    manifest/000000.jsonl ...   the documents (Document as JSON), MANIFEST_CHUNK per file
    manifest/done               written last: the manifest is complete
    ranges/0000000.json ...     a document's ranges (so its pages are counted once)
    parts/0000000-00001.jsonl   a range's result lines (Range.key), overwritten when repeated
    result.jsonl                the parts concatenated in key order: documents in order, then pages

Every step may be repeated after a crash: parts are overwritten, counters are added only when
a part is new, and `finish` recomputes the final counters from the parts.

A document that cannot be read at all (over MAX_DOCUMENT_PAGES or MAX_DOCUMENT_BYTES, a PDF
that cannot be opened: encrypted, corrupt) fails alone: it is reported as ONE result line,
page 1, with the error (width and height 0, no lines), and counts as one failed page.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

from documents.render import count_pages, document_kind
from ocr_contract import ApiError, ErrorCode
from ocr_contract.jobs import (
    MAX_DOCUMENT_BYTES,
    MAX_DOCUMENT_PAGES,
    RANGE_PAGES,
    RESULT_DAYS_DEFAULT,
    JobRequest,
    ResultPage,
)
from ocr_contract.protocol import DocumentPage

from .model import Document, Job, Range, document_from_dict, document_to_dict, range_from_dict, range_to_dict
from .ports import Blobs, JobStore

# fetch_url(url) -> the bytes of an http(s) input, through the URL guard, at most
# MAX_DOCUMENT_BYTES, within JOB_URL_FETCH_TIMEOUT_S (fetch_input_url is the one to pass).
FetchUrl = Callable[[str], bytes]
# invoke(document bytes, (first, last)) -> the container's answer to task=document for those
# pages (a list of DocumentPage); ApiError when the invocation failed as a whole.
Invoke = Callable[[bytes, tuple[int, int]], list[DocumentPage]]

MANIFEST_CHUNK = 1000
DAY_S = 24 * 3600


def iso(epoch_s: float) -> str:
    """ISO 8601, UTC, seconds: 2025-01-31T12:00:00Z."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# A deployment's own limits (infra/jobs/ sets them from jobMaxPages, jobMaxDocumentMb and
# jobResultDays; `make serve` may set them too): at most the contract's, never more.
MAX_PAGES_ENV = "JOBS_MAX_PAGES"
MAX_DOCUMENT_BYTES_ENV = "JOBS_MAX_DOCUMENT_BYTES"
RESULT_DAYS_ENV = "JOBS_RESULT_DAYS"


def _setting(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return min(default, int(value)) if value.strip().isdigit() and int(value) > 0 else default


def max_document_pages() -> int:
    return _setting(MAX_PAGES_ENV, MAX_DOCUMENT_PAGES)


def max_document_bytes() -> int:
    return _setting(MAX_DOCUMENT_BYTES_ENV, MAX_DOCUMENT_BYTES)


def result_days() -> int:
    value = os.environ.get(RESULT_DAYS_ENV, "")
    return int(value) if value.strip().isdigit() and int(value) > 0 else RESULT_DAYS_DEFAULT


def new_job(request: JobRequest, owner: str, now: float | None = None) -> Job:
    """A new QUEUED job for `owner` (now: epoch seconds, time.time() by default); the caller
    stores it (store.create) and starts it."""
    now = time.time() if now is None else now
    stamp = iso(now)
    return Job(
        job_id=secrets.token_hex(16),
        owner=owner,
        request=request,
        created_at=stamp,
        updated_at=stamp,
        expires_at=int(now) + result_days() * DAY_S,
    )


def job_prefix(job: Job, blobs: Blobs) -> str:
    """The job's own prefix: `<output or blobs.results><jobId>/`."""
    root = job.request.output or blobs.results
    return (root if root.endswith("/") else root + "/") + job.job_id + "/"


def part_uri(job: Job, blobs: Blobs, unit: Range) -> str:
    return f"{job_prefix(job, blobs)}parts/{unit.key}.jsonl"


RESULT_NAME = "result.jsonl"


def result_uri(job: Job, blobs: Blobs) -> str:
    return job_prefix(job, blobs) + RESULT_NAME


def document_name(uri: str) -> str:
    """What the result lines call a document: the S3 key, the URL, or the local file's path."""
    scheme = uri.split(":", 1)[0].lower()
    if scheme == "s3":
        return uri[len("s3://") :].partition("/")[2]
    if scheme == "file":
        return unquote(urlsplit(uri).path)
    return uri


def _is_http(uri: str) -> bool:
    return uri.split(":", 1)[0].lower() in ("http", "https")


def fetch_input_url(url: str) -> bytes:
    """An http(s) input's bytes through the same URL guard as POST /general_ocr (checked
    addresses, at most 3 redirects), with the jobs' budget: JOB_URL_FETCH_TIMEOUT_S and
    MAX_DOCUMENT_BYTES. The FetchUrl both backends pass to plan()."""
    from ocr_contract.jobs import JOB_URL_FETCH_TIMEOUT_S
    from urlfetch.fetch import fetch_http

    return fetch_http(url, max_bytes=MAX_DOCUMENT_BYTES, timeout_s=float(JOB_URL_FETCH_TIMEOUT_S))


def plan(job: Job, blobs: Blobs, fetch_url: FetchUrl) -> Iterator[Document]:
    """The job's documents, in order, lazily (a prefix may hold millions of objects: pass the
    iterator to write_manifest, which writes it in chunks, never holding the whole list).

    - `s3://bucket/key` (or a local file): that object, one document;
    - a prefix ending in "/": every object under it in key order, skipping "folders" (keys
      ending in "/"), hidden files (a name starting with ".") and the job's own files;
    - an http(s) URL: fetched ONCE (fetch_url: the URL guard, JOB_URL_FETCH_TIMEOUT_S), stored
      as `<job prefix>input/document`, and read from there; a repeated plan reuses that copy.

    ApiError when the input as a whole cannot be read (the URL fails, the object does not
    exist): the caller then calls fail()."""
    source = job.request.input
    if _is_http(source):
        stored = job_prefix(job, blobs) + "input/document"
        if not blobs.exists(stored):
            blobs.write(stored, fetch_url(source))
        yield Document(0, stored, source, blobs.size(stored))
        return
    if source.endswith("/"):
        own = job_prefix(job, blobs)
        index = 0
        for uri, size in blobs.listing(source):
            base = uri.rstrip("/").rsplit("/", 1)[-1]
            if uri.endswith("/") or base.startswith(".") or uri.startswith(own):
                continue
            yield Document(index, uri, document_name(uri), size)
            index += 1
        return
    yield Document(0, source, document_name(source), blobs.size(source))


def manifest_prefix(job: Job, blobs: Blobs) -> str:
    return job_prefix(job, blobs) + "manifest/"


def write_manifest(job: Job, documents: Iterable[Document], blobs: Blobs, store: JobStore) -> int:
    """Store plan()'s documents as `manifest/NNNNNN.jsonl` files of MANIFEST_CHUNK documents
    each, then `manifest/done`; add documents_total. Returns how many documents there are.
    Repeating it (after a crash before `done`) rewrites the same files."""
    prefix = manifest_prefix(job, blobs)
    count, chunk, number = 0, [], 0
    for document in documents:
        chunk.append(json.dumps(document_to_dict(document), ensure_ascii=False))
        count += 1
        if len(chunk) == MANIFEST_CHUNK:
            blobs.write(f"{prefix}{number:06d}.jsonl", ("\n".join(chunk) + "\n").encode())
            chunk, number = [], number + 1
    if chunk:
        blobs.write(f"{prefix}{number:06d}.jsonl", ("\n".join(chunk) + "\n").encode())
    store.add(job.job_id, documents_total=count)
    blobs.write(prefix + "done", str(count).encode())
    return count


def manifest_written(job: Job, blobs: Blobs) -> bool:
    return blobs.exists(manifest_prefix(job, blobs) + "done")


def read_manifest(job: Job, blobs: Blobs) -> Iterator[Document]:
    """The documents write_manifest stored, in order, a chunk at a time."""
    for uri, _ in blobs.listing(manifest_prefix(job, blobs)):
        if uri.endswith(".jsonl"):
            for line in blobs.read(uri, 64 * 1024 * 1024).decode().splitlines():
                if line.strip():
                    yield document_from_dict(json.loads(line))


def _failed_range(document: Document, error: ApiError) -> Range:
    return Range(document, 1, 1, 0, {"code": error.code.value, "message": error.message})


# SageMaker's InvokeEndpointAsync takes a range's document as an HTTP header, its S3 URI
# (X-Amzn-SageMaker-InputLocation, at most 1,024 characters). An S3 key may hold any Unicode:
# botocore sends it as raw UTF-8, and what SageMaker makes of that, or of characters a URI
# decoder reads otherwise (%, +, a space), is not documented. So only a URI within S3's own
# "safe characters" for keys (letters and digits, ! - _ . * ' ( ), and the / delimiter) goes
# out as it is; any other document is read through a copy under the job's prefix (ASCII).
INPUT_LOCATION_MAX_CHARS = 1024
_SAFE_KEY_PUNCTUATION = frozenset("!-_.*'()/")


def _invocable_as_is(uri: str) -> bool:
    """Whether the document can be handed to SageMaker under its own URI. Only s3:// URIs are
    (file:// ones are read by the local stack itself, and are percent-encoded ASCII anyway)."""
    if not uri.startswith("s3://"):
        return True
    return len(uri) <= INPUT_LOCATION_MAX_CHARS and all(
        (char.isascii() and char.isalnum()) or char in _SAFE_KEY_PUNCTUATION for char in uri[len("s3://") :]
    )


def ranges(document: Document, blobs: Blobs, deadline: float) -> list[Range]:
    """The document's page ranges, RANGE_PAGES pages each. PDF and TIFF pages are counted by
    documents.render.count_pages (in a bounded child process, until `deadline`,
    time.monotonic()); anything else is read as one image page (the container says if it is
    not one). A document that cannot be read at all (over MAX_DOCUMENT_BYTES or
    MAX_DOCUMENT_PAGES, not openable) is one Range of page 1 with `error` set: record it with
    record_range(..., range_error(range), ...) without invoking the model.

    The document is streamed (blobs.download, at most max_document_bytes()) to an unnamed
    temporary file, which the counting child reads where it needs: neither process holds the
    whole document, and the system frees the file with the last process that has it open,
    however either ends. Disk (Lambda's /tmp): one document at a time, the deployment's
    largest at most."""
    try:
        size, most_bytes, most_pages = (
            document.size or blobs.size(document.uri),
            max_document_bytes(),
            max_document_pages(),
        )
        if size > most_bytes:
            raise ApiError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"the document is {size} bytes; a job reads documents of at most {most_bytes} bytes",
            )
        with tempfile.TemporaryFile() as file:
            blobs.download(document.uri, file, most_bytes)
            file.seek(0)
            kind = document_kind(file.read(8))
            if kind is None:
                return [Range(document, 1, 1, 1)]
            pages = count_pages(file, kind, deadline)
        if pages > most_pages:
            raise ApiError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"the document has {pages} pages; a job reads documents of at most {most_pages} pages",
            )
        if pages < 1:
            raise ApiError(ErrorCode.INVALID_IMAGE, f"the {kind.upper()} has no pages")
    except ApiError as error:
        return [_failed_range(document, error)]
    return [
        Range(document, first, min(first + RANGE_PAGES - 1, pages), pages) for first in range(1, pages + 1, RANGE_PAGES)
    ]


def document_ranges(job: Job, document: Document, blobs: Blobs, store: JobStore, deadline: float) -> list[Range]:
    """ranges(), counted once per document: kept as `ranges/<index>.json`; the first time,
    pages_total is added (a failed document counts as 1 page). A document to be read whose URI
    cannot go to SageMaker as it is (_invocable_as_is) is first copied (blobs.copy) to
    `input/<index>` under the job's prefix, and its ranges name the copy (their Document.name,
    what the result lines say, stays the original)."""
    uri = f"{job_prefix(job, blobs)}ranges/{document.index:07d}.json"
    if blobs.exists(uri):
        return [range_from_dict(item) for item in json.loads(blobs.read(uri, 64 * 1024 * 1024))]
    units = ranges(document, blobs, deadline)
    if not _invocable_as_is(document.uri) and any(unit.error is None for unit in units):
        copy = f"{job_prefix(job, blobs)}input/{document.index:07d}"
        try:
            blobs.copy(document.uri, copy)
        except ApiError as error:
            units = [_failed_range(document, error)]
        else:
            read_from = Document(document.index, copy, document.name, document.size)
            units = [Range(read_from, unit.first, unit.last, unit.pages_total, unit.error) for unit in units]
    blobs.write(uri, json.dumps([range_to_dict(unit) for unit in units], ensure_ascii=False).encode())
    store.add(job.job_id, pages_total=sum(unit.last - unit.first + 1 for unit in units))
    return units


def range_error(unit: Range) -> ApiError | None:
    """The error of a document that fails alone (Range.error), as an ApiError."""
    if unit.error is None:
        return None
    return ApiError(unit.error.get("code", ErrorCode.INTERNAL_ERROR.value), str(unit.error.get("message", "")))


def read_range(unit: Range, blobs: Blobs, invoke: Invoke) -> list[DocumentPage] | ApiError:
    """The range's pages as the container reads them (task=document), or the error that failed
    it as a whole (the document's own, or the invocation's after `invoke`'s retries). In AWS,
    SageMaker Asynchronous Inference does this instead, reading the document from S3."""
    error = range_error(unit)
    if error is not None:
        return error
    try:
        return invoke(blobs.read(unit.document.uri, MAX_DOCUMENT_BYTES), (unit.first, unit.last))
    except ApiError as exc:
        return exc


def _line(
    document: str,
    page: int,
    width: int,
    height: int,
    lines: list,
    error: dict | None,
    tables: list | None = None,
    source: str | None = None,
    dpi: float | None = None,
) -> ResultPage:
    line: ResultPage = {
        "document": document,
        "page": page,
        "width": width,
        "height": height,
        # An older container's page has no source: it was read by OCR.
        "source": None if error else (source or "ocr"),  # type: ignore[typeddict-item]
        "dpi": None if error else dpi,
        "lines": lines,
        "error": {"code": str(error.get("code", "")), "message": str(error.get("message", ""))} if error else None,
    }
    if tables is not None:  # "features": ["tables"]
        line["tables"] = tables
    return line


def result_lines(unit: Range, pages: list[DocumentPage] | ApiError) -> list[ResultPage]:
    """The range's result lines: one per page first..last, in page order. A page the answer
    lacks is reported with an error; pages outside the range are ignored."""
    name = unit.document.name
    if isinstance(pages, ApiError):
        failure = {"code": pages.code.value, "message": pages.message}
        return [_line(name, number, 0, 0, [], failure) for number in range(unit.first, unit.last + 1)]
    answered = {page["page"]: page for page in pages if unit.first <= page.get("page", 0) <= unit.last}
    out = []
    for number in range(unit.first, unit.last + 1):
        page = answered.get(number)
        if page is None:
            missing = {"code": ErrorCode.INTERNAL_ERROR.value, "message": f"page {number} was not answered"}
            out.append(_line(name, number, 0, 0, [], missing))
        else:
            error = page.get("error")
            line = _line(
                name,
                number,
                page["width"],
                page["height"],
                list(page["lines"]),
                dict(error) if error else None,
                page.get("tables"),
                page.get("source"),
                page.get("dpi"),
            )
            if page.get("regions") is not None:  # "outputs": ["markdown"]: the layout's regions
                line["regions"] = page["regions"]
            out.append(line)
    return out


def record_range(job: Job, unit: Range, pages: list[DocumentPage] | ApiError, blobs: Blobs, store: JobStore) -> None:
    """Write the range's part, `<job prefix>parts/<range.key>.jsonl` (ResultPage lines), and add
    its progress: pages_done (every page finished, failed ones included), pages_failed, and
    documents_done when it is the document's last range. A repeated call overwrites the same
    part and adds nothing."""
    lines = result_lines(unit, pages)
    uri = part_uri(job, blobs, unit)
    repeated = blobs.exists(uri)
    blobs.write(uri, "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode())
    if not repeated:
        store.add(
            job.job_id,
            pages_done=len(lines),
            pages_failed=sum(1 for line in lines if line["error"]),
            documents_done=1 if unit.last >= unit.pages_total else 0,
        )


def part_done(job: Job, unit: Range, blobs: Blobs) -> bool:
    """Whether the range's part is written (a resumed job reads only the others)."""
    return blobs.exists(part_uri(job, blobs, unit))
