"""The jobs API's contract, written once: asynchronous and bulk OCR of documents and S3 prefixes.

    POST /jobs              {"input", "output"?, "features"?, "outputs"?, "lang"?, "textLayer"?, "name"?}  -> 202 {"jobId", "status", "statusUrl"}
    GET  /jobs/{id}         -> 200 {"jobId", "status", "documentsTotal", "documentsDone", "pagesTotal",
                                    "pagesDone", "pagesFailed", "createdAt", "updatedAt", "resultUrl"?, "error"?,
                                    "outputs"?, "outputsTotal"?, "outputsUrl"?}
    GET  /jobs/{id}/result  -> 303 See Other, Location: the result, at a URL signed at that moment that
                               lives RESULT_URL_EXPIRY_S (in AWS a presigned S3 GET); 409 JobNotFinished
                               while the job runs; 404 as GET /jobs/{id}

`resultUrl` is that route's URL on the API (ask it again for a fresh link, as long as the job
is kept). The result is JSON Lines, one object per page, documents in order, then pages in
order (ResultPage). Used by the API (frontend), the job steps (jobs/) and the local stack.
Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, NotRequired, TypedDict

from .errors import ApiError, ErrorCode
from .protocol import InvokeOptions, Line, PageSource, Region, Table
from .request import Lang, TextLayer, ocr_lang, text_layer
from .routes import JOB as JOB  # the routes, named here too
from .routes import JOB_RESULT as JOB_RESULT
from .routes import JOBS as JOBS

Status = Literal["QUEUED", "RUNNING", "SUCCEEDED", "PARTIAL", "FAILED"]
STATUSES: tuple[Status, ...] = ("QUEUED", "RUNNING", "SUCCEEDED", "PARTIAL", "FAILED")
FINISHED: frozenset[str] = frozenset({"SUCCEEDED", "PARTIAL", "FAILED"})
FEATURES = ("tables",)
# What a job writes besides its JSON Lines, per document (jobs/outputs/): a searchable PDF (the
# input's pages with an invisible text layer) and Markdown (reading order, headings, tables).
# Markdown reads tables and the layout's regions too, as if "features": ["tables"] were asked.
OUTPUTS = ("pdf", "markdown")
# GET /jobs/{jobId} lists this many output files; outputsUrl has them all.
OUTPUTS_LISTED = 100

# Per document, as Amazon Textract's asynchronous API: settings of a deployment may lower them.
MAX_DOCUMENT_PAGES = 3000
MAX_DOCUMENT_BYTES = 500 * 1024 * 1024
# A document is read in ranges of this many pages, each one model invocation, retried alone.
RANGE_PAGES = 20
# Fetching an http(s) input: the same URL guard as POST /general_ocr, a larger budget.
JOB_URL_FETCH_TIMEOUT_S = 120
# Results (and the job's record) are kept this long; a setting of the deployment.
RESULT_DAYS_DEFAULT = 7
# How long the URL GET /jobs/{jobId}/result redirects to lives: signed at each request, so a
# client fetches a job's result for as long as the job is kept, whatever credentials signed it.
RESULT_URL_EXPIRY_S = 15 * 60
# An unguessable id: 128 random bits, hex.
JOB_ID = re.compile(r"[0-9a-f]{32}")
MAX_NAME_LENGTH = 256
MAX_URI_LENGTH = 2048


class ResultError(TypedDict):
    code: str
    message: str


class ResultPage(TypedDict):
    document: str  # the S3 key or URL the page came from
    page: int  # 1-based
    width: int  # the page's pixel space (a scan's own pixels, or the page rendered at `dpi`)
    height: int
    # Where the lines came from: the PDF's text layer, OCR of the pixels, or both; None for a
    # page that failed.
    source: PageSource | None
    # A PDF page's pixels per inch (boxes back to PDF points: x * 72 / dpi); None for images,
    # TIFF pages and failed pages.
    dpi: float | None
    lines: list[Line]
    error: ResultError | None
    # With "features": ["tables"]: the page's tables (cells with row, column, spans, text, box,
    # and an `html` rendering), as ocr_contract.protocol.Table.
    tables: NotRequired[list[Table]]
    # With "outputs": ["markdown"]: the layout model's regions on the page (title, figure,
    # figure_caption, table, header, footer, ...), as ocr_contract.protocol.Region.
    regions: NotRequired[list[Region]]


class OutputFile(TypedDict):
    """One output file of a job, as GET /jobs/{jobId} lists it (and outputsUrl, one per line):
    the document it was made from, its format, its path under the job's outputs/ folder, its
    size and a URL of the API that redirects to it (as resultUrl); or, when it could not be
    written, the error instead of file, bytes and url."""

    document: str
    format: str
    file: NotRequired[str]
    bytes: NotRequired[int]
    url: NotRequired[str]
    error: NotRequired[ResultError]


@dataclass(frozen=True)
class JobRequest:
    input: str
    output: str | None = None
    features: tuple[str, ...] = ()
    name: str | None = None
    lang: Lang | None = None  # "ko": Korean lines are read too, as "lang" of POST /general_ocr
    # "auto": a PDF page's own text where it can be trusted; "ignore": every page from its pixels
    text_layer: TextLayer = "auto"
    # What to write besides the JSON Lines, per document (OUTPUTS).
    outputs: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """As the job stores keep it (and as POST /jobs took it)."""
        stored: dict[str, object] = {"input": self.input, "features": list(self.features)}
        for key in ("output", "name", "lang"):
            if getattr(self, key) is not None:
                stored[key] = getattr(self, key)
        if self.text_layer != "auto":
            stored["textLayer"] = self.text_layer
        if self.outputs:
            stored["outputs"] = list(self.outputs)
        return stored

    @classmethod
    def from_dict(cls, stored: dict) -> JobRequest:
        """What to_dict wrote (a job stored before a field existed reads as without it)."""
        return cls(
            input=stored.get("input", ""),
            output=stored.get("output"),
            features=tuple(stored.get("features") or ()),
            name=stored.get("name"),
            lang=ocr_lang(stored.get("lang")),
            text_layer=text_layer(stored.get("textLayer")),
            outputs=tuple(stored.get("outputs") or ()),
        )

    def range_options(self, job_id: str, pages: tuple[int, int]) -> InvokeOptions:
        """The container's options for one range of pages of this job (in the bulk lane)."""
        return InvokeOptions(
            request_id=job_id,
            task="document",
            pages=pages,
            lane="bulk",
            tables="tables" in self.features or "markdown" in self.outputs,
            layout="markdown" in self.outputs,
            lang=self.lang,
            text_layer=self.text_layer,
        )


def _invalid(message: str) -> ApiError:
    return ApiError(ErrorCode.INVALID_REQUEST, message)


def parse_job_request(payload: object) -> JobRequest:
    """The body of POST /jobs (already JSON-decoded), validated; ApiError 400 otherwise."""
    if not isinstance(payload, dict):
        raise _invalid(
            'the request body must be a JSON object: {"input": "s3://bucket/key" | "s3://bucket/prefix/" | "https://..."}'
        )
    unknown = sorted(set(payload) - {"input", "output", "features", "outputs", "lang", "textLayer", "name"})
    if unknown:
        raise _invalid(
            f"unknown field(s) {', '.join(map(repr, unknown))}; "
            "a job takes input, output, features, outputs, lang, textLayer and name"
        )
    source = payload.get("input")
    if not isinstance(source, str) or not source.strip():
        raise _invalid("'input' must be a string: s3://bucket/key, s3://bucket/prefix/ or an http(s) URL")
    source = source.strip()
    if len(source) > MAX_URI_LENGTH:
        raise ApiError(ErrorCode.INVALID_URL, f"'input' is {len(source)} characters; at most {MAX_URI_LENGTH}")
    scheme = source.split(":", 1)[0].lower() if ":" in source else ""
    if scheme not in ("s3", "http", "https", "file"):
        raise ApiError(
            ErrorCode.INVALID_URL, f"'input' scheme {scheme or '(none)'!r} is not supported; use s3, http or https"
        )
    output = payload.get("output")
    if output is not None:
        if not isinstance(output, str) or not output.startswith("s3://") or not output.endswith("/"):
            raise _invalid(
                "'output' must be an S3 prefix: s3://bucket/prefix/ (or leave it out for the stack's bucket)"
            )
        if len(output) > MAX_URI_LENGTH:
            raise ApiError(ErrorCode.INVALID_URL, f"'output' is {len(output)} characters; at most {MAX_URI_LENGTH}")
    features = _names(payload, "features", FEATURES, "feature")
    name = payload.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > MAX_NAME_LENGTH):
        raise _invalid(f"'name' must be a string of at most {MAX_NAME_LENGTH} characters")
    lang = ocr_lang(payload.get("lang"))
    layer = text_layer(payload.get("textLayer"))
    outputs = _names(payload, "outputs", OUTPUTS, "output")
    return JobRequest(source, output, features, name, lang, layer, outputs)


def _names(payload: dict, field: str, known: tuple[str, ...], what: str) -> tuple[str, ...]:
    """An optional array of names from `known` (`features`, `outputs`), each once, in order."""
    names = payload.get(field, [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _invalid(f"'{field}' must be an array of strings: {', '.join(known)}")
    wrong = sorted(set(names) - set(known))
    if wrong:
        raise _invalid(f"unknown {what}(s) {', '.join(map(repr, wrong))}; known: {', '.join(known)}")
    return tuple(dict.fromkeys(names))


def job_not_found(job_id: str) -> ApiError:
    """The answer for an id that is unknown, expired, or another caller's: the same, so that
    ids cannot be probed."""
    return ApiError(ErrorCode.NOT_FOUND, f"no job {job_id[:40]!r}; jobs are kept {RESULT_DAYS_DEFAULT} days by default")


def job_not_finished(job_id: str, status: str) -> ApiError:
    """GET /jobs/{jobId}/result before the job has finished: 409 Conflict (RFC 9110, 15.5.10: the
    request conflicts with the current state of the target resource; the client may repeat it
    once the job has finished)."""
    return ApiError(
        ErrorCode.JOB_NOT_FINISHED,
        f"job {job_id[:40]!r} is {status}: its result is there once it has finished; GET /jobs/{job_id[:40]} says when",
    )
