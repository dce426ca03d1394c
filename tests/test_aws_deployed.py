"""The AWS side as AWS enforces it, offline: the stack synthesized as the CDK CLI does for a
region, created in moto by CloudFormation, every Lambda run with its own role's credentials and
IAM enforced on each call, the state machine's deployed definition run state by state (Retry,
Catch, the Distributed Map, task tokens, the 256 KiB payload limit), SageMaker Asynchronous
Inference, SNS and EventBridge played as AWS documents them (tests/awsim/).

A job is submitted as a client does, through the frontend function (POST /jobs), and read back
through it (GET /jobs/{jobId}, GET /jobs/{jobId}/result). Most tests here use a stand-in for the
inference container that answers blank pages, so they measure the AWS side alone; one reads a
real 45-page PDF with the real container over HTTP.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from tests.awsim.world import ACCOUNT, REGION, World, container_over_http, synthesize
from tests.conftest import fixture_bytes, free_port, http

pytestmark = [pytest.mark.infra, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
INPUTS = "team-scans"
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
SETTINGS = {"allowedBuckets": INPUTS, "kmsKeyArns": KMS_KEY}


@pytest.fixture(scope="module")
def template():
    return synthesize(SETTINGS)


@pytest.fixture(autouse=True)
def _aws_environment(monkeypatch):
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    warnings.simplefilter("ignore")


UNREADABLE = b"\n%unreadable by the stand-in container\n"


def blank_pages(body: bytes, content_type: str, custom_attributes: str) -> tuple[int, bytes]:
    """A stand-in for the container: task=document's answer (one page per requested page, no
    lines), so the AWS side is measured alone and fast; a document ending in UNREADABLE is
    answered 500, as a model error would be."""
    if body.endswith(UNREADABLE):
        return 500, b'{"message": "the model failed"}'
    pairs = dict(p.split("=", 1) for p in custom_attributes.split(",") if "=" in p)
    first, last = (int(n) for n in pairs.get("pages", "1-1").split("-"))
    pages = [{"page": n, "width": 100, "height": 100, "lines": [], "error": None} for n in range(first, last + 1)]
    return 200, json.dumps(pages).encode()


def pdf_of(pages: int, text=lambda n: f"Page {n}") -> bytes:
    """A scanned-looking PDF made now: one image page each, with a line of text."""
    from PIL import Image, ImageDraw, ImageFont

    font = None
    for candidate in (
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    ):
        if os.path.exists(candidate):
            font = ImageFont.truetype(candidate, 40)
            break
    images = []
    for n in range(1, pages + 1):
        image = Image.new("RGB", (640, 200), "white")
        ImageDraw.Draw(image).text((30, 70), text(n), fill="black", font=font or ImageFont.load_default())
        images.append(image)
    out = io.BytesIO()
    images[0].save(out, "PDF", save_all=True, append_images=images[1:], resolution=100)
    return out.getvalue()


@pytest.fixture
def cloud(template):
    from moto import mock_aws

    with mock_aws():
        yield lambda container=blank_pages, changed=None: World(changed or template, container)


def put_inputs(world: World, objects: dict[str, bytes]) -> None:
    s3 = world.admin.client("s3")
    s3.create_bucket(Bucket=INPUTS)
    for key, body in objects.items():
        s3.put_object(Bucket=INPUTS, Key=key, Body=body, ServerSideEncryption="aws:kms", SSEKMSKeyId=KMS_KEY)


def fetch(world: World, job_id: str, query: dict | None = None) -> bytes:
    """GET /jobs/{jobId}/result (with `query`: one of the job's outputs), and the URL it
    redirects to, read as the role that signed it may (the frontend's): ClientError when S3
    would answer the client's GET with 403."""
    from urllib.parse import unquote

    status, _, headers = world.api("GET", f"/jobs/{job_id}/result", "/jobs/{jobId}/result", query=query)
    assert status == 303, (status, headers)
    location = {k.lower(): v for k, v in headers.items()}["location"]
    bucket, key = re.match(r"https://([^./]+)\.s3\.[^/]+/([^?]+)", location).groups()  # type: ignore[union-attr]
    signer = world.session(world.frontend.role_arn).client("s3")
    return signer.get_object(Bucket=bucket, Key=unquote(key))["Body"].read()


def run_job(world: World, source: str, outputs: list[str] | None = None) -> tuple[dict, list[dict]]:
    """POST /jobs, let the cloud run, then GET the job and its result as a client does; with
    `outputs`, each output file too (state["fetched"]: its size, or the refusal)."""
    from botocore.exceptions import ClientError

    status, submitted, _ = world.api(
        "POST", "/jobs", "/jobs", {"input": source, **({"outputs": outputs} if outputs else {})}
    )
    assert status == 202, submitted
    world.drain()
    job_id = submitted["jobId"]
    status, state, _ = world.api("GET", f"/jobs/{job_id}", "/jobs/{jobId}")
    assert status == 200, state
    lines: list[dict] = []
    if state.get("resultUrl"):
        try:
            body = fetch(world, job_id)
        except ClientError as refused:  # what the client's GET of the URL would answer: 403
            return {**state, "result": str(refused)}, []
        lines = [json.loads(line) for line in body.decode().splitlines()]
    fetched: dict[str, object] = {}
    for entry in state.get("outputs", []):
        if entry.get("file"):
            try:
                fetched[entry["file"]] = len(fetch(world, job_id, {"output": "outputs/" + entry["file"]}))
            except ClientError as refused:
                fetched[entry["file"]] = str(refused)
    if fetched:
        state = {**state, "fetched": fetched}
    return state, lines


def two_documents(world: World) -> None:
    put_inputs(world, {"in/contract.pdf": pdf_of(45), "in/broken.pdf": b"%PDF-1.7\nnot a document"})


# The whole path


def test_a_job_reads_through_the_deployed_stack_with_every_role_as_granted(cloud):
    world = cloud()
    two_documents(world)
    state, lines = run_job(world, f"s3://{INPUTS}/in/")
    assert world.enforcer.denied == []
    assert state["status"] == "PARTIAL", state
    assert (state["documentsTotal"], state["pagesTotal"], state["pagesDone"], state["pagesFailed"]) == (2, 46, 46, 1)
    # The broken document is one failed line; the 45 pages are read in three ranges.
    assert [(line["document"], line["page"]) for line in lines][:2] == [("in/broken.pdf", 1), ("in/contract.pdf", 1)]
    assert [line["page"] for line in lines if line["document"] == "in/contract.pdf"] == list(range(1, 46))
    assert lines[0]["error"]["code"] and all(line["error"] is None for line in lines[1:])
    assert sorted(i["CustomAttributes"].split("pages=")[1].split(",")[0] for i in world.inferences) == [
        "1-20",
        "21-40",
        "41-45",
    ]
    assert all(execution.status == "SUCCEEDED" for execution in world.executions.values())


def one_line_a_page(body: bytes, content_type: str, custom_attributes: str) -> tuple[int, bytes]:
    """A stand-in for the container that reads one line on each page: "Page N", where pdf_of draws it."""
    pairs = dict(p.split("=", 1) for p in custom_attributes.split(",") if "=" in p)
    first, last = (int(n) for n in pairs.get("pages", "1-1").split("-"))
    pages = [
        {
            "page": n,
            "width": 640,
            "height": 200,
            "lines": [
                {"words": f"Page {n}", "location": {"left": 30, "top": 70, "width": 160, "height": 50}, "score": 0.99}
            ],
            "error": None,
            "regions": [
                {"type": "title", "location": {"left": 20, "top": 60, "width": 180, "height": 70}, "score": 0.9}
            ],
        }
        for n in range(first, last + 1)
    ]
    return 200, json.dumps(pages).encode()


def test_a_jobs_searchable_pdf_and_markdown_are_written_beside_its_result_and_listed(cloud):
    """The outputs through the deployed stack: the Outputs state of each document (its own
    Lambda, the steps' role), the list at the finish, GET /jobs/{jobId} listing them, and each
    file fetched through GET /jobs/{jobId}/result?output= as a client does."""
    import pypdfium2 as pdfium

    world = cloud(one_line_a_page)
    two_documents(world)
    state, lines = run_job(world, f"s3://{INPUTS}/in/", OUTPUTS)
    assert world.enforcer.denied == [] and state["status"] == "PARTIAL", state
    listed = [(o["document"], o["format"], o.get("file"), bool(o.get("error"))) for o in state["outputs"]]
    assert listed == [
        ("in/broken.pdf", "pdf", None, True),
        ("in/broken.pdf", "markdown", None, True),
        ("in/contract.pdf", "pdf", "contract.pdf", False),
        ("in/contract.pdf", "markdown", "contract.pdf.md", False),
    ]
    assert state["outputsTotal"] == 4 and set(state["fetched"]) == {"contract.pdf", "contract.pdf.md"}
    job_id = state["jobId"]
    pdf = pdfium.PdfDocument(fetch(world, job_id, {"output": "outputs/contract.pdf"}))
    assert len(pdf) == 45
    assert [pdf[n].get_textpage().get_text_range().strip() for n in (0, 44)] == ["Page 1", "Page 45"]
    markdown = fetch(world, job_id, {"output": "outputs/contract.pdf.md"}).decode()
    assert markdown.startswith("<!-- page 1 -->\n\n## Page 1") and "<!-- page 45 -->" in markdown
    listing = fetch(world, job_id, {"output": "outputs.jsonl"}).decode().splitlines()
    assert len(listing) == 4
    # The files are the steps' own, under the job's prefix; the frontend reads them, never writes.
    s3 = world.admin.client("s3")
    bucket = next(
        b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"] != INPUTS and "results" in b["Name"].lower()
    )
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"jobs/{job_id}/outputs/")["Contents"]]
    assert sorted(keys) == [f"jobs/{job_id}/outputs/contract.pdf", f"jobs/{job_id}/outputs/contract.pdf.md"]


def _with_action_removed(template: dict, role_logical: str, action: str) -> dict:
    changed = json.loads(json.dumps(template))
    for resource in changed["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy" or {"Ref": role_logical} not in resource["Properties"]["Roles"]:
            continue
        statements = []
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            kept = [a for a in actions if a != action]
            if kept:
                statements.append({**statement, "Action": kept})
        resource["Properties"]["PolicyDocument"]["Statement"] = statements
    return changed


# A small job's run asks for every output too, so that what writes and serves them is checked.
OUTPUTS = ["pdf", "markdown"]


def small_job(world: World) -> None:
    """Every path of a job, small: a PDF of two ranges, a broken document, a Chinese key, and a
    document the container fails on (retried, then recorded failed)."""
    put_inputs(
        world,
        {
            "in/a.pdf": pdf_of(21),
            "in/broken.pdf": b"%PDF-1.7\nnot a document",
            "in/合同.pdf": pdf_of(1),
            "in/model-error.pdf": pdf_of(1) + UNREADABLE,
        },
    )


# Granted, and not used by a job's run in this harness: each for a reason the harness cannot
# show (AWS's own services, failure paths it does not provoke, the other routes of the API).
UNEXERCISED = {
    "logs:CreateLogStream": "Lambda and SageMaker write their logs; the harness does not",
    "logs:PutLogEvents": "the same",
    "logs:CreateLogGroup": "SageMaker's agent at start (the group exists already)",
    "logs:DescribeLogStreams": "SageMaker's agent",
    "ecr:GetAuthorizationToken": "SageMaker pulls the image",
    "ecr:BatchCheckLayerAvailability": "SageMaker pulls the image",
    "ecr:BatchGetImage": "SageMaker pulls the image",
    "ecr:GetDownloadUrlForLayer": "SageMaker pulls the image",
    "cloudwatch:PutMetricData": "SageMaker's instance metrics",
    "s3:AbortMultipartUpload": "an upload that fails half-way (Blobs.concat, SageMaker's answers)",
    "s3:ListMultipartUploadParts": "CDK's grant for the map's result writer",
    "states:DescribeExecution": "CDK's grant for the Distributed Map's children",
    "states:StopExecution": "the same",
    "states:RedriveExecution": "the same",
    "sagemaker:InvokeEndpoint": "POST /general_ocr and the other OCR routes, not a job",
    "kms:Decrypt": "an s3:// URL of POST /general_ocr in an SSE-KMS bucket, not a job",
}


def test_every_permission_granted_to_the_jobs_is_used_or_has_its_reason(template):
    """Least privilege, the other way round: what a role holds and no run uses is a grant too
    many, unless UNEXERCISED names why the harness cannot use it."""
    from moto import mock_aws

    with mock_aws():
        world = World(template, blank_pages)
        small_job(world)
        run_job(world, f"s3://{INPUTS}/in/", OUTPUTS)
        too_many = []
        for logical, arn in _roles(world).items():
            if not logical.startswith(("Jobs", "Frontend")) or logical.startswith("FrontendAuthorizer"):
                continue
            for document in world.policies(arn):
                for statement in document["Statement"]:
                    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                    for action in actions:
                        used = (arn, action) in world.enforcer.allowed
                        if not used and action not in UNEXERCISED and not action.startswith("logs:"):
                            too_many.append((logical, action))
    assert too_many == []


@pytest.mark.timeout(900)  # one whole job per permission
def test_every_permission_the_jobs_use_is_needed(template):
    """Each (role, action) a job's run was allowed is removed from the template in turn: the
    same job must then be denied that action, and answer otherwise than it did."""
    from moto import mock_aws

    with mock_aws():
        baseline = World(template, blank_pages)
        small_job(baseline)
        expected, expected_lines = run_job(baseline, f"s3://{INPUTS}/in/", OUTPUTS)
        assert baseline.enforcer.denied == [] and expected["status"] == "PARTIAL", expected
        roles = {world_role: logical for logical, world_role in _roles(baseline).items()}
        used = sorted((roles[role], action) for role, action in baseline.enforcer.allowed if role in roles)
    frontend_or_jobs = [(r, a) for r, a in used if r.startswith(("Jobs", "Frontend"))]
    assert len(frontend_or_jobs) >= 15, used

    for role, action in frontend_or_jobs:
        with mock_aws():
            world = World(_with_action_removed(template, role, action), blank_pages)
            small_job(world)
            try:
                state, lines = run_job(world, f"s3://{INPUTS}/in/", OUTPUTS)
            except AssertionError as refused:  # the API itself refused (its role lost the action)
                state, lines = {"refused": str(refused)[:200]}, []
            denied = {check.action for _, check in world.enforcer.denied}
            assert action in denied, (role, action, "was not needed")
            assert (state, lines) != (expected, expected_lines), (role, action, "removing it changed nothing")


def _roles(world: World) -> dict[str, str]:
    return {
        logical: world.role_arn(logical)
        for logical, resource in world.template["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role" and logical in world.physical
    }


@pytest.mark.timeout(900)  # about 1.5 minutes on 2 cores (busy): moto answers some 20 calls a document
def test_a_thousand_documents_stay_under_the_state_payload_limit(cloud):
    world = cloud()
    png = fixture_bytes("receipt.png")
    put_inputs(world, {f"in/{n:04d}.png": png for n in range(1000)})
    state, lines = run_job(world, f"s3://{INPUTS}/in/")
    assert state["status"] == "SUCCEEDED", (state, [(e.status, e.error, e.cause) for e in world.executions.values()])
    assert state["documentsTotal"] == 1000 and len(lines) == 1000


def test_a_throttled_answer_is_delivered_again_not_lost(cloud):
    world = cloud()
    put_inputs(world, {"in/contract.pdf": pdf_of(3)})
    # More throttles than botocore's own retries (5 tries): the handler's call fails, Lambda
    # delivers the notification again, and the token must still be there to answer.
    world.throttle["SendTaskSuccess"] = 5
    state, lines = run_job(world, f"s3://{INPUTS}/in/")
    assert state["status"] == "SUCCEEDED", state
    assert len(world.inferences) == 1  # read once: no timeout and no second inference
    done = [error for name, _, error in world.deliveries if "Done" in name]
    assert done[0] is not None and done[-1] is None


def test_a_stopped_execution_fails_its_job(cloud):
    world = cloud()
    put_inputs(world, {"in/contract.pdf": pdf_of(3)})
    status, submitted, _ = world.api("POST", "/jobs", "/jobs", {"input": f"s3://{INPUTS}/in/"})
    # Stopped while its first range is being read.
    original = world.container

    def stop_then_answer(body, content_type, attributes):
        world.stop(submitted["jobId"])
        return original(body, content_type, attributes)

    world.container = stop_then_answer
    world.drain()
    status, state, _ = world.api("GET", f"/jobs/{submitted['jobId']}", "/jobs/{jobId}")
    assert world.executions[submitted["jobId"]].status == "ABORTED"
    assert state["status"] == "FAILED" and "stopped" in state["error"]["message"], state


def test_a_finish_that_fails_past_its_retries_fails_the_job(cloud, monkeypatch):
    from jobs import finish

    world = cloud()
    put_inputs(world, {"in/contract.pdf": pdf_of(2)})

    def broken_finish(*args, **kwargs):
        raise RuntimeError("the result could not be written")

    monkeypatch.setattr(finish, "finish", broken_finish)
    state, _ = run_job(world, f"s3://{INPUTS}/in/")
    assert state["status"] == "FAILED", state
    assert "could not be written" in state["error"]["message"]


def test_a_document_whose_reading_fails_is_reported_not_dropped(cloud, monkeypatch):
    from jobs import steps

    world = cloud()
    put_inputs(world, {"in/a.pdf": pdf_of(2), "in/b.pdf": pdf_of(3)})
    counted = steps.document_ranges

    def failing_for_b(job, document, *args, **kwargs):
        if document.name == "in/b.pdf":
            raise RuntimeError("the counting step crashed")
        return counted(job, document, *args, **kwargs)

    monkeypatch.setattr(steps, "document_ranges", failing_for_b)
    state, lines = run_job(world, f"s3://{INPUTS}/in/")
    assert state["status"] == "PARTIAL", state
    assert (state["documentsTotal"], state["pagesTotal"], state["pagesFailed"]) == (2, 3, 1), state
    failed = [line for line in lines if line["document"] == "in/b.pdf"]
    assert len(failed) == 1 and "crashed" in failed[0]["error"]["message"]


def test_a_chinese_key_is_read_through_an_ascii_input_location(cloud):
    world = cloud()
    put_inputs(world, {"合同/2024年.pdf": pdf_of(2)})
    state, lines = run_job(world, f"s3://{INPUTS}/合同/")
    assert state["status"] == "SUCCEEDED", state
    assert all(record["InputLocation"].isascii() for record in world.inferences)
    assert {line["document"] for line in lines} == {"合同/2024年.pdf"}


# The real container


@pytest.fixture(scope="module")
def container():
    port = free_port()
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"awsim-container-{port}.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [sys.executable, "-m", "inference", "serve", "--port", str(port), "--host", "127.0.0.1"],
        cwd=ROOT,
        env={**os.environ, "OCR_THREADS": "2"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 240
    while time.time() < deadline:
        assert server.poll() is None, Path(log.name).read_text()[-3000:]
        try:
            if http("GET", url + "/ping", timeout=2)[0] == 200:
                break
        except OSError:
            pass
        time.sleep(0.5)
    yield url
    server.terminate()
    server.wait(timeout=30)
    log.close()


@pytest.mark.models
def test_the_real_container_reads_a_45_page_pdf_from_an_encrypted_bucket(cloud, container):
    world = cloud(container_over_http(container))
    two_documents(world)
    state, lines = run_job(world, f"s3://{INPUTS}/in/")
    assert world.enforcer.denied == []
    assert state["status"] == "PARTIAL" and state["pagesFailed"] == 1, state
    pages = [line for line in lines if line["document"] == "in/contract.pdf"]
    assert [line["page"] for line in pages] == list(range(1, 46))
    read = [" ".join(w["words"] for w in line["lines"]) for line in pages]
    assert sum(f"Page {n}" in text or str(n) in text for n, text in enumerate(read, 1)) >= 43, read
