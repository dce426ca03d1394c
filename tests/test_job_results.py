"""The jobs API's door as deployed: a job's result by redirect, and whose job it is.

GET /jobs/{jobId}/result: a redirect to the job's result, signed at the moment it is asked for.

A URL presigned with temporary credentials (a Lambda's) stops working when they expire, whatever
expiry it was given (S3's documentation, "Download and upload objects with presigned URLs"), and
SigV4 presigned URLs live 7 days at most. So `resultUrl` is the API's own route, which answers
303 See Other (RFC 9110, 15.4.4) to a URL signed at that moment, living minutes: a client can
fetch a result for as long as the job is kept. Checked here through the Lambda handler with the
AWS backend (moto in-process: DynamoDB, S3 and a real SigV4 presigned URL), with the local one,
through the local gateway (`make serve`) and with the command-line client.

Under auth=iam a job belongs to the IAM principal that submitted it, whichever of its sessions
asks: the role for an assumed role, the user for an IAM user.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import zlib
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from jobs import steps
from jobs.local import file_uri
from jobs.model import Job
from ocr_contract.jobs import JobRequest
from tests.conftest import free_port
from tests.test_jobs import Reader, png, runner_for

REGION = "us-east-1"
BUCKET = "zhocr-results-test"
TABLE = "zhocr-jobs-test"
DAY_S = 24 * 3600
LINES = b'{"document": "scans/a.pdf", "page": 1, "width": 10, "height": 20, "lines": [], "error": null}\n'


def event(method: str, path: str, resource: str, identity: dict, domain: str | None = None, body=None) -> dict:
    """What API Gateway's REST proxy integration hands the Lambda."""
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"Host": domain or "127.0.0.1:8080", "Content-Type": "application/json"},
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
        "requestContext": {
            "requestId": "req-1",
            "resourcePath": resource,
            "stage": "prod",
            "identity": {"sourceIp": "203.0.113.9", **identity},
            **({"domainName": domain} if domain else {}),
        },
    }


def handle(
    method: str, path: str, identity: dict, domain: str | None = None, body=None, resource: str | None = None
) -> tuple[int, dict, dict]:
    """The handler's answer to a request for `path` (behind a custom domain, the route
    template API Gateway matched is `resource`)."""
    from frontend.handler import handler
    from ocr_contract.routes import ROUTES, matches

    resource = resource or next((route for route in ROUTES if matches(route, path)), path)
    response = handler(event(method, path, resource, identity, domain, body), None)
    return response["statusCode"], response.get("headers") or {}, json.loads(response["body"])


# ---- In AWS: DynamoDB and S3 (moto, in-process), a real presigned URL --------------------------


@pytest.fixture
def aws(monkeypatch):
    """The AWS backend as the stack configures the frontend (infra/jobs/ frontend_environment),
    with temporary credentials, as a Lambda has."""
    from moto import mock_aws

    import jobs.aws

    for key, value in {
        "JOBS_BACKEND": "aws",
        "JOBS_TABLE": TABLE,
        "JOBS_BUCKET": BUCKET,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "ASIAEXAMPLETEMPORARY",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_SESSION_TOKEN": "session-token",
        "ALLOWED_BUCKETS": "scans",
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        import boto3

        machine = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
            name="jobs",
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            roleArn="arn:aws:iam::123456789012:role/steps",
        )
        monkeypatch.setenv("JOBS_STATE_MACHINE_ARN", machine["stateMachineArn"])
        boto3.resource("dynamodb", region_name=REGION).create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        jobs.aws.backend.cache_clear()
        yield jobs.aws.backend()
        jobs.aws.backend.cache_clear()


def stored_job(backend, owner: str, age_s: float, status: str = "SUCCEEDED") -> Job:
    """A job created `age_s` ago (kept RESULT_DAYS_DEFAULT days), finished with its result in S3."""
    now = time.time()
    job = steps.new_job(JobRequest("s3://scans/a.pdf"), owner, now=now - age_s)
    backend.store.create(job)
    if status in ("SUCCEEDED", "PARTIAL", "FAILED"):
        key = f"jobs/{job.job_id}/result.jsonl"
        backend.blobs.s3.put_object(Bucket=BUCKET, Key=key, Body=LINES)
        backend.store.set_status(job.job_id, status, result_key=f"s3://{BUCKET}/{key}")
    elif status != "QUEUED":
        backend.store.set_status(job.job_id, status)
    return job


API_KEY = {"apiKeyId": "key-a"}


def test_the_result_is_a_redirect_to_a_url_that_lives_minutes_even_for_a_job_days_old(aws):
    import requests

    job = stored_job(aws, "apiKeyId:key-a", age_s=6 * DAY_S)  # one day left of the seven
    asked_at = time.time()
    status, headers, body = handle("GET", f"/jobs/{job.job_id}/result", API_KEY)
    assert status == 303, body
    location = headers["Location"]
    query = parse_qs(urlsplit(location).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    # Signed now, for minutes: never for the days the job has left (SigV4: X-Amz-Date + X-Amz-Expires).
    signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    assert abs(signed_at - asked_at) < 60
    assert 60 <= int(query["X-Amz-Expires"][0]) <= 15 * 60
    assert headers.get("Cache-Control") == "no-store"  # a bearer link: no cache may keep it
    assert body["location"] == location and body["expiresIn"] == int(query["X-Amz-Expires"][0])
    fetched = requests.get(location, timeout=10)
    assert (fetched.status_code, fetched.content) == (200, LINES)


def test_the_status_names_the_apis_own_result_route(aws):
    job = stored_job(aws, "apiKeyId:key-a", age_s=60)
    domain = "abc123.execute-api.us-east-1.amazonaws.com"
    status, _, state = handle("GET", f"/jobs/{job.job_id}", API_KEY, domain=domain)
    assert status == 200 and state["status"] == "SUCCEEDED"
    assert state["resultUrl"] == f"https://{domain}/prod/jobs/{job.job_id}/result"
    # A custom domain with a base path: the route under it, as statusUrl.
    status, _, state = handle(
        "GET", f"/ocr/jobs/{job.job_id}", API_KEY, domain="ocr.example.com", resource="/jobs/{jobId}"
    )
    assert state["resultUrl"] == f"https://ocr.example.com/ocr/jobs/{job.job_id}/result"


def test_someone_elses_or_an_unknown_jobs_result_is_not_found(aws):
    job = stored_job(aws, "apiKeyId:key-a", age_s=60)
    for path, identity in (
        (f"/jobs/{job.job_id}/result", {"apiKeyId": "key-b"}),
        ("/jobs/" + "0" * 32 + "/result", API_KEY),
        ("/jobs/not-an-id/result", API_KEY),
    ):
        status, headers, body = handle("GET", path, identity)
        assert (status, body["error"]["code"], body["requestId"]) == (404, "NotFound", "req-1"), path
        assert "Location" not in headers


@pytest.mark.parametrize("state", ["QUEUED", "RUNNING"])
def test_a_result_asked_for_before_the_job_has_finished_is_a_conflict(aws, state):
    # RFC 9110, 15.5.10: 409, the request conflicts with the target resource's current state;
    # the client repeats it once the job has finished.
    job = stored_job(aws, "apiKeyId:key-a", age_s=60, status=state)
    status, headers, body = handle("GET", f"/jobs/{job.job_id}/result", API_KEY)
    assert (status, body["error"]["code"]) == (409, "JobNotFinished") and "Location" not in headers
    assert state in body["error"]["message"] and body["requestId"] == "req-1"


def test_the_result_route_takes_get_only(aws):
    job = stored_job(aws, "apiKeyId:key-a", age_s=60)
    status, _, body = handle("POST", f"/jobs/{job.job_id}/result", API_KEY)
    assert (status, body["error"]["code"]) == (405, "MethodNotAllowed")


# ---- Locally: the same route through the local gateway (make serve), and the CLI ------------


@pytest.fixture
def local_api(tmp_path, monkeypatch):
    """The local gateway (local/gateway.py) with the real Lambda handler and the local jobs
    backend, on a loopback port in a thread of its own (no inference server: the jobs are read
    by a stand-in before the test asks for them). Yields (base URL, backend, input folder)."""
    from aiohttp import web

    import jobs.local
    from frontend.endpoint import ENDPOINT_URL_ENV
    from local.gateway import create_gateway

    port = free_port()
    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "a.png").write_bytes(png())
    monkeypatch.setenv("JOBS_BACKEND", "local")
    monkeypatch.setenv("JOBS_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("JOBS_INPUT", str(folder))
    monkeypatch.setenv("JOBS_API_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv(ENDPOINT_URL_ENV, "")  # the gateway sets it; restored after
    jobs.local.reset()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(create_gateway("http://127.0.0.1:9", port), access_log=None)
    started = threading.Event()

    def serve():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(30)
    try:
        yield f"http://127.0.0.1:{port}", jobs.local.backend(), folder
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        jobs.local.reset()


def finished_local_job(backend, folder) -> Job:
    job = steps.new_job(JobRequest(file_uri(folder / "a.png")), "local")
    backend.store.create(job)
    done = runner_for(backend.store, backend.blobs, Reader()).run_job(job.job_id)
    assert done is not None and done.status == "SUCCEEDED"
    return done


def get(url: str, follow: bool = True) -> tuple[int, dict, bytes]:
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(*([] if follow else [NoRedirect()]))
    try:
        with opener.open(url, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_locally_the_same_route_redirects_to_the_result_lines(local_api):
    base, backend, folder = local_api
    job = finished_local_job(backend, folder)
    status, _, raw = get(f"{base}/jobs/{job.job_id}")
    assert status == 200 and json.loads(raw)["resultUrl"] == f"{base}/jobs/{job.job_id}/result"
    status, headers, raw = get(f"{base}/jobs/{job.job_id}/result", follow=False)
    assert status == 303 and headers["Location"].startswith(base + "/")
    status, headers, raw = get(headers["Location"])
    assert status == 200 and headers["Content-Type"].startswith("application/x-ndjson")
    assert raw == backend.blobs.path(job.result_key).read_bytes() and json.loads(raw.splitlines()[0])["page"] == 1
    # Unknown ids, and a job not finished, answer as in AWS.
    status, _, raw = get(f"{base}/jobs/{'0' * 32}/result", follow=False)
    assert (status, json.loads(raw)["error"]["code"]) == (404, "NotFound")
    queued = steps.new_job(JobRequest(file_uri(folder / "a.png")), "local")
    backend.store.create(queued)
    status, _, raw = get(f"{base}/jobs/{queued.job_id}/result", follow=False)
    assert (status, json.loads(raw)["error"]["code"]) == (409, "JobNotFinished")


def test_locally_the_link_expires_as_a_presigned_one_does(local_api):
    base, backend, folder = local_api
    job = finished_local_job(backend, folder)
    assert get(backend.blobs.url(job.result_key, 60))[0] == 200
    link = backend.blobs.url(job.result_key, 1)  # (not fetched before it expires: no race under load)
    time.sleep(2.1)
    status, _, raw = get(link)
    assert (status, json.loads(raw)["error"]["code"]) == (403, "Forbidden")
    # Asking the route again gives a fresh one.
    assert get(f"{base}/jobs/{job.job_id}/result")[0] == 200


def test_the_cli_follows_the_redirect_and_writes_result_jsonl(local_api, tmp_path, capsys):
    from jobs import cli

    base, backend, folder = local_api
    job = finished_local_job(backend, folder)
    out = tmp_path / "out"
    code = cli.main(["status", job.job_id, "--api", base, "--out", str(out), "--quiet", "--api-key", "k"])
    assert code == 0, capsys.readouterr()
    assert (out / "result.jsonl").read_bytes() == backend.blobs.path(job.result_key).read_bytes()
    assert {p.suffix for p in out.iterdir()} == {".jsonl", ".txt"}


class _Recording(BaseHTTPRequestHandler):
    seen: dict[str, dict] = {}
    location = ""

    def do_GET(self):
        type(self).seen[self.server.name] = dict(self.headers)  # type: ignore[attr-defined]
        if self.server.name == "api":  # type: ignore[attr-defined]
            self.send_response(303)
            self.send_header("Location", type(self).location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Content-Length", str(len(LINES)))
        self.end_headers()
        self.wfile.write(LINES)

    def log_message(self, *args):
        pass


def test_the_cli_sends_its_api_key_to_the_api_only_never_to_the_storage_it_is_sent_on_to(tmp_path):
    # The key authorises calls to the API; the presigned URL needs none, and S3 (or anyone the
    # Location names) must not be handed it.
    from jobs import cli

    servers = {}
    for name in ("api", "storage"):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Recording)
        server.name = name  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers[name] = server
    try:
        api = f"http://127.0.0.1:{servers['api'].server_port}"
        _Recording.location = f"http://127.0.0.1:{servers['storage'].server_port}/jobs/x/result.jsonl?X-Amz-Expires=900"
        state = {"jobId": "x", "status": "SUCCEEDED", "resultUrl": f"{api}/jobs/x/result"}
        written = cli.save(state, "the-secret-key", tmp_path / "out")
        assert written[0].read_bytes() == LINES
        assert {k.lower(): v for k, v in _Recording.seen["api"].items()}["x-api-key"] == "the-secret-key"
        assert "x-api-key" not in {k.lower() for k in _Recording.seen["storage"]}
    finally:
        for server in servers.values():
            server.shutdown()


# ---- Whose job it is under auth=iam ---------------------------------------------------------


def signed_by(arn: str) -> dict:
    """requestContext.identity of a SigV4-signed request (auth=iam), as API Gateway fills it:
    the caller's account, its principal identifier (for a role session `ROLEID:session-name`,
    STS's AssumedRoleId; for an IAM user its unique id) and the ARN of the effective user after
    authentication (IAM identifiers: an assumed role's is
    arn:aws:sts::ACCOUNT:assumed-role/ROLE-NAME/SESSION-NAME, without the role's path)."""
    account = arn.split(":")[4]
    resource = arn.split(":", 5)[5]
    if resource.startswith("assumed-role/"):
        role, session = resource.split("/")[1:3]
        caller = f"AROA{zlib.crc32(f'{account}:{role}'.encode()):016d}:{session}"
    else:
        caller = f"AIDA{zlib.crc32(arn.encode()):016d}"
    return {"accountId": account, "caller": caller, "user": caller, "userArn": arn, "accessKey": "ASIAEXAMPLE"}


def submitted_by(identity: dict) -> str:
    status, _, body = handle("POST", "/jobs", identity, body={"input": "s3://scans/a.pdf"})
    assert status == 202, body
    return body["jobId"]


def test_under_iam_every_session_of_a_role_is_the_same_caller_and_other_roles_are_not(aws):
    # The same role assumed again (a new session name: another Lambda container, a CI run, a new
    # `aws sso login`) is the same principal, and its jobs are its own. Another role, the same
    # role name in another account, or a user of that name, is someone else.
    job_id = submitted_by(signed_by("arn:aws:sts::111122223333:assumed-role/Scanner/i-0abc-session-1"))
    for again in (
        "arn:aws:sts::111122223333:assumed-role/Scanner/i-0abc-session-1",
        "arn:aws:sts::111122223333:assumed-role/Scanner/botocore-session-1733561234",
    ):
        assert handle("GET", f"/jobs/{job_id}", signed_by(again))[0] == 200, again
    for stranger in (
        "arn:aws:sts::111122223333:assumed-role/Other/i-0abc-session-1",
        "arn:aws:sts::444455556666:assumed-role/Scanner/i-0abc-session-1",
        "arn:aws:iam::111122223333:user/Scanner",
        "arn:aws:sts::111122223333:federated-user/Scanner",
    ):
        assert handle("GET", f"/jobs/{job_id}", signed_by(stranger))[0] == 404, stranger


def test_under_iam_an_iam_user_is_one_caller_whatever_key_signs(aws):
    job_id = submitted_by(signed_by("arn:aws:iam::111122223333:user/dev"))
    same_user_other_key = {**signed_by("arn:aws:iam::111122223333:user/dev"), "accessKey": "AKIAANOTHERKEY"}
    assert handle("GET", f"/jobs/{job_id}", same_user_other_key)[0] == 200
    assert handle("GET", f"/jobs/{job_id}", signed_by("arn:aws:iam::111122223333:user/ops"))[0] == 404
