"""Rendered text lines and pages in many scripts, with the extent of each script along the line.

What trains and measures the unreadable-script check (inference/scripts.py): lines of scripts the
PP-OCR recogniser reads (Chinese, Simplified and Traditional, Japanese kana, Latin, digits,
punctuation) and of scripts it cannot (its dictionary has no Hangul, Thai, Arabic, Devanagari,
Hebrew or Cyrillic), alone or side by side on one line, in fonts from Debian's font packages
(fonts-noto-cjk, fonts-nanum, fonts-unfonts-core, fonts-noto-core, fonts-thai-tlwg,
fonts-arabeyes, fonts-kacst, fonts-lohit-deva, fonts-freefont-ttf, fonts-dejavu,
fonts-liberation, fonts-wqy-zenhei, fonts-hosny-amiri). Each font is in the training half or the
held-out half (FONTS): the classifier is fitted on the first and measured on the second.

The texts are random: words drawn from character pools written here (common characters of each
script), so nothing is copied from a corpus and any number of lines can be made from a seed.
"""

from __future__ import annotations

import glob
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

READABLE = ("han", "hant", "kana", "latin")
UNREADABLE = ("hangul", "thai", "arabic", "devanagari", "hebrew", "cyrillic")
SCRIPTS = READABLE + UNREADABLE

# Character pools. Han: common Simplified characters; Hant: characters whose Traditional form
# differs from the Simplified one (so a Traditional line is really Traditional).
HAN = (
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她"
    "里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老"
    "从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机"
    "给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产"
    "入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提"
    "价格营业时间电话地址服务中心银行医院学校超市停车场出口入口欢迎光临优惠活动会员积分"
)
HANT = (
    "們這個來國會時說為對後開過還麼發當沒經動兩現樣將與實點話兒問機給幾業間東電師書別總場產軍華報張難"
    "數車應親區醫學門長記讓認該錢體買賣無關係頭條號傳歡迎營業銀行價準備參觀飯館廣場預約職員"
)
KANA = (
    "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをん"
    "がぎぐげござじずぜぞだでどばびぶべぼぱぴぷぺぽっゃゅょー"
    "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲン"
    "ガギグゲゴザジズゼゾダデドバビブベボパピプペポッャュョー"
)
LATIN_WORDS = " ".join(
    [
        "open close shop hotel coffee bank office exit entrance parking service center hours daily menu",
        "price sale new free wifi tel fax email info book table room floor card cash only today",
        "OCR API ABC Ltd Co Inc No Tel Fax Open Close Sale Menu Hotel Bank Taxi Bus Metro Line Gate",
    ]
).split()
HANGUL = (
    "가나다라마바사아자차카타파하고노도로모보소오조초코토포호구누두루무부수우주추쿠투푸후그느드르므브스으즈"
    "기니디리미비시이지치키티피히개내대래매배새애재채캐태패해게네데레메베세에제체케테페헤영업시간한국어"
    "서울특별시강남구역삼동대한민국주식회사전화번호안내문의예약환영합니다학교병원은행약국편의점식당카페"
    "출입구주차장화장실엘리베이터계단비상구금연할인행사신제품무료배송고객센터운영시간월요일금요일토요일"
)
THAI_CONSONANTS = "กขคฆงจฉชซฌญฎฏฐฑฒณดตถทธนบปผฝพฟภมยรลวศษสหฬอฮ"
THAI_AFTER = ("", "", "า", "ิ", "ี", "ึ", "ื", "ุ", "ู", "ั", "่", "้", "ำ", "ะ")
THAI_BEFORE = ("", "", "", "เ", "แ", "โ", "ไ")
ARABIC = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
ARABIC_EXTRA = "ةىءأإآ"
DEVANAGARI_CONSONANTS = "कखगघचछजझटठडढणतथदधनपफबभमयरलवशषसह"
DEVANAGARI_SIGNS = ("", "", "ा", "ि", "ी", "ु", "ू", "े", "ै", "ो", "ौ", "ं", "्")
HEBREW = "אבגדהוזחטיכלמנסעפצקרשתםןףךץ"
CYRILLIC = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЭЮЯ"
DIGITS_PUNCT = ["09:00-18:00", "2026", "No.12", "(1)", "10%", "¥128", "$5.99", "#3", "3F", "A-12", "24h", "12/31"]


def _word(rng: random.Random, script: str) -> str:
    """One random word of a script."""
    if script == "han":
        return "".join(rng.choice(HAN) for _ in range(rng.randint(2, 6)))
    if script == "hant":
        return "".join(rng.choice(HANT + HAN[:80]) for _ in range(rng.randint(2, 6)))
    if script == "kana":
        return "".join(rng.choice(KANA) for _ in range(rng.randint(2, 6)))
    if script == "latin":
        return rng.choice(LATIN_WORDS + DIGITS_PUNCT) if rng.random() < 0.8 else rng.choice(DIGITS_PUNCT)
    if script == "hangul":
        return "".join(rng.choice(HANGUL) for _ in range(rng.randint(2, 5)))
    if script == "thai":
        return "".join(
            rng.choice(THAI_BEFORE) + rng.choice(THAI_CONSONANTS) + rng.choice(THAI_AFTER)
            for _ in range(rng.randint(2, 5))
        )
    if script == "arabic":
        pool = ARABIC * 3 + ARABIC_EXTRA
        return "".join(rng.choice(pool) for _ in range(rng.randint(2, 7)))
    if script == "devanagari":
        return "".join(
            rng.choice(DEVANAGARI_CONSONANTS) + rng.choice(DEVANAGARI_SIGNS) for _ in range(rng.randint(2, 5))
        )
    if script == "hebrew":
        return "".join(rng.choice(HEBREW) for _ in range(rng.randint(2, 6)))
    if script == "cyrillic":
        word = "".join(rng.choice(CYRILLIC[:33]) for _ in range(rng.randint(3, 8)))
        return word.capitalize() if rng.random() < 0.4 else (word.upper() if rng.random() < 0.2 else word)
    raise ValueError(script)


def phrase(rng: random.Random, script: str, words: int | None = None) -> str:
    """A few random words of a script; Chinese and Japanese without spaces, as they are written."""
    count = words or rng.randint(1, 4)
    joiner = "" if script in ("han", "hant", "kana") and rng.random() < 0.7 else " "
    return joiner.join(_word(rng, script) for _ in range(count))


# Fonts: (glob, face index in a collection, half). "train" fonts fit the classifier; "held"
# fonts measure it (and make the bench's pages). Noto CJK faces: 0 JP, 1 KR, 2 SC, 3 TC.
FONTS: dict[str, list[tuple[str, int, str]]] = {
    "han": [
        ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2, "train"),
        ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2, "train"),
        ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2, "held"),
        ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0, "held"),
        ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc", 2, "held"),
    ],
    "hant": [
        ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 3, "train"),
        ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc", 3, "train"),
        ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 3, "held"),
        ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 3, "held"),
    ],
    "kana": [
        ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 0, "train"),
        ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 0, "train"),
        ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 0, "held"),
        ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc", 0, "held"),
    ],
    "latin": [
        ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/freefont/FreeSans.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf", 0, "held"),
        ("/usr/share/fonts/truetype/liberation/LiberationSerif-Bold.ttf", 0, "held"),
        ("/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Oblique.ttf", 0, "held"),
        ("/usr/share/fonts/truetype/freefont/FreeSerifItalic.ttf", 0, "held"),
    ],
    "hangul": [
        ("/usr/share/fonts/truetype/nanum/NanumGothic.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/nanum/NanumMyeongjoBold.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/nanum/NanumSquareR.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/unfonts-core/UnDotum.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/unfonts-core/UnBatangBold.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/baekmuk/gulim.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/nanum/NanumPen.ttf", 0, "train"),
        ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 1, "held"),
        ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc", 1, "held"),
        ("/usr/share/fonts/truetype/nanum/NanumBarunGothic.ttf", 0, "held"),
        ("/usr/share/fonts/truetype/unfonts-core/UnGraphic.ttf", 0, "held"),
        ("/usr/share/fonts/truetype/baekmuk/batang.ttf", 0, "held"),
        ("/usr/share/fonts/truetype/nanum/NanumBrush.ttf", 0, "held"),
    ],
    "thai": [
        ("/usr/share/fonts/truetype/tlwg/Garuda.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/tlwg/Kinnari-Bold.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/tlwg/Loma.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/tlwg/Purisa.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/noto/NotoSansThai-Regular.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/tlwg/Norasi.ttf", 0, "held"),
        ("/usr/share/fonts/truetype/tlwg/Sawasdee-Bold.ttf", 0, "held"),
        ("/usr/share/fonts/truetype/noto/NotoSerifThai-Regular.ttf", 0, "held"),
        ("/usr/share/fonts/truetype/noto/NotoLoopedThai-Regular.ttf", 0, "held"),
        ("/usr/share/fonts/truetype/freefont/FreeSerif.ttf", 0, "held"),
    ],
    "arabic": [
        ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/kacst/KacstBook.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/fonts-arabeyes/ae_AlArabiya.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/fonts-arabeyes/ae_Furat.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/noto/NotoSansArabic-Regular.ttf", 0, "train"),
        ("/usr/share/fonts/opentype/fonts-hosny-amiri/Amiri-Regular.ttf", 0, "held"),
        ("/usr/share/fonts/truetype/kacst-one/KacstOne.ttf", 0, "held"),
        ("/usr/share/fonts/truetype/fonts-arabeyes/ae_Salem.ttf", 0, "held"),
        ("/usr/share/fonts/truetype/noto/NotoNaskhArabic-Bold.ttf", 0, "held"),
        ("/usr/share/fonts/truetype/freefont/FreeSerif.ttf", 0, "held"),
    ],
    "devanagari": [
        ("/usr/share/fonts/truetype/noto/NotoSansDevanagari-Regular.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/lohit-devanagari/Lohit-Devanagari.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/freefont/FreeSans.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/noto/NotoSerifDevanagari-Bold.ttf", 0, "held"),
        ("/usr/share/fonts/truetype/freefont/FreeSerif.ttf", 0, "held"),
    ],
    "hebrew": [
        ("/usr/share/fonts/truetype/noto/NotoSansHebrew-Regular.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/noto/NotoSerifHebrew-Bold.ttf", 0, "held"),
        ("/usr/share/fonts/truetype/freefont/FreeSans.ttf", 0, "held"),
    ],
    "cyrillic": [
        ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/freefont/FreeMono.ttf", 0, "train"),
        ("/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf", 0, "held"),
        ("/usr/share/fonts/truetype/dejavu/DejaVuSerif-Italic.ttf", 0, "held"),
        ("/usr/share/fonts/truetype/freefont/FreeSans.ttf", 0, "held"),
    ],
}


def fonts(script: str, half: str) -> list[tuple[str, int]]:
    """The installed fonts of a script in one half ("train" or "held")."""
    return [(path, index) for path, index, h in FONTS[script] if h == half and glob.glob(path)]


def missing_fonts(scripts=SCRIPTS, half: str = "held") -> list[str]:
    """The scripts that have no installed font in that half."""
    return [script for script in scripts if not fonts(script, half)]


@lru_cache(maxsize=256)
def _font(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=index)


@dataclass(frozen=True)
class Segment:
    text: str
    script: str
    left: int  # its ink's extent along the line, in the line image's pixels
    right: int


@dataclass
class RenderedLine:
    image: np.ndarray  # BGR, the line with a margin around it, as a detector would cut it
    segments: list[Segment]

    @property
    def text(self) -> str:
        return " ".join(segment.text for segment in self.segments)

    def unreadable(self) -> bool:
        return any(segment.script in UNREADABLE for segment in self.segments)


def line_plan(rng: random.Random, unreadable_share: float = 0.5) -> list[tuple[str, str]]:
    """[(script, text)] for one line: one readable script, one unreadable script, or an
    unreadable and a readable part side by side (a Korean shop name and its hours)."""
    kind = rng.random()
    if kind >= unreadable_share:
        script = rng.choice(READABLE)
        plan = [(script, phrase(rng, script))]
        if rng.random() < 0.3:  # Chinese with Latin or digits on the same line
            plan.append(("latin", phrase(rng, "latin", rng.randint(1, 2))))
            rng.shuffle(plan)
        return plan
    script = rng.choice(UNREADABLE)
    plan = [(script, phrase(rng, script))]
    if rng.random() < 0.45:
        other = rng.choice(READABLE + ("latin", "latin"))
        plan.append((other, phrase(rng, other, rng.randint(1, 2))))
        rng.shuffle(plan)
    return plan


def render_line(
    rng: random.Random, plan: list[tuple[str, str]], half: str, size: int | None = None, colours=None
) -> RenderedLine | None:
    """The plan's parts drawn left to right on one line, each in a font of its script (one font
    for the line where a part's font has the other parts' characters too), with a margin.
    None when a script has no installed font in that half."""
    size = size or rng.randint(22, 44)
    paper, ink = colours or _colours(rng)
    gap = int(size * rng.uniform(0.3, 0.9))
    parts: list[tuple[str, str, ImageFont.FreeTypeFont, str, tuple[int, ...]]] = []
    for script, text in plan:
        choices = fonts(script, half)
        if not choices:
            return None
        path, index = rng.choice(choices)
        font = _font(path, index, size)
        direction = "rtl" if script in ("arabic", "hebrew") else "ltr"
        try:
            bbox = font.getbbox(text, direction=direction)
        except (KeyError, ValueError, OSError):  # no layout engine for right-to-left text
            direction, bbox = "ltr", font.getbbox(text)
        parts.append((script, text, font, direction, tuple(int(v) for v in bbox)))
    margin_x, margin_y = int(size * rng.uniform(0.1, 0.6)), int(size * rng.uniform(0.1, 0.4))
    width = sum(box[2] - box[0] for *_, box in parts) + gap * (len(parts) - 1) + 2 * margin_x
    top = min(box[1] for *_, box in parts)
    bottom = max(box[3] for *_, box in parts)
    height = bottom - top + 2 * margin_y
    image = Image.new("RGB", (max(width, 8), max(height, 8)), paper)
    draw = ImageDraw.Draw(image)
    x = margin_x
    segments = []
    for script, text, font, direction, box in parts:
        draw.text((x - box[0], margin_y - top), text, font=font, fill=ink, direction=direction)
        segments.append(Segment(text, script, x, x + box[2] - box[0]))
        x += box[2] - box[0] + gap
    array = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)
    return RenderedLine(array, segments)


def _colours(rng: random.Random) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    if rng.random() < 0.6:
        light = rng.randint(200, 255)
        dark = rng.randint(0, 60)
        return (light, light, light), (dark, dark, dark)
    paper = tuple(rng.randint(0, 255) for _ in range(3))
    grey = sum(paper) / 3
    ink = tuple(int(max(0, min(255, (255 - grey) + rng.randint(-40, 40)))) for _ in range(3))
    if abs(sum(ink) / 3 - grey) < 90:
        ink = (0, 0, 0) if grey > 127 else (255, 255, 255)
    return paper, ink  # type: ignore[return-value]


def degrade(rng: random.Random, image: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Blur, downscaling, noise and JPEG, each at random; `strength` 0 leaves the image as it is."""
    out = image
    if strength <= 0:
        return out
    if rng.random() < 0.5 * strength:
        k = rng.choice((3, 5))
        out = cv2.GaussianBlur(out, (k, k), rng.uniform(0.5, 1.4 * strength))
    if rng.random() < 0.4 * strength:
        factor = rng.uniform(0.45, 0.8)
        h, w = out.shape[:2]
        small = cv2.resize(out, (max(1, int(w * factor)), max(1, int(h * factor))), interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.4 * strength:
        noise = np.random.default_rng(rng.randint(0, 1 << 30)).normal(0, 12 * strength, out.shape)
        out = np.clip(out.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.5 * strength:
        ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(25, 70)])
        decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
        if decoded is not None:
            out = decoded
    return out


def lines(seed: int, count: int, half: str, unreadable_share: float = 0.5, degraded: float = 0.5):
    """`count` rendered lines (RenderedLine), about `degraded` of them degraded."""
    rng = random.Random(seed)
    made = 0
    while made < count:
        line = render_line(rng, line_plan(rng, unreadable_share), half)
        if line is None:
            continue
        if rng.random() < degraded:
            line.image = degrade(rng, line.image)
        made += 1
        yield line


@dataclass
class PageLine:
    segments: list[Segment]  # in the order drawn, left and right in the page's pixels
    box: tuple[int, int, int, int]  # left, top, right, bottom on the page

    def unreadable(self) -> bool:
        return any(segment.script in UNREADABLE for segment in self.segments)

    @property
    def text(self) -> str:
        return " ".join(segment.text for segment in self.segments)


@dataclass
class Page:
    image: np.ndarray
    lines: list[PageLine]


def page(seed: int, half: str = "held", lines_per_page: int = 10, degraded: bool = False) -> Page:
    """A page of lines one under another, Chinese and Latin beside Korean, Thai, Arabic and the
    others, some mixed on one line; with `degraded`, the whole page blurred, noised or JPEG'd."""
    rng = random.Random(seed)
    width = 1000
    rendered: list[RenderedLine] = []
    while len(rendered) < lines_per_page:
        plan = line_plan(rng, 0.5)
        line = render_line(rng, plan, half, size=rng.randint(24, 40), colours=((255, 255, 255), (20, 20, 20)))
        if line is None or line.image.shape[1] > width - 40:
            continue
        rendered.append(line)
    height = sum(line.image.shape[0] + 18 for line in rendered) + 40
    sheet = np.full((height, width, 3), 255, np.uint8)
    y = 20
    placed = []
    for line in rendered:
        h, w = line.image.shape[:2]
        x = rng.randint(20, width - 20 - w)
        sheet[y : y + h, x : x + w] = line.image
        segments = [Segment(s.text, s.script, x + s.left, x + s.right) for s in line.segments]
        left = x + min(s.left for s in line.segments)
        right = x + max(s.right for s in line.segments)
        placed.append(PageLine(segments, (left, y, right, y + h)))
        y += h + 18
    if degraded:
        sheet = degrade(rng, sheet, 0.8)
    return Page(sheet, placed)


def font_list_text() -> str:
    """The fonts in use, one a line (for the docs)."""
    rows = []
    for script, entries in FONTS.items():
        for path, index, half in entries:
            rows.append(f"{script}\t{half}\t{Path(path).name}#{index}\t{'ok' if glob.glob(path) else 'missing'}")
    return "\n".join(rows)
