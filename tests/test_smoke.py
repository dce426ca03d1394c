"""`make smoke` (infra/smoke/): the deployed stack found from CloudFormation and its API key read
from API Gateway (moto), clear errors when there is nothing to test, the secret headers and
redirects as each side expects them, and whole runs against the local stack: with --url, and as
against a deployed stack (moto's CloudFormation, API Gateway and S3 in front of the local stack)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from infra import smoke
from ocr_contract import routes
from tests.conftest import FIXTURES, LocalStack, free_port
from tests.test_makefile import MAKE, clone, installs, planned, requirement_closure  # noqa: F401 (clone: a fixture)

ROOT = Path(__file__).resolve().parent.parent
REGION = "eu-west-1"
KEY_VALUE = "smoke-test-key-value-0123456789abcdef"


def aws_environment(monkeypatch, **extra):
    for name in ("AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name, value in extra.items():
        monkeypatch.setenv(name, value)


def stack_template(api_url: str, key_id: str | None, jobs: bool = True) -> str:
    """A stack with the outputs infra/stack.py gives ZhOcrEndpoint (values as a deploy makes them)."""
    outputs: dict = {
        "ApiUrl": {"Value": api_url},
        "EndpointName": {"Value": "ZhOcrEndpoint-ocr"},
        "AlarmTopicArn": {"Value": {"Ref": "Alarms"}},
    }
    resources: dict = {"Alarms": {"Type": "AWS::SNS::Topic"}}
    if jobs:
        resources["Results"] = {"Type": "AWS::S3::Bucket"}
        outputs["JobsUrl"] = {"Value": api_url[: -len("general_ocr")] + "jobs"}
        outputs["JobResultsBucket"] = {"Value": {"Ref": "Results"}}
    if key_id:
        outputs["ApiKeyId"] = {"Value": key_id}
        outputs["GetApiKeyCommand"] = {
            "Value": f"aws apigateway get-api-key --api-key {key_id} --include-value --query value --output text"
        }
    return json.dumps({"Resources": resources, "Outputs": outputs})


def deploy(session, name: str, api_url: str, auth: str = "apikey", jobs: bool = True) -> None:
    """What `make deploy` leaves: the stack, and (auth=apikey) its API key in API Gateway."""
    key_id = None
    if auth == "apikey":
        key_id = session.client("apigateway").create_api_key(name=f"{name}-key", value=KEY_VALUE, enabled=True)["id"]
    session.client("cloudformation").create_stack(StackName=name, TemplateBody=stack_template(api_url, key_id, jobs))


def boto_session():
    import boto3

    return boto3.session.Session(region_name=REGION)


# -- outputs and key discovery (moto) -------------------------------------------------------


def test_outputs_and_the_api_key_are_found_from_the_stack(monkeypatch):
    from moto import mock_aws

    aws_environment(monkeypatch)
    with mock_aws():
        session = boto_session()
        deploy(session, "ZhOcrEndpoint", "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/general_ocr")
        target = smoke.discover(session, "ZhOcrEndpoint")
        bucket = session.client("cloudformation").describe_stack_resource(
            StackName="ZhOcrEndpoint", LogicalResourceId="Results"
        )["StackResourceDetail"]["PhysicalResourceId"]
    assert target.base == "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"
    assert target.api_key == KEY_VALUE and target.sign is None
    assert target.jobs and target.results_bucket == bucket
    # The heading names the key by its id, never its value.
    assert "API key" in target.described and KEY_VALUE not in target.described


def test_a_stack_without_jobs_skips_the_jobs_rows_and_says_why(monkeypatch):
    from moto import mock_aws

    aws_environment(monkeypatch)
    with mock_aws():
        session = boto_session()
        deploy(
            session, "ZhOcrEndpoint", "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/general_ocr", jobs=False
        )
        target = smoke.discover(session, "ZhOcrEndpoint")
    assert not target.jobs and target.results_bucket is None


def test_an_iam_stack_is_called_with_sigv4_signatures_for_execute_api(monkeypatch):
    # auth=iam: no ApiKeyId output. Each request is signed for execute-api in the API's region
    # with the caller's credentials; no key header is sent.
    from moto import mock_aws

    aws_environment(monkeypatch)
    with mock_aws():
        session = boto_session()
        deploy(
            session,
            "ZhOcrEndpoint",
            "https://abc123.execute-api.ap-northeast-2.amazonaws.com/prod/general_ocr",
            auth="iam",
        )
        target = smoke.discover(session, "ZhOcrEndpoint")
    assert target.api_key is None and target.sign is not None
    with Recorder() as api:
        # The signature is computed for the URL signed; here the recorder stands at another address.
        target.base = api.url
        answer = smoke.Client(target).call(
            "POST", api.url + "/general_ocr", b"{}", {"Content-Type": "application/json"}
        )
    assert answer.status == 200
    headers = api.seen[0]
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=")
    assert "/ap-northeast-2/execute-api/aws4_request" in headers["authorization"]
    assert "x-amz-date" in headers and "x-api-key" not in headers


def test_an_iam_api_without_credentials_is_refused_with_what_to_do(monkeypatch, capsys):
    # --url --sigv4 with no credentials anywhere: a message, exit 2, no traceback.
    monkeypatch.setenv("AWS_REGION", REGION)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code = smoke.main(["--url", "https://abc123.execute-api.eu-west-1.amazonaws.com/prod", "--sigv4", "--no-jobs"])
    err = capsys.readouterr().err
    assert code == 2 and "aws configure" in err and "Traceback" not in err


def test_no_stack_is_a_clear_error_naming_the_stack_and_region(monkeypatch, capsys):
    from moto import mock_aws

    aws_environment(monkeypatch)
    with mock_aws():
        code = smoke.main([])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "no stack named ZhOcrEndpoint in eu-west-1" in err and "make deploy" in err
    assert "stackName" in err and "--url" in err and "Traceback" not in err


def test_the_stack_name_is_the_stackname_context_as_cdk_takes_it(monkeypatch, capsys):
    # The default stack exists; CDK_ARGS="-c stackName=OcrStaging" names another, which does not.
    from moto import mock_aws

    aws_environment(monkeypatch)
    with mock_aws():
        deploy(boto_session(), "ZhOcrEndpoint", "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/general_ocr")
        code = smoke.main(["-c", "stackName=OcrStaging", "-c", "serverless=true", "--require-approval", "never"])
    err = capsys.readouterr().err
    assert code == 2 and "no stack named OcrStaging in eu-west-1" in err


def test_a_failed_deploy_says_so_instead_of_calling_anything(monkeypatch, capsys):
    # A stack whose creation failed and rolled back has no outputs to test.
    from moto import mock_aws

    aws_environment(monkeypatch)
    with mock_aws():
        cloudformation = boto_session().client("cloudformation")
        cloudformation.create_stack(
            StackName="ZhOcrEndpoint",
            TemplateBody=json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}),
        )
        from moto.cloudformation.models import cloudformation_backends

        stack = next(iter(cloudformation_backends["123456789012"][REGION].stacks.values()))
        stack.status = "ROLLBACK_COMPLETE"
        code = smoke.main([])
    err = capsys.readouterr().err
    assert code == 2 and "ROLLBACK_COMPLETE" in err and "describe-stack-events" in err


# -- the job's input in the results bucket (moto server: the presigned URL fetched over HTTP) --


def test_the_jobs_pdf_is_uploaded_readable_by_its_presigned_url_alone_then_deleted(moto_url, monkeypatch):
    aws_environment(monkeypatch, AWS_ENDPOINT_URL=moto_url)
    session = boto_session()
    bucket = f"results-{free_port()}"
    session.client("s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    job_input = smoke.upload_job_input(session, bucket)
    assert job_input.ours and len(job_input.uri) <= 2048  # POST /jobs takes inputs of at most 2,048 characters
    with urllib.request.urlopen(job_input.uri, timeout=10) as answer:  # no credentials: the URL alone
        assert answer.read() == smoke.job_pdf()
    job_input.cleanup()
    assert session.client("s3").list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_an_upload_that_cannot_be_made_says_what_to_do(moto_url, monkeypatch):
    aws_environment(monkeypatch, AWS_ENDPOINT_URL=moto_url)
    with pytest.raises(smoke.SmokeError, match=r"NoSuchBucket.*s3:PutObject.*--job-input"):
        smoke.upload_job_input(boto_session(), f"no-such-bucket-{free_port()}")


# -- the job's PDF --------------------------------------------------------------------------


def test_the_jobs_pdf_has_each_fixture_as_a_page_pixel_for_pixel():
    import numpy as np
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c
    from PIL import Image

    document = pdfium.PdfDocument(smoke.job_pdf())
    assert len(document) == len(smoke.JOB_PAGES) == 3
    for index, (name, _) in enumerate(smoke.JOB_PAGES):
        page = document[index]
        expected = Image.open(FIXTURES / name).convert("RGB")
        # The page is the image at 150 dpi...
        assert page.get_size() == pytest.approx((expected.width * 72 / 150, expected.height * 72 / 150), abs=0.01)
        # ...and the image embedded is the fixture's pixels, exactly.
        (image,) = page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE])
        embedded = image.get_bitmap(render=False).to_pil().convert("RGB")
        assert np.array_equal(np.asarray(embedded), np.asarray(expected))


# -- headers and redirects ------------------------------------------------------------------


def test_every_route_of_the_api_is_called_with_its_doors_secret_header():
    # A route added to the API without a smoke check, or a door that moves its key to another
    # header, fails here.
    from frontend.doors import secret_header

    assert set(smoke.SECRET_HEADERS) >= set(routes.ROUTES)
    for route in routes.ROUTES:
        assert smoke.SECRET_HEADERS[route].lower() == secret_header(route), route


class Recorder:
    """Two plain HTTP servers: the API, whose result route answers a 303 to the second (S3's
    place), and S3, which refuses a request carrying any credentials besides the URL's own
    (S3: "Only one auth mechanism allowed"). Each records the headers it got."""

    def __init__(self, redirect_to: str | None = None, refuse_credentials: bool = False):
        self.seen: list[dict] = []
        self.redirect_to = redirect_to
        self.refuse_credentials = refuse_credentials
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                recorder.seen.append(headers)
                if recorder.redirect_to and self.path.endswith("/result"):
                    self.send_response(303)
                    self.send_header("Location", recorder.redirect_to)
                    body = b""
                elif recorder.refuse_credentials and ("authorization" in headers or "x-api-key" in headers):
                    self.send_response(400)
                    body = (
                        b"<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>"
                    )
                else:
                    self.send_response(200)
                    body = b'{"document": "d", "page": 1, "lines": [], "error": null}\n'
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("auth", ["apikey", "sigv4"])
def test_the_result_redirect_is_followed_without_the_apis_credentials(auth, monkeypatch):
    aws_environment(monkeypatch)
    with (
        Recorder(refuse_credentials=True) as s3,
        Recorder(redirect_to=s3.url + "/results/job.jsonl?X-Amz-Signature=abc") as api,
    ):
        target = smoke.Target(api.url)
        if auth == "apikey":
            target.api_key = KEY_VALUE
        else:
            target.sign = smoke.sigv4_signer(boto_session(), REGION)
        answer = smoke.Client(target).call("GET", api.url + "/jobs/" + "0" * 32 + "/result")
    assert answer.status == 200 and answer.body.startswith(b'{"document"')
    assert answer.redirected.startswith("303 to 127.0.0.1")
    sent_to_api, sent_to_s3 = api.seen[0], s3.seen[0]
    assert (sent_to_api.get("x-api-key") == KEY_VALUE) if auth == "apikey" else ("authorization" in sent_to_api)
    assert "x-api-key" not in sent_to_s3 and "authorization" not in sent_to_s3


def test_nothing_answering_fails_every_check_with_what_to_do(capsys):
    closed = f"http://127.0.0.1:{free_port()}"
    code = smoke.main(["--url", closed, "--no-jobs"])
    out, err = capsys.readouterr()
    assert code == 1
    rows = rows_of(out)
    assert {check: row[0] for check, row in rows.items()} == {
        **{f"POST {route}": "FAIL" for route in smoke.SYNC_ROUTES},
        **{check: "SKIP" for check in (f"POST {routes.JOBS}", f"GET {routes.JOB}", f"GET {smoke.JOB_RESULT}")},
    }
    assert f"nothing answered at {closed}" in err


def test_without_a_document_for_the_job_a_url_run_says_how_to_give_one(capsys):
    code = smoke.main(["--url", "http://127.0.0.1:8080"])
    err = capsys.readouterr().err
    assert code == 2 and "--jobs-input DIR" in err and "JOBS_INPUT" in err and "--no-jobs" in err


# -- make smoke -----------------------------------------------------------------------------


@pytest.mark.skipif(MAKE is None, reason="make is not installed")
def test_make_smoke_installs_the_deploy_tools_only_and_passes_cdk_args(clone):  # noqa: F811
    commands = planned(clone, "smoke")
    assert requirement_closure(installs(commands), clone) == {"requirements.txt"}
    assert any("-m infra.smoke" in command for command in commands)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    result = subprocess.run(
        [MAKE, "-n", "smoke", "CDK_ARGS=-c stackName=OcrStaging", "SMOKE_ARGS=--no-jobs"],
        cwd=clone,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert "-m infra.smoke -c stackName=OcrStaging --no-jobs" in result.stdout


def test_the_smoke_test_imports_nothing_the_deploy_tools_do_not_install():
    # `make smoke` runs with requirements.txt alone: no Pillow, numpy, requests, nor the frontend.
    probe = (
        "import sys, infra.smoke as s\n"
        "s.job_pdf(); [s.route_request(r) for r in s.SYNC_ROUTES]\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'PIL', 'numpy', 'requests', 'pypdfium2', 'frontend', 'inference', 'documents', 'jobs', 'moto'})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


# -- whole runs against the local stack -----------------------------------------------------


def rows_of(out: str) -> dict[str, list[str]]:
    """The table's rows by check: [result, HTTP, time, detail]; "time" is "1.23s" or "-"."""
    table = out.split("\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    rows = {}
    for line in table[1:]:
        method, route, rest = line.split(None, 2)
        rows[f"{method} {route}"] = rest.split(None, 3)
    return rows


def run_smoke(args: list[str], env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "infra.smoke", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )
    print(result.stdout)
    print(result.stderr, file=sys.stderr)
    return result


@pytest.fixture(scope="module")
def stack_with_jobs_input(tmp_path_factory):
    """`make serve JOBS_INPUT=DIR` as a user starts it before `make smoke --url ... --jobs-input DIR`."""
    folder = tmp_path_factory.mktemp("jobs-input")
    stack = LocalStack(
        extra_args=["--jobs-input", str(folder), "--jobs-data", str(tmp_path_factory.mktemp("jobs-data"))],
        env={"ALLOWED_BUCKETS": ""},
    )
    yield stack, folder
    stack.stop()


@pytest.mark.e2e
@pytest.mark.models
def test_url_run_against_the_local_stack_passes_every_route_and_the_job(stack_with_jobs_input):
    stack, folder = stack_with_jobs_input
    result = run_smoke(["--url", stack.base, "--jobs-input", str(folder)])
    assert result.returncode == 0, result.stdout + result.stderr
    rows = rows_of(result.stdout)
    for route in routes.ROUTES:
        method = routes.method_of(route)
        assert rows[f"{method} {route}"][0] == "PASS", (route, rows)
    assert rows[f"GET {routes.JOB}"][3].startswith("SUCCEEDED, 3 of 3 pages")
    assert rows[f"GET {smoke.JOB_RESULT}"][3].startswith("3 page(s)")
    assert list(folder.iterdir()) == []  # the job's input is deleted afterwards


@pytest.mark.e2e
@pytest.mark.models
def test_a_run_as_after_a_deploy_reads_the_stack_uploads_the_pdf_and_leaves_nothing(local_stack, moto_url, monkeypatch):
    # The stack's outputs point at the local stack; CloudFormation, API Gateway and S3 are moto's
    # (AWS_ENDPOINT_URL, as boto3 reads it). The job reads its PDF by the presigned URL from
    # moto's S3, as the deployed API reads it from S3.
    aws_environment(monkeypatch, AWS_ENDPOINT_URL=moto_url)
    session = boto_session()
    name = f"Smoke{free_port()}"
    deploy(session, name, local_stack.base + "/general_ocr")
    result = run_smoke(["-c", f"stackName={name}"])
    assert result.returncode == 0, result.stdout + result.stderr
    rows = rows_of(result.stdout)
    assert all(row[0] == "PASS" for row in rows.values()) and len(rows) == len(routes.ROUTES), rows
    assert "deleted the job's input s3://" in result.stdout and "Left behind" in result.stdout
    bucket = session.client("cloudformation").describe_stack_resource(StackName=name, LogicalResourceId="Results")[
        "StackResourceDetail"
    ]["PhysicalResourceId"]
    assert session.client("s3").list_objects_v2(Bucket=bucket).get("KeyCount") == 0
