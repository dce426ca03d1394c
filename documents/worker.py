"""The child process that turns documents and long images into page images, under hard limits.

    python -m documents.worker     (started by documents/render.py, never by hand)

A few KB of PDF can ask PDFium for gigabytes (nested form XObjects, a content stream listed
many times) and a 2 KB fax TIFF can declare 13000 x 13000 px: decoding them in the Lambda's own
process would kill it. So they are decoded here, in a process whose address space is capped
(RLIMIT_AS) before any decoder is imported, whose CPU time is capped (RLIMIT_CPU), and which the
parent kills at its wall-clock deadline. A page that needs more memory than the cap crashes
this process, not the Lambda; the parent reports that page and goes on with the next ones.

Input (stdin): one line of JSON, the job (documents/render.py builds it), then the file's bytes to EOF;
or, when the job names an open file descriptor ("fd", passed by the parent), nothing more: the
file is read from that descriptor as the decoder asks, never whole (a job's document may be
500 MB, far over the address-space cap).
Output (stdout): frames of a 4-byte big-endian length, a JSON header, and `size` payload bytes:
    {"type": "document", "pages": N}                       pages in the document (before MAX_PAGES)
    {"type": "page", "index": i, "width", "height", "size"} + the page as PNG or JPEG (raw: RGB)
        a PDF page also has its plan (documents/text_layer.py PagePlan.to_dict: "plan",
        "pageWidth", "pageHeight", "dpi", "x", "y", "text") and "scale" (page pixels per sent
        pixel); a page its text layer answers alone has no picture ("width" 0, no "size")
    {"type": "page_error", "index": i, "code", "message"}  this page alone could not be made
    {"type": "error", "code", "message"}                   the whole file could not be read
"""

from __future__ import annotations

import io
import json
import os
import resource
import struct
import sys
from collections.abc import Iterator
from typing import BinaryIO

from documents.pdf_pages import PdfPage

# The document: its bytes, or the file the parent passed (read where the decoder asks).
Source = bytes | BinaryIO

MIB = 1024 * 1024
# Exit status after a page_error frame for the page it could not go past: the parent starts a
# new worker for the pages after it. Any other non-zero exit loses the page being made.
REPORTED_AND_STOPPED = 3


def _limit_resources(memory_mb: int, cpu_s: int) -> None:
    """Caps that hold whatever a decoder does: an allocation past the address-space cap fails
    (Python's MemoryError, or PDFium aborts), and past the CPU cap the kernel sends SIGXCPU."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * MIB, memory_mb * MIB))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _send(out: BinaryIO, header: dict, payload: bytes = b"") -> None:
    if payload:
        header = {**header, "size": len(payload)}
    encoded = json.dumps(header).encode()
    out.write(struct.pack(">I", len(encoded)) + encoded + payload)
    out.flush()


class PageFailed(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _within(picture, max_side: int):
    """The picture scaled down to `max_side` on its long side (as it is when already within)."""
    from PIL import Image

    longest = max(picture.size)
    if longest <= max_side:
        return picture
    scale = max_side / longest
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    return picture.resize(size, Image.Resampling.LANCZOS)


def _encode(picture, limit_bytes: int, max_side: int, lossless: bool = True):
    """(bytes, picture sent): PNG, or JPEG where the PNG is over the endpoint's invoke limit
    (a photo-like page), scaled down only if that is not enough."""
    from documents.encode import encode_within

    return encode_within(_within(picture, max_side), limit_bytes, lossless_first=lossless)


def _stream(source: Source) -> BinaryIO:
    return io.BytesIO(source) if isinstance(source, bytes) else source


def pdf_pages(source: Source, job: dict) -> Iterator:
    """Each page as documents/pdf_pages.py reads it: a scan at its own pixels, a text layer, or
    a render at a resolution chosen from the page's content (a PdfPage)."""
    import pypdfium2 as pdfium

    from documents.pdf_pages import read_page

    try:
        # Bytes are loaded from memory; a file through PDFium's reader callbacks, a block at a
        # time (the cross-reference table, then each object as it is needed).
        document = pdfium.PdfDocument(source)
    except pdfium.PdfiumError as exc:
        reason = "protected by a password" if "password" in str(exc).lower() else "corrupt or not a PDF"
        raise PageFailed(
            "InvalidImage", f"the PDF could not be opened ({reason}); send an unprotected, valid PDF"
        ) from None
    count = len(document)
    yield count
    for index in range(job["first_page"], min(count, job["max_pages"])):
        try:
            yield read_page(document, index, job)
        except pdfium.PdfiumError:
            yield PageFailed(
                "InvalidImage",
                f"page {index + 1} could not be loaded: the PDF's page tree or the page itself is broken",
            )
        except ValueError:
            yield PageFailed("InvalidImage", f"page {index + 1} has no area")


def tiff_pages(source: Source, job: dict) -> Iterator:
    from PIL import Image, ImageSequence, UnidentifiedImageError

    from ocr_contract.pixels import to_rgb

    try:
        document = Image.open(_stream(source), formats=["TIFF"])
        count = getattr(document, "n_frames", 1)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, struct.error, Image.DecompressionBombError):
        raise PageFailed("InvalidImage", "the TIFF could not be decoded; send a valid tif/tiff file") from None
    yield count
    frames = ImageSequence.Iterator(document)
    for index in range(job["first_page"], min(count, job["max_pages"])):
        try:
            frame = frames[index]
        except (OSError, ValueError, SyntaxError, struct.error, EOFError, IndexError):
            yield PageFailed("InvalidImage", f"page {index + 1} of the TIFF could not be read: the file is corrupt")
            continue
        pixels = frame.width * frame.height
        if pixels > job["max_page_pixels"]:
            # From the frame's header: nothing has been decoded yet.
            yield PageFailed(
                "ImageTooLarge",
                f"page {index + 1} is {frame.width}x{frame.height} px; a page may have at most "
                f"{job['max_page_pixels'] / 1e6:g} million pixels (scan it at 600 dpi or less)",
            )
            continue
        try:
            frame.load()
            yield to_rgb(frame)
        except (OSError, ValueError, SyntaxError, struct.error, EOFError):
            yield PageFailed("InvalidImage", f"page {index + 1} of the TIFF could not be decoded: the data is corrupt")


def long_image_slices(source: Source, job: dict) -> Iterator:
    """A long image cut into the job's spans, each as the container reads an image: upright,
    transparency on white (ocr_contract.pixels). Each slice is converted on its own, so that a
    4096 x 16384 px RGBA image costs one decoded copy, not three."""
    from PIL import Image, ImageOps

    from ocr_contract.pixels import to_rgb

    try:
        picture = Image.open(_stream(source), formats=[job["format"]])
        if picture.width * picture.height <= job["max_page_pixels"]:
            picture.load()
            ImageOps.exif_transpose(picture, in_place=True)  # a copy would double the memory
    except MemoryError:
        raise PageFailed(
            "PayloadTooLarge",
            f"the image needs more than {job['memory_mb']} MB of memory to decode; send a smaller one",
        ) from None
    except Exception:
        raise PageFailed(
            "InvalidImage", "the image data is corrupt or truncated; send a decodable jpg, png or bmp"
        ) from None
    if picture.width * picture.height > job["max_page_pixels"]:
        raise PageFailed("ImageTooLarge", f"the image is {picture.width}x{picture.height} px; too large to read")
    spans = job["spans"]
    yield len(spans)
    for index in range(job["first_page"], len(spans)):
        a, b = spans[index]
        box = (0, a, picture.width, b) if job["tall"] else (a, 0, b, picture.height)
        yield to_rgb(picture.crop(box))


def too_costly(index: int, memory_mb: int) -> str:
    return (
        f"page {index + 1} needs more than {memory_mb} MB of memory to render; "
        "send it at a lower resolution, or as an image"
    )


KINDS = {"pdf": pdf_pages, "tiff": tiff_pages, "slices": long_image_slices}


def run(job: dict, source: Source, out: BinaryIO) -> int:
    pages = KINDS[job["kind"]](source, job)
    try:
        count = next(pages)
    except PageFailed as failed:
        _send(out, {"type": "error", "code": failed.code, "message": failed.message})
        return 0
    _send(out, {"type": "document", "pages": count})
    index = job["first_page"]
    budget = job["max_document_pixels"] - job["pixels_used"]
    while True:
        try:
            page = next(pages)
            if isinstance(page, PageFailed):
                _send(out, {"type": "page_error", "index": index, "code": page.code, "message": page.message})
            elif isinstance(page, PdfPage) and page.picture is None:  # its text layer alone: no pixels
                _send(out, {"type": "page", "index": index, "width": 0, "height": 0, **page.plan.to_dict()})
            else:
                plan, embedded = None, None
                if isinstance(page, PdfPage):
                    plan, embedded, page = page.plan, page.embedded, page.picture
                budget -= page.width * page.height
                if budget < 0:
                    _send(
                        out,
                        {
                            "type": "page_error",
                            "index": index,
                            "code": "PayloadTooLarge",
                            "message": f"the document's pages are over {job['max_document_pixels'] / 1e6:g} million "
                            f"pixels in all by page {index + 1}; send the rest in another request",
                        },
                    )
                    return 0
                if job.get("raw"):  # the caller reads the pixels in-process: no encoding to pay for
                    sent = _within(page, job["max_side"]).convert("RGB")
                    encoded = sent.tobytes()
                elif embedded is not None and len(embedded) <= job["max_output_bytes"]:
                    sent, encoded = page, embedded  # a scan's JPEG as it is: decoded as POST /general_ocr does
                else:
                    encoded, sent = _encode(page, job["max_output_bytes"], job["max_side"], job.get("lossless", True))
                header = {"type": "page", "index": index, "width": sent.width, "height": sent.height}
                if plan is not None:
                    # The picture may have been sent smaller than it was made (the invoke limit).
                    header.update(plan.to_dict(), scale=page.width / sent.width)
                del page
                _send(out, header, encoded)
        except StopIteration:
            return 0
        except MemoryError:
            _send(
                out,
                {
                    "type": "page_error",
                    "index": index,
                    "code": "PayloadTooLarge",
                    "message": too_costly(index, job["memory_mb"]),
                },
            )
            return REPORTED_AND_STOPPED
        except PageFailed as failed:  # the whole file, before its first page (corrupt)
            _send(out, {"type": "error", "code": failed.code, "message": failed.message})
            return 0
        except Exception as exc:  # a decoder's failure on this page; the generator cannot go on
            print(f"documents.worker: page {index + 1}: {type(exc).__name__}: {exc}", file=sys.stderr)
            _send(
                out,
                {
                    "type": "page_error",
                    "index": index,
                    "code": "InvalidImage",
                    "message": f"page {index + 1} could not be rendered: its data is corrupt",
                },
            )
            return REPORTED_AND_STOPPED
        index += 1


def main() -> int:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    job = json.loads(stdin.readline())
    _limit_resources(job["memory_mb"], job["cpu_s"])
    source: Source = os.fdopen(job["fd"], "rb") if "fd" in job else stdin.read()
    from PIL import Image

    # Each page's size is checked here against max_page_pixels before it is decoded, so that the
    # answer is ImageTooLarge with the page's number (Pillow's own check would refuse the whole
    # file at open); the address-space cap holds whatever a check misses.
    Image.MAX_IMAGE_PIXELS = None
    try:
        return run(job, source, stdout)
    except MemoryError:  # outside a page (reading the input, opening the file)
        return 4
    except BrokenPipeError:  # the parent gave up (its deadline) and closed the pipe
        return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
