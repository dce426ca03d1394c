"""The NHN and CLOVA doors, end to end over HTTP through the local stack (gateway -> the real
Lambda handler -> the real inference server), with requests built as their users build them:
multipart by `requests`, JSON as in the documents' curl examples."""

import base64
import io
import json

import pytest
import requests
from PIL import Image

from tests.conftest import EXPECTED, fixture_bytes, fixture_image, norm
from tests.httpfixtures import ImageServer
from tests.test_doors_unit import CLOVA_ERRORS

pytestmark = pytest.mark.e2e

NHN = "/v1.0/appkeys/my-app-key/general"
CLOVA = "/custom/v1/33675/8f694ccb00dbd8001e9b0fcbac/general"


@pytest.fixture(scope="module")
def images():
    with ImageServer({"receipt.png": fixture_bytes("receipt.png")}) as server:
        yield server


def words_of_nhn(result: dict) -> list[str]:
    return [t["value"] for group in result["listOfInferTexts"] for t in group["inferTexts"]]


def joined(texts) -> str:
    return norm("".join(texts))


def nhn_result(answer, file_type: str) -> dict:
    """The `result` of an NHN success, after checking the status, the header and the fields every
    NHN answer has (our test images are under HD: resolution low)."""
    assert answer.status_code == 200
    body = answer.json()
    assert body["header"] == {"isSuccessful": True, "resultCode": 0, "resultMessage": "SUCCESS"}
    assert body["result"]["fileType"] == file_type and body["result"]["resolution"] == "low"
    return body["result"]


# ---- NHN General OCR -----------------------------------------------------------------------


def test_nhn_multipart_upload_answers_both_result_shapes(local_stack):
    answer = requests.post(
        local_stack.base + NHN,
        files={"image": ("receipt.png", fixture_bytes("receipt.png"), "image/png")},
        headers={"Authorization": "secret"},
        timeout=60,
    )
    result = nhn_result(answer, "png")
    # v2: words grouped by block; v1: the same words, flat; one box per word in both.
    flat = [t["value"] for t in result["listOfInferTextList"]]
    assert words_of_nhn(result) == flat
    assert joined(flat) == joined(EXPECTED["receipt.png"])
    assert [len(g["boundingBoxes"]) for g in result["listOfBoundingBoxes"]] == [
        len(g["inferTexts"]) for g in result["listOfInferTexts"]
    ]
    assert len(result["listOfBoundingBoxList"]) == len(flat)
    for box in result["listOfBoundingBoxList"]:
        assert set(box) == {"x1", "y1", "x2", "y2", "x3", "y3", "x4", "y4"} and all(
            isinstance(v, int) for v in box.values()
        )
        # Clockwise from the top-left, in image coordinates (y down).
        assert box["x1"] < box["x2"] and box["y2"] < box["y3"] and box["x3"] > box["x4"] and box["y4"] > box["y1"]
    assert all(0 < t["conf"] <= 1 for t in result["listOfInferTextList"])


@pytest.mark.parametrize("route", [NHN, NHN + "/cropping"])
def test_nhn_json_image_url_as_in_the_documents_curl(local_stack, images, route):
    body = json.dumps({"imageUrl": images.base + "/file/receipt.png"})
    answer = requests.post(
        local_stack.base + route,
        data=body,
        timeout=60,
        headers={"Authorization": "secret", "Content-Type": "application/json"},
    )
    assert answer.status_code == 200 and answer.json()["header"]["isSuccessful"] is True
    result = answer.json()["result"]
    assert joined(t["value"] for t in result["listOfInferTextList"]) == joined(EXPECTED["receipt.png"])
    assert result.get("slicesImages") == (1 if route.endswith("/cropping") else None)


@pytest.mark.parametrize(
    "send, status, code",
    [
        ({"data": b"imageUrl=x", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 415, -41),
        ({"json": {"imageUrl": "ftp://example.com/a.png"}}, 400, -42),
        ({"json": {"imageUrl": "http://169.254.169.254/latest/meta-data/"}}, 403, -43),
        ({"json": {"url": "https://example.com/a.png"}}, 400, -40),
        ({"files": {"image": ("a.gif", b"GIF89a" + b"\0" * 20, "image/gif")}}, 400, -46),
        ({"files": {"picture": ("a.png", b"\x89PNG", "image/png")}}, 400, -40),
    ],
)
def test_nhn_errors_keep_nhns_shape_and_our_status(local_stack, send, status, code):
    answer = requests.post(local_stack.base + NHN, timeout=60, **send)
    assert answer.status_code == status
    header = answer.json()["header"]
    assert header["isSuccessful"] is False and header["resultCode"] == code and header["resultMessage"]


LONG_NAMES = ["line.png", "hue_only.png", "traditional.png", "receipt.png", "hello_world.png"]


def long_capture() -> Image.Image:
    """A 900x9000 capture, 5 known lines, two of them across the seams of neighbouring slices."""
    canvas = Image.new("RGB", (900, 9000), (255, 255, 255))
    for name, y in zip(LONG_NAMES, (1300, 2270, 4000, 6000, 8900)):
        canvas.paste(fixture_image(name).convert("RGB"), (200, y - 20))
    return canvas


def test_nhn_cropping_reads_each_line_of_a_long_image_once(local_stack):
    out = io.BytesIO()
    long_capture().save(out, "PNG")
    answer = requests.post(
        local_stack.base + NHN + "/cropping", files={"image": ("long.png", out.getvalue(), "image/png")}, timeout=120
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert result["slicesImages"] >= 2
    got = joined(t["value"] for t in result["listOfInferTextList"])
    expected = [norm(t) for name in LONG_NAMES for t in EXPECTED[name]]
    assert got == "".join(expected)  # every line exactly once, top to bottom
    boxes = result["listOfBoundingBoxList"]
    assert max(b["y3"] for b in boxes) > 8000  # coordinates in the whole image


def test_nhn_cropping_slices_a_phone_photo_as_it_is_shown(local_stack):
    # Stored sideways (9000x900) with EXIF orientation 6, shown upright (900x9000), as phones
    # save photos: sliced upright, read as the same lines, in the upright image's coordinates.
    sideways = long_capture().transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    sideways.save(out, "JPEG", quality=95, exif=exif)
    answer = requests.post(
        local_stack.base + NHN + "/cropping", files={"image": ("photo.jpg", out.getvalue(), "image/jpeg")}, timeout=120
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert result["slicesImages"] >= 2
    assert joined(t["value"] for t in result["listOfInferTextList"]) == "".join(
        norm(t) for n in LONG_NAMES for t in EXPECTED[n]
    )
    assert (
        max(b["y3"] for b in result["listOfBoundingBoxList"])
        > 8000
        >= max(b["x2"] for b in result["listOfBoundingBoxList"])
    )


def test_nhn_cropping_accepts_long_sides_up_to_16384_px_only_there(local_stack):
    tall = Image.new("RGB", (400, 12000), (255, 255, 255))
    out = io.BytesIO()
    tall.save(out, "PNG")
    files = {"image": ("tall.png", out.getvalue(), "image/png")}
    assert requests.post(local_stack.base + NHN + "/cropping", files=files, timeout=120).status_code == 200
    answer = requests.post(local_stack.base + NHN, files=files, timeout=60)
    assert answer.status_code == 400 and answer.json()["header"]["resultCode"] == -47


# ---- CLOVA General OCR ---------------------------------------------------------------------


def clova_message(version="V2", **image):
    return {
        "version": version,
        "requestId": "1234",
        "timestamp": 1722225600000,
        "lang": "ko",
        "images": [{"format": "png", "name": "demo", **image}],
    }


def test_clova_v2_answers_words_left_to_right_with_their_own_boxes(local_stack):
    message = clova_message(data=base64.b64encode(fixture_bytes("hello_world.png")).decode())
    answer = requests.post(local_stack.base + CLOVA, json=message, headers={"X-OCR-SECRET": "secret"}, timeout=60)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["version"], body["requestId"], body["timestamp"]) == ("V2", "1234", 1722225600000)
    (image,) = body["images"]
    assert image["inferResult"] == "SUCCESS" and image["validationResult"] == {"result": "NO_REQUESTED"}
    assert image["name"] == "demo" and image["uid"] and "convertedImageInfo" not in image
    fields = image["fields"]
    assert [f["inferText"] for f in fields] == ["Hello", "world", "08215563"]
    assert [f["lineBreak"] for f in fields] == [False, False, True]
    assert all(f["type"] == "NORMAL" and f["valueType"] == "ALL" and 0 < f["inferConfidence"] <= 1 for f in fields)
    spans = [
        (min(v["x"] for v in f["boundingPoly"]["vertices"]), max(v["x"] for v in f["boundingPoly"]["vertices"]))
        for f in fields
    ]
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # left to right, no overlap


def test_clova_v1_answers_lines_without_v2_fields(local_stack):
    message = clova_message("V1", data=base64.b64encode(fixture_bytes("receipt.png")).decode())
    message["enableTableDetection"] = True
    body = requests.post(local_stack.base + CLOVA, json=message, timeout=60).json()
    (image,) = body["images"]
    assert [norm(f["inferText"]) for f in image["fields"]] == [norm(t) for t in EXPECTED["receipt.png"]]
    assert all(set(f) == {"valueType", "boundingPoly", "inferText", "inferConfidence"} for f in image["fields"])
    assert image["tables"] == []  # asked for; a receipt has no table


def test_clova_multipart_pdf_gives_one_entry_per_page_in_order(local_stack):
    pages = [fixture_image(n).convert("RGB") for n in ("line.png", "receipt.png", "hello_world.png")]
    pdf = io.BytesIO()
    pages[0].save(pdf, "PDF", save_all=True, append_images=pages[1:], resolution=72)
    message = {
        "version": "V2",
        "requestId": "r-1",
        "timestamp": 1722225600000,
        "images": [{"format": "pdf", "name": "doc"}],
    }
    answer = requests.post(
        local_stack.base + CLOVA,
        timeout=120,
        files={"message": (None, json.dumps(message)), "file": ("doc.pdf", pdf.getvalue(), "application/pdf")},
    )
    assert answer.status_code == 200, answer.text
    images = answer.json()["images"]
    assert [i["convertedImageInfo"]["pageIndex"] for i in images] == [0, 1, 2]
    for image, name in zip(images, ("line.png", "receipt.png", "hello_world.png")):
        assert joined(f["inferText"] for f in image["fields"]) == joined(EXPECTED[name])
        info = image["convertedImageInfo"]
        assert isinstance(info["longImage"], bool) and max(info["width"], info["height"]) <= 4096
        assert all(
            0 <= v["x"] <= info["width"] and 0 <= v["y"] <= info["height"]
            for f in image["fields"]
            for v in f["boundingPoly"]["vertices"]
        )


def test_clova_two_page_group4_tiff(local_stack):
    pages = [
        fixture_image(n).convert("L").point(lambda v: 255 if v > 128 else 0).convert("1")
        for n in ("receipt.png", "line.png")
    ]
    tiff = io.BytesIO()
    pages[0].save(tiff, "TIFF", compression="group4", save_all=True, append_images=pages[1:])
    message = clova_message(data=base64.b64encode(tiff.getvalue()).decode())
    message["images"][0]["format"] = "tiff"
    answer = requests.post(local_stack.base + CLOVA, json=message, timeout=120)
    assert answer.status_code == 200, answer.text
    images = answer.json()["images"]
    assert [i["convertedImageInfo"]["pageIndex"] for i in images] == [0, 1]
    assert joined(f["inferText"] for f in images[0]["fields"]) == joined(EXPECTED["receipt.png"])
    assert joined(f["inferText"] for f in images[1]["fields"]) == joined(EXPECTED["line.png"])


@pytest.mark.parametrize("change, status, code", CLOVA_ERRORS)
def test_clova_errors(local_stack, change, status, code):
    message = {**clova_message(data=base64.b64encode(fixture_bytes("line.png")).decode()), **change}
    answer = requests.post(local_stack.base + CLOVA, json=message, timeout=60)
    assert answer.status_code == status
    assert answer.json()["code"] == code and answer.json()["message"] and answer.json()["requestId"]


# ---- NHN Vehicle Plate OCR -----------------------------------------------------------------

PLATE = "/v1.0/appkeys/my-app-key/vehicle-plate"


def _street_photo() -> bytes:
    """A plate on a car-coloured panel in a larger scene, beside a line of shop-sign text that
    is no plate (built from the committed fixtures, so nothing is downloaded)."""
    scene = Image.new("RGB", (640, 360), (128, 132, 140))
    sign = fixture_image("line.png")
    scene.paste(sign, (20, 20))
    plate = fixture_image("small_plate.png").resize((188, 52), Image.BICUBIC)
    scene.paste((40, 40, 45), (200, 220, 420, 300))  # the car's bumper
    scene.paste(plate, (216, 234))
    out = io.BytesIO()
    scene.save(out, "JPEG", quality=92)
    return out.getvalue()


def test_nhn_plate_multipart_upload_reads_the_plate_in_a_photo(local_stack):
    answer = requests.post(
        local_stack.base + PLATE,
        files={"image": ("car.jpg", _street_photo(), "image/jpeg")},
        headers={"Authorization": "secret"},
        timeout=60,
    )
    result = nhn_result(answer, "jpg")
    # The sign's text is no plate: only the plate is answered, with its box on the bumper.
    assert [v["value"] for v in result["values"]] == ["皖A12345"]
    assert 0.5 <= result["values"][0]["conf"] <= 1
    (box,) = result["boxes"]
    assert 200 <= box["x1"] < box["x2"] <= 420 and 220 <= box["y1"] < box["y4"] <= 300


@pytest.mark.parametrize(
    "name, plate",
    [
        ("two_row_plate.png", "粤B12345"),
        ("two_row_plate_cut_over_top_row.png", "粤B12345"),
        ("tilted_plate.png", "粤B7K2M9"),
    ],
)
def test_nhn_plate_json_image_url_reads_plate_crops(local_stack, name, plate):
    with ImageServer({name: fixture_bytes(name)}) as server:
        answer = requests.post(
            local_stack.base + PLATE,
            json={"imageUrl": f"{server.base}/file/{name}"},
            headers={"Authorization": "secret"},
            timeout=60,
        )
    assert answer.status_code == 200
    result = answer.json()["result"]
    # A two-row (yellow) plate reads as one, also cut tight over its top row (which touches the
    # image's edge as a cut sliver of a line would); the tilted crop's province character is the one
    # the grammar decoding recovers (greedy reading gives 奥, no province).
    assert [v["value"] for v in result["values"]][:1] == [plate]


def test_nhn_plate_reads_a_korean_plate_in_a_photo_uploaded_as_multipart(local_stack):
    answer = requests.post(
        local_stack.base + PLATE,
        files={"image": ("car.png", fixture_bytes("korean_plate_photo.png"), "image/png")},
        headers={"Authorization": "secret"},
        timeout=60,
    )
    result = nhn_result(answer, "png")
    # The parking sign is Korean text but no plate: only the plate is answered, on the car.
    assert [v["value"] for v in result["values"]] == EXPECTED["korean_plate_photo.png"]
    assert 0.5 <= result["values"][0]["conf"] <= 1
    (box,) = result["boxes"]
    assert 160 <= box["x1"] < box["x2"] <= 320 and 200 <= box["y1"] < box["y4"] <= 246


@pytest.mark.parametrize(
    "name",
    [
        "korean_plate.png",
        "korean_two_row_plate.png",
        "korean_two_row_plate_close.png",
        "korean_two_row_plate_cut_over_top_row.png",
        "korean_two_row_plate_2004.png",
        "korean_plate_tight_crop.png",
        "korean_plate_in_holder.png",
        "korean_plate_in_holder_wide.png",
        "korean_plate_slanted_left.png",
        "korean_plate_slanted_right.png",
        "korean_plate_narrow_syllable.png",
        "korean_plate_narrow_syllable_2.png",
        "korean_plate_narrow_syllable_3.png",
    ],
)
def test_nhn_plate_json_image_url_reads_korean_plate_crops(local_stack, name):
    with ImageServer({name: fixture_bytes(name)}) as server:
        answer = requests.post(
            local_stack.base + PLATE,
            json={"imageUrl": f"{server.base}/file/{name}"},
            headers={"Authorization": "secret"},
            timeout=60,
        )
    # A 2019 plate, two-row plates with their region on top (the second with its rows set
    # close, seen small; the third cut over its top row) and one of 2004 without it, each read
    # as one value, a small plate cropped tightly, its frame on the image's edge, and plates
    # cropped from a photo with their bolts, rim and holder (the text's box then covers the
    # whole crop), two of them photographed from one side, their strokes leaning either way,
    # and short plates whose syllable is as narrow as a digit.
    assert [v["value"] for v in nhn_result(answer, "png")["values"]] == EXPECTED[name]


def test_nhn_plate_country_hint_reads_only_that_countrys_plates(local_stack):
    def values(name, country):
        answer = requests.post(
            local_stack.base + PLATE + f"?country={country}",
            files={"image": (name, fixture_bytes(name), "image/png")},
            headers={"Authorization": "secret"},
            timeout=60,
        )
        return [v["value"] for v in nhn_result(answer, "png")["values"]]

    assert values("korean_plate.png", "KR") == EXPECTED["korean_plate.png"]
    assert values("korean_plate.png", "cn") == []
    assert values("two_row_plate.png", "cn") == ["粤B12345"]
    assert values("two_row_plate.png", "kr") == []


def test_nhn_plate_an_unknown_country_is_the_clients_error(local_stack):
    answer = requests.post(
        local_stack.base + PLATE + "?country=jp",
        files={"image": ("plate.png", fixture_bytes("korean_plate.png"), "image/png")},
        headers={"Authorization": "secret"},
        timeout=60,
    )
    assert answer.status_code == 400
    header = answer.json()["header"]
    assert header["isSuccessful"] is False and "kr" in header["resultMessage"]


def test_nhn_plate_a_photo_with_no_plate_is_a_success_with_empty_lists(local_stack):
    answer = requests.post(
        local_stack.base + PLATE,
        files={"image": ("receipt.png", fixture_bytes("receipt.png"), "image/png")},
        headers={"Authorization": "secret"},
        timeout=60,
    )
    assert answer.status_code == 200
    assert answer.json()["result"] == {"fileType": "png", "values": [], "boxes": [], "resolution": "low"}


def test_nhn_plate_errors_keep_nhns_shape(local_stack):
    answer = requests.post(
        local_stack.base + PLATE,
        json={"imageUrl": "http://169.254.169.254/latest/meta-data/"},
        headers={"Authorization": "secret"},
        timeout=60,
    )
    assert answer.status_code == 403
    assert answer.json()["header"]["resultCode"] == -43 and answer.json()["header"]["isSuccessful"] is False
