"""The Lambda <-> container protocol, written once (docs/architecture.md).

The Lambda calls SageMaker's InvokeEndpoint with the image's bytes as the body
(application/octet-stream) and these options in the `CustomAttributes` header (SageMaker passes
it to the container as X-Amzn-SageMaker-Custom-Attributes: at most 1024 visible ASCII
characters, `key=value` pairs joined by commas). The container answers 200 with a JSON array of
Line (task lines; with `tables=1` a LinesAndTables object instead) or Plate (task plates), or an error body of ocr_contract.errors with its
status; SageMaker hands an error to the Lambda as ModelError carrying that status and body.

Both sides build and parse the header with InvokeOptions, so a key cannot be spelt two ways.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NotRequired, TypedDict

from .errors import ApiError, ErrorCode
from .request import LANGS, TEXT_LAYERS, Lang, TextLayer, plate_country

PROTOCOL_VERSION = 1
# SageMaker's limit on the CustomAttributes header.
CUSTOM_ATTRIBUTES_MAX_CHARS = 1024

# lines: an image's text lines; plates: its licence plates; document: the pages `pages` of a PDF,
# TIFF or image (the jobs API), answered as a list of DocumentPage.
Task = Literal["lines", "plates", "document"]
TASKS: tuple[Task, ...] = ("lines", "plates", "document")
# The container's admission lane: `interactive` for a request's one image, `bulk` for the pages
# and slices a request fans out. Bulk work may hold only part of the queue and runs after
# waiting interactive work, so a single image is never starved behind other callers' documents.
Lane = Literal["interactive", "bulk"]
LANES: tuple[Lane, ...] = ("interactive", "bulk")
# Where a document page's lines came from: its PDF text layer, OCR of its pixels, or both (the
# text layer, and OCR in the images on the page). documents/text_layer.py decides.
PageSource = Literal["text", "ocr", "mixed"]
PAGE_SOURCES: tuple[PageSource, ...] = ("text", "ocr", "mixed")


class Location(TypedDict):
    top: int
    left: int
    width: int
    height: int


class _LineRequired(TypedDict):
    words: str
    location: Location
    score: float


class Line(_LineRequired, total=False):
    """One line of text. With `detail`: its 4 corners (`box`, clockwise from the top-left) and
    each character's 4 corners (`chars`, one quad per character of `words`), in the image's
    pixels."""

    box: list[list[float]]
    chars: list[list[list[float]]]
    # On a PDF page read from its text layer and by OCR ("source": "mixed"): where this line
    # came from, "text" (the page's own text) or "ocr" (an image on the page).
    source: str


class TableCell(TypedDict):
    """One cell of a table: its row and column (0-based, the top-left slot it covers), how many
    rows and columns it spans, its text (its lines joined), their mean score (0 when empty), its
    4 corners in the image's pixels, and its lines: the parts of the page's OCR lines inside it
    (a line across a cell border is split at the border by its characters' boxes), each a Line
    with `box` and `chars`."""

    row: int
    column: int
    rowSpan: int
    columnSpan: int
    text: str
    score: float
    box: list[list[float]]
    lines: list[Line]


class Table(TypedDict):
    """A table found in the image: its 4 corners, its score (the structure model's mean token
    probability; for a table read from its rules, the share of its slot borders the rules settle
    clearly), its size in rows and columns, its cells (row by row) and an HTML rendering of
    them."""

    box: list[list[float]]
    score: float
    rows: int
    columns: int
    cells: list[TableCell]
    html: str


class LinesAndTables(TypedDict):
    """The task=lines answer when `tables` is asked for: the lines as without it, and the tables."""

    lines: list[Line]
    tables: list[Table]


class Region(TypedDict):
    """A region of a page as the layout model (PP-PicoDet trained on CDLA) finds it: its kind
    (REGION_TYPES), its box in the page's pixels and the model's score."""

    type: str
    location: Location
    score: float


# The layout model's kinds of region, as it names them.
REGION_TYPES = (
    "text",
    "title",
    "figure",
    "figure_caption",
    "table",
    "table_caption",
    "header",
    "footer",
    "reference",
    "equation",
)


class PageError(TypedDict):
    code: str
    message: str


class DocumentPage(TypedDict):
    """One page of a task=document answer: its number (1-based), its size in pixels (the
    page's pixel space: a scan's own pixels, or the page rendered at `dpi`), its lines (empty
    when it failed) and its error (None when read); where its lines came from (`source`; None
    when it failed) and, for a PDF page, its pixels per inch (`dpi`, to turn boxes back into the
    PDF's points: x * 72 / dpi); with `tables` asked for, its tables (Table, below) too. An
    older container answers without `source` and `dpi`."""

    page: int
    width: int
    height: int
    lines: list[Line]
    error: PageError | None
    source: NotRequired[PageSource | None]
    dpi: NotRequired[float | None]
    tables: NotRequired[list[Table]]
    # With `layout` asked for: the layout model's regions on the page (Region).
    regions: NotRequired[list[Region]]


class Plate(TypedDict):
    """A licence plate: its text under the plate grammar, that reading's probability, and its
    4 corners in the image's pixels."""

    value: str
    conf: float
    box: list[list[float]]


def _invalid(message: str) -> ApiError:
    return ApiError(ErrorCode.INVALID_REQUEST, message)


@dataclass(frozen=True)
class InvokeOptions:
    request_id: str = ""
    timeout_ms: int | None = None  # how long the caller waits; the container answers 504 first
    detail: bool = False  # lines with `box` and `chars`
    task: Task = "lines"
    country: str | None = None  # task plates: read only this country's plates
    lane: Lane = "interactive"
    pages: tuple[int, int] | None = None  # task document: first and last page, 1-based, inclusive
    # task lines: answer {"lines": [...], "tables": [Table]} instead of the bare list of lines
    tables: bool = False
    lang: Lang | None = None  # task lines: also read this language (LANGS)
    # task document: a PDF page's own text where it can be trusted (auto), or pixels only (ignore)
    text_layer: TextLayer = "auto"
    # task document: each page's layout regions too (Region: titles, figures, headers, ...)
    layout: bool = False
    version: int = PROTOCOL_VERSION

    def header(self) -> str:
        """The CustomAttributes value."""
        pairs = [("v", str(self.version))]
        if self.request_id:
            pairs.append(("requestId", _safe(self.request_id)))
        if self.timeout_ms is not None:
            pairs.append(("timeoutMs", str(int(self.timeout_ms))))
        if self.detail:
            pairs.append(("detail", "chars"))
        if self.task != "lines":
            pairs.append(("task", self.task))
        if self.country:
            pairs.append(("country", self.country))
        if self.lane != "interactive":
            pairs.append(("lane", self.lane))
        if self.pages is not None:
            pairs.append(("pages", f"{self.pages[0]}-{self.pages[1]}"))
        if self.tables:
            pairs.append(("tables", "1"))
        if self.lang is not None:
            pairs.append(("lang", self.lang))
        if self.text_layer != "auto":
            pairs.append(("textLayer", self.text_layer))
        if self.layout:
            pairs.append(("layout", "1"))
        value = ",".join(f"{key}={value}" for key, value in pairs)
        if len(value) > CUSTOM_ATTRIBUTES_MAX_CHARS:
            raise ValueError(
                f"CustomAttributes would be {len(value)} characters; SageMaker takes {CUSTOM_ATTRIBUTES_MAX_CHARS}"
            )
        return value

    @classmethod
    def parse(cls, header: str | None) -> InvokeOptions:
        """The options of a CustomAttributes value. Unknown keys are ignored (a newer Lambda may
        send more); a known key with a wrong value is the caller's error."""
        pairs: dict[str, str] = {}
        for part in (header or "").split(","):
            key, _, value = part.strip().partition("=")
            if key and value:
                pairs[key] = value
        try:
            timeout_ms = int(pairs["timeoutMs"]) if "timeoutMs" in pairs else None
        except ValueError:
            raise _invalid("timeoutMs must be a whole number of milliseconds") from None
        task = pairs.get("task", "lines")
        if task not in TASKS:
            raise _invalid(f"unknown task {task[:40]!r}; ask for one of {', '.join(TASKS)}")
        pages = None
        if "pages" in pairs:
            first, _, last = pairs["pages"].partition("-")
            if not (first.isdigit() and last.isdigit() and 1 <= int(first) <= int(last)):
                raise _invalid("pages must be FIRST-LAST, 1-based, FIRST <= LAST (pages=1-20)")
            pages = (int(first), int(last))
        lane = pairs.get("lane", "interactive")
        if lane not in LANES:
            raise _invalid(f"unknown lane {lane[:40]!r}; use one of {', '.join(LANES)}")
        lang = pairs.get("lang")
        if lang is not None and lang not in LANGS:
            raise _invalid(f"unknown lang {lang[:40]!r}; ask for one of {', '.join(LANGS)}, or leave it out")
        layer = pairs.get("textLayer", "auto")
        if layer not in TEXT_LAYERS:
            raise _invalid(f"unknown textLayer {layer[:40]!r}; use one of {', '.join(TEXT_LAYERS)}")
        return cls(
            request_id=_safe(pairs.get("requestId", "")),
            timeout_ms=timeout_ms,
            detail=pairs.get("detail") == "chars",
            task=task,
            country=plate_country(pairs.get("country")),
            lane=lane,
            pages=pages,
            tables=pairs.get("tables") == "1",
            lang=lang,  # checked against LANGS above
            text_layer=layer,  # checked against TEXT_LAYERS above
            layout=pairs.get("layout") == "1",
            version=int(pairs["v"]) if pairs.get("v", "").isdigit() else PROTOCOL_VERSION,
        )


def _safe(request_id: str) -> str:
    """A request id as it may travel in the header: visible ASCII, no separators, 128 at most."""
    return "".join(c for c in request_id[:128] if c.isascii() and c.isprintable() and c not in ",= ")
