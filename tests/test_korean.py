"""Korean text when asked (issue #28): CLOVA's `lang` naming `ko` (its document lists `ko`, `ja`,
`zh-TW`, several joined by commas), our `?lang=ko` on the NHN general routes and `"lang": "ko"`
on /general_ocr reach the container as the protocol's `lang=ko`; there Hangul lines are read by
Tesseract's Korean model beside PP-OCR, and where that model is not installed the request gets
a clear error in its API's shape while everything else keeps working."""

import asyncio
import base64
import io
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from frontend.handler import handler
from inference import korean as korean_text
from ocr_contract import ApiError
from tests.conftest import EXPECTED, norm
from tests.fakes import api_event, encoded, multipart, page_with_rectangles

NHN = "/v1.0/appkeys/my-app-key/general"
NHN_CROPPING = "/v1.0/appkeys/my-app-key/general/cropping"
CLOVA = "/custom/v1/33675/8f694ccb00dbd8001e9b0fcbac/general"
LINES = [(40, 30, 240, 60), (40, 70, 400, 100)]
FONTS = [
    (Path("/usr/share/fonts/truetype/nanum/NanumGothic.ttf"), 0),
    (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), 1),  # Noto Sans CJK KR
]


class Context:
    aws_request_id = "lambda-req-1"


def call(event):
    response = handler(event, Context())
    return response["statusCode"], json.loads(response["body"])


def clova_message(lang=None, version="V2"):
    image = base64.b64encode(encoded(page_with_rectangles((500, 200), LINES))).decode()
    message = {
        "version": version,
        "requestId": "1234",
        "timestamp": 1722225600000,
        "images": [{"format": "png", "name": "demo", "data": image}],
    }
    if lang is not None:
        message["lang"] = lang
    return message


def nhn_upload(path, query=None):
    body, content_type = multipart({"image": ("a.png", encoded(page_with_rectangles((500, 200), LINES)), "image/png")})
    return call(api_event(path, body, content_type, query=query))


# ---- the doors pass `ko` on, and refuse what their API does not take ------------------------------


@pytest.mark.parametrize(
    "lang, sent",
    [("ko", "ko"), ("ko, ja, zh-TW", "ko"), ("ja,ko", "ko"), ("KO", "ko"), ("ja", None), ("zh-TW", None), (None, None)],
)
def test_clova_lang_naming_ko_reads_korean(fake_runtime, lang, sent):
    status, body = call(api_event(CLOVA, json.dumps(clova_message(lang))))
    assert status == 200 and body["images"][0]["inferResult"] == "SUCCESS"
    assert fake_runtime.calls[0]["attributes"].get("lang") == sent


@pytest.mark.parametrize("lang", ["en", "ko;ja", "", 5, ["ko"]])
def test_clova_lang_outside_its_document_is_the_callers_error(fake_runtime, lang):
    status, body = call(api_event(CLOVA, json.dumps(clova_message(lang))))
    assert status == 400 and body["code"] == "InvalidRequest" and "lang" in body["message"]
    assert not fake_runtime.calls


@pytest.mark.parametrize("path", [NHN, NHN_CROPPING])
def test_nhn_query_lang_ko_reads_korean(fake_runtime, path):
    status, body = nhn_upload(path, {"lang": "ko"})
    assert status == 200 and body["header"]["isSuccessful"] is True
    assert fake_runtime.calls and all(call["attributes"].get("lang") == "ko" for call in fake_runtime.calls)
    status, body = nhn_upload(path)
    assert status == 200 and fake_runtime.calls[-1]["attributes"].get("lang") is None


def test_nhn_unknown_lang_keeps_nhns_error_header(fake_runtime):
    status, body = nhn_upload(NHN, {"lang": "jp"})
    assert status == 400 and body["header"]["isSuccessful"] is False and body["header"]["resultCode"] < 0
    assert "lang" in body["header"]["resultMessage"] and not fake_runtime.calls


def test_general_ocr_lang_ko(fake_runtime):
    image = base64.b64encode(encoded(page_with_rectangles((500, 200), LINES))).decode()
    status, body = call(api_event("/general_ocr", json.dumps({"img": image, "lang": "ko"})))
    assert status == 200 and len(body) == 2 and all(set(item) == {"words", "location", "score"} for item in body)
    assert fake_runtime.calls[0]["attributes"]["lang"] == "ko"
    status, body = call(api_event("/general_ocr", json.dumps({"img": image, "lang": "th"})))
    assert status == 400 and body["error"]["code"] == "InvalidRequest" and "lang" in body["error"]["message"]
    assert len(fake_runtime.calls) == 1


# ---- where Tesseract or its Korean model is missing ------------------------------------------------


def test_without_the_korean_model_lang_ko_is_a_clear_501(monkeypatch, tmp_path):
    monkeypatch.setenv(korean_text.TESSDATA_ENV, str(tmp_path))  # a folder without kor.traineddata
    reader = korean_text.KoreanReader(1)
    assert not reader.available
    with pytest.raises(ApiError) as caught:
        reader.read(np.full((32, 100, 3), 255, np.uint8))
    error = caught.value
    assert error.code.value == "LanguageNotAvailable" and error.status == 501
    assert "kor.traineddata" in error.message and "--prepare-models" in error.message


def test_without_tesserocr_lang_ko_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tesserocr", None)  # `import tesserocr` fails
    reader = korean_text.KoreanReader(1)
    with pytest.raises(ApiError) as caught:
        reader.read(np.full((32, 100, 3), 255, np.uint8))
    assert caught.value.status == 501 and "tesserocr" in caught.value.message


@pytest.mark.models
def test_a_job_range_asking_for_korean_where_it_is_missing_fails_once_saying_what_to_install(
    engine, monkeypatch, tmp_path
):
    """Not 20 pages each with the same error: the range is refused before a page is rendered,
    and the job records its pages failed with that message."""
    import time

    from inference.serving.document_pages import read_document
    from ocr_contract.protocol import InvokeOptions
    from tests.conftest import fixture_image

    monkeypatch.setenv(korean_text.TESSDATA_ENV, str(tmp_path))  # no kor.traineddata
    monkeypatch.setattr(engine, "korean", korean_text.KoreanReader(1))
    pdf = io.BytesIO()
    fixture_image("line.png").convert("RGB").save(pdf, "PDF")
    options = InvokeOptions(task="document", pages=(1, 20), lane="bulk", lang="ko")
    with pytest.raises(ApiError) as caught:
        read_document(engine, pdf.getvalue(), time.monotonic() + 30, options)
    assert caught.value.status == 501 and "--prepare-models" in caught.value.message
    # Without lang the same document is read.
    pages, _ = read_document(engine, pdf.getvalue(), time.monotonic() + 30, InvokeOptions(task="document"))
    assert pages[0]["error"] is None and pages[0]["lines"]


@pytest.mark.parametrize("door", ["nhn", "clova", "general_ocr"])
def test_the_containers_language_error_reaches_the_client_in_its_apis_shape(monkeypatch, door):
    """The container's 501 comes back through SageMaker as ModelError carrying it (DESIGN.md):
    each door answers it in its own shape, not as a 500."""
    from botocore.exceptions import ClientError

    from frontend import endpoint

    original = korean_text.language_not_available("kor.traineddata was not found")

    class Runtime:
        def invoke_endpoint(self, **request):
            body = json.dumps(original.body("r-1"))
            raise ClientError(
                {
                    "Error": {"Code": "ModelError", "Message": "Received client error (501)"},
                    "OriginalStatusCode": 501,
                    "OriginalMessage": body,
                },
                "InvokeEndpoint",
            )

    monkeypatch.setenv("ENDPOINT_NAME", "ocr")
    monkeypatch.setattr(endpoint, "_runtime", lambda timeout: Runtime())
    if door == "nhn":
        status, body = nhn_upload(NHN, {"lang": "ko"})
        assert body["header"]["isSuccessful"] is False and body["header"]["resultCode"] == -63
        message = body["header"]["resultMessage"]
    elif door == "clova":
        status, body = call(api_event(CLOVA, json.dumps(clova_message("ko"))))
        assert body["code"] == "LanguageNotAvailable"
        message = body["message"]
    else:
        image = base64.b64encode(encoded(page_with_rectangles((500, 200), LINES))).decode()
        status, body = call(api_event("/general_ocr", json.dumps({"img": image, "lang": "ko"})))
        assert body["error"]["code"] == "LanguageNotAvailable"
        message = body["error"]["message"]
    assert status == 501 and "--prepare-models" in message


# ---- Tesseract itself: no crash on what it cannot read, one API object per thread ------------------


def _reader():
    reader = korean_text.KoreanReader(2)
    if not reader.available:
        pytest.skip(f"Korean is not installed here: {reader.problem}")
    return reader


@pytest.mark.models
def test_a_strip_of_noise_reads_as_little_or_nothing_and_raises_nothing():
    # This one makes Tesseract's iterator hold a symbol without text (tesserocr raises on it).
    rng = np.random.default_rng(3)
    height, width = int(rng.integers(8, 60)), int(rng.integers(8, 400))
    noise = (rng.random((height, width)) * 255).astype(np.uint8)
    symbols = _reader().read(noise)
    assert all(0 <= s.start <= s.end <= 1 and s.char for s in symbols)


@pytest.mark.models
def test_threads_reading_at_once_read_as_one_alone():
    from concurrent.futures import ThreadPoolExecutor

    reader = _reader()
    strips = [korean_line(text) for text in ("서울특별시 종로구", "영업시간 09:00-18:00", "감사합니다", "부가세 포함")]
    alone = ["".join(s.char for s in reader.read(strip)) for strip in strips]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda strip: "".join(s.char for s in reader.read(strip)), strips * 3))
    assert together == alone * 3 and reader._created <= 2  # never more API objects than its size


# ---- reading: a Korean line rendered now, through the engine and through NHN's door ----------------


def _font():
    for path, index in FONTS:
        if path.is_file():
            return ImageFont.truetype(str(path), 34, index=index)
    pytest.skip("no Korean font: apt-get install fonts-nanum (or fonts-noto-cjk)")


KOREAN = "서울특별시 종로구 세종대로 209"


def korean_line(text: str = KOREAN) -> np.ndarray:
    font = _font()
    width = int(font.getlength(text)) + 60
    image = Image.new("RGB", (width, 70), "white")
    ImageDraw.Draw(image).text((30, 14), text, font=font, fill="black")
    return np.ascontiguousarray(np.asarray(image)[:, :, ::-1])


def _needs_korean(engine):
    if not engine.korean.available:
        pytest.skip(f"Korean is not installed here: {engine.korean.problem}")


@pytest.mark.models
def test_a_korean_line_is_read_with_ko_and_its_characters_placed(engine):
    _needs_korean(engine)
    image = korean_line()
    (line,) = engine.read(image, detail=True, lang="ko")
    assert norm(line.text) == norm(KOREAN) and line.score >= 0.8
    # One quad per character, in reading order along the line, inside the line's box.
    assert len(line.chars) == len(line.text)
    lefts = [quad[0][0] for char, quad in zip(line.text, line.chars) if not char.isspace()]
    assert lefts == sorted(lefts)
    xs = [point[0] for point in line.box]
    assert all(min(xs) - 2 <= quad[0][0] <= quad[1][0] <= max(xs) + 2 for quad in line.chars)
    # Without `ko`, PP-OCR alone cannot read it (its dictionary has no Hangul).
    assert all(norm(other.text) != norm(KOREAN) for other in engine.read(image))


@pytest.mark.models
def test_an_upside_down_korean_line_is_read_too(engine):
    # PP-OCR's angle classifier cannot tell which way up Hangul is; the line is read either way.
    _needs_korean(engine)
    upside_down = np.ascontiguousarray(korean_line()[::-1, ::-1])
    assert [norm(line.text) for line in engine.read(upside_down, lang="ko")] == [norm(KOREAN)]


@pytest.mark.models
def test_chinese_and_latin_lines_read_the_same_with_ko(engine):
    _needs_korean(engine)
    font = _font()
    image = Image.new("RGB", (640, 150), "white")
    draw = ImageDraw.Draw(image)
    draw.text((20, 15), "Total amount: 12,500 KRW", font=font, fill="black")
    draw.text((20, 85), "영업시간 09:00-18:00 연중무휴", font=font, fill="black")
    pixels = np.ascontiguousarray(np.asarray(image)[:, :, ::-1])
    without = engine.read(pixels)
    with_ko = engine.read(pixels, lang="ko")
    assert without[0].text == with_ko[0].text == "Total amount: 12,500 KRW"
    assert norm(with_ko[-1].text) == norm("영업시간 09:00-18:00 연중무휴")


@pytest.mark.models
def test_a_chinese_receipt_reads_the_same_with_ko(engine):
    # Tesseract's Korean model reads Chinese lines with digits as confident Hangul ("日期：2026年
    # 11月21日" as "2026주119321넌" at 97 of 100): asked for Korean, Chinese must stay Chinese.
    _needs_korean(engine)
    receipt = cv2.imread(str(Path(__file__).parent / "fixtures" / "receipt.png"))
    without = [line.text for line in engine.read(receipt)]
    assert [line.text for line in engine.read(receipt, lang="ko")] == without
    assert [norm(text) for text in without] == [norm(text) for text in EXPECTED["receipt.png"]]


@pytest.mark.models
def test_with_ko_tesseract_reads_only_lines_where_an_unreadable_script_may_be(engine, monkeypatch):
    # Tesseract is most of a page's time with ko (CLOVA's own examples send "lang": "ko" with
    # every document): lines the script classifier sees as Chinese or Latin throughout are left
    # to PP-OCR, and read the same; the Korean line still goes to Tesseract.
    _needs_korean(engine)
    read = []
    original = engine.korean.read
    monkeypatch.setattr(
        engine.korean, "read", lambda strip, deadline=None: read.append(strip) or original(strip, deadline)
    )
    receipt = cv2.imread(str(Path(__file__).parent / "fixtures" / "receipt.png"))
    lines = engine.read(receipt, lang="ko")
    assert [norm(line.text) for line in lines] == [norm(text) for text in EXPECTED["receipt.png"]]
    assert len(read) < len(lines), f"{len(read)} reads by Tesseract for {len(lines)} Chinese lines"
    read.clear()
    assert [norm(line.text) for line in engine.read(korean_line(), lang="ko")] == [norm(KOREAN)]
    assert len(read) >= 1


@pytest.mark.models
def test_nhn_splits_a_korean_line_into_its_words_with_boxes_in_order(engine, monkeypatch):
    """Through the Lambda handler, SageMaker's runtime stand-in and the real inference server:
    NHN's words are the line's words (split at spaces by the characters' boxes)."""
    _needs_korean(engine)
    from aiohttp.test_utils import TestServer

    from frontend import endpoint
    from inference.serving.server import create_app
    from local.sagemaker_runtime import create_runtime

    png = encoded(Image.fromarray(korean_line()[:, :, ::-1]))

    async def scenario():
        async with (
            TestServer(create_app(engine=engine, workers=1, queue=2)) as server,
            TestServer(create_runtime(str(server.make_url("")), timeout_s=60)) as runtime,
        ):
            monkeypatch.setenv("ENDPOINT_NAME", "ocr")
            monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
            monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
            monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
            monkeypatch.setenv(endpoint.ENDPOINT_URL_ENV, str(runtime.make_url("")))
            endpoint._clients.clear()
            body, content_type = multipart({"image": ("line.png", png, "image/png")})
            event = api_event(NHN, body, content_type, query={"lang": "ko"})
            return await asyncio.get_running_loop().run_in_executor(None, call, event)

    try:
        status, body = asyncio.run(scenario())
    finally:
        endpoint._clients.clear()
    assert status == 200
    words = body["result"]["listOfInferTextList"]
    assert [w["value"] for w in words] == KOREAN.split()
    boxes = body["result"]["listOfBoundingBoxList"]
    assert all(a["x2"] <= b["x1"] + 2 for a, b in zip(boxes, boxes[1:]))  # left to right, apart


# korean_or_ppocr on the two readings the engine gives it: PP-OCR's (its characters, their
# probabilities and places, and the script classifier's class probabilities per time step) and
# Tesseract's Korean symbols. Places are in time steps of 1/80 of the strip; a character's glyph
# covers 6 steps from step 2.
STEPS = 80


def _span(k: int) -> tuple[float, float]:
    return (2 + 6 * k) / STEPS, (8 + 6 * k) / STEPS


def _ppocr(text: str, probs: list[float], hangul: list[float]):
    """PP-OCR's reading of a line: one glyph per character, each read at its probability; over
    each glyph the classifier gives Hangul `hangul[k]` and the recogniser's own scripts the rest."""
    from inference.text import recognize, scripts

    classes = np.zeros((STEPS, len(scripts.CLASSES)), np.float32)
    classes[:, scripts.CLASSES.index(scripts.BACKGROUND)] = 1.0
    for k, h in enumerate(hangul):
        steps = slice(2 + 6 * k, 8 + 6 * k)
        classes[steps] = 0.0
        classes[steps, scripts.CLASSES.index("hangul")] = h
        classes[steps, scripts.CLASSES.index(scripts.READABLE)] = 1.0 - h
    return recognize.Reading(
        text,
        float(np.mean(probs)),
        float(np.min(probs)),
        tuple(_span(k) for k in range(len(text))),
        probs=tuple(probs),
        at=tuple(sum(_span(k)) / 2 for k in range(len(text))),
        classes=classes,
        step=1.0 / STEPS,
    )


def _tesseract(text: str, confidence: float) -> list:
    return [korean_text.Symbol(char, *_span(k), confidence) for k, char in enumerate(text)]


def _rereads(reading):
    """PP-OCR reading each place again: the characters of `reading` whose glyphs lie there."""
    from inference.text import recognize

    def reread(places):
        out = []
        for low, high in places:
            kept = [(c, p) for c, p, at in zip(reading.text, reading.probs, reading.at) if low <= at <= high]
            text = "".join(c for c, _ in kept)
            score = float(np.mean([p for _, p in kept])) if kept else 0.0
            out.append(recognize.Reading(text, score, score))
        return out

    return reread


def test_a_scanned_chinese_date_range_is_not_taken_for_korean_because_digits_share_its_word():
    # XFUND (a scanned Chinese form): "2015.6--至今" read by PP-OCR at 0.99; Tesseract's Korean
    # model made "2015.6-주수" of it at 98, one word. The classifier saw little Hangul over 至今
    # (0.25, below what it sees over real Hangul) and none over the digits.
    text = "2015.6--至今"
    ppocr = _ppocr(text, [0.99] * len(text), [0.0] * 8 + [0.25, 0.25])
    tesseract = _tesseract("2015.6-", 97.7) + [
        korean_text.Symbol(char, *_span(k), 97.7) for k, char in ((8, "주"), (9, "수"))
    ]
    merged = korean_text.korean_or_ppocr(ppocr, tesseract, 0.1, _rereads(ppocr))
    assert merged.text == text


def test_a_chinese_character_pp_ocr_reads_surely_stays_chinese_whatever_tesseract_says():
    # XFUND: a handwritten-looking 科 read by PP-OCR at 1.0; Tesseract read 차 at 97.4 and the
    # classifier, fooled too, saw Hangul at 0.66 there.
    ppocr = _ppocr("本科", [0.71, 1.0], [0.0, 0.66])
    merged = korean_text.korean_or_ppocr(ppocr, _tesseract("주차", 97.4), 0.1, _rereads(ppocr))
    assert merged.text == "本科"


def test_a_korean_word_pp_ocr_reads_as_confident_junk_is_still_korean():
    # What PP-OCR makes of a Hangul word (no Hangul in its dictionary): junk, sometimes at 0.9,
    # but not every character a sure ideograph; the classifier sees Hangul over it.
    ppocr = _ppocr("号OCR", [0.93, 0.9, 0.95, 0.91], [0.9, 0.85, 0.8, 0.9])
    merged = korean_text.korean_or_ppocr(ppocr, _tesseract("영업시간", 99.0), 0.1, _rereads(ppocr))
    assert merged.text == "영업시간"


def test_a_hangul_word_pp_ocr_reads_as_a_sure_ideograph_stays_korean_where_hangul_is_plain():
    # make bench-korean: "부산" (NanumMyeongjo Bold) read by PP-OCR as 早 at 0.93, over ink the
    # classifier sees as Hangul at 0.98: Korean, not the Chinese character.
    ppocr = _ppocr("早", [0.93], [0.98])
    tesseract = [
        korean_text.Symbol("부", 2 / STEPS, 5 / STEPS, 99.6),
        korean_text.Symbol("산", 5 / STEPS, 8 / STEPS, 99.6),
    ]
    merged = korean_text.korean_or_ppocr(ppocr, tesseract, 0.1, _rereads(ppocr))
    assert merged.text == "부산"
