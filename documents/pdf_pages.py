"""A PDF page read in the form it holds (run in the renderer's child, documents/worker.py).

- A page that is one raster image covering the page (a scan) is handed on at the image's own
  pixels: decoded once (PDFium's decoders; a JPEG decodes exactly as Pillow decodes it for
  POST /general_ocr), turned as the page shows it, never resampled. Over MAX_PAGE_PIXELS it is
  rendered instead, within the pixel limits.
- A page with a text layer that can be trusted gives its text (documents/text_layer.py): no
  pixels, unless it has images large enough to hold text: those are rendered (the page without
  its text) and read by OCR beside the text.
- Every other page is rendered at a resolution chosen from its content (choose_dpi): its
  smallest common text at TARGET_EM_PX, its images at their own resolution.

A text layer (documents/pdf_text.py) is not trusted where its characters have no Unicode mapping (a CJK font without a
usable ToUnicode map), where it has replacement or control characters or private-use ones of
several kinds, where its text is skewed or vertical: the page is then read by OCR. Invisible
text over a scan (an earlier OCR) is handed on with the scan, to be compared with what OCR reads
there (text_layer.answer, plan `verify`).
"""

from __future__ import annotations

import ctypes
import io
import math
import unicodedata
from dataclasses import dataclass

from .pdf_text import Display, text_layer, untrusted
from .text_layer import Char, PagePlan, Plan, lines_of

# The text size OCR reads best (an em of this many pixels: 10 pt at 200 dpi), and the range of
# resolutions text alone may ask for (6 pt text asks for 336 dpi, 12 pt for 168).
TARGET_EM_PX = 28.0
TEXT_DPI_RANGE = (100.0, 300.0)
# The share of characters at or under the size that sets the resolution (the page's small print).
SMALL_PRINT_QUANTILE = 0.1
# An image is rendered at its own resolution up to this (a 600 dpi scan is read at 400).
MAX_IMAGE_DPI = 400.0
# A scan: one image covering at least this share of the page (and shown at least this share of
# itself), with nothing else visible over this share of the page.
COVERS = 0.9
OTHER_CONTENT = 0.01
# An image on a text page is read by OCR when it is at least this many pixels each way at the
# page's resolution and this share of the page.
IMAGE_MIN_PX = 32
IMAGE_MIN_SHARE = 0.005

Matrix = tuple[float, float, float, float, float, float]
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


def _apply(m: Matrix, x: float, y: float) -> tuple[float, float]:
    return m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5]


def _compose(inner: Matrix, outer: Matrix) -> Matrix:
    """inner, then outer."""
    a, b, c, d, e, f = inner
    A, B, C, D, E, F = outer
    return (a * A + b * C, a * B + b * D, c * A + d * C, c * B + d * D, e * A + f * C + E, e * B + f * D + F)


@dataclass
class _Image:
    obj: object
    matrix: Matrix  # in page space
    box: tuple[float, float, float, float]  # shown, in points
    pixels: tuple[int, int]


@dataclass
class _Content:
    images: list[_Image]
    other_area: float  # shown area (pt^2) of visible paths, shadings, forms' other drawings
    annotations: bool  # annotations that draw (not links, not popups)


def _bounds_points(obj, matrix: Matrix) -> list[tuple[float, float]]:
    import pypdfium2.raw as raw  # type: ignore[import-untyped]

    left, bottom, right, top = (ctypes.c_float() for _ in range(4))
    if not raw.FPDFPageObj_GetBounds(obj, left, bottom, right, top):
        return []
    corners = [
        (left.value, bottom.value),
        (right.value, bottom.value),
        (right.value, top.value),
        (left.value, top.value),
    ]
    return [_apply(matrix, x, y) for x, y in corners]


def _content(page, display: Display) -> _Content:
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    images: list[_Image] = []
    other = 0.0

    def walk(form, outer: Matrix, level: int) -> None:
        nonlocal other
        for obj in page.get_objects(max_depth=1, form=form, level=level):
            kind = obj.type
            if kind == raw.FPDF_PAGEOBJ_FORM:
                if level < 4:
                    walk(obj, _compose(tuple(obj.get_matrix().get()), outer), level + 1)
                continue
            inner = outer if form is not None else IDENTITY
            if kind == raw.FPDF_PAGEOBJ_IMAGE and isinstance(obj, pdfium.PdfImage):
                matrix = _compose(tuple(obj.get_matrix().get()), inner)
                corners = [_apply(matrix, x, y) for x, y in ((0, 0), (1, 0), (1, 1), (0, 1))]
                meta = obj.get_metadata()
                images.append(_Image(obj, matrix, display.box(corners), (meta.width, meta.height)))
            elif kind in (raw.FPDF_PAGEOBJ_PATH, raw.FPDF_PAGEOBJ_SHADING):
                if kind == raw.FPDF_PAGEOBJ_PATH:
                    fill, stroke = ctypes.c_int(), ctypes.c_int()
                    raw.FPDFPath_GetDrawMode(obj, fill, stroke)
                    if not fill.value and not stroke.value:
                        continue  # a clip, drawing nothing
                points = _bounds_points(obj, inner if form is not None else IDENTITY)
                if points:
                    x0, y0, x1, y1 = display.box(points)
                    other += max(0.0, x1 - x0) * max(0.0, y1 - y0)

    walk(None, IDENTITY, 0)
    drawing = False
    for n in range(raw.FPDFPage_GetAnnotCount(page)):
        annotation = raw.FPDFPage_GetAnnot(page, n)
        if annotation:
            drawing |= raw.FPDFAnnot_GetSubtype(annotation) not in (raw.FPDF_ANNOT_LINK, raw.FPDF_ANNOT_POPUP)
            raw.FPDFPage_CloseAnnot(annotation)
    return _Content(images, other, drawing)


def choose_dpi(sizes_pt: list[float], images: list[_Image], page_size: tuple[float, float], default: float) -> float:
    """The resolution to render a page at, from its content: its small print at TARGET_EM_PX
    (within TEXT_DPI_RANGE), its larger images at their own resolution (up to MAX_IMAGE_DPI);
    `default` (ocr_contract.limits.RENDER_DPI) for a page of neither (a drawing)."""
    wanted = []
    if sizes_pt:
        small = sorted(sizes_pt)[int(SMALL_PRINT_QUANTILE * (len(sizes_pt) - 1))]
        low, high = TEXT_DPI_RANGE
        wanted.append(min(high, max(low, TARGET_EM_PX * 72 / max(small, 0.5))))
    area = page_size[0] * page_size[1]
    for image in images:
        x0, y0, x1, y1 = image.box
        if (x1 - x0) * (y1 - y0) >= 0.05 * area and x1 > x0 and y1 > y0:
            across = max(image.pixels) / (max(x1 - x0, y1 - y0) / 72)
            wanted.append(min(MAX_IMAGE_DPI, across))
    return max(wanted) if wanted else default


def within_limits(dpi: float, page_size: tuple[float, float], max_side: int, max_pixels: int) -> float:
    """The resolution lowered as far as the page must be to fit `max_side` and `max_pixels`."""
    w, h = page_size
    return max(1.0, min(dpi, max_side * 72 / max(w, h, 1e-3), math.sqrt(max_pixels / max(w * h, 1e-3)) * 72))


# -- a scan at its own pixels


def _scan(content: _Content, page_size: tuple[float, float]) -> _Image | None:
    """The page's one image, when the page is a scan: it covers the page and nothing else is
    drawn (invisible text aside), and it is placed upright, turned or mirrored (no skew)."""
    if len(content.images) != 1 or content.annotations:
        return None
    w, h = page_size
    image = content.images[0]
    x0, y0, x1, y1 = image.box
    shown = max(0.0, min(x1, w) - max(x0, 0)) * max(0.0, min(y1, h) - max(y0, 0))
    a, b, c, d, _, _ = image.matrix
    square = (abs(b) < 1e-6 * abs(a) and abs(c) < 1e-6 * abs(d)) or (abs(a) < 1e-6 * abs(b) and abs(d) < 1e-6 * abs(c))
    return (
        image
        if square
        and shown >= COVERS * w * h
        and shown >= COVERS * (x1 - x0) * (y1 - y0)
        and content.other_area <= OTHER_CONTENT * w * h
        else None
    )


def _turned(picture, image: _Image, display: Display):
    """The image's pixels as the page shows them (PIL transposes; no resampling)."""
    from PIL import Image

    m = image.matrix
    # Where the image's rows and columns run on the page as shown: sample (u, v) (v down) is
    # at the unit square's (u, 1 - v).
    origin = display.point(*_apply(m, 0, 1))
    across = display.point(*_apply(m, 1, 1))
    down = display.point(*_apply(m, 0, 0))
    u = (across[0] - origin[0], across[1] - origin[1])
    v = (down[0] - origin[0], down[1] - origin[1])
    u_axis = (0 if abs(u[0]) >= abs(u[1]) else 1, 1 if (u[0] if abs(u[0]) >= abs(u[1]) else u[1]) > 0 else -1)
    v_axis = (0 if abs(v[0]) >= abs(v[1]) else 1, 1 if (v[0] if abs(v[0]) >= abs(v[1]) else v[1]) > 0 else -1)
    T = Image.Transpose
    moves = {
        ((0, 1), (1, 1)): None,
        ((0, -1), (1, 1)): T.FLIP_LEFT_RIGHT,
        ((0, 1), (1, -1)): T.FLIP_TOP_BOTTOM,
        ((0, -1), (1, -1)): T.ROTATE_180,
        ((1, 1), (0, 1)): T.TRANSPOSE,
        ((1, -1), (0, -1)): T.TRANSVERSE,
        ((1, 1), (0, -1)): T.ROTATE_270,
        ((1, -1), (0, 1)): T.ROTATE_90,
    }
    move = moves.get((u_axis, v_axis))
    return picture if move is None else picture.transpose(move)


def _decoded(image: _Image):
    """The image's own pixels, decoded by PDFium, in RGB (ocr_contract.pixels)."""
    from ocr_contract.pixels import to_rgb

    bitmap = image.obj.get_bitmap(render=False)  # type: ignore[attr-defined]
    picture = bitmap.to_pil()
    picture.load()
    return to_rgb(picture)


def _same_jpeg(image: _Image, picture) -> bytes | None:
    """The image's JPEG bytes as embedded, when they decode (as the endpoint decodes an image)
    to exactly `picture`: the page goes to the endpoint as the scan itself, as a user would send
    it to POST /general_ocr. None otherwise (another filter, colour conversion, a Decode array,
    an EXIF orientation the PDF does not show)."""
    from PIL import Image, ImageChops

    if image.obj.get_filters() != ["DCTDecode"]:  # type: ignore[attr-defined]
        return None
    data = bytes(image.obj.get_data(decode_simple=True))  # type: ignore[attr-defined]
    try:
        jpeg = Image.open(io.BytesIO(data), formats=["JPEG"])
        if jpeg.getexif().get(0x0112, 1) != 1:
            return None
        jpeg.load()
        from ocr_contract.pixels import to_rgb

        same = to_rgb(jpeg).size == picture.size and ImageChops.difference(to_rgb(jpeg), picture).getbbox() is None
    except Exception:  # noqa: BLE001 - not a JPEG Pillow reads: re-encoded instead
        return None
    return data if same else None


@dataclass
class PdfPage:
    """What the worker hands on for one page: its plan, the picture to read (None: the text
    layer alone), and the picture's bytes as embedded when they can go as they are."""

    plan: PagePlan
    picture: object | None
    embedded: bytes | None = None


def read_page(document, index: int, job: dict) -> PdfPage:
    """Page `index` of an open PdfDocument, as the job asks (job["text_layer"]: auto|ignore;
    job["page_image"]: the whole page's picture even where its text layer answers it, for
    tables; job["raw"]: the caller takes pixels, so no embedded bytes are kept)."""
    page = document[index]
    try:
        return _read(page, job)
    finally:
        page.close()


def _read(page, job: dict) -> PdfPage:
    import pypdfium2.raw as raw

    box = raw.FS_RECTF()
    if not raw.FPDF_GetPageBoundingBox(page, box):  # the crop box within the media box, inherited ones too
        raise ValueError("no area")
    display = Display(box.left, box.bottom, box.right, box.top, page.get_rotation() % 360)
    size = display.size
    if not (size[0] > 0 and size[1] > 0):
        raise ValueError("no area")
    content = _content(page, display)
    use_text = job.get("text_layer", "auto") != "ignore"
    layer = text_layer(page, display)
    visible = [c for c in layer.chars if c[5]]
    invisible = [c for c in layer.chars if not c[5]]
    max_side, max_pixels = job["max_side"], job["max_page_pixels"]

    scan = _scan(content, size) if not visible else None
    if scan is not None and scan.pixels[0] * scan.pixels[1] <= max_pixels:
        picture = _turned(_decoded(scan), scan, display)
        x0, y0, x1, y1 = scan.box
        scale = picture.width / max(x1 - x0, 1e-3)  # pixels per point
        # The part of the image the page shows (all of it, but for a margin cut by the crop box).
        crop = (
            max(0, round(-x0 * scale)),
            max(0, round(-y0 * scale)),
            min(picture.width, round((size[0] - x0) * scale)),
            min(picture.height, round((size[1] - y0) * scale)),
        )
        if crop != (0, 0, picture.width, picture.height):
            picture = picture.crop(crop)
        embedded = None if job.get("raw") or crop != (0, 0, *picture.size) else _same_jpeg(scan, picture)
        if max(picture.size) > max_side:
            from PIL import Image

            factor = max_side / max(picture.size)
            picture = picture.resize(
                (max(1, round(picture.width * factor)), max(1, round(picture.height * factor))),
                Image.Resampling.LANCZOS,
            )
            scale, embedded = scale * factor, None
        origin = (x0 + crop[0] / scale, y0 + crop[1] / scale)
        lines = []
        if use_text and invisible and untrusted(invisible) is None:
            lines = lines_of(_chars(invisible, scale, origin), picture.width, picture.height)
        plan = PagePlan("verify" if lines else "ocr", picture.width, picture.height, round(scale * 72, 2), lines=lines)
        return PdfPage(plan, picture, embedded)

    sizes = [c[2] for c in visible if not c[0].isspace()]
    dpi = within_limits(choose_dpi(sizes, content.images, size, job["dpi"]), size, max_side, max_pixels)
    scale = dpi / 72
    width, height = max(1, round(size[0] * scale)), max(1, round(size[1] * scale))
    why = "too much text" if layer.too_long else untrusted(visible) if visible else "no text layer"
    if not use_text or why is not None:
        return PdfPage(PagePlan("ocr", width, height, round(dpi, 2)), _render(page, scale, (width, height)))
    chars = [c for c in visible if unicodedata.category(c[0]) != "Co"]  # a symbol font's bullets
    lines = lines_of(_chars(chars, scale, (0.0, 0.0)), width, height)
    holding = [image for image in content.images if _may_hold_text(image, scale, size)]
    if job.get("page_image"):  # tables are found on the whole page's pixels, filled from its text
        kind: Plan = "mixed" if holding else "text"
        return PdfPage(PagePlan(kind, width, height, round(dpi, 2), lines=lines), _render(page, scale, (width, height)))
    if not holding:
        return PdfPage(PagePlan("text", width, height, round(dpi, 2), lines=lines), None)
    # The images, read by OCR on the page without its text (what is drawn over them is the text layer's).
    x0 = max(0, math.floor(min(image.box[0] for image in holding) * scale) - 4)
    y0 = max(0, math.floor(min(image.box[1] for image in holding) * scale) - 4)
    x1 = min(width, math.ceil(max(image.box[2] for image in holding) * scale) + 4)
    y1 = min(height, math.ceil(max(image.box[3] for image in holding) * scale) + 4)
    _drop_text(page)
    picture = _render(page, scale, (width, height)).crop((x0, y0, x1, y1))
    return PdfPage(PagePlan("mixed", width, height, round(dpi, 2), x0, y0, lines), picture)


def _may_hold_text(image: _Image, scale: float, size: tuple[float, float]) -> bool:
    x0, y0, x1, y1 = image.box
    w, h = (min(x1, size[0]) - max(x0, 0)) * scale, (min(y1, size[1]) - max(y0, 0)) * scale
    return w >= IMAGE_MIN_PX and h >= IMAGE_MIN_PX and w * h >= IMAGE_MIN_SHARE * size[0] * size[1] * scale * scale


def _chars(chars, scale: float, origin: tuple[float, float]) -> list[Char]:
    """The text layer's characters in the pixel space (points from `origin`, times `scale`)."""
    out = []
    ox, oy = origin
    for text, (x0, y0, x1, y1), size, angle, written, _visible, _unmapped in chars:
        turn = round(angle / 90) % 4
        out.append(
            Char(
                " " if text.isspace() else text,
                (x0 - ox) * scale,
                (y0 - oy) * scale,
                (x1 - ox) * scale,
                (y1 - oy) * scale,
                size * scale,
                turn,
                written,
            )
        )
    return out


def _drop_text(page) -> None:
    import pypdfium2.raw as raw

    for obj in list(page.get_objects(max_depth=1)):
        if obj.type == raw.FPDF_PAGEOBJ_TEXT:
            page.remove_obj(obj)


def _render(page, scale: float, size: tuple[int, int]):
    """The page rendered (forms and annotations drawn) at `scale` pixels per point, RGB."""
    bitmap = page.render(scale=scale, may_draw_forms=True)
    try:
        picture = bitmap.to_pil().convert("RGB")
    finally:
        bitmap.close()
    if picture.size != size:  # PDFium rounds the page's size its own way
        from PIL import Image

        canvas = Image.new("RGB", size, (255, 255, 255))
        canvas.paste(picture, (0, 0))
        picture = canvas
    return picture
