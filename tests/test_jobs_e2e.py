"""The jobs API end to end through the local stack (`python -m local`, real models): a PDF over
loopback HTTP read page by page as POST /general_ocr reads each page, documents that fail
alone, and a stack killed mid-job (kill -9) that finishes the job after a restart."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import signal
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import LocalStack, fixture_image, http, norm
from tests.httpfixtures import ImageServer
from tests.test_jobs import encrypted

pytestmark = [pytest.mark.e2e, pytest.mark.models]


def pdf_of(pictures: list[Image.Image]) -> bytes:
    out = io.BytesIO()
    pictures[0].save(out, "PDF", save_all=True, append_images=pictures[1:], resolution=150)
    return out.getvalue()


def pages() -> list[Image.Image]:
    return [fixture_image(name).convert("RGB") for name in ("receipt.png", "line.png", "hello_world.png")]


def start(data: Path, inputs: Path) -> LocalStack:
    return LocalStack(
        extra_args=["--jobs-input", str(inputs), "--jobs-data", str(data), "--jobs-max-ranges", "1"],
        env={"OCR_TEST_ALLOW_LOOPBACK_URLS": "1", "ALLOWED_BUCKETS": ""},
    )


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return tmp_path_factory.mktemp("jobs-data"), tmp_path_factory.mktemp("scans")


@pytest.fixture(scope="module")
def stack(folders):
    stack = start(*folders)
    yield stack
    stack.stop()


def submit(stack: LocalStack, source: str, **asked) -> str:
    status, body, _ = http("POST", stack.base + "/jobs", json.dumps({"input": source, **asked}).encode())
    assert status == 202, body
    return body["jobId"]


def wait(stack: LocalStack, job_id: str, within_s: float) -> dict:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        status, body, _ = http("GET", f"{stack.base}/jobs/{job_id}")
        assert status == 200, body
        if body["status"] in ("SUCCEEDED", "PARTIAL", "FAILED"):
            return body
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish in {within_s} s: {body}")


def result(state: dict) -> list[dict]:
    import urllib.request

    with urllib.request.urlopen(state["resultUrl"], timeout=30) as answer:
        assert answer.status == 200 and answer.headers["Content-Type"].startswith("application/x-ndjson")
        raw = answer.read()
    return [json.loads(line) for line in raw.decode().splitlines()]


def test_a_pdf_over_http_is_read_page_by_page_as_general_ocr_reads_each_page(stack):
    from documents.render import render

    document = pdf_of(pages())
    with ImageServer({"doc.pdf": document}) as server:
        url = server.base + "/file/doc.pdf"
        state = wait(stack, submit(stack, url), 240)
        assert server.requests["/file/doc.pdf"] == 1  # fetched once
    assert state["status"] == "SUCCEEDED" and "error" not in state
    assert (state["pagesTotal"], state["pagesDone"], state["pagesFailed"], state["documentsDone"]) == (3, 3, 0, 1)
    lines = result(state)
    assert [(line["document"], line["page"], line["error"]) for line in lines] == [(url, n, None) for n in (1, 2, 3)]
    # The same pages, rendered by the same renderer, read synchronously.
    rendered = list(render(document, "pdf", time.monotonic() + 60))
    for line, page in zip(lines, rendered):
        assert page.image is not None
        status, sync, _ = stack.post({"img": base64.b64encode(page.image).decode()})
        assert status == 200
        assert [norm(item["words"]) for item in line["lines"]] == [norm(item["words"]) for item in sync]
        assert (line["width"], line["height"]) == (page.width, page.height)
    assert any("hello" in norm(item["words"]).lower() for item in lines[2]["lines"]), lines[2]


def test_a_job_asked_for_korean_reads_korean_pages_as_general_ocr_does(stack):
    from inference.korean import KoreanReader
    from tests.test_korean import KOREAN, korean_line

    if not KoreanReader(1).available:
        pytest.skip("Korean is not installed here: python -m inference --prepare-models")
    korean = Image.fromarray(korean_line()[:, :, ::-1])
    page = Image.new("RGB", (900, 500), "white")
    page.paste(korean, (40, 60))
    page.paste(fixture_image("line.png").convert("RGB"), (40, 260))
    document = pdf_of([page, page])
    with ImageServer({"doc.pdf": document}) as server:
        url = server.base + "/file/doc.pdf"
        with_ko, without = submit(stack, url, lang="ko"), submit(stack, url)
        with_ko, without = wait(stack, with_ko, 240), wait(stack, without, 240)
    assert with_ko["status"] == without["status"] == "SUCCEEDED"
    read, plain = result(with_ko), result(without)
    hangul = lambda text: [c for c in text if "\uac00" <= c <= "\ud7a3"]  # noqa: E731
    for page_read, page_plain in zip(read, plain):
        texts = [norm(line["words"]) for line in page_read["lines"]]
        assert any(hangul(text) == hangul(norm(KOREAN)) for text in texts), texts
        # Without lang the Korean line is not answered as confident junk, and the Chinese line is
        # read the same either way.
        assert all(not hangul(line["words"]) or line["score"] < 0.5 for line in page_plain["lines"])
        chinese = [norm(line["words"]) for line in page_plain["lines"] if "中文" in line["words"]]
        assert chinese and chinese == [t for t in texts if "中文" in t]


def test_a_missing_corrupt_or_encrypted_document_fails_with_its_error_within_60_s(stack):
    good = pdf_of(pages()[1:2])
    files = {"corrupt.pdf": good[:400], "locked.pdf": encrypted(good)}
    with ImageServer(files) as server:
        jobs = {
            name: submit(stack, server.base + ("/status/404" if name == "missing" else f"/file/{name}"))
            for name in ("missing", "corrupt.pdf", "locked.pdf")
        }
        started = time.monotonic()
        states = {name: wait(stack, job_id, 60) for name, job_id in jobs.items()}
    assert time.monotonic() - started < 60
    for name, state in states.items():
        assert state["status"] == "FAILED" and state["error"]["message"], (name, state)
        [line] = result(state)
        assert line["page"] == 1 and line["error"]["code"] and line["lines"] == [], (name, line)
    assert "404" in states["missing"]["error"]["message"]
    assert "password" in states["locked.pdf"]["error"]["message"]


def test_a_file_outside_the_jobs_input_folder_is_refused(stack, tmp_path):
    (tmp_path / "x.png").write_bytes(b"")
    status, body, _ = http("POST", stack.base + "/jobs", json.dumps({"input": (tmp_path / "x.png").as_uri()}).encode())
    assert (status, body["error"]["code"]) == (403, "UrlNotAllowed")


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def test_a_stack_killed_mid_job_finishes_it_after_a_restart_with_every_page_once(folders):
    data, inputs = folders
    scans = inputs / "killed"
    scans.mkdir()
    receipt = fixture_image("receipt.png").convert("RGB")
    for n in range(8):
        out = io.BytesIO()
        receipt.save(out, "PNG")
        (scans / f"{n:02d}.png").write_bytes(out.getvalue())
    stack = start(data, inputs)
    try:
        job_id = submit(stack, scans.as_uri() + "/")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            _, state, _ = http("GET", f"{stack.base}/jobs/{job_id}")
            if state["pagesDone"] >= 2:
                break
            time.sleep(0.05)
        assert 2 <= state["pagesDone"] < 8, state  # mid-job
    finally:
        children = _children(stack.process.pid)
        stack.process.send_signal(signal.SIGKILL)
        stack.process.wait()
        for child in children:  # the inference server, orphaned by the kill
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
    stack = start(data, inputs)
    try:
        state = wait(stack, job_id, 180)
        assert state["status"] == "SUCCEEDED", state
        assert (state["pagesTotal"], state["pagesDone"], state["documentsTotal"]) == (8, 8, 8)
        lines = result(state)
        assert [(Path(line["document"]).name, line["page"]) for line in lines] == [
            (f"{n:02d}.png", 1) for n in range(8)
        ]
        assert all(line["lines"] for line in lines)
    finally:
        stack.stop()


def test_a_job_with_tables_answers_each_pages_tables_and_the_cli_writes_them(stack, folders, tmp_path):
    # "features": ["tables"]: each result line carries its page's tables (cells with row,
    # column, spans, text and an html rendering), and the CLI saves each as .html and .csv.
    from jobs import cli

    _, inputs = folders
    table_page = fixture_image("ruled_table.png").convert("RGB")
    (inputs / "with-table.pdf").write_bytes(pdf_of([fixture_image("receipt.png").convert("RGB"), table_page]))
    status, body, _ = http(
        "POST",
        stack.base + "/jobs",
        json.dumps({"input": (inputs / "with-table.pdf").as_uri(), "features": ["tables"]}).encode(),
    )
    assert status == 202, body
    state = wait(stack, body["jobId"], 120)
    assert state["status"] == "SUCCEEDED", state
    lines = result(state)
    assert [line["page"] for line in lines] == [1, 2]
    assert lines[0]["tables"] == []  # a receipt has no table
    (table,) = lines[1]["tables"]
    assert table["rows"] >= 2 and table["columns"] >= 2 and table["html"].startswith("<table")
    texts = {norm(cell["text"]) for cell in table["cells"]}
    assert "合计" in texts
    written = cli.save(state, None, tmp_path / "out")
    assert {p.suffix for p in written} >= {".jsonl", ".txt", ".html", ".csv"}
    csv_text = next(p for p in written if p.suffix == ".csv").read_text(encoding="utf-8")
    assert "合计" in csv_text
