"""The jobs API without models: the steps (jobs/steps.py) with the local adapters (a SQLite
file, a folder) and a stand-in reader, the local runner's resume and retries, and the door
through the Lambda handler."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from jobs import answers, finish, steps
from jobs import local as jobs_local
from jobs.local import FolderBlobs, LocalRunner, SqliteJobStore, file_uri
from jobs.local import runner as runner_module
from jobs.model import Document, Range
from ocr_contract import ApiError, ErrorCode
from ocr_contract.jobs import JobRequest
from tests.large_documents import long_kids_pdf, write_large_pdf, write_large_tiff


def pdf_of(count: int, width: int = 300) -> bytes:
    out = io.BytesIO()
    pages = [Image.new("RGB", (width + 10 * n, 200), "white") for n in range(count)]
    pages[0].save(out, "PDF", save_all=True, append_images=pages[1:], resolution=72)
    return out.getvalue()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 32), "white").save(out, "PNG")
    return out.getvalue()


def encrypted(data: bytes) -> bytes:
    """The PDF with an incremental update naming a Standard security handler: a password is needed."""
    start = data.rfind(b"startxref")
    prev = int(data[start + 9 :].split()[0])
    trailer = data[data.rfind(b"trailer") : start]
    root = trailer.split(b"/Root")[1].split(b"R")[0] + b"R"
    size = int(trailer.split(b"/Size")[1].split()[0])
    offset = len(data)
    obj = b"%d 0 obj\n<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P -4 >>\nendobj\n" % (
        size,
        b"ab" * 32,
        b"cd" * 32,
    )
    return (
        data
        + obj
        + b"xref\n%d 1\n%010d 00000 n \ntrailer\n<< /Size %d /Root %s /Prev %d /Encrypt %d 0 R /ID [<%s> <%s>] >>\n"
        % (size, offset, size + 1, root, prev, size, b"01" * 16, b"01" * 16)
        + b"startxref\n%d\n%%%%EOF\n" % (offset + len(obj))
    )


class Reader:
    """Stands in for the container's task=document: page n of a document reads as one line
    naming its size and page; counts every page it reads."""

    def __init__(self, fail_pages: frozenset = frozenset()):
        self.read: list[tuple[int, int]] = []  # (document size, page)
        self.fail_pages = fail_pages
        self.lock = threading.Lock()

    def __call__(self, data: bytes, pages: tuple[int, int]) -> list:
        answer = []
        for number in range(pages[0], pages[1] + 1):
            with self.lock:
                self.read.append((len(data), number))
            error = {"code": "InvalidImage", "message": "bad page"} if number in self.fail_pages else None
            answer.append(
                {
                    "page": number,
                    "width": 10,
                    "height": 20,
                    "lines": [] if error else [{"words": f"{len(data)}:{number}", "location": {}, "score": 1.0}],
                    "error": error,
                }
            )
        return answer


@pytest.fixture
def local(tmp_path):
    """(store, blobs, input folder) of a local backend in tmp_path."""
    folder = tmp_path / "scans"
    folder.mkdir()
    store = SqliteJobStore(tmp_path / "data" / "jobs.sqlite3")
    blobs = FolderBlobs(tmp_path / "data", (folder,), "http://127.0.0.1:9")
    return store, blobs, folder


def runner_for(store, blobs, reader, **kwargs) -> LocalRunner:
    return LocalRunner(
        store,
        blobs,
        invoker=lambda job_id, stopping, request: reader,
        ready=lambda: True,
        fetch_url=kwargs.pop("fetch_url", lambda url: (_ for _ in ()).throw(AssertionError("no fetch"))),
        **kwargs,
    )


def submit(store, source: str, owner: str = "local"):
    job = steps.new_job(JobRequest(source), owner)
    store.create(job)
    return job


def result_lines(blobs, job) -> list[dict]:
    return [json.loads(line) for line in blobs.path(job.result_key).read_text().splitlines()]


def test_new_job_has_a_random_id_iso_times_and_an_expiry():
    job = steps.new_job(JobRequest("s3://b/k"), "me", now=1_700_000_000)
    other = steps.new_job(JobRequest("s3://b/k"), "me", now=1_700_000_000)
    assert len(job.job_id) == 32 and job.job_id != other.job_id
    assert job.status == "QUEUED" and job.created_at == "2023-11-14T22:13:20Z" == job.updated_at
    assert job.expires_at == 1_700_000_000 + 7 * 86400


def test_a_folder_is_planned_in_key_order_skipping_hidden_files(local):
    store, blobs, folder = local
    (folder / "b").mkdir()
    for name in ("b/2.png", "a.png", "b-c.png", ".DS_Store", "b/.hidden.png"):
        (folder / name).write_bytes(png())
    job = submit(store, file_uri(folder))
    names = [Path(d.name).relative_to(folder).as_posix() for d in steps.plan(job, blobs, lambda url: b"")]
    assert names == ["a.png", "b-c.png", "b/2.png"]  # S3's order: "-" sorts before "/"


def test_the_stacks_own_data_folder_inside_the_input_folder_is_not_read_as_documents(tmp_path):
    # `make serve JOBS_INPUT=~/scans JOBS_DATA=~/scans/.ocr` or the like: submitting the whole
    # input folder must not read the job database and earlier results as the user's documents.
    folder = tmp_path / "scans"
    (folder / "data").mkdir(parents=True)
    (folder / "a.png").write_bytes(png())
    store = SqliteJobStore(folder / "data" / "jobs.sqlite3")
    blobs = FolderBlobs(folder / "data", (folder,), "http://127.0.0.1:9")
    blobs.write(file_uri(folder / "data" / "results" / "old" / "result.jsonl"), b"{}\n")
    job = submit(store, file_uri(folder))
    names = [Path(d.name).relative_to(folder).as_posix() for d in steps.plan(job, blobs, lambda url: b"")]
    assert names == ["a.png"]


def test_a_pdf_is_cut_into_ranges_and_an_image_is_one_page(local, monkeypatch):
    store, blobs, folder = local
    monkeypatch.setattr(steps, "RANGE_PAGES", 2)
    (folder / "doc.pdf").write_bytes(pdf_of(5))
    (folder / "one.png").write_bytes(png())
    pdf = Document(0, file_uri(folder / "doc.pdf"), "doc.pdf")
    assert [(r.first, r.last, r.pages_total) for r in steps.ranges(pdf, blobs, time.monotonic() + 30)] == [
        (1, 2, 5),
        (3, 4, 5),
        (5, 5, 5),
    ]
    image = Document(1, file_uri(folder / "one.png"), "one.png")
    assert [(r.first, r.last) for r in steps.ranges(image, blobs, time.monotonic() + 30)] == [(1, 1)]


@pytest.mark.parametrize(
    "content, code",
    [
        (encrypted(pdf_of(2)), "InvalidImage"),
        (pdf_of(2)[:300], "InvalidImage"),
        (pdf_of(4), "PayloadTooLarge"),  # over the deployment's page limit, set to 3 here
    ],
    ids=["encrypted", "corrupt", "too-many-pages"],
)
def test_a_document_that_cannot_be_read_fails_alone_as_one_line(local, monkeypatch, content, code):
    store, blobs, folder = local
    monkeypatch.setenv("JOBS_MAX_PAGES", "3")  # the stack's jobMaxPages
    (folder / "bad.pdf").write_bytes(content)
    (folder / "good.pdf").write_bytes(pdf_of(2))
    job = submit(store, file_uri(folder))
    reader = Reader()
    done = runner_for(store, blobs, reader).run_job(job.job_id)
    assert done is not None and done.status == "PARTIAL"
    lines = result_lines(blobs, done)
    assert [(Path(line["document"]).name, line["page"]) for line in lines] == [
        ("bad.pdf", 1),
        ("good.pdf", 1),
        ("good.pdf", 2),
    ]
    assert lines[0]["error"]["code"] == code and lines[0]["lines"] == []
    assert (done.documents_total, done.documents_done, done.pages_total, done.pages_done, done.pages_failed) == (
        2,
        2,
        3,
        3,
        1,
    )
    assert len(reader.read) == 2  # the bad document never reached the model


def test_a_job_reads_every_page_once_in_order_and_succeeds(local, monkeypatch):
    store, blobs, folder = local
    monkeypatch.setattr(steps, "RANGE_PAGES", 2)
    (folder / "a.pdf").write_bytes(pdf_of(5))
    (folder / "b.png").write_bytes(png())
    job = submit(store, file_uri(folder))
    reader = Reader()
    done = runner_for(store, blobs, reader, max_in_flight=3).run_job(job.job_id)
    assert done is not None and done.status == "SUCCEEDED" and done.error is None
    lines = result_lines(blobs, done)
    assert [(Path(line["document"]).name, line["page"]) for line in lines] == [("a.pdf", n) for n in range(1, 6)] + [
        ("b.png", 1)
    ]
    assert sorted(reader.read) == sorted(set(reader.read)) and len(reader.read) == 6
    assert all(line["error"] is None and line["lines"] for line in lines)
    body = answers.status_body(done, "http://127.0.0.1:9")
    assert body["resultUrl"] == f"http://127.0.0.1:9/jobs/{job.job_id}/result"
    assert (body["pagesTotal"], body["pagesDone"], body["pagesFailed"], body["documentsDone"]) == (6, 6, 0, 2)


def test_some_pages_failing_is_partial_and_all_failing_is_failed(local):
    store, blobs, folder = local
    (folder / "a.pdf").write_bytes(pdf_of(3))
    job = submit(store, file_uri(folder / "a.pdf"))
    done = runner_for(store, blobs, Reader(frozenset({2}))).run_job(job.job_id)
    assert done is not None and done.status == "PARTIAL" and done.pages_failed == 1
    job = submit(store, file_uri(folder / "a.pdf"))
    done = runner_for(store, blobs, Reader(frozenset({1, 2, 3}))).run_job(job.job_id)
    assert done is not None and done.status == "FAILED"
    assert done.error is not None and done.error["code"] == "InvalidImage"


def test_an_input_that_cannot_be_fetched_fails_the_job_with_one_line(local):
    store, blobs, _ = local

    def fetch(url):
        raise ApiError(ErrorCode.URL_FETCH_FAILED, "the URL answered HTTP 404 Not Found")

    job = submit(store, "https://example.com/missing.pdf")
    done = runner_for(store, blobs, Reader(), fetch_url=fetch).run_job(job.job_id)
    assert done is not None and done.status == "FAILED"
    assert done.error is not None and "404" in done.error["message"]
    [line] = result_lines(blobs, done)
    assert line["document"] == "https://example.com/missing.pdf" and line["error"]["code"] == "UrlFetchFailed"


def test_a_url_is_fetched_once_and_read_from_the_jobs_own_copy(local):
    store, blobs, _ = local
    fetched = []

    def fetch(url):
        fetched.append(url)
        return pdf_of(2)

    job = submit(store, "https://example.com/doc.pdf")
    assert list(steps.plan(job, blobs, fetch))[0].uri.endswith(f"/{job.job_id}/input/document")
    done = runner_for(store, blobs, Reader(), fetch_url=fetch).run_job(job.job_id)
    assert done is not None and done.status == "SUCCEEDED" and fetched == ["https://example.com/doc.pdf"]
    assert {line["document"] for line in result_lines(blobs, done)} == {"https://example.com/doc.pdf"}


def test_an_empty_folder_fails_the_job(local):
    store, blobs, folder = local
    job = submit(store, file_uri(folder))
    done = runner_for(store, blobs, Reader()).run_job(job.job_id)
    assert done is not None and done.status == "FAILED" and done.error is not None


def test_recording_a_range_twice_overwrites_its_part_and_counts_it_once(local):
    store, blobs, folder = local
    job = submit(store, file_uri(folder / "x.png"))
    unit = Range(Document(0, file_uri(folder / "x.png"), "x.png"), 1, 1, 1)
    for _ in range(2):
        steps.record_range(job, unit, Reader()(b"xx", (1, 1)), blobs, store)
    again = store.get(job.job_id)
    assert again is not None and again.pages_done == 1 and again.documents_done == 1
    done = finish.finish(job.job_id, blobs, store)
    assert done.status == "SUCCEEDED" and done.pages_total == 1 and len(result_lines(blobs, done)) == 1


class Interrupted(Reader):
    """Reads `budget` ranges, then the stack 'dies': the runner stops before recording more."""

    def __init__(self, runner_stopping: list, budget: int):
        super().__init__()
        self.stopping = runner_stopping
        self.budget = budget

    def __call__(self, data, pages):
        if self.budget <= 0:
            self.stopping[0].set()
            raise runner_module.Stopped
        self.budget -= 1
        return super().__call__(data, pages)


def test_a_job_left_mid_way_resumes_reading_only_the_missing_ranges(local, monkeypatch):
    store, blobs, folder = local
    monkeypatch.setattr(steps, "RANGE_PAGES", 2)
    (folder / "a.pdf").write_bytes(pdf_of(7))
    job = submit(store, file_uri(folder))
    holder: list = []
    first = Interrupted(holder, budget=2)
    runner = runner_for(store, blobs, first, max_in_flight=1)
    holder.append(runner.stopping)
    assert runner.run_job(job.job_id) is None
    left = store.get(job.job_id)
    assert left is not None and left.status == "RUNNING" and [j.job_id for j in store.unfinished()] == [job.job_id]
    # A restarted stack: a new store on the same file, a new runner.
    store = SqliteJobStore(store.path)
    second = Reader()
    done = runner_for(store, blobs, second).run_job(job.job_id)
    assert done is not None and done.status == "SUCCEEDED"
    pages = sorted(page for _, page in first.read + second.read)
    assert pages == list(range(1, 8))  # every page read exactly once over both runs
    assert [line["page"] for line in result_lines(blobs, done)] == list(range(1, 8))
    assert (done.pages_total, done.pages_done, done.documents_total) == (7, 7, 1)


class Busy(BaseHTTPRequestHandler):
    answers: list = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        Busy.seen.append(self.headers["X-Amzn-SageMaker-Custom-Attributes"])
        status, body = Busy.answers.pop(0)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


Busy.seen = []  # type: ignore[attr-defined]


@pytest.fixture
def busy_server(monkeypatch):
    monkeypatch.setattr(runner_module, "RETRY_DELAYS_S", (0.01, 0.01, 0.01))
    Busy.seen = []  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def busy(code="ServerBusy"):
    return 503, {"error": {"code": code, "message": "busy"}}


def test_a_busy_range_is_retried_then_read(busy_server):
    page = {"page": 1, "width": 1, "height": 1, "lines": [], "error": None}
    Busy.answers = [busy(), busy("ModelNotReady"), (200, [page])]
    invoke = runner_module.http_invoker(busy_server, "abc", threading.Event())
    assert invoke(b"data", (1, 1)) == [page]
    assert Busy.seen == ["v=1,requestId=abc,task=document,lane=bulk,pages=1-1"] * 3  # type: ignore[attr-defined]


def test_a_range_that_stays_busy_fails_alone(busy_server):
    Busy.answers = [busy()] * 4
    invoke = runner_module.http_invoker(busy_server, "abc", threading.Event())
    with pytest.raises(ApiError) as raised:
        invoke(b"data", (1, 20))
    assert raised.value.code == ErrorCode.SERVER_BUSY and len(Busy.seen) == 4  # type: ignore[attr-defined]
    Busy.answers = [(400, {"error": {"code": "InvalidImage", "message": "no"}})]
    with pytest.raises(ApiError):
        invoke(b"data", (1, 20))
    assert len(Busy.seen) == 5  # type: ignore[attr-defined]  # a client error is not retried


def test_a_job_asked_for_korean_asks_the_container_for_it_on_every_range(busy_server):
    page = {"page": 1, "width": 1, "height": 1, "lines": [], "error": None}
    Busy.answers = [(200, [page]), (200, [page])]
    asked = JobRequest("s3://b/k", features=("tables",), lang="ko")
    invoke = runner_module.http_invoker(busy_server, "abc", threading.Event(), asked)
    invoke(b"data", (1, 20))
    invoke(b"data", (21, 25))
    assert [dict(p.split("=") for p in header.split(",")) for header in Busy.seen] == [  # type: ignore[attr-defined]
        {"v": "1", "requestId": "abc", "task": "document", "lane": "bulk", "pages": pages, "tables": "1", "lang": "ko"}
        for pages in ("1-20", "21-25")
    ]


def test_the_store_adds_atomically_survives_reopening_and_keeps_a_finished_status(tmp_path):
    store = SqliteJobStore(tmp_path / "j.sqlite3")
    job = submit(store, "s3://b/k")
    threads = [
        threading.Thread(target=lambda: [store.add(job.job_id, pages_done=1) for _ in range(50)]) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.set_status(job.job_id, "SUCCEEDED", result_key="file:///r")
    store.set_status(job.job_id, "RUNNING")
    again = SqliteJobStore(tmp_path / "j.sqlite3").get(job.job_id)
    assert again is not None and again.pages_done == 200 and again.status == "SUCCEEDED"
    assert again.request == JobRequest("s3://b/k") and again.owner == "local"
    assert store.unfinished() == []


def test_what_a_job_asked_for_survives_the_store(tmp_path):
    store = SqliteJobStore(tmp_path / "j.sqlite3")
    asked = JobRequest("s3://b/k", "s3://out/p/", ("tables",), "march", "ko")
    job = steps.new_job(asked, "me")
    store.create(job)
    assert SqliteJobStore(tmp_path / "j.sqlite3").get(job.job_id).request == asked


def test_folder_blobs_refuse_what_lies_outside_their_folders(local, tmp_path):
    _, blobs, folder = local
    (tmp_path / "secret.txt").write_text("x")
    for uri in (file_uri(tmp_path / "secret.txt"), file_uri(folder) + "../secret.txt", "s3://b/k"):
        with pytest.raises(ApiError) as raised:
            blobs.read(uri, 100)
        assert raised.value.code == ErrorCode.URL_NOT_ALLOWED
    with pytest.raises(ApiError):
        blobs.write(file_uri(folder) + "x.txt", b"")  # the input folder is read-only


# The door, through the Lambda handler, with the local backend (no runner started).


@pytest.fixture
def door(tmp_path, monkeypatch):
    import jobs.local

    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "a.png").write_bytes(png())
    monkeypatch.setenv("JOBS_BACKEND", "local")
    monkeypatch.setenv("JOBS_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("JOBS_INPUT", str(folder))
    monkeypatch.setenv("ALLOWED_BUCKETS", "allowed-bucket")
    jobs.local.reset()
    yield folder
    jobs.local.reset()


def call(
    method: str, path: str, body=None, api_key: str | None = None, principal: str | None = None
) -> tuple[int, dict]:
    """The event API Gateway sends: `api_key` as its own identity.apiKeyId, `principal` as our
    authorizer's principalId (frontend/authorizer.py)."""
    from frontend.handler import handler

    resource = "/jobs/{jobId}" if path.count("/") == 2 else path
    identity = {"sourceIp": "127.0.0.1", **({"apiKeyId": api_key} if api_key else {})}
    event = {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json", "Host": "127.0.0.1:8080"},
        "body": body if body is None or isinstance(body, str) else json.dumps(body),
        "isBase64Encoded": False,
        "requestContext": {
            "requestId": "req-1",
            "resourcePath": resource,
            "identity": identity,
            **({"authorizer": {"principalId": principal}} if principal else {}),
        },
    }
    response = handler(event, None)
    return response["statusCode"], json.loads(response["body"])


def test_the_door_takes_a_job_and_answers_its_status(door):
    status, body = call("POST", "/jobs", {"input": file_uri(door) + "a.png", "name": "scan"})
    assert status == 202 and set(body) == {"jobId", "status", "statusUrl"} and body["status"] == "QUEUED"
    assert body["statusUrl"] == f"http://127.0.0.1:8080/jobs/{body['jobId']}"
    status, state = call("GET", f"/jobs/{body['jobId']}")
    assert status == 200 and state["jobId"] == body["jobId"] and state["status"] == "QUEUED"
    assert set(state) == {
        "jobId",
        "status",
        "documentsTotal",
        "documentsDone",
        "pagesTotal",
        "pagesDone",
        "pagesFailed",
        "createdAt",
        "updatedAt",
    }


@pytest.mark.parametrize(
    "body, status, code",
    [
        ("{not json", 400, "InvalidRequest"),
        ({"url": "x"}, 400, "InvalidRequest"),
        ({"input": "ftp://host/x"}, 400, "InvalidUrl"),
        ({"input": "s3://allowed-bucket/"}, 400, "InvalidUrl"),  # s3 needs the deployed API
        ({"input": "s3://other-bucket/x.pdf"}, 403, "UrlNotAllowed"),
        ({"input": "file:///etc/passwd"}, 403, "UrlNotAllowed"),
        ({"input": "http://169.254.169.254/latest/meta-data"}, 403, "UrlNotAllowed"),
    ],
)
def test_the_door_refuses_bad_requests_in_our_error_shape(door, body, status, code):
    answer_status, answer = call("POST", "/jobs", body)
    assert (answer_status, answer["error"]["code"]) == (status, code)
    assert answer["requestId"] == "req-1" and answer["error"]["message"]


@pytest.mark.parametrize("lang", ["ko", "KO", " ko "])
def test_the_door_takes_korean_as_general_ocr_does(door, lang):
    status, body = call("POST", "/jobs", {"input": file_uri(door) + "a.png", "lang": lang})
    assert status == 202
    assert jobs_local.backend().store.get(body["jobId"]).request.lang == "ko"


@pytest.mark.parametrize("lang", ["ja", "zh", 1, ["ko"]])
def test_a_language_we_do_not_read_is_refused_naming_the_one_we_do(door, lang):
    status, body = call("POST", "/jobs", {"input": file_uri(door) + "a.png", "lang": lang})
    assert (status, body["error"]["code"]) == (400, "InvalidRequest")
    assert "ko" in body["error"]["message"]


def test_an_unknown_or_another_callers_job_is_not_found(door):
    status, body = call("POST", "/jobs", {"input": file_uri(door) + "a.png"}, api_key="key-a")
    assert status == 202
    assert call("GET", f"/jobs/{body['jobId']}", api_key="key-a")[0] == 200
    for path, key in (
        (f"/jobs/{body['jobId']}", "key-b"),
        (f"/jobs/{body['jobId']}", None),
        ("/jobs/" + "0" * 32, "key-a"),
        ("/jobs/nope", None),
    ):
        status, answer = call("GET", path, api_key=key)
        assert (status, answer["error"]["code"]) == (404, "NotFound"), path


def test_each_jobs_route_takes_one_method(door):
    assert call("GET", "/jobs")[0] == 405
    assert call("POST", "/jobs/" + "0" * 32, {})[0] == 405
    assert call("GET", "/general_ocr")[0] == 405


def test_callers_told_apart_by_our_authorizers_principal_see_only_their_own_jobs(door):
    status, body = call("POST", "/jobs", {"input": file_uri(door) + "a.png"}, principal="apiKeyId:k1")
    assert status == 202
    assert call("GET", f"/jobs/{body['jobId']}", principal="apiKeyId:k1")[0] == 200
    assert call("GET", f"/jobs/{body['jobId']}", principal="apiKeyId:k2")[0] == 404


# Documents up to the deployment's largest (jobMaxDocumentMb, 500 MB) are counted with the page
# renderer's memory cap (OCR_RENDER_MEMORY_MB, 512 MB by default) below their size: the step
# streams the document to a temporary file and the renderer opens the file, holding neither the
# whole document. The cap is set small here (64 MB) and the documents made larger than it.
RENDER_CAP_MB = 64
MB = 1024 * 1024

COUNT_SCRIPT = """
import json, sys, time
sys.path.insert(0, {root!r})
from jobs import steps
from jobs.local import FolderBlobs, file_uri
from jobs.model import Document
blobs = FolderBlobs({data!r}, ({folder!r},))
units = steps.ranges(Document(0, file_uri({path!r}), "doc", {size}), blobs, time.monotonic() + 60)
# VmHWM: this process's own peak resident memory (the renderer is a child of its own).
peak_kb = int(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")))
print(json.dumps({{"ranges": [[u.first, u.last, u.pages_total, u.error] for u in units], "peak_mb": peak_kb / 1024}}))
"""


@pytest.mark.parametrize("kind", ["pdf", "tiff"])
def test_a_document_larger_than_the_renderers_memory_cap_is_counted_without_holding_it(local, kind):
    _, blobs, folder = local
    path = folder / f"large.{kind}"
    if kind == "pdf":
        size = write_large_pdf(path, pages=45, filler_bytes=150 * MB)
        expected = [[1, 20, 45, None], [21, 40, 45, None], [41, 45, 45, None]]
    else:
        size = write_large_tiff(path, frames=3, side=7000)  # 49 MB a frame, uncompressed
        expected = [[1, 3, 3, None]]
    assert size > 2 * RENDER_CAP_MB * MB
    root = str(Path(__file__).resolve().parent.parent)
    script = COUNT_SCRIPT.format(root=root, data=str(blobs.root), folder=str(folder), path=str(path), size=size)
    environment = {**os.environ, "OCR_RENDER_MEMORY_MB": str(RENDER_CAP_MB)}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=root, env=environment
    )
    assert result.returncode == 0, result.stderr[-2000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["ranges"] == expected
    # The step's own process held far less than the document (it used to read it whole).
    assert outcome["peak_mb"] < size / MB / 2, outcome


def test_a_hostile_pdf_still_fails_alone_within_the_renderers_cap(local, monkeypatch):
    _, blobs, folder = local
    monkeypatch.setenv("OCR_RENDER_MEMORY_MB", str(RENDER_CAP_MB))
    data = long_kids_pdf(2_000_000)  # 12 MB on disk, far more to open
    assert len(data) < RENDER_CAP_MB * MB
    (folder / "hostile.pdf").write_bytes(data)
    document = Document(0, file_uri(folder / "hostile.pdf"), "hostile.pdf", len(data))
    start = time.monotonic()
    (unit,) = steps.ranges(document, blobs, time.monotonic() + 30)
    assert time.monotonic() - start < 10
    assert (unit.first, unit.last, unit.error) == (
        1,
        1,
        {"code": "PayloadTooLarge", "message": f"the PDF needs more than {RENDER_CAP_MB} MB of memory to open"},
    )


def test_folder_blobs_download_is_bounded_and_copy_keeps_the_bytes(local):
    _, blobs, folder = local
    data = bytes(range(256)) * (3 * MB // 256)
    (folder / "合同.pdf").write_bytes(data)
    uri = file_uri(folder / "合同.pdf")
    with tempfile.TemporaryFile() as file:
        assert blobs.download(uri, file, len(data)) == len(data)
        file.seek(0)
        assert file.read() == data
    with tempfile.TemporaryFile() as file, pytest.raises(ApiError) as too_large:
        blobs.download(uri, file, len(data) - 1)
    assert too_large.value.code == ErrorCode.PAYLOAD_TOO_LARGE
    copy = blobs.results + "j/input/0000000"
    blobs.copy(uri, copy)
    assert blobs.read(copy, len(data)) == data
    with pytest.raises(ApiError) as refused:
        blobs.copy(copy, file_uri(folder / "back.pdf"))  # the input folder is read-only
    assert refused.value.code == ErrorCode.URL_NOT_ALLOWED
