"""A job's outputs: for each document, once all its pages are recorded, the formats the job asked
for (JobRequest.outputs), made from its result pages (the parts) and its own bytes; at the end,
the list of them all.

Files, under the job's prefix (jobs.steps.job_prefix):

    outputs/<name>.pdf, outputs/<name>.md   the outputs, named by the input's key relative to
                                            the job's input (output_file); the tree of an
                                            S3 prefix or folder is kept
    written/<index>.jsonl                   a document's outputs as OutputFile lines, written
                                            once all of its files are: the document is done
    outputs.jsonl                           every document's, in document order (write_index,
                                            at the job's finish); GET /jobs/{jobId} lists the
                                            first OUTPUTS_LISTED and links this one

Each output is made in a temporary folder and stored whole (Blobs.upload: a temporary file
renamed, or one S3 object, multipart uploads aborted on failure), so a document that fails, or
a step that dies, leaves no half-written file. A repeated step (a resumed job, a retried
Lambda) writes nothing twice: a document with its `written/` list is done, and an output file
already stored is kept as it is.
"""

from __future__ import annotations

import json
import logging
import posixpath
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from documents.render import document_kind
from ocr_contract import ApiError, ErrorCode
from ocr_contract.jobs import MAX_DOCUMENT_BYTES, OUTPUTS_LISTED, OutputFile, ResultPage

from ..model import Document, Job, Range, range_from_dict
from ..ports import Blobs
from ..steps import job_prefix, part_uri, read_manifest

log = logging.getLogger("jobs.outputs")

# format: (file suffix, content type)
FORMATS = {"pdf": (".pdf", "application/pdf"), "markdown": (".md", "text/markdown; charset=utf-8")}
OUTPUTS_FOLDER = "outputs/"
INDEX_NAME = "outputs.jsonl"
NOT_WRITTEN = "the document's outputs were not written (its step failed past its retries)"
# The head of the list GET /jobs/{jobId} reads: OUTPUTS_LISTED lines fit in it.
INDEX_HEAD_BYTES = 512 * 1024


def _prefix(job: Job, blobs: Blobs) -> str:
    return job_prefix(job, blobs)


def index_uri(job: Job, blobs: Blobs) -> str:
    return _prefix(job, blobs) + INDEX_NAME


def written_uri(job: Job, blobs: Blobs, document: Document) -> str:
    return f"{_prefix(job, blobs)}written/{document.index:07d}.jsonl"


def relative_name(job: Job, document: Document) -> str:
    """The document's name relative to the job's input: its key under an S3 prefix or its
    path under a folder; a single object's or URL's last segment. Never empty, never with
    `..`, `.` or empty segments."""
    source = job.request.input
    scheme = source.split(":", 1)[0].lower()
    name = document.name
    if scheme in ("http", "https"):
        name = posixpath.basename(unquote(urlsplit(source).path))
    elif source.endswith("/"):
        if scheme == "s3":
            root = source[len("s3://") :].partition("/")[2]
        elif scheme == "file":
            root = unquote(urlsplit(source).path)
        else:
            root = ""
        name = name[len(root) :] if root and name.startswith(root) else posixpath.basename(name)
    else:
        name = posixpath.basename(name)
    segments = [s for s in name.replace("\\", "/").split("/") if s not in ("", ".", "..")]
    cleaned = "/".join("".join(c for c in s if c.isprintable()) for s in segments).strip("/")
    return cleaned or "document"


def output_file(relative: str, fmt: str) -> str:
    """The output's path under outputs/: the searchable PDF of `scans/a.pdf` is `scans/a.pdf`
    (of `a.tif`, `a.tif.pdf`); its Markdown `scans/a.pdf.md`."""
    suffix = FORMATS[fmt][0]
    if fmt == "pdf" and relative.lower().endswith(".pdf"):
        return relative
    return relative + suffix


def content_type(uri: str) -> str:
    for suffix, kind in FORMATS.values():
        if uri.endswith(suffix):
            return kind
    return "application/x-ndjson; charset=utf-8" if uri.endswith(".jsonl") else "application/octet-stream"


def job_output_uri(job: Job, blobs: Blobs, file: str) -> str | None:
    """The URI of `outputs.jsonl` or of a file under `outputs/` of the job (what GET
    /jobs/{jobId}/result?output= names), or None for anything else."""
    if file == INDEX_NAME:
        return index_uri(job, blobs)
    if not file.startswith(OUTPUTS_FOLDER):
        return None
    segments = file[len(OUTPUTS_FOLDER) :].split("/")
    if not segments or any(s in ("", ".", "..") for s in segments):
        return None
    return _prefix(job, blobs) + file


def document_units(job: Job, document: Document, blobs: Blobs) -> list[Range]:
    """The document's ranges as counted (jobs.steps.document_ranges); [] when never counted."""
    uri = f"{_prefix(job, blobs)}ranges/{document.index:07d}.json"
    if not blobs.exists(uri):
        return []
    return [range_from_dict(item) for item in json.loads(blobs.read(uri, 64 * 1024 * 1024))]


def document_pages(job: Job, units: list[Range], blobs: Blobs) -> Iterator[ResultPage]:
    """The document's result pages in order, a part (a range: 20 pages) at a time."""
    for unit in units:
        uri = part_uri(job, blobs, unit)
        if not blobs.exists(uri):
            continue
        for raw in blobs.read(uri, MAX_DOCUMENT_BYTES).decode("utf-8").splitlines():
            if raw.strip():
                yield json.loads(raw)


def _error(document: Document, fmt: str, code: str, message: str) -> OutputFile:
    return {"document": document.name, "format": fmt, "error": {"code": code, "message": message[:1000]}}


def _whole_failure(job: Job, units: list[Range], blobs: Blobs) -> dict | None:
    """Why the document has no outputs: never counted, failed as a whole, or no page read."""
    if not units:
        return {"code": ErrorCode.INTERNAL_ERROR.value, "message": "the document's pages were never counted"}
    for unit in units:
        if unit.error:
            return {"code": str(unit.error.get("code", "")), "message": str(unit.error.get("message", ""))}
    first = None
    for page in document_pages(job, units, blobs):
        if not page.get("error"):
            return None
        first = first or page["error"]
    return dict(first) if first else {"code": ErrorCode.INTERNAL_ERROR.value, "message": "no page was read"}


def write_outputs(job: Job, document: Document, blobs: Blobs) -> list[OutputFile]:
    """Write the document's outputs (each format the job asked for) and their `written/` list;
    return the list. A document already done returns its list as written; a document that
    failed as a whole (or whose every page failed) gets no file, and the list says why."""
    if not job.request.outputs:
        return []
    done = written_uri(job, blobs, document)
    if blobs.exists(done):
        return [json.loads(raw) for raw in blobs.read(done, 64 * 1024 * 1024).decode().splitlines() if raw.strip()]
    units = document_units(job, document, blobs)
    failure = _whole_failure(job, units, blobs)
    entries: list[OutputFile] = []
    if failure is not None:
        entries = [_error(document, fmt, failure["code"], failure["message"]) for fmt in job.request.outputs]
    else:
        relative = relative_name(job, document)
        with tempfile.TemporaryDirectory(prefix="job-outputs-") as folder:
            for fmt in job.request.outputs:
                entries.append(_write_one(job, document, units, blobs, fmt, relative, Path(folder)))
    blobs.write(done, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries).encode())
    return entries


def _write_one(
    job: Job, document: Document, units: list[Range], blobs: Blobs, fmt: str, relative: str, folder: Path
) -> OutputFile:
    file = output_file(relative, fmt)
    target = _prefix(job, blobs) + OUTPUTS_FOLDER + file
    if blobs.exists(target):  # stored by an earlier try that died before its list: kept
        return {"document": document.name, "format": fmt, "file": file, "bytes": blobs.size(target)}
    made = folder / f"{fmt}{FORMATS[fmt][0]}"
    try:
        try:
            if fmt == "pdf":
                _write_pdf(job, document, units, blobs, folder, made)
            else:
                from .markdown import write_markdown

                write_markdown(lambda: document_pages(job, units, blobs), made)
        except ApiError as error:
            return _error(document, fmt, error.code.value, error.message)
        except Exception as exc:  # noqa: BLE001 - a document the PDF library cannot write fails alone
            log.warning("job %s: %s of %s failed: %s: %s", job.job_id, fmt, document.name, type(exc).__name__, exc)
            message = f"the {fmt} output could not be written: {type(exc).__name__}: {exc}"
            return _error(document, fmt, ErrorCode.INVALID_IMAGE.value, message)
        # Stored whole or not at all; a failure here (the store) is the step's, to be retried.
        size = blobs.upload(target, str(made), FORMATS[fmt][1])
    finally:
        made.unlink(missing_ok=True)
    return {"document": document.name, "format": fmt, "file": file, "bytes": size}


def _write_pdf(job: Job, document: Document, units: list[Range], blobs: Blobs, folder: Path, made: Path) -> None:
    from .pdf import write_searchable

    source = folder / "input"
    try:
        with source.open("wb") as file:
            blobs.download(document.uri, file, MAX_DOCUMENT_BYTES)
        with source.open("rb") as file:
            kind = document_kind(file.read(8))
        write_searchable(source, kind, document_pages(job, units, blobs), made)
    finally:
        source.unlink(missing_ok=True)


def outputs_done(job: Job, document: Document, blobs: Blobs) -> bool:
    return not job.request.outputs or blobs.exists(written_uri(job, blobs, document))


def write_index(job: Job, blobs: Blobs) -> str | None:
    """At the job's finish: outputs.jsonl, every document's list in document order (a document
    whose outputs were never written is listed with that error). None when no output was asked."""
    if not job.request.outputs:
        return None
    lists = []
    for document in read_manifest(job, blobs):
        done = written_uri(job, blobs, document)
        if not blobs.exists(done):
            failure = _whole_failure(job, document_units(job, document, blobs), blobs) or {
                "code": ErrorCode.INTERNAL_ERROR.value,
                "message": NOT_WRITTEN,
            }
            entries = [_error(document, fmt, failure["code"], failure["message"]) for fmt in job.request.outputs]
            blobs.write(done, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries).encode())
        lists.append(done)
    target = index_uri(job, blobs)
    if lists:
        blobs.concat(lists, target)
    else:
        blobs.write(target, b"")
    return target


def output_url(job_id: str, base_url: str, file: str) -> str:
    from urllib.parse import quote

    from ocr_contract.jobs import JOB_RESULT

    return f"{base_url.rstrip('/')}{JOB_RESULT.format(jobId=job_id)}?output={quote(file)}"


def listing(job: Job, blobs: Blobs, base_url: str) -> dict:
    """What GET /jobs/{jobId} says of a finished job's outputs: the first OUTPUTS_LISTED files
    (each with the API's URL that redirects to it), how many in all, and the URL of the list."""
    if not job.request.outputs or not job.finished:
        return {}
    uri = index_uri(job, blobs)
    try:
        head = blobs.head(uri, INDEX_HEAD_BYTES).decode("utf-8", "ignore")
    except ApiError:
        return {}
    files: list[OutputFile] = []
    for raw in head.splitlines()[:OUTPUTS_LISTED]:
        try:
            entry = json.loads(raw)
        except ValueError:
            break  # the head's last line, cut
        if entry.get("file"):
            entry["url"] = output_url(job.job_id, base_url, OUTPUTS_FOLDER + entry["file"])
        files.append(entry)
    return {
        "outputs": files,
        "outputsTotal": job.documents_total * len(job.request.outputs),
        "outputsUrl": output_url(job.job_id, base_url, INDEX_NAME),
    }
