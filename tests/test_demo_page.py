"""The demo page at / in headless Chromium: drop an image, see its text and boxes."""

import shutil

import pytest

from tests.conftest import EXPECTED, FIXTURES, norm

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module's tests (each opens its own page)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.mark.e2e
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_demo_page_reads_a_chosen_image(local_stack, browser, tmp_path):
    page = browser.new_page()
    try:
        page.goto(local_stack.base + "/")
        page.set_input_files("#file", str(FIXTURES / "receipt.png"))
        page.wait_for_selector("#lines li", timeout=60_000)
        items = [norm(t) for t in page.locator("#lines li").all_inner_texts()]
        status = page.locator("#status").inner_text()
        canvas_size = page.evaluate(
            "[document.getElementById('canvas').width, document.getElementById('canvas').height]"
        )
        page.screenshot(path=str(tmp_path / "demo-page.png"))
    finally:
        page.close()
    expected = [norm(t) for t in EXPECTED["receipt.png"]]
    assert len(items) == len(expected)
    for got, want in zip(items, expected):
        assert got.startswith(want)  # each item is the text followed by its score
    assert status.startswith(f"{len(expected)} line(s)")
    assert canvas_size[0] > 300 and canvas_size[1] > 200


@pytest.mark.e2e
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_demo_page_says_what_to_do_about_an_error(local_stack, browser, tmp_path):
    from PIL import Image

    gif = tmp_path / "picture.gif"
    Image.new("RGB", (40, 20), "white").save(gif, "GIF")
    page = browser.new_page()
    try:
        page.goto(local_stack.base + "/")
        page.set_input_files("#file", str(gif))
        page.wait_for_selector("#status.error", timeout=60_000)
        status = page.locator("#status").inner_text()
    finally:
        page.close()
    assert "GIF images are not supported" in status and "Save it as jpg, png or bmp" in status


def _clova_route_of_the_page() -> str:
    import re
    from pathlib import Path

    html = (Path(__file__).resolve().parent.parent / "local" / "static" / "index.html").read_text()
    return re.search(r'const CLOVA_ROUTE = "([^"]+)"', html).group(1)


def test_the_pages_document_route_is_the_clova_route():
    import re

    from ocr_contract.routes import CLOVA_GENERAL

    template = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(CLOVA_GENERAL))
    assert re.fullmatch(template, _clova_route_of_the_page())


@pytest.mark.e2e
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_demo_page_reads_each_page_of_a_dropped_pdf(local_stack, browser, tmp_path):
    # A dropped PDF was sent to /general_ocr as a data URL, and answered "not valid standard
    # base64 ... damaged". It goes to the CLOVA route, which reads documents, page by page.
    from tests.conftest import fixture_image

    names = ("receipt.png", "line.png")
    pages = [fixture_image(n).convert("RGB") for n in names]
    pdf = tmp_path / "scan.pdf"
    pages[0].save(pdf, "PDF", save_all=True, append_images=pages[1:], resolution=72)
    page = browser.new_page()
    try:
        page.goto(local_stack.base + "/")
        page.set_input_files("#file", str(pdf))
        page.wait_for_function(
            "document.querySelectorAll('#pages ol').length > 0 || "
            "document.getElementById('status').className === 'error'",
            timeout=120_000,
        )
        status = page.locator("#status").inner_text()
        titles = page.locator("#pages h2").all_inner_texts()
        lines = [
            [norm(t) for t in page.locator("#pages ol").nth(i).locator("li").all_inner_texts()]
            for i in range(page.locator("#pages ol").count())
        ]
    finally:
        page.close()
    assert titles == ["Page 1", "Page 2"], status
    expected = [[norm(t) for t in EXPECTED[n]] for n in names]
    assert "".join(map("".join, lines)) == "".join(map("".join, expected))  # every page's text, in order
    assert ["".join(page) for page in lines] == ["".join(page) for page in expected]
    assert status.startswith(f"2 page(s), {sum(map(len, lines))} line(s)")
