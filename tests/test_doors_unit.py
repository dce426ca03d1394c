"""Every door through the Lambda handler, with the endpoint stubbed at the protocol
(tests/fakes.py: a sagemaker-runtime whose "detector" reads dark rectangles as lines). No
models, no processes but the page renderer: the answers' shapes are checked against the
reference documents (/work/shared/reference: AWS AI Solution Kit General OCR, NHN General OCR
v1/v2/cropping, NHN Vehicle Plate OCR, CLOVA General OCR V1/V2), field by field."""

import base64
import io
import itertools
import json

import numpy as np
import pytest
from PIL import Image

from frontend.handler import handler
from tests.fakes import api_event, encoded, multipart, page_with_rectangles

NHN = "/v1.0/appkeys/my-app-key/general"
PLATE = "/v1.0/appkeys/my-app-key/vehicle-plate"
CLOVA = "/custom/v1/33675/8f694ccb00dbd8001e9b0fcbac/general"
CORNERS = {"x1", "y1", "x2", "y2", "x3", "y3", "x4", "y4"}


class Context:
    aws_request_id = "lambda-req-1"


def call(event):
    response = handler(event, Context())
    assert response["headers"]["Content-Type"].startswith("application/json")
    return response["statusCode"], json.loads(response["body"])


def form_upload(path, image: bytes, filename="a.png", content_type="image/png", field="image", query=None):
    body, ctype = multipart({field: (filename, image, content_type)})
    return call(api_event(path, body, ctype, query=query))


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_nhn_header(body, ok=True):
    # NHN: header {isSuccessful: Boolean, resultCode: Integer, resultMessage: String}
    header = body["header"]
    assert set(header) >= {"isSuccessful", "resultCode", "resultMessage"}
    assert isinstance(header["isSuccessful"], bool) and isinstance(header["resultCode"], int)
    assert isinstance(header["resultMessage"], str) and header["resultMessage"]
    assert header["isSuccessful"] is ok and (header["resultCode"] == 0) is ok


def check_corners(box):
    # {x1..y4}: clockwise from the top-left (the documents' picture), image coordinates, y down.
    assert set(box) == CORNERS and all(isinstance(v, int) for v in box.values())
    assert box["x1"] < box["x2"] and box["y2"] < box["y3"] and box["x3"] > box["x4"] and box["y4"] > box["y1"]


TWO_LINES = [(40, 30, 240, 60), (40, 70, 400, 100)]  # two lines of one paragraph


# ---- ours: AWS AI Solution Kit General OCR ------------------------------------------------------


def test_general_ocr_answers_the_solution_kits_items(fake_runtime):
    image = encoded(page_with_rectangles((500, 200), TWO_LINES))
    status, body = call(api_event("/general_ocr", json.dumps({"img": base64.b64encode(image).decode()})))
    assert status == 200 and isinstance(body, list) and len(body) == 2
    for item, (left, top, right, bottom) in zip(body, TWO_LINES):
        assert set(item) == {"words", "location", "score"}  # no detail fields leak out
        assert isinstance(item["words"], str) and is_number(item["score"])
        assert item["location"] == {"top": top, "left": left, "width": right - left, "height": bottom - top}
    assert fake_runtime.calls[0]["attributes"].get("detail") is None


# ---- NHN General OCR: v1 and v2 in one answer ----------------------------------------------------


def test_nhn_answers_v1_and_v2_fields_with_their_documented_types(fake_runtime):
    image = encoded(page_with_rectangles((500, 200), TWO_LINES))
    status, body = form_upload(NHN, image)
    assert status == 200
    check_nhn_header(body)
    result = body["result"]
    assert result["fileType"] == "png" and result["resolution"] in ("normal", "low")
    # v1: flat lists
    for text in result["listOfInferTextList"]:
        assert set(text) == {"value", "conf"} and isinstance(text["value"], str) and is_number(text["conf"])
    for box in result["listOfBoundingBoxList"]:
        check_corners(box)
    assert len(result["listOfInferTextList"]) == len(result["listOfBoundingBoxList"]) == 2
    # v2: the same words, grouped ({inferTexts: [...]}, {boundingBoxes: [...]})
    assert all(set(group) == {"inferTexts"} for group in result["listOfInferTexts"])
    assert all(set(group) == {"boundingBoxes"} for group in result["listOfBoundingBoxes"])
    assert [t for g in result["listOfInferTexts"] for t in g["inferTexts"]] == result["listOfInferTextList"]
    assert [b for g in result["listOfBoundingBoxes"] for b in g["boundingBoxes"]] == result["listOfBoundingBoxList"]
    # The boxes are where the lines are.
    first = result["listOfBoundingBoxList"][0]
    assert (first["x1"], first["y1"], first["x3"], first["y3"]) == (40, 30, 240, 60)
    assert "slicesImages" not in result  # the cropping API's field only


@pytest.mark.parametrize(
    "size, resolution", [((1280, 720), "normal"), ((720, 1280), "normal"), ((1279, 720), "low"), ((1920, 700), "low")]
)
def test_nhn_resolution_is_normal_from_hd_up(fake_runtime, size, resolution):
    # NHN: "normal: the resolution is the recommended resolution (HD 1280*720px) or above".
    status, body = form_upload(NHN, encoded(Image.new("L", size, 255)))
    assert status == 200 and body["result"]["resolution"] == resolution


def test_nhn_words_split_at_spaces_each_with_its_own_box(fake_runtime):
    # A line "ab cd" from the endpoint, with one quad per character: two words.
    from tests.fakes import line_for

    line = line_for((100, 10, 200, 30), detail=True, text="ab cd")
    fake_runtime.lines = [line]
    status, body = form_upload(NHN, encoded(Image.new("L", (300, 50), 255)))
    assert status == 200
    result = body["result"]
    assert [t["value"] for t in result["listOfInferTextList"]] == ["ab", "cd"]
    left, right = result["listOfBoundingBoxList"]
    assert left["x1"] == 100 and right["x2"] == 200 and left["x2"] <= right["x1"]


def test_nhn_json_image_url_is_fetched(fake_runtime, monkeypatch):
    from frontend import pipeline

    image = encoded(page_with_rectangles((300, 100), [(10, 10, 110, 40)]), "JPEG", quality=95)
    monkeypatch.setattr(pipeline, "fetch_http", lambda url, deadline=None: image)
    status, body = call(api_event(NHN, json.dumps({"imageUrl": "https://example.com/example.jpg"})))
    assert status == 200 and body["result"]["fileType"] == "jpg"
    assert len(body["result"]["listOfInferTextList"]) == 1


@pytest.mark.parametrize(
    "event, status, code",
    [
        (api_event(NHN, "imageUrl=x", "application/x-www-form-urlencoded"), 415, -41),
        (api_event(NHN, json.dumps({"imageUrl": "ftp://example.com/a.png"})), 400, -42),
        (api_event(NHN, json.dumps({"imageUrl": "http://169.254.169.254/latest/meta-data/"})), 403, -43),
        (api_event(NHN, json.dumps({"url": "https://example.com/a.png"})), 400, -40),
        (api_event(NHN, "{}", method="GET"), 405, -50),
    ],
)
def test_nhn_errors_keep_nhns_header(fake_runtime, event, status, code):
    got, body = call(event)
    assert got == status
    check_nhn_header(body, ok=False)
    assert body["header"]["resultCode"] == code
    assert not fake_runtime.calls


# ---- NHN cropping: long images in slices --------------------------------------------------------

# A 600 x 6000 capture: its lines (black bars of distinct widths) at rows chosen so that some
# lie across the overlaps of neighbouring slices.
LONG_SIZE = (600, 6000)


def long_lines():
    from frontend.long_images import plan_slices

    spans = plan_slices(LONG_SIZE[1], LONG_SIZE[0])
    assert len(spans) >= 4
    tops = [60]
    for (_, b), (c, _) in itertools.pairwise(spans):
        tops += [c + 5, (c + b) // 2 - 15, b - 20]  # at the start, the middle and the end of each overlap
    tops.append(LONG_SIZE[1] - 80)
    return [(50, top, 150 + 7 * i, top + 30) for i, top in enumerate(tops)]


def test_nhn_cropping_answers_each_line_once_in_the_whole_images_pixels(fake_runtime):
    lines = long_lines()
    image = encoded(page_with_rectangles(LONG_SIZE, lines, "L"))
    status, body = form_upload(NHN + "/cropping", image)
    assert status == 200, body
    check_nhn_header(body)
    result = body["result"]
    assert isinstance(result["slicesImages"], int) and result["slicesImages"] == len(fake_runtime.calls) >= 4
    assert all(max(call["size"]) < LONG_SIZE[1] for call in fake_runtime.calls)  # read in slices, not whole
    got = sorted((b["x1"], b["y1"], b["x3"], b["y3"]) for b in result["listOfBoundingBoxList"])
    assert got == sorted(lines)  # each line once, whole, where it is in the whole image


def test_nhn_cropping_slices_a_wide_image_across(fake_runtime):
    # The same capture turned on its side: sliced along its width, answered in its own pixels.
    lines = [(top, 50, bottom, 150 + 7 * i) for i, (_, top, _, bottom) in enumerate(long_lines())]
    image = encoded(page_with_rectangles(LONG_SIZE[::-1], lines, "L"))
    status, body = form_upload(NHN + "/cropping", image)
    assert status == 200 and body["result"]["slicesImages"] >= 4
    got = sorted((b["x1"], b["y1"], b["x3"], b["y3"]) for b in body["result"]["listOfBoundingBoxList"])
    assert got == sorted(lines)


def test_nhn_cropping_reads_a_short_image_whole(fake_runtime):
    status, body = form_upload(NHN + "/cropping", encoded(page_with_rectangles((500, 200), TWO_LINES)))
    assert status == 200 and body["result"]["slicesImages"] == 1 and len(fake_runtime.calls) == 1


def test_nhn_cropping_a_slice_the_endpoint_fails_fails_the_request(fake_runtime, monkeypatch):
    # A lost slice would silently lose its text: the request fails, in NHN's shape.
    from botocore.exceptions import ReadTimeoutError

    original = fake_runtime.invoke_endpoint
    seen = []

    def flaky(**request):
        seen.append(1)
        if len(seen) == 2:
            raise ReadTimeoutError(endpoint_url="https://runtime.sagemaker")
        return original(**request)

    monkeypatch.setattr(fake_runtime, "invoke_endpoint", flaky)
    status, body = form_upload(NHN + "/cropping", encoded(page_with_rectangles(LONG_SIZE, long_lines(), "L")))
    assert status == 504
    check_nhn_header(body, ok=False)


# ---- NHN Vehicle Plate OCR ----------------------------------------------------------------------


def test_plate_answers_values_and_boxes_as_nhn_documents(fake_runtime):
    fake_runtime.plates = [{"value": "123가4567", "conf": 0.93, "box": [[340, 31], [523, 31], [523, 97], [340, 97]]}]
    status, body = form_upload(PLATE, encoded(Image.new("RGB", (800, 400), "grey"), "JPEG"), "car.jpg", "image/jpeg")
    assert status == 200
    check_nhn_header(body)
    result = body["result"]
    assert set(result) == {"fileType", "values", "boxes", "resolution"}
    assert result["fileType"] == "jpg" and result["resolution"] == "low"
    assert result["values"] == [{"value": "123가4567", "conf": 0.93}]
    (box,) = result["boxes"]
    check_corners(box)
    assert box == {"x1": 340, "y1": 31, "x2": 523, "y2": 31, "x3": 523, "y3": 97, "x4": 340, "y4": 97}
    assert fake_runtime.calls[0]["attributes"]["task"] == "plates"


def test_plate_country_is_passed_on_and_checked_first(fake_runtime):
    image = encoded(Image.new("RGB", (200, 100), "grey"))
    assert form_upload(PLATE, image, query={"country": "KR"})[0] == 200
    assert fake_runtime.calls[-1]["attributes"]["country"] == "kr"
    status, body = form_upload(PLATE, image, query={"country": "jp"})
    assert status == 400 and body["header"]["isSuccessful"] is False and len(fake_runtime.calls) == 1


# ---- CLOVA General OCR --------------------------------------------------------------------------


def clova(version="V2", **image):
    return {
        "version": version,
        "requestId": "1234",
        "timestamp": 1722225600000,
        "lang": "ko",
        "images": [{"format": "png", "name": "demo", **image}],
    }


def check_clova_image(image, v2: bool, document: bool):
    assert isinstance(image["uid"], str) and image["uid"] and image["name"] == "demo"
    assert image["inferResult"] in ("SUCCESS", "FAILURE", "ERROR") and isinstance(image["message"], str)
    assert image["validationResult"]["result"] in ("NO_REQUESTED", "UNCHECKED", "ERROR", "VALID", "INVALID")
    # "When requesting with the V1 version, the convertedImageInfo, type, and lineBreak information
    # is not displayed"; convertedImageInfo is for pdf or tiff.
    assert ("convertedImageInfo" in image) == (v2 and document)
    if "convertedImageInfo" in image:
        info = image["convertedImageInfo"]
        assert set(info) == {"width", "height", "pageIndex", "longImage"}
        assert all(isinstance(info[k], int) for k in ("width", "height", "pageIndex"))
        assert isinstance(info["longImage"], bool)
    for field in image["fields"]:
        expected = {"valueType", "boundingPoly", "inferText", "inferConfidence"} | (
            {"type", "lineBreak"} if v2 else set()
        )
        assert set(field) == expected
        assert field["valueType"] in ("ALL", "NUMERIC") and isinstance(field["inferText"], str)
        assert is_number(field["inferConfidence"]) and 0 <= field["inferConfidence"] <= 1
        vertices = field["boundingPoly"]["vertices"]
        assert len(vertices) == 4 and all(
            set(v) == {"x", "y"} and is_number(v["x"]) and is_number(v["y"]) for v in vertices
        )
        if v2:
            assert field["type"] in ("NORMAL", "MULTI_BOX", "CHECKBOX") and isinstance(field["lineBreak"], bool)


@pytest.mark.parametrize("version", ["V1", "V2"])
def test_clova_json_image_answers_the_documents_fields(fake_runtime, version):
    image = encoded(page_with_rectangles((500, 200), TWO_LINES))
    status, body = call(api_event(CLOVA, json.dumps(clova(version, data=base64.b64encode(image).decode()))))
    assert status == 200
    assert (body["version"], body["requestId"], body["timestamp"]) == (version, "1234", 1722225600000)
    (entry,) = body["images"]
    check_clova_image(entry, version == "V2", document=False)
    assert len(entry["fields"]) == 2
    if version == "V2":
        assert [f["lineBreak"] for f in entry["fields"]] == [True, True]  # each line is one word here


def test_clova_v2_words_mark_the_last_of_their_line(fake_runtime):
    from tests.fakes import line_for

    fake_runtime.lines = [line_for((10, 10, 210, 40), True, "Hello world")]
    status, body = call(
        api_event(CLOVA, json.dumps(clova(data=base64.b64encode(encoded(Image.new("L", (300, 60), 255))).decode())))
    )
    assert status == 200
    fields = body["images"][0]["fields"]
    assert [(f["inferText"], f["lineBreak"]) for f in fields] == [("Hello", False), ("world", True)]


def pdf_of(sizes) -> bytes:
    pages = [page_with_rectangles(size, [(20, 20, 20 + 40 * (i + 1), 50)]) for i, size in enumerate(sizes)]
    return encoded(pages[0], "PDF", save_all=True, append_images=pages[1:], resolution=72)


def test_clova_pdf_of_n_pages_answers_n_images_in_page_order(fake_runtime):
    sizes = [(300, 400), (500, 300), (400, 400), (350, 600)]
    message = clova(format="pdf")
    message["images"][0]["name"] = "demo"
    body, ctype = multipart(
        {"message": (None, json.dumps(message).encode(), None), "file": ("doc.pdf", pdf_of(sizes), "application/pdf")}
    )
    status, answer = call(api_event(CLOVA, body, ctype))
    assert status == 200, answer
    images = answer["images"]
    assert [i["convertedImageInfo"]["pageIndex"] for i in images] == list(range(len(sizes)))
    widths = []
    for entry in images:
        check_clova_image(entry, v2=True, document=True)
        info = entry["convertedImageInfo"]
        widths.append(info["width"] / info["height"])
        (field,) = entry["fields"]
        assert all(
            0 <= v["x"] <= info["width"] and 0 <= v["y"] <= info["height"] for v in field["boundingPoly"]["vertices"]
        )
    # Each page's shape, and its own bar (40 pt longer on each page): the pages in their order.
    assert widths == pytest.approx([w / h for w, h in sizes], rel=0.02)
    bars = [
        max(v["x"] for v in e["fields"][0]["boundingPoly"]["vertices"]) / e["convertedImageInfo"]["width"] * w
        for e, (w, _) in zip(images, sizes)
    ]
    assert bars == pytest.approx([20 + 40 * (i + 1) for i in range(len(sizes))], abs=2)


def test_clova_tiff_frames_are_pages(fake_runtime):
    frames = [page_with_rectangles((300, 200), [(10, 10, 60 + 50 * i, 40)], "L") for i in range(3)]
    tiff = encoded(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    message = clova(format="tiff", data=base64.b64encode(tiff).decode())
    status, body = call(api_event(CLOVA, json.dumps(message)))
    assert status == 200
    images = body["images"]
    assert [i["convertedImageInfo"]["pageIndex"] for i in images] == [0, 1, 2]
    assert [f["inferText"] for i in images for f in i["fields"]] == ["rect50", "rect100", "rect150"]


def test_clova_a_16_bit_tiff_is_not_read_blank(fake_runtime):
    # A 16-bit greyscale scan: white is 65535, not 255. Clipped to 8 bits it would turn all white
    # (or all black); the bar must still be there, where it was.
    pixels = np.full((200, 400), 65535, np.uint16)
    pixels[50:80, 40:240] = 3000
    tiff = encoded(Image.fromarray(pixels), "TIFF")
    assert Image.open(io.BytesIO(tiff)).mode.startswith("I;16")
    status, body = call(api_event(CLOVA, json.dumps(clova(format="tiff", data=base64.b64encode(tiff).decode()))))
    assert status == 200
    (entry,) = body["images"]
    (field,) = entry["fields"]
    vertices = field["boundingPoly"]["vertices"]
    scale = entry["convertedImageInfo"]["width"] / 400
    assert (vertices[0]["x"] / scale, vertices[0]["y"] / scale) == pytest.approx((40, 50), abs=2)
    assert (vertices[2]["x"] / scale, vertices[2]["y"] / scale) == pytest.approx((240, 80), abs=2)


# CLOVA requests that are the client's error, and what each is answered (also sent through the
# local stack in tests/test_doors.py).
CLOVA_ERRORS = [
    ({"version": "V3"}, 400, "InvalidRequest"),
    ({"timestamp": "yesterday"}, 400, "InvalidRequest"),
    ({"images": []}, 400, "InvalidRequest"),
    ({"images": [{"format": "gif", "name": "a", "data": "R0lGODlh"}]}, 400, "UnsupportedImageFormat"),
    ({"images": [{"format": "png", "name": "a", "url": "http://10.0.0.1/a.png"}]}, 403, "UrlNotAllowed"),
    ({"images": [{"format": "png", "name": "a", "data": "not base64!"}]}, 400, "InvalidImage"),
]


@pytest.mark.parametrize("change, status, code", CLOVA_ERRORS)
def test_clova_errors(fake_runtime, change, status, code):
    message = {**clova(data=base64.b64encode(encoded(Image.new("L", (10, 10), 255))).decode()), **change}
    got, body = call(api_event(CLOVA, json.dumps(message)))
    assert got == status and body["code"] == code and body["message"] and body["requestId"] == "api-req-1"
    assert not fake_runtime.calls
