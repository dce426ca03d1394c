"""The container's document task (the jobs API): a range of a PDF's or TIFF's pages, or one image,
read page by page.

Pages are made by the bounded renderer (documents/: a child process with a memory cap and the
request's deadline) one after another, while the engine reads the page before: a thread drains
the renderer into a small queue, so the instance's CPU renders as the model reads. A PDF page
comes as it is (documents/pdf_pages.py): a scan at its own pixels, read exactly as POST
/general_ocr reads that image (the same decode, engine and threshold); a page whose text layer
can be trusted as its text, with OCR only for the images on it; any other page rendered at a
resolution chosen from its content (documents/text_layer.py answers the page from its plan and
what OCR read). A page that cannot be made or read is answered with its error; the others go on.
"""

from __future__ import annotations

import queue
import tempfile
import threading
import time
from collections.abc import Iterator

import numpy as np

from documents.render import Page, document_kind, render
from documents.text_layer import PagePlan, answer
from ocr_contract import ApiError, ErrorCode
from ocr_contract.image_header import inspect_image
from ocr_contract.limits import LONG_IMAGE_MAX_SIDE_PX, MAX_SIDE_PX
from ocr_contract.protocol import DocumentPage, InvokeOptions

from ..images import decode_image
from ..runtime.deadline import DeadlineExceeded

# Pages rendered ahead of the one being read.
PREFETCH = 2


def _prefetched(pages: Iterator[Page]) -> Iterator[Page | ApiError]:
    """The renderer's pages, made on a thread of their own while the caller reads."""
    ahead: queue.Queue = queue.Queue(PREFETCH)
    done = object()

    def drain() -> None:
        try:
            for page in pages:
                ahead.put(page)
        except ApiError as error:  # the file as a whole
            ahead.put(error)
        except Exception as error:  # noqa: BLE001 - handed to the reader, who raises it
            ahead.put(error)
        finally:
            ahead.put(done)

    threading.Thread(target=drain, name="render-ahead", daemon=True).start()
    while True:
        item = ahead.get()
        if item is done:
            return
        if isinstance(item, Exception) and not isinstance(item, ApiError):
            raise item
        yield item


def _page_error(number: int, error: ApiError) -> DocumentPage:
    return {
        "page": number,
        "width": 0,
        "height": 0,
        "source": None,
        "dpi": None,
        "lines": [],
        "error": {"code": error.code.value, "message": error.message},
    }


def read_document(
    engine, data: bytes, deadline: float, options: InvokeOptions
) -> tuple[list[DocumentPage], tuple[int, int]]:
    """The pages `options.pages` (all, for an image) of `data`, each as DocumentPage."""
    engine.require_lang(options.lang)  # once for the range, not as an error on every page
    first, last = options.pages or (1, 1)
    kind = document_kind(data)
    if kind is None:  # an image: one page
        return [_read_image_page(engine, data, deadline, options)], (0, 0)
    with tempfile.TemporaryFile() as file:
        # The renderer's child reads the document from a file, only what it needs: a document
        # of up to the jobs' 500 MB is rendered within its memory cap (piped, it had to fit).
        file.write(data)
        file.seek(0)
        return _read_rendered(engine, file, kind, deadline, options, first, last)


def _read_rendered(engine, file, kind: str, deadline: float, options: InvokeOptions, first: int, last: int):
    answers: list[DocumentPage] = []
    # raw: the pages come as RGB pixels, not PNG: nothing to encode and decode again in-process.
    # With tables asked for, a page its text layer answers still comes with its picture: the
    # tables are found in the pixels and filled from the text layer's lines.
    pages = render(
        file,
        kind,
        deadline,
        first_page=first - 1,
        max_pages=last,
        raw=True,
        text_layer=options.text_layer,
        page_image=options.tables,
    )
    for item in _prefetched(pages):
        if isinstance(item, ApiError):
            raise item
        number = item.index + 1
        if item.error is not None or (item.image is None and item.plan is None):
            answers.append(_page_error(number, item.error or ApiError(ErrorCode.INTERNAL_ERROR, "not rendered")))
            continue
        if time.monotonic() > deadline:
            answers.append(_page_error(number, ApiError(ErrorCode.TIMEOUT, f"page {number} was not read in time")))
            continue
        image = None
        if item.image is not None:
            rgb = np.frombuffer(item.image, np.uint8).reshape(item.height, item.width, 3)
            image = np.ascontiguousarray(rgb[:, :, ::-1])
        answers.append(_read_page(engine, number, image, deadline, options, item.plan))
    return answers, (0, 0)


def _read_page(
    engine, number: int, image: np.ndarray | None, deadline: float, options: InvokeOptions, plan: PagePlan | None = None
) -> DocumentPage:
    """One page (BGR, as decode_image gives) read as POST /general_ocr reads an image, in the
    job's `lang`, and answered from its plan (a PDF page: its text layer, documents/text_layer.py);
    with `tables` (the jobs API's "features": ["tables"]) its tables too."""
    try:
        tables = None
        # Tables and regions (a job's Markdown) both start from the layout model: run it once.
        layout = engine.read_layout(image) if options.tables and options.layout and image is not None else None
        if plan is not None and plan.plan == "text":  # its text layer; pixels only for the tables
            lines, source = answer(plan, None, detail=options.tables)
            if options.tables and image is not None:
                tables = engine.tables.read(image, lines, layout)
        elif image is None:
            raise ApiError(ErrorCode.INTERNAL_ERROR, f"page {number} has no picture to read")
        elif options.tables:
            read, tables = engine.read_tables(image, deadline=deadline, detail=True, lang=options.lang, layout=layout)
            lines, source = answer(plan, read, detail=True)
            if plan is not None and plan.plan != "ocr":  # the text layer's lines fill the cells
                tables = engine.tables.read(image, lines, layout)
        else:
            read = [line.to_api(False) for line in engine.read(image, deadline=deadline, lang=options.lang)]
            lines, source = answer(plan, read, detail=False)
        if tables is not None:
            for line in lines:  # as without tables: words, location, score
                line.pop("box", None)
                line.pop("chars", None)
        page: DocumentPage = {
            "page": number,
            "width": plan.width if plan is not None else image.shape[1],  # type: ignore[union-attr]
            "height": plan.height if plan is not None else image.shape[0],  # type: ignore[union-attr]
            "source": source,
            "dpi": plan.dpi if plan is not None else None,
            "lines": lines,
            "error": None,
        }
        if tables is not None:
            page["tables"] = tables
        if options.layout and image is not None:  # the jobs' Markdown: titles, figures, headers, footers
            page["regions"] = engine.read_regions(image, layout)
        return page
    except ApiError as error:
        return _page_error(number, error)
    except DeadlineExceeded:
        return _page_error(number, ApiError(ErrorCode.TIMEOUT, f"page {number} was not read in time"))


def _read_image_page(engine, data: bytes, deadline: float, options: InvokeOptions) -> DocumentPage:
    """An image job input read as one page. One over MAX_SIDE_PX (up to the long-image limit) is
    brought within it, as the CLOVA door does for document pages."""
    try:
        header = inspect_image(data, max_side=LONG_IMAGE_MAX_SIDE_PX)
        if max(header.width, header.height) > MAX_SIDE_PX:
            data = _within_limit(data, header.format)
        image = decode_image(data)
    except ApiError as error:
        return _page_error(1, error)
    return _read_page(engine, 1, image, deadline, options)


def _within_limit(data: bytes, image_format: str) -> bytes:
    import io

    from PIL import Image, ImageOps

    from ocr_contract.pixels import to_rgb

    opened = Image.open(io.BytesIO(data), formats=[image_format])
    picture = ImageOps.exif_transpose(opened) or opened
    picture.thumbnail((MAX_SIDE_PX, MAX_SIDE_PX), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    to_rgb(picture).save(out, "PNG", compress_level=1)
    return out.getvalue()
