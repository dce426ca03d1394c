"""Documents (PDF, TIFF) and long images into page images the endpoint can read, bounded.

Every page is made in a child process (worker.py) with an address-space cap, a CPU cap
and a wall-clock deadline: a small hostile file costs that process its life, never the
Lambda's memory or the request's time budget. A document comes as its bytes (piped to the
worker, which holds them) or as an open file (a job's document, up to 500 MB): the worker then
reads the file where the decoder asks (PDFium loads objects lazily; a TIFF's frames are found
from their directories), so the cap need not exceed the file's size. Pages stream out as they
are made, so the caller reads the first while the next renders; each page comes with its own
error when it alone could not be made (broken page, too costly, out of time), and the others
go on.

PDF pages are read in the form they hold (documents/pdf_pages.py: a scan at its own pixels, a
text layer as lines, other pages rendered with PDFium at a resolution chosen from their
content), a TIFF's frames decoded with Pillow; every page is brought within MAX_SIDE_PX and
under the endpoint's invoke limit. At most max_pages pages are read, the first ones (CLOVA reads
10). `text_layer` ("auto", "ignore") and `page_image` (a page's whole picture even where its
text layer answers it: tables) are passed on to the worker.
"""

from __future__ import annotations

import json
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ocr_contract import MAX_SIDE_PX, ApiError, ErrorCode
from ocr_contract.limits import (
    DOCUMENT_MAX_PAGES,
    MAX_DOCUMENT_PIXELS,
    MAX_PAGE_PIXELS,
    RENDER_DPI,
    RENDER_MEMORY_MB_DEFAULT,
)

from .text_layer import PagePlan
from .worker import REPORTED_AND_STOPPED

MAX_PAGES = DOCUMENT_MAX_PAGES
# The renderer's address-space cap (MB): the stack sets it from the Lambda's memory, leaving the
# handler's share (infra/ocr_api.py).
RENDER_MEMORY_ENV = "OCR_RENDER_MEMORY_MB"
# Renderers one process runs at once, each within its own memory cap. A Lambda serves one
# request at a time, so 1 costs it nothing; the local gateway, which stands for many Lambdas,
# gives each request in flight its own (local/gateway.py), and the container one per worker.
RENDER_SLOTS_ENV = "OCR_RENDER_SLOTS"
# A renderer that crashed (a page past the memory cap) is started again for the pages after
# that one at most this many times per document.
MAX_RESTARTS = 2
PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)

_slots = threading.BoundedSemaphore(max(1, int(os.environ.get(RENDER_SLOTS_ENV) or 1)))


def set_render_slots(count: int) -> None:
    """Renderers this process may run at once. The container runs one per request it reads at
    once (a document range holds its renderer while its pages are read): with one slot, the
    ranges of a job would be read one after another."""
    global _slots
    _slots = threading.BoundedSemaphore(max(1, count))


@dataclass(frozen=True)
class Page:
    index: int  # 0-based page (or slice) number in the document
    # PNG or JPEG (with `raw`: RGB pixels, row by row); None when not made, or for a PDF page
    # its text layer answers alone (plan "text")
    image: bytes | None
    width: int = 0  # the image's size as sent
    height: int = 0
    error: ApiError | None = None
    # A PDF page's plan (documents/text_layer.py): its pixel space, its text layer's lines, what
    # the image is; text_layer.answer makes the page's lines from it and the image's OCR.
    plan: PagePlan | None = None


class _OutOfTime(Exception):
    pass


def _memory_mb() -> int:
    return int(os.environ.get(RENDER_MEMORY_ENV) or RENDER_MEMORY_MB_DEFAULT)


class _Worker:
    """One worker process: the job is written to its stdin (then the document's bytes, or the
    document's file is passed as an open descriptor), frames read from its stdout, and it is
    killed at `deadline` (time.monotonic()) at the latest."""

    def __init__(self, job: dict, document: bytes | BinaryIO, deadline: float):
        self.deadline = deadline
        data = b""
        descriptors: tuple[int, ...] = ()
        if isinstance(document, bytes):
            data = document
        else:  # the worker reads the file itself, through the same open file description
            job = {**job, "fd": document.fileno()}
            descriptors = (document.fileno(),)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONPATH": os.pathsep.join(p for p in (PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if p),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "documents.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=PACKAGE_ROOT,
            pass_fds=descriptors,
        )
        self._buffer = bytearray()
        # Written from a thread, so that a worker that dies early cannot block us past the deadline.
        threading.Thread(target=self._feed, args=(json.dumps(job).encode() + b"\n", data), daemon=True).start()

    def _feed(self, job: bytes, data: bytes) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        try:
            stdin.write(job)
            stdin.write(data)
            stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            pass

    def _read(self, size: int) -> bytes | None:
        """Exactly `size` bytes, None at the end of the output; _OutOfTime at the deadline."""
        stdout = self.process.stdout
        assert stdout is not None
        fd = stdout.fileno()
        while len(self._buffer) < size:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise _OutOfTime
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                raise _OutOfTime
            chunk = os.read(fd, max(65536, size - len(self._buffer)))
            if not chunk:
                return None
            self._buffer += chunk
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out

    def frames(self) -> Iterator[tuple[dict, bytes]]:
        while True:
            length = self._read(4)
            if length is None:
                return
            header_bytes = self._read(struct.unpack(">I", length)[0])
            if header_bytes is None:
                return
            header = json.loads(header_bytes)
            payload = self._read(header["size"]) if header.get("size") else b""
            if payload is None:
                return
            yield header, payload

    def exit_code(self) -> int | None:
        try:
            return self.process.wait(timeout=max(0.0, min(2.0, self.deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def _job(
    kind: str, deadline: float, memory_mb: int, first_page: int, max_pages: int, pixels_used: int, **options
) -> dict:
    """What the worker is asked (documents/worker.py reads it): the pages first_page to
    max_pages (exclusive) of a `kind` file, within the limits, its CPU time up to the deadline."""
    return {
        "kind": kind,
        "first_page": first_page,
        "max_pages": max_pages,
        "dpi": RENDER_DPI,
        "max_side": MAX_SIDE_PX,
        "max_page_pixels": MAX_PAGE_PIXELS,
        # The caller says how large a page may be encoded (an invoke limit); none: any size.
        "max_output_bytes": 1 << 40,
        "max_document_pixels": MAX_DOCUMENT_PIXELS,
        "pixels_used": pixels_used,
        "memory_mb": memory_mb,
        "cpu_s": max(1, int(deadline - time.monotonic()) + 1),
        **options,
    }


def _failed(index: int, code: str, message: str) -> Page:
    return Page(index, None, error=ApiError(code, message))


def render(
    data: bytes | BinaryIO,
    kind: str,
    deadline: float,
    *,
    first_page: int = 0,
    max_pages: int = MAX_PAGES,
    **job_options,
) -> Iterator[Page]:
    """The pages `first_page` (0-based) to `max_pages` (exclusive) of a document (`kind` pdf or
    tiff) or the slices of a long image (`slices`, with `spans`, `tall` and `format`), in
    order, each a Page with its image or its error. `data`: the bytes, or an open file (read
    by the worker, never here; it must stay open and unread by the caller until the pages
    are all taken).
    Raises ApiError when the file as a whole cannot be read (corrupt, encrypted, no pages, out
    of time before its first page)."""
    memory_mb = _memory_mb()
    slots = _slots  # the one acquired is the one released, whatever set_render_slots does meanwhile
    if not slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
        raise ApiError(
            ErrorCode.TIMEOUT, "the document could not be rendered in time: other documents were being rendered; retry"
        )
    try:
        yield from _render(data, kind, deadline, first_page, max_pages, memory_mb, job_options)
    finally:
        slots.release()


def _render(
    data: bytes | BinaryIO, kind: str, deadline: float, first: int, max_pages: int, memory_mb: int, options: dict
) -> Iterator[Page]:
    pixels_used, restarts, count = 0, 0, None
    what = "long image" if kind == "slices" else kind.upper()
    while True:
        job = _job(kind, deadline, memory_mb, first, max_pages, pixels_used, **options)
        worker = _Worker(job, data, deadline)
        try:
            try:
                for header, payload in worker.frames():
                    kind_of = header["type"]
                    if kind_of == "document":
                        count = min(header["pages"], max_pages)
                        if count == 0:
                            raise ApiError(ErrorCode.INVALID_IMAGE, f"the {what} has no pages")
                    elif kind_of == "page":
                        pixels_used += header["width"] * header["height"]
                        plan = PagePlan.from_dict(header)
                        yield Page(header["index"], payload or None, header["width"], header["height"], plan=plan)
                        first = header["index"] + 1
                    elif kind_of == "page_error":
                        yield _failed(header["index"], header["code"], header["message"])
                        first = header["index"] + 1
                    elif kind_of == "error":
                        raise ApiError(header["code"], header["message"])
            except _OutOfTime:
                code = None
            else:
                code = worker.exit_code()
        finally:
            worker.stop()
        if count is None:  # nothing came out: the file itself is the problem
            if code is None:
                raise ApiError(ErrorCode.TIMEOUT, f"the {what} could not be opened in time; send a simpler file")
            raise ApiError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"the {what} needs more than {memory_mb} MB of memory to open; send a simpler file",
            )
        if first >= count or code == 0:
            return
        if code is None or code in (-signal.SIGXCPU, -signal.SIGKILL):
            for index in range(first, count):
                yield _failed(
                    index,
                    ErrorCode.TIMEOUT,
                    f"page {index + 1} could not be rendered in time; send fewer or simpler pages",
                )
            return
        # The worker died on page `first` (past its memory cap, or a decoder crashed), having
        # reported it (exit 3) or not: that page is lost, the ones after it are tried again.
        if code != REPORTED_AND_STOPPED:
            yield _failed(
                first,
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"page {first + 1} needs more than {memory_mb} MB of memory to render; send it at a lower resolution",
            )
            first += 1
        restarts += 1
        if restarts > MAX_RESTARTS:
            for index in range(first, count):
                yield _failed(
                    index,
                    ErrorCode.PAYLOAD_TOO_LARGE,
                    f"page {index + 1} was not rendered: earlier pages "
                    "exhausted the renderer; send them in another request",
                )
            return


def document_kind(data: bytes) -> str | None:
    """pdf or tiff, from the bytes (never from a declared format); None for anything else."""
    if data.startswith(b"%PDF"):
        return "pdf"
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    return None


def count_pages(data: bytes | BinaryIO, kind: str, deadline: float) -> int:
    """How many pages a document has, from the worker (PDFium reads the page tree, Pillow the
    TIFF's frame directories; nothing is rendered). `data`: the bytes, or an open file, which
    the worker reads itself (the way to count a document larger than the renderer's cap).
    ApiError when it cannot be opened."""
    memory_mb = _memory_mb()
    job = _job(kind, deadline, memory_mb, first_page=0, max_pages=0, pixels_used=0)
    worker = _Worker(job, data, deadline)
    try:
        for header, _ in worker.frames():
            if header["type"] == "document":
                return int(header["pages"])
            if header["type"] == "error":
                raise ApiError(header["code"], header["message"])
    except _OutOfTime:
        raise ApiError(
            ErrorCode.TIMEOUT, f"the {kind.upper()} could not be opened in time; send a simpler file"
        ) from None
    finally:
        worker.stop()
    raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"the {kind.upper()} needs more than {memory_mb} MB of memory to open")
