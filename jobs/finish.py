"""A job's end, from its parts (jobs/steps.py wrote them): the result and final status
(finish), a job whose input could not be planned (fail), a document whose reading failed past
its retries (fail_document), and a job whose execution ended without finishing it (fail_job).
Each may be repeated: a finished job stays as it is, a part already written is kept."""

from __future__ import annotations

import json

from ocr_contract import ApiError, ErrorCode
from ocr_contract.jobs import MAX_DOCUMENT_BYTES, RANGE_PAGES

from .model import Document, Job, range_from_dict, range_to_dict
from .ports import Blobs, JobStore
from .steps import (
    _failed_range,
    _is_http,
    document_name,
    job_prefix,
    manifest_written,
    part_done,
    read_manifest,
    record_range,
    result_uri,
)


def finish(job_id: str, blobs: Blobs, store: JobStore) -> Job:
    """Concatenate the parts in key order into `<job prefix>result.jsonl`, set the final counters
    from the parts, and the status: SUCCEEDED (no page failed), PARTIAL (some did), FAILED
    (every page failed, or there was nothing to read; `error` says why). A finished job is
    returned as it is. KeyError when the job is unknown."""
    job = store.get(job_id)
    if job is None:
        raise KeyError(job_id)
    if job.finished:
        return job
    if manifest_written(job, blobs):
        _record_unread(job, blobs, store)
    parts = [uri for uri, _ in blobs.listing(job_prefix(job, blobs) + "parts/") if uri.endswith(".jsonl")]
    documents: set[str] = set()
    pages = failed = 0
    first_error: tuple[str, dict] | None = None
    for uri in parts:
        documents.add(uri.rsplit("/", 1)[-1].split("-", 1)[0])
        for raw in blobs.read(uri, MAX_DOCUMENT_BYTES).decode().splitlines():
            if not raw.strip():
                continue
            line = json.loads(raw)
            pages += 1
            if line.get("error"):
                failed += 1
                first_error = first_error or (line.get("document", ""), line["error"])
    target = result_uri(job, blobs)
    if parts:
        blobs.concat(parts, target)
    else:
        blobs.write(target, b"")
    error = None
    if pages == 0:
        status = "FAILED"
        error = {
            "code": ErrorCode.URL_FETCH_FAILED.value,
            "message": f"no document was found at {job.request.input[:300]}",
        }
    elif failed == pages:
        status = "FAILED"
        assert first_error is not None
        name, page_error = first_error
        error = {
            "code": str(page_error.get("code", ErrorCode.INTERNAL_ERROR.value)),
            "message": f"no page could be read; {name[:300]}: {page_error.get('message', '')}",
        }
    else:
        status = "PARTIAL" if failed else "SUCCEEDED"
    store.add(
        job_id,
        documents_total=len(documents) - job.documents_total,
        documents_done=len(documents) - job.documents_done,
        pages_total=pages - job.pages_total,
        pages_done=pages - job.pages_done,
        pages_failed=failed - job.pages_failed,
    )
    store.set_status(job_id, status, result_key=target, error=error)  # type: ignore[arg-type]
    finished = store.get(job_id)
    assert finished is not None
    return finished


def fail(job_id: str, error: ApiError, blobs: Blobs, store: JobStore) -> Job:
    """A job whose input could not be planned (the URL answered 404, the object is missing):
    its result is one line, the input's page 1 with the error, and it is FAILED."""
    job = store.get(job_id)
    if job is None:
        raise KeyError(job_id)
    if job.finished:
        return job
    source = job.request.input
    document = Document(0, source, document_name(source) if not _is_http(source) else source)
    unit = _failed_range(document, error)
    record_range(job, unit, error, blobs, store)
    return finish(job_id, blobs, store)


NOT_READ = "the document's reading stopped before this page was read"


def fail_document(job: Job, document: Document, error: ApiError, blobs: Blobs, store: JobStore) -> None:
    """A document whose reading failed past its retries (counting its pages, or a range the
    state machine could not record): every range of it without a part is recorded failed with
    `error`; one never counted is one failed page 1. Repeating it changes nothing."""
    uri = f"{job_prefix(job, blobs)}ranges/{document.index:07d}.json"
    if blobs.exists(uri):
        units = [range_from_dict(item) for item in json.loads(blobs.read(uri, 64 * 1024 * 1024))]
    else:
        units = [_failed_range(document, error)]
        blobs.write(uri, json.dumps([range_to_dict(unit) for unit in units], ensure_ascii=False).encode())
        store.add(job.job_id, pages_total=1)
    for unit in units:
        if not part_done(job, unit, blobs):
            record_range(job, unit, error, blobs, store)


def _record_unread(job: Job, blobs: Blobs, store: JobStore) -> None:
    """Before the result is made: every document of the manifest whose ranges do not all have a
    part (its reading stopped without a word: a child execution that failed, a lost range) is
    recorded failed where it is missing, so the result names every document and the totals
    never shrink. Ranges files are read only where the parts alone cannot tell (the document's
    last part is a full range, or a part is missing)."""
    prefix = job_prefix(job, blobs)
    keys: dict[int, list[int]] = {}
    for uri, _ in blobs.listing(prefix + "parts/"):
        name = uri.rsplit("/", 1)[-1].removesuffix(".jsonl")
        index, _, first = name.partition("-")
        if index.isdigit() and first.isdigit():
            keys.setdefault(int(index), []).append(int(first))
    counted = {
        int(uri.rsplit("/", 1)[-1].removesuffix(".json"))
        for uri, _ in blobs.listing(prefix + "ranges/")
        if uri.endswith(".json") and uri.rsplit("/", 1)[-1].removesuffix(".json").isdigit()
    }
    error = ApiError(ErrorCode.INTERNAL_ERROR, NOT_READ)
    for document in read_manifest(job, blobs):
        firsts = sorted(keys.get(document.index, []))
        contiguous = firsts == list(range(1, RANGE_PAGES * len(firsts) + 1, RANGE_PAGES))
        if document.index in counted and firsts and contiguous:
            last = f"{prefix}parts/{document.index:07d}-{firsts[-1]:05d}.jsonl"
            if len(blobs.read(last, MAX_DOCUMENT_BYTES).splitlines()) < RANGE_PAGES:
                continue  # the last range is short: it holds the document's last page
        fail_document(job, document, error, blobs, store)


def fail_job(job_id: str, error: ApiError, blobs: Blobs, store: JobStore) -> Job | None:
    """A job whose execution ended without finishing it (a step failed past its retries, the
    execution timed out or was stopped): FAILED with `error`, its result what was read (best
    effort: the failure may be the result's own). None when there is no such job; a finished
    job stays as it is."""
    job = store.get(job_id)
    if job is None or job.finished:
        return job
    target = None
    try:
        parts = [uri for uri, _ in blobs.listing(job_prefix(job, blobs) + "parts/") if uri.endswith(".jsonl")]
        target = result_uri(job, blobs)
        if parts:
            blobs.concat(parts, target)
        else:
            blobs.write(target, b"")
    except Exception:  # the job fails all the same, without a result
        target = None
    store.set_status(job_id, "FAILED", result_key=target, error={"code": error.code.value, "message": error.message})
    return store.get(job_id)
