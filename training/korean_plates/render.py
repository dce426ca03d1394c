"""Synthetic Korean licence plates: the only data the Korean plate recogniser is trained on.

No real Korean plate is used anywhere. Each sample is drawn from the layouts Korean plates have
had since 1996, in their colours, with characters from installed Hangul fonts set the way plates
set them (tall, condensed, evenly spaced), then degraded the way a camera and a road degrade
them, and cut out as the engine cuts a detected line (loose or tight, with or without the border).

Layouts (the text answered is the plate without spaces):
  new      123가4567         white (2019+, often with the blue band on the left), sky blue (electric)
  short    12가3456          white (2006-2019), yellow (commercial)
  region   서울12가3456      yellow (commercial, one row)
  stacked  서울12 / 가3456   two rows: green (before 2004), yellow (commercial)
  stacked_short  12가 / 3456  two rows without the region: green (2004-2006)

Two sets never meet: TRAIN fonts and augmentations, and HELD_OUT fonts (other families) with
augmentations training never applies (motion blur, salt-and-pepper noise, vignetting, a colour
cast, an elliptical occluder). The held-out set measures what the model does on plates unlike
anything it saw.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from inference.plates.grammar import (
    DIGITS,
    KOREAN_COMMERCIAL_USES,
    KOREAN_PRIVATE_USES,
    KOREAN_REGIONS,
    KOREAN_RENTAL_USES,
)
from inference.plates.korean_model import stack_rows

FONT_ROOT = Path("/usr/share/fonts")
# (file under FONT_ROOT, face index in a collection). Training: every sans-serif, non-handwriting
# Hangul face of Debian's fonts-nanum, fonts-nanum-extra, fonts-unfonts-core, fonts-unfonts-extra and
# fonts-baekmuk, except the held-out UnDinaru family (plates are set in plain sans faces; the more
# of them the model sees, the less it learns one face's quirks). Serif (Myeongjo, Batang, Shinmun),
# brush and handwriting faces are left out. Held out: fonts-noto-cjk and UnDinaru.
TRAIN_FONTS = [
    ("truetype/nanum/NanumGothic.ttf", 0),
    ("truetype/nanum/NanumGothicBold.ttf", 0),
    ("truetype/nanum/NanumGothicExtraBold.ttf", 0),
    ("truetype/nanum/NanumGothicLight.ttf", 0),
    ("truetype/nanum/NanumGothicEcoR.ttf", 0),
    ("truetype/nanum/NanumBarunGothic.ttf", 0),
    ("truetype/nanum/NanumBarunGothicBold.ttf", 0),
    ("truetype/nanum/NanumBarunGothicLight.ttf", 0),
    ("truetype/nanum/NanumBarunpenR.ttf", 0),
    ("truetype/nanum/NanumBarunpenB.ttf", 0),
    ("truetype/nanum/NanumSquareL.ttf", 0),
    ("truetype/nanum/NanumSquareR.ttf", 0),
    ("truetype/nanum/NanumSquareB.ttf", 0),
    ("truetype/nanum/NanumSquareEB.ttf", 0),
    ("truetype/nanum/NanumSquareRoundL.ttf", 0),
    ("truetype/nanum/NanumSquareRoundR.ttf", 0),
    ("truetype/nanum/NanumSquareRoundB.ttf", 0),
    ("truetype/nanum/NanumSquareRoundEB.ttf", 0),
    ("truetype/nanum/NanumSquare_acR.ttf", 0),
    ("truetype/nanum/NanumSquare_acB.ttf", 0),
    ("truetype/nanum/NanumSquare_acEB.ttf", 0),
    ("truetype/nanum/NanumGothicCoding.ttf", 0),
    ("truetype/nanum/NanumGothicCodingBold.ttf", 0),
    ("truetype/unfonts-core/UnDotum.ttf", 0),
    ("truetype/unfonts-core/UnDotumBold.ttf", 0),
    ("truetype/unfonts-core/UnGraphic.ttf", 0),
    ("truetype/unfonts-core/UnGraphicBold.ttf", 0),
    ("truetype/unfonts-extra/UnJamoDotum.ttf", 0),
    ("truetype/unfonts-extra/UnJamoSora.ttf", 0),
    ("truetype/unfonts-extra/UnVada.ttf", 0),
    ("truetype/unfonts-extra/UnTaza.ttf", 0),
    ("truetype/unfonts-extra/UnYetgul.ttf", 0),
    ("truetype/baekmuk/dotum.ttf", 0),
    ("truetype/baekmuk/gulim.ttf", 0),
    ("truetype/baekmuk/hline.ttf", 0),
]
# Digits only: plates' digits come from many typefaces (a "1" with or without a foot, a "7" with
# or without a bar), more than the Korean faces above show. Debian: fonts-dejavu-core, fonts-liberation.
TRAIN_DIGIT_FONTS = [
    ("truetype/dejavu/DejaVuSans.ttf", 0),
    ("truetype/dejavu/DejaVuSans-Bold.ttf", 0),
    ("truetype/dejavu/DejaVuSansCondensed.ttf", 0),
    ("truetype/dejavu/DejaVuSansCondensed-Bold.ttf", 0),
    ("truetype/dejavu/DejaVuSansMono-Bold.ttf", 0),
    ("truetype/liberation/LiberationSans-Regular.ttf", 0),
    ("truetype/liberation/LiberationSans-Bold.ttf", 0),
    ("truetype/liberation/LiberationSansNarrow-Regular.ttf", 0),
    ("truetype/liberation/LiberationSansNarrow-Bold.ttf", 0),
    ("truetype/liberation/LiberationMono-Bold.ttf", 0),
]
HELD_OUT_FONTS = [
    ("opentype/noto/NotoSansCJK-Regular.ttc", 1),
    ("opentype/noto/NotoSansCJK-Bold.ttc", 1),  # Noto Sans CJK KR
    ("opentype/noto/NotoSansCJK-Bold.ttc", 6),  # Noto Sans Mono CJK KR
    ("truetype/unfonts-core/UnDinaru.ttf", 0),
    ("truetype/unfonts-core/UnDinaruBold.ttf", 0),
]

# (background, text) in RGB.
WHITE = ((244, 244, 240), (20, 20, 20))
YELLOW = ((250, 196, 20), (25, 25, 25))
GREEN = ((20, 105, 60), (245, 245, 240))
SKY_BLUE = ((110, 170, 225), (20, 20, 35))
COLOURS = {
    "new": [WHITE, WHITE, SKY_BLUE],
    "short": [WHITE, YELLOW],
    "region": [YELLOW],
    "stacked": [GREEN, YELLOW],
    "stacked_short": [GREEN],
}


@dataclass(frozen=True)
class Sample:
    image: np.ndarray  # grey, INPUT_HEIGHT rows, as the recogniser takes it (before padding)
    text: str


def plate_text(rng: np.random.Generator, layout: str, commercial: bool) -> tuple[list[str], str]:
    """The rows of a plate (characters joined per row) and its answer."""
    uses = KOREAN_COMMERCIAL_USES if commercial else KOREAN_PRIVATE_USES + KOREAN_RENTAL_USES

    def digits(n):
        return "".join(rng.choice(list(DIGITS), n))

    use = str(rng.choice(list(uses)))
    if layout == "new":
        rows = [digits(3) + use + digits(4)]
    elif layout == "short":
        rows = [digits(2) + use + digits(4)]
    elif layout == "region":
        rows = [str(rng.choice(KOREAN_REGIONS)) + digits(2) + use + digits(4)]
    elif layout == "stacked_short":
        rows = [digits(2) + use, digits(4)]
    else:
        rows = [str(rng.choice(KOREAN_REGIONS)) + digits(2), use + digits(4)]
    return rows, "".join(rows)


class Fonts:
    """Faces for whole plates, and faces for their digits only (none: the plate's own face)."""

    def __init__(self, faces: Sequence[tuple[str, int]], digit_faces: Sequence[tuple[str, int]] = ()) -> None:
        missing = [f for f, _ in list(faces) + list(digit_faces) if not (FONT_ROOT / f).is_file()]
        if missing:
            raise SystemExit(
                "fonts missing (apt-get install fonts-nanum fonts-nanum-extra fonts-unfonts-core "
                "fonts-unfonts-extra fonts-baekmuk "
                "fonts-noto-cjk fonts-dejavu-core fonts-liberation): " + ", ".join(missing)
            )
        self.faces = list(faces) + list(digit_faces)
        self.plate_faces = len(faces)  # faces[:plate_faces] have Hangul
        self._glyphs: dict = {}

    def glyph(self, face: int, char: str) -> np.ndarray:
        """The character's ink, tightly cropped, as an alpha mask (0-255), from a 96 px rendering."""
        key = (face, char)
        if key not in self._glyphs:
            path, index = self.faces[face]
            font = ImageFont.truetype(str(FONT_ROOT / path), 96, index=index)
            canvas = Image.new("L", (160, 160), 0)
            ImageDraw.Draw(canvas).text((20, 10), char, font=font, fill=255)
            mask = np.asarray(canvas)
            ys, xs = np.nonzero(mask > 40)
            self._glyphs[key] = mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        return self._glyphs[key]


def _set_row(
    fonts: Fonts,
    faces: tuple[int, int],
    row: str,
    height: int,
    rng: np.random.Generator,
    distort: bool = False,
    wide: bool = False,
) -> np.ndarray:
    """One row of characters set as plates set them: each glyph scaled to a tall cell (Hangul
    cells wider than digits), evenly spaced, a wider gap before the last 4 digits; strokes
    sometimes bolder or thinner than the face's. `faces`: (Hangul face, digit face). `wide`: the
    small top row of a 2004 two-row plate, whose digits are round and spaced out, not condensed."""
    # digit cell width / height (real plates: about 0.45)
    condense = rng.uniform(0.7, 1.0) if wide else rng.uniform(0.4, 0.8)
    gap = int(height * (rng.uniform(0.1, 0.35) if wide else rng.uniform(0.04, 0.12)))
    stroke = int(rng.choice([-1, 0, 0, 0, 1, 2]))  # pixels to erode (-) or dilate (+) by
    cells = []
    for k, char in enumerate(row):
        hangul = not char.isdigit()
        cell_w = int(height * (condense * rng.uniform(1.35, 1.6) if hangul else condense))
        h = int(height * (rng.uniform(0.8, 0.95) if hangul else 1.0))
        ink = fonts.glyph(faces[0] if hangul else faces[1], char)
        # Every digit gets the same cell (plates are set monospaced), but a narrow glyph keeps its
        # own width inside it: a "1" stretched to a full cell is a slab, and a flagged one a "7".
        w = cell_w if hangul else min(cell_w, int(ink.shape[1] * h / ink.shape[0]))
        glyph = cv2.resize(ink, (max(2, w), max(2, h)), interpolation=cv2.INTER_AREA)
        if distort and rng.random() < 0.5:
            glyph = _elastic(glyph, rng)
        if stroke:
            kernel = np.ones((abs(stroke) + 1, abs(stroke) + 1), np.uint8)
            glyph = cv2.dilate(glyph, kernel) if stroke > 0 else cv2.erode(glyph, kernel)
        cell = np.zeros((height, max(cell_w, glyph.shape[1])), np.uint8)
        top, left = (height - h) // 2, (cell.shape[1] - glyph.shape[1]) // 2
        cell[top : top + h, left : left + glyph.shape[1]] = glyph
        cells.append(cell)
        last_four = len(row) >= 5 and k == len(row) - 5 and not row[-5].isdigit()
        space = gap * (rng.uniform(2, 4) if last_four and rng.random() < 0.6 else 1)
        cells.append(np.zeros((height, int(space)), np.uint8))
    return np.concatenate(cells[:-1], axis=1)


# The layouts drawn, as often as they appear here. Two-row plates without the region (green,
# 2004-2006) are still on the road: 6 of the 129 real KarPlate crops (the second model, which
# saw these drawn, still misreads their small top row). The first shipped model was trained
# without them (LAYOUTS_BEFORE_2004: the renderer as it was, so that its seed still draws the
# same plates), the second with them (training/korean_plates/train.MODELS).
LAYOUTS = ("new", "new", "short", "short", "region", "stacked", "stacked_short")
LAYOUTS_BEFORE_2004 = LAYOUTS[:-1]


def render_plate(
    fonts: Fonts,
    rng: np.random.Generator,
    distort: bool = False,
    layouts: Sequence[str] = LAYOUTS,
) -> tuple[np.ndarray, list[tuple[int, int, int, int]], str]:
    """A clean plate (RGB), the box of each row of text on it, and its answer. `distort`: glyphs
    elastically bent (training only: faces it has not seen draw each stroke a little differently);
    `layouts`: those to draw from (LAYOUTS)."""
    layout = str(rng.choice(list(layouts)))
    colours = COLOURS[layout][rng.integers(len(COLOURS[layout]))]
    background, ink = colours
    commercial = colours == YELLOW
    rows, text = plate_text(rng, layout, commercial)
    face = int(rng.integers(fonts.plate_faces))
    digit_face = (
        face if len(fonts.faces) == fonts.plate_faces or rng.random() < 0.5 else int(rng.integers(len(fonts.faces)))
    )
    faces = (face, digit_face)
    if layout.startswith("stacked"):
        # The 2004 plates set their top row (12가) smaller, over bigger serial digits.
        short = layout == "stacked_short"
        top_h = int(rng.uniform(22, 36) if short else rng.uniform(30, 40))
        bottom_h = int(rng.uniform(56, 66) if short else rng.uniform(52, 62))
        top_row = _set_row(fonts, faces, rows[0], top_h, rng, distort, wide=short)
        bottom_row = _set_row(fonts, faces, rows[1], bottom_h, rng, distort)
        width = int(max(top_row.shape[1], bottom_row.shape[1]) * rng.uniform(1.12, 1.3))
        height = int((top_h + bottom_h) * rng.uniform(1.3, 1.45))
        ink_mask = np.zeros((height, width), np.uint8)
        y0 = int((height - top_h - bottom_h) * 0.4)
        spots = [
            ((width - top_row.shape[1]) // 2, y0, top_row),
            (
                (width - bottom_row.shape[1]) // 2,
                height - bottom_h - int((height - top_h - bottom_h) * 0.35),
                bottom_row,
            ),
        ]
    else:
        row_h = 72
        row = _set_row(fonts, faces, rows[0], row_h, rng, distort)
        band = layout == "new" and colours == WHITE and rng.random() < 0.6
        left = int(row_h * (0.75 if band else 0.25) * rng.uniform(0.8, 1.2))
        width = left + row.shape[1] + int(row_h * rng.uniform(0.2, 0.35))
        height = int(row_h * rng.uniform(1.3, 1.5))
        ink_mask = np.zeros((height, width), np.uint8)
        spots = [(left, (height - row_h) // 2, row)]
    boxes = []
    for x, y, glyphs in spots:
        ink_mask[y : y + glyphs.shape[0], x : x + glyphs.shape[1]] = np.maximum(
            ink_mask[y : y + glyphs.shape[0], x : x + glyphs.shape[1]], glyphs
        )
        boxes.append((x, y, x + glyphs.shape[1], y + glyphs.shape[0]))
    plate: np.ndarray = np.empty((height, width, 3), np.float32)
    plate[:] = np.array(background, np.float32) * rng.uniform(0.85, 1.05)
    alpha = ink_mask[..., None].astype(np.float32) / 255
    plate = plate * (1 - alpha) + np.array(ink, np.float32) * alpha
    img = Image.fromarray(np.clip(plate, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    border = max(1, int(height * rng.uniform(0.01, 0.04)))
    draw.rectangle((0, 0, width - 1, height - 1), outline=tuple(int(c) for c in ink), width=border)
    if layout == "new" and colours == WHITE and spots[0][0] > height * 0.5:
        # The blue band of 2020 plates: a flag mark and KOR, never read.
        band_w = int(spots[0][0] * 0.7)
        draw.rectangle((border, border, band_w, height - border), fill=(30, 60, 150))
        r = band_w // 4
        draw.ellipse((band_w // 2 - r, height // 3 - r, band_w // 2 + r, height // 3 + r), fill=(200, 40, 60))
        draw.text((border + 2, int(height * 0.62)), "KOR", fill=(240, 240, 240))
    _bolts(draw, rng, width, height, boxes, beside_text=len(spots) == 1 and rng.random() < 0.75)
    plate_img = np.asarray(img)
    if rng.random() < 0.5:
        plate_img, boxes = _holder(plate_img, boxes, rng)
    return plate_img, boxes, text


def _bolts(draw: ImageDraw.ImageDraw, rng: np.random.Generator, width: int, height: int, boxes, beside_text: bool):
    """The two bolts that hold a plate. On one-row plates of 2006-2019 they sit in the margins at
    either end of the text, at its mid-height: a cut along the text row holds them, and a model
    that never saw them there reads them as a leading or trailing digit (most of the real
    KarPlate crops' extra characters). Elsewhere they sit near the top, clear of the text.
    A round head, metallic or painted, with a darker rim."""
    r = max(2, int(height * rng.uniform(0.035, 0.07)))
    if beside_text:
        (x0, y0, x1, y1) = boxes[0]
        cy = int((y0 + y1) / 2 + (y1 - y0) * rng.uniform(-0.15, 0.15))
        spots = [(int(x0 / 2), cy), (int((x1 + width) / 2), cy)]
    else:
        cy = int(height * rng.uniform(0.08, 0.16))
        spots = [(int(width * 0.2), cy), (int(width * 0.8), cy)]
    shade = int(rng.integers(70, 210))
    for cx, cy in spots:
        if rng.random() < 0.1:
            continue  # a bolt missing, or hidden by the frame
        if any(bx0 - r <= cx <= bx1 + r and by0 - r <= cy <= by1 + r for bx0, by0, bx1, by1 in boxes):
            continue
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(shade, shade, shade), outline=(40, 40, 40))


def _holder(plate: np.ndarray, boxes, rng: np.random.Generator):
    """The plate inside the dark frame or bumper recess real photos show around it: a crop of
    the whole plate holds a band of it on every side."""
    h = plate.shape[0]
    pads = [int(h * rng.uniform(0.02, 0.2)) for _ in range(4)]
    tone = [int(v) for v in rng.integers(5, 70, 1).repeat(3)]
    framed = cv2.copyMakeBorder(plate, pads[0], pads[1], pads[2], pads[3], cv2.BORDER_CONSTANT, value=tone)
    return framed, [(x0 + pads[2], y0 + pads[0], x1 + pads[2], y1 + pads[0]) for x0, y0, x1, y1 in boxes]


def _elastic(glyph: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The glyph's strokes bent by a smooth random displacement field (elastic distortion, as
    handwriting recognisers are trained with): the same character drawn by another hand."""
    h, w = glyph.shape
    sigma, amount = 0.12 * h, rng.uniform(0.02, 0.06) * h
    field = [cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma) for _ in range(2)]
    field = [f * (amount / max(1e-6, float(np.abs(f).max()))) for f in field]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.remap(glyph, xx + field[0], yy + field[1], cv2.INTER_LINEAR, borderValue=0)


# --- degradations ---------------------------------------------------------------------------


def _perspective(img: np.ndarray, boxes, rng, strength: float):
    h, w = img.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    jitter = rng.uniform(-strength, strength, (4, 2)) * np.array([w, h], np.float32) * np.array([0.5, 1], np.float32)
    angle = math.radians(rng.uniform(-4, 4))
    centre = np.array([w / 2, h / 2], np.float32)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], np.float32)
    dst = (src - centre) @ rot.T + centre + jitter
    shift = dst.min(axis=0) - 4
    dst -= shift
    size = (int(dst[:, 0].max()) + 4, int(dst[:, 1].max()) + 4)
    matrix = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    fill = tuple(int(v) for v in rng.integers(0, 255, 3))
    warped = cv2.warpPerspective(img, matrix, size, flags=cv2.INTER_LINEAR, borderValue=fill)
    moved = []
    for x0, y0, x1, y1 in boxes:
        corners = cv2.perspectiveTransform(np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]], np.float32), matrix)[0]
        moved.append((corners[:, 0].min(), corners[:, 1].min(), corners[:, 0].max(), corners[:, 1].max()))
    return warped, moved


def _cut(img: np.ndarray, box, rng, whole_plate: bool) -> np.ndarray:
    """Cut a row as the detector would: its box grown by a random margin (sometimes a little
    tight), or the whole plate."""
    h, w = img.shape[:2]
    if whole_plate:
        return img
    x0, y0, x1, y1 = box
    bh = y1 - y0
    mx0, mx1 = rng.uniform(-0.05, 0.5, 2) * bh
    my0, my1 = rng.uniform(-0.04, 0.35, 2) * bh
    left, right = int(max(0, x0 - mx0)), int(min(w, x1 + mx1))
    top, bottom = int(max(0, y0 - my0)), int(min(h, y1 + my1))
    return img[top:bottom, left:right]


def _dirt(img, rng):
    out = img.astype(np.float32)
    for _ in range(rng.integers(1, 6)):
        mask = np.zeros(img.shape[:2], np.float32)
        centre = (int(rng.integers(0, img.shape[1])), int(rng.integers(0, img.shape[0])))
        cv2.circle(mask, centre, int(rng.uniform(0.03, 0.15) * img.shape[0]) + 1, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), 1.5)[..., None] * rng.uniform(0.2, 0.6)
        out = out * (1 - mask) + np.float32([90, 70, 50]) * mask
    return out.clip(0, 255).astype(np.uint8)


def _occlude_edge(img, rng):
    """Something over the top or bottom edge (a frame, a bumper): never a whole character."""
    h, w = img.shape[:2]
    out = img.copy()
    depth = int(h * rng.uniform(0.05, 0.2))
    x0 = int(rng.uniform(0, 0.6) * w)
    x1 = int(min(w, x0 + rng.uniform(0.2, 0.6) * w))
    colour = tuple(int(v) for v in rng.integers(0, 255, 3))
    if rng.random() < 0.5:
        out[:depth, x0:x1] = colour
    else:
        out[h - depth :, x0:x1] = colour
    return out


def _shade(img, rng):
    h, w = img.shape[:2]
    ramp = np.linspace(rng.uniform(0.4, 1.0), rng.uniform(0.8, 1.2), w, dtype=np.float32)
    if rng.random() < 0.5:
        ramp = ramp[::-1]
    return (img.astype(np.float32) * ramp[None, :, None]).clip(0, 255).astype(np.uint8)


def _jpeg(img, rng, low=15):
    ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(low, 95))])
    return cv2.imdecode(data, cv2.IMREAD_UNCHANGED)


def _light(img, rng):
    x = img.astype(np.float32) / 255
    x = x ** rng.uniform(0.6, 1.6)
    x = (x - 0.5) * rng.uniform(0.5, 1.3) + 0.5 + rng.uniform(-0.2, 0.2)
    return (x.clip(0, 1) * 255).astype(np.uint8)


def _motion_blur(img, rng):
    k = int(rng.integers(3, 8))
    kernel = np.zeros((k, k), np.float32)
    kernel[k // 2] = 1
    rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1.0)
    kernel = cv2.warpAffine(kernel, rot, (k, k))
    return cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6))


def _salt_pepper(img, rng):
    out = img.copy()
    spots = rng.random(img.shape[:2])
    amount = rng.uniform(0.005, 0.03)
    out[spots < amount / 2] = 0
    out[spots > 1 - amount / 2] = 255
    return out


def _vignette(img, rng):
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt(((xx - w * rng.uniform(0.3, 0.7)) / w) ** 2 + ((yy - h * rng.uniform(0.3, 0.7)) / h) ** 2)
    return (img.astype(np.float32) * (1 - rng.uniform(0.3, 0.6) * r)[..., None]).clip(0, 255).astype(np.uint8)


def _colour_cast(img, rng):
    return (img.astype(np.float32) * rng.uniform(0.7, 1.2, 3)).clip(0, 255).astype(np.uint8)


def _ellipse(img, rng):
    h, w = img.shape[:2]
    out = img.copy()
    centre = (int(rng.uniform(0, 1) * w), int(rng.choice([0, h])))
    cv2.ellipse(
        out,
        centre,
        (int(w * rng.uniform(0.05, 0.15)), int(h * rng.uniform(0.1, 0.3))),
        0,
        0,
        360,
        tuple(int(v) for v in rng.integers(0, 255, 3)),
        -1,
    )
    return out


def to_strip(rows: list[np.ndarray]) -> np.ndarray:
    """Grey rows as the recogniser sees them (inference/korean_plates.stack_rows)."""
    return stack_rows([cv2.cvtColor(r, cv2.COLOR_RGB2GRAY) if r.ndim == 3 else r for r in rows])


def photographed(fonts: Fonts, rng: np.random.Generator, held_out: bool = False, layouts: Sequence[str] = LAYOUTS):
    """A plate as a camera saw it (RGB, 14 to 70 pixels per text row, the background around it
    where perspective turned it), the box of each of its text rows, and its answer."""
    plate, boxes, text = render_plate(fonts, rng, distort=not held_out, layouts=layouts)
    plate, boxes = _perspective(plate, boxes, rng, 0.08 if held_out else rng.uniform(0, 0.1))
    if held_out:
        if rng.random() < 0.5:
            plate = _colour_cast(plate, rng)
        if rng.random() < 0.4:
            plate = _vignette(plate, rng)
        if rng.random() < 0.3:
            plate = _ellipse(plate, rng)
    else:
        if rng.random() < 0.3:
            plate = _dirt(plate, rng)
        if rng.random() < 0.2:
            plate = _occlude_edge(plate, rng)
        if rng.random() < 0.3:
            plate = _shade(plate, rng)
    scale = rng.uniform(14, 70) / (boxes[-1][3] - boxes[-1][1])
    small = cv2.resize(plate, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    boxes = [tuple(v * scale for v in b) for b in boxes]
    if held_out:
        small = _motion_blur(small, rng) if rng.random() < 0.5 else small
        small = _salt_pepper(small, rng) if rng.random() < 0.3 else small
    else:
        if rng.random() < 0.6:
            # Up to a blur that merges a small plate's strokes (out of focus; Gaussian, the same in
            # every direction: motion blur is one of the held-out degradations, never drawn here).
            small = cv2.GaussianBlur(small, (0, 0), rng.uniform(0.3, 2.0))
        if rng.random() < 0.5:
            small = (small + rng.normal(0, rng.uniform(2, 12), small.shape)).clip(0, 255).astype(np.uint8)
        small = _light(small, rng) if rng.random() < 0.7 else small
    small = _jpeg(small, rng, 25 if held_out else 15) if rng.random() < 0.6 else small
    return small, boxes, text


def sample(fonts: Fonts, rng: np.random.Generator, held_out: bool = False, layouts: Sequence[str] = LAYOUTS) -> Sample:
    """One plate's rows, cut out as the engine cuts detected lines, as the recogniser takes them."""
    small, boxes, text = photographed(fonts, rng, held_out, layouts)
    whole = len(boxes) == 1 and rng.random() < 0.25
    rows = [_cut(small, box, rng, whole) for box in boxes]
    return Sample(to_strip(rows), text)


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()
