"""Image decoding: every mode a real file may carry, and every way bytes can be wrong."""

import io

import numpy as np
import pytest
from PIL import Image

from inference.images import decode_image
from ocr_contract import ApiError
from tests.conftest import EXPECTED, encode, fixture_image, many_scan_jpeg, norm, png_header, texts

LINE = norm(EXPECTED["line.png"][0])


def code_of(data: bytes) -> str:
    with pytest.raises(ApiError) as info:
        decode_image(data)
    return info.value.code.value


@pytest.mark.parametrize(
    "convert",
    [
        lambda im: encode(im.convert("L")),
        lambda im: encode(im.convert("P", palette=Image.ADAPTIVE)),
        lambda im: encode(im.convert("RGB"), "JPEG", quality=92),
        lambda im: encode(im.convert("CMYK"), "JPEG", quality=95),
        lambda im: encode(im.convert("RGB"), "BMP"),
        lambda im: encode(im.convert("1")),
    ],
    ids=["grey", "palette", "jpeg", "cmyk-jpeg", "bmp", "bilevel"],
)
def test_colour_modes_are_read(engine, convert):
    assert texts(engine.read(decode_image(convert(fixture_image("line.png"))))) == [LINE]


def test_transparent_background_is_laid_on_white(engine):
    grey = np.asarray(fixture_image("line.png").convert("L"))
    rgba = np.zeros(grey.shape + (4,), np.uint8)
    rgba[..., 3] = 255 - grey  # black text on a fully transparent background
    assert texts(engine.read(decode_image(encode(Image.fromarray(rgba, "RGBA"))))) == [LINE]


def test_palette_with_transparency(engine):
    image = fixture_image("line.png").convert("P", palette=Image.ADAPTIVE, colors=16)
    data = encode(image, transparency=int(np.asarray(image)[0, 0]))
    assert texts(engine.read(decode_image(data))) == [LINE]


def test_16_bit_grey_png_is_scaled_not_clipped(engine):
    grey = np.asarray(fixture_image("line.png").convert("L")).astype(np.uint16) * 257
    image = Image.fromarray(grey)
    assert image.mode.startswith("I;16")
    data = encode(image)
    pixels = decode_image(data)
    assert pixels.max() == 255 and pixels.min() < 100  # not turned all white
    assert texts(engine.read(pixels)) == [LINE]


def test_exif_orientation_is_honoured(engine):
    upright = fixture_image("line.png").convert("RGB")
    stored = upright.rotate(90, expand=True)  # as a camera stores it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    data = encode(stored, "JPEG", quality=95, exif=exif.tobytes())
    pixels = decode_image(data)
    assert pixels.shape[:2] == (upright.height, upright.width)
    assert texts(engine.read(pixels)) == [LINE]


def test_output_is_bgr():
    red = Image.new("RGB", (4, 4), (255, 0, 0))
    assert decode_image(encode(red))[0, 0].tolist() == [0, 0, 255]


def test_one_by_one_and_maximum_sizes_decode():
    assert decode_image(encode(Image.new("RGB", (1, 1)))).shape == (1, 1, 3)
    assert decode_image(encode(Image.new("L", (4096, 64)))).shape == (64, 4096, 3)


def test_decompression_bomb_is_refused_from_the_header():
    assert code_of(png_header(60000, 60000)) == "ImageTooLarge"
    assert code_of(png_header(5000, 3000)) == "ImageTooLarge"


def test_too_large_side():
    with pytest.raises(ApiError, match="5000x10 px"):
        decode_image(encode(Image.new("L", (5000, 10))))


@pytest.mark.parametrize(
    "data,code",
    [
        (b"", "InvalidImage"),
        (b"hello, this is not an image", "InvalidImage"),
        (b"GIF89a" + b"\x00" * 20, "UnsupportedImageFormat"),
        (b"%PDF-1.7\n", "UnsupportedImageFormat"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "UnsupportedImageFormat"),
        (b"II*\x00\x08\x00\x00\x00", "UnsupportedImageFormat"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00", "UnsupportedImageFormat"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "UnsupportedImageFormat"),
    ],
)
def test_bad_bytes(data, code):
    assert code_of(data) == code


def test_real_gif_and_webp_are_unsupported():
    assert code_of(encode(Image.new("RGB", (8, 8)), "GIF")) == "UnsupportedImageFormat"
    assert code_of(encode(Image.new("RGB", (8, 8)), "WEBP")) == "UnsupportedImageFormat"
    assert code_of(encode(Image.new("RGB", (8, 8)), "TIFF")) == "UnsupportedImageFormat"


def test_truncated_and_corrupt_images_are_invalid():
    png = encode(fixture_image("receipt.png"))
    assert code_of(png[: len(png) // 2]) == "InvalidImage"
    jpeg = encode(fixture_image("receipt.png").convert("RGB"), "JPEG")
    assert code_of(jpeg[:200]) == "InvalidImage"


def test_over_10_mib_is_payload_too_large():
    assert code_of(b"\x89PNG" + b"\x00" * (10 * 1024 * 1024)) == "PayloadTooLarge"


def test_camera_mpo_is_read_as_its_first_frame(engine):
    # Phones save .jpg files as MPO (a second frame after the first): Pillow names the format
    # "MPO", and these were refused as not jpg.
    out = io.BytesIO()
    fixture_image("line.png").convert("RGB").save(
        out, "MPO", save_all=True, append_images=[Image.new("RGB", (50, 50), "red")]
    )
    assert Image.open(io.BytesIO(out.getvalue())).format == "MPO"
    assert texts(engine.read(decode_image(out.getvalue()))) == [LINE]


def test_many_scan_jpeg_is_refused_from_its_header_in_milliseconds():
    import time

    bomb = many_scan_jpeg()
    start = time.monotonic()
    assert code_of(bomb) == "InvalidImage"
    assert time.monotonic() - start < 1.0


def test_progressive_jpegs_from_real_encoders_are_read(engine):
    assert texts(
        engine.read(decode_image(encode(fixture_image("line.png").convert("RGB"), "JPEG", progressive=True)))
    ) == [LINE]


@pytest.mark.parametrize("fmt", ["TIFF", "WEBP", "GIF", "ICO", "PCX", "TGA", "PPM"])
def test_only_the_three_formats_reach_a_decoder(fmt):
    # PCX, TGA and PPM have no magic bytes of their own that a sniffer would name: they must be
    # refused because they are not jpg/png/bmp, not handed to whichever Pillow parser claims them.
    data = encode(fixture_image("line.png").convert("RGB"), fmt)
    assert code_of(data) in ("UnsupportedImageFormat", "InvalidImage")
