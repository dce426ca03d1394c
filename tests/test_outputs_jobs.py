"""A job's outputs (jobs/outputs/write.py) through the steps and the local runner, without models:
where they go, what a document that fails leaves (nothing), a job killed and resumed (each file
written once), the listing in GET /jobs/{jobId}, the redirect to each, and the CLI's copy."""

from __future__ import annotations

import io
import json
import threading

import pikepdf
import pytest
from PIL import Image

from bench.searchable import image_streams, pdfium_pages, scanned_pdf
from jobs import steps
from jobs.local import FolderBlobs, LocalRunner, SqliteJobStore, file_uri
from jobs.local import runner as runner_module
from jobs.model import Document
from jobs.outputs import write as write_module
from ocr_contract.jobs import JobRequest, parse_job_request


def jpeg(seed: int = 0) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (400 + seed, 500), (255, 255, 250)).save(out, "JPEG")
    return out.getvalue()


class Reader:
    """task=document's stand-in: page n has two lines naming it, placed on a 1000 x 1000 grid."""

    def __init__(self):
        self.read: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, data: bytes, pages: tuple[int, int]) -> list:
        answer = []
        for number in range(pages[0], pages[1] + 1):
            with self.lock:
                self.read.append(number)
            lines = [
                {"words": f"第{number}页标题", "location": {"left": 100, "top": 100, "width": 400, "height": 60}},
                {"words": f"page {number} body", "location": {"left": 100, "top": 300, "width": 500, "height": 40}},
            ]
            answer.append({"page": number, "width": 1000, "height": 1000, "lines": lines, "error": None})
        return answer


@pytest.fixture
def local(tmp_path):
    folder = tmp_path / "scans"
    (folder / "sub").mkdir(parents=True)
    store = SqliteJobStore(tmp_path / "data" / "jobs.sqlite3")
    blobs = FolderBlobs(tmp_path / "data", (folder,), "http://127.0.0.1:9")
    return store, blobs, folder


def no_fetch(url: str) -> bytes:
    raise AssertionError(f"no URL is fetched here: {url}")


def runner_for(store, blobs, reader, **kwargs) -> LocalRunner:
    return LocalRunner(
        store, blobs, invoker=lambda job_id, stopping, request: reader, ready=lambda: True, fetch_url=no_fetch, **kwargs
    )


def submit(store, source: str, outputs=("pdf", "markdown")):
    job = steps.new_job(JobRequest(source, outputs=tuple(outputs)), "local")
    store.create(job)
    return job


def job_folder(blobs, job):
    return blobs.path(steps.job_prefix(job, blobs))


def test_outputs_are_asked_for_by_name_and_kept_with_the_job():
    request = parse_job_request({"input": "s3://b/k", "outputs": ["pdf", "markdown", "pdf"]})
    assert request.outputs == ("pdf", "markdown")
    assert JobRequest.from_dict(request.to_dict()) == request
    options = request.range_options("j", (1, 20))
    assert options.tables and options.layout  # Markdown reads tables and the layout's regions
    assert not JobRequest("s3://b/k", outputs=("pdf",)).range_options("j", (1, 1)).layout
    for wrong in (["docx"], "pdf", [1]):
        with pytest.raises(Exception, match="output"):
            parse_job_request({"input": "s3://b/k", "outputs": wrong})


def test_a_folder_job_writes_each_documents_outputs_beside_the_result(local, monkeypatch):
    store, blobs, folder = local
    monkeypatch.setattr(steps, "RANGE_PAGES", 2)
    (folder / "sub" / "scan.pdf").write_bytes(scanned_pdf([jpeg(n) for n in range(5)]))
    (folder / "photo.jpg").write_bytes(jpeg())
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7\nnot a document")
    job = submit(store, file_uri(folder))
    done = runner_for(store, blobs, Reader()).run_job(job.job_id)
    assert done is not None and done.status == "PARTIAL"
    root = job_folder(blobs, job)
    assert sorted(str(p.relative_to(root / "outputs")) for p in (root / "outputs").rglob("*") if p.is_file()) == [
        "photo.jpg.md",
        "photo.jpg.pdf",
        "sub/scan.pdf",
        "sub/scan.pdf.md",
    ]
    assert image_streams(root / "outputs" / "sub" / "scan.pdf") == image_streams(folder / "sub" / "scan.pdf")
    assert ["".join(p["text"].split()) for p in pdfium_pages(root / "outputs" / "sub" / "scan.pdf")] == [
        f"第{n}页标题page{n}body" for n in range(1, 6)
    ]
    markdown = (root / "outputs" / "sub" / "scan.pdf.md").read_text()
    assert markdown.startswith("<!-- page 1 -->") and "page 5 body" in markdown
    listed = [json.loads(line) for line in (root / "outputs.jsonl").read_text().splitlines()]
    assert [(e["document"].rsplit("/", 1)[-1], e["format"], e.get("file")) for e in listed] == [
        ("broken.pdf", "pdf", None),
        ("broken.pdf", "markdown", None),
        ("photo.jpg", "pdf", "photo.jpg.pdf"),
        ("photo.jpg", "markdown", "photo.jpg.md"),
        ("scan.pdf", "pdf", "sub/scan.pdf"),
        ("scan.pdf", "markdown", "sub/scan.pdf.md"),
    ]
    assert listed[0]["error"]["code"] and listed[2]["bytes"] == (root / "outputs" / "photo.jpg.pdf").stat().st_size


def test_a_document_whose_pdf_fails_mid_way_leaves_no_file_and_says_why(local, monkeypatch):
    store, blobs, folder = local
    (folder / "a.pdf").write_bytes(scanned_pdf([jpeg()]))

    def half_then_fail(source, kind, pages, target):
        with open(target, "wb") as out:
            out.write(b"%PDF-1.7\n half a PDF")
        raise pikepdf.PdfError("the library gave up")

    monkeypatch.setattr("jobs.outputs.pdf.write_searchable", half_then_fail)
    job = submit(store, file_uri(folder))
    runner_for(store, blobs, Reader()).run_job(job.job_id)
    root = job_folder(blobs, job)
    assert sorted(p.name for p in (root / "outputs").iterdir()) == ["a.pdf.md"]  # the Markdown, no PDF
    assert not list(root.rglob("*.tmp")) and not list(root.rglob(".*"))
    (pdf_entry,) = [json.loads(x) for x in (root / "outputs.jsonl").read_text().splitlines() if '"pdf"' in x]
    assert "the library gave up" in pdf_entry["error"]["message"]


def test_a_job_killed_while_writing_outputs_resumes_and_writes_each_file_once(local, monkeypatch):
    store, blobs, folder = local
    for name in ("a.pdf", "b.pdf", "c.pdf"):
        (folder / name).write_bytes(scanned_pdf([jpeg()]))
    uploads: list[str] = []
    real_upload = FolderBlobs.upload
    holder: list = []

    def upload(self, uri, path, content_type):
        if uri.endswith("b.pdf.md") and len(holder) == 1:  # the stack dies after b.pdf's PDF
            holder.append("died")
            holder[0].set()
            raise runner_module.Stopped
        uploads.append(uri.rsplit("/", 1)[-1])
        return real_upload(self, uri, path, content_type)

    monkeypatch.setattr(FolderBlobs, "upload", upload)
    job = submit(store, file_uri(folder))
    first = runner_for(store, blobs, Reader())
    holder.append(first.stopping)
    assert first.run_job(job.job_id) is None  # left to resume
    store = SqliteJobStore(store.path)
    done = runner_for(store, blobs, Reader()).run_job(job.job_id)
    assert done is not None and done.status == "SUCCEEDED"
    assert sorted(uploads) == ["a.pdf", "a.pdf.md", "b.pdf", "b.pdf.md", "c.pdf", "c.pdf.md"]  # once each


def test_write_outputs_twice_writes_nothing_the_second_time(local):
    store, blobs, folder = local
    (folder / "a.pdf").write_bytes(scanned_pdf([jpeg()]))
    job = submit(store, file_uri(folder) + "a.pdf")
    runner_for(store, blobs, Reader()).run_job(job.job_id)
    document = next(steps.read_manifest(job, blobs))
    target = job_folder(blobs, job) / "outputs" / "a.pdf"
    stamp = target.stat().st_mtime_ns
    assert write_module.write_outputs(job, document, blobs)[0]["file"] == "a.pdf"
    assert target.stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    ("source", "name", "relative"),
    [
        ("s3://b/scans/", "scans/2026/合同.pdf", "2026/合同.pdf"),
        ("s3://b/scans/a.pdf", "scans/a.pdf", "a.pdf"),
        (
            "https://example.com/files/report%20v2.pdf?x=1",
            "https://example.com/files/report%20v2.pdf?x=1",
            "report v2.pdf",
        ),
        ("https://example.com/", "https://example.com/", "document"),
        ("s3://b/in/", "in/../../etc/passwd", "etc/passwd"),
    ],
)
def test_outputs_are_named_by_the_documents_key_under_the_input(source, name, relative):
    job = steps.new_job(JobRequest(source, outputs=("pdf",)), "o")
    assert write_module.relative_name(job, Document(0, "s3://b/x", name)) == relative
    assert write_module.output_file("a/b.tif", "pdf") == "a/b.tif.pdf"
    assert write_module.output_file("a/B.PDF", "pdf") == "a/B.PDF"
    assert write_module.output_file("a/b.pdf", "markdown") == "a/b.pdf.md"


def test_the_door_lists_the_outputs_and_redirects_to_each(tmp_path, monkeypatch):
    import jobs.local
    from tests.test_jobs import call

    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "a.pdf").write_bytes(scanned_pdf([jpeg()]))
    monkeypatch.setenv("JOBS_BACKEND", "local")
    monkeypatch.setenv("JOBS_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("JOBS_INPUT", str(folder))
    jobs.local.reset()
    try:
        status, body = call("POST", "/jobs", {"input": file_uri(folder), "outputs": ["pdf", "markdown"]})
        assert status == 202, body
        backend = jobs.local.backend()
        runner_for(backend.store, backend.blobs, Reader()).run_job(body["jobId"])
        status, state = call("GET", f"/jobs/{body['jobId']}")
        assert status == 200 and state["status"] == "SUCCEEDED", state
        assert state["outputsTotal"] == 2 and state["outputsUrl"].endswith("/result?output=outputs.jsonl")
        assert [(o["format"], o["file"]) for o in state["outputs"]] == [("pdf", "a.pdf"), ("markdown", "a.pdf.md")]
        assert state["outputs"][0]["url"].endswith(f"/jobs/{body['jobId']}/result?output=outputs/a.pdf")
    finally:
        jobs.local.reset()


def test_the_cli_keeps_output_paths_inside_its_folder(tmp_path):
    from jobs.cli import local_path

    assert local_path(tmp_path, "sub/a.pdf") == tmp_path / "sub" / "a.pdf"
    assert local_path(tmp_path, "../a.pdf") is None and local_path(tmp_path, "/etc/passwd") is None
