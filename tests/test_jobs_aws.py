"""The jobs API's AWS adapters (jobs/aws/) against moto in server mode: a real HTTP endpoint
speaking DynamoDB's, S3's and Step Functions' protocols on a loopback port, reached by boto3
clients as they reach AWS (signing, paginators, multipart uploads, presigned URLs)."""

from __future__ import annotations

import json
import urllib.request

import pytest

from jobs.model import Job
from ocr_contract import ApiError, ErrorCode
from ocr_contract.jobs import JobRequest
from tests.conftest import free_port

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": REGION}
MB = 1024 * 1024


@pytest.fixture
def table(moto_url):
    import boto3

    dynamodb = boto3.resource("dynamodb", endpoint_url=moto_url, **CREDENTIALS)
    name = f"jobs-{free_port()}"
    created = dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    created.wait_until_exists()
    return created


@pytest.fixture
def s3(moto_url):
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=moto_url,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        **CREDENTIALS,
    )
    bucket = f"results-{free_port()}"
    client.create_bucket(Bucket=bucket)
    return client, bucket


def _job(job_id="0" * 32, **kwargs) -> Job:
    return Job(
        job_id=job_id,
        owner="key-1",
        request=JobRequest("s3://in/scans/", "s3://out/march/", ("tables",), "march", "ko"),
        created_at="2025-01-01T00:00:00Z",
        updated_at="2025-01-01T00:00:00Z",
        expires_at=4_000_000_000,
        **kwargs,
    )


# DynamoJobStore


def test_a_job_round_trips_and_its_id_is_never_overwritten(table):
    from jobs.aws.store import DynamoJobStore, JobExists

    store = DynamoJobStore(table)
    job = _job()
    store.create(job)
    assert store.get(job.job_id) == job
    with pytest.raises(JobExists):
        store.create(_job(status="RUNNING"))
    assert store.get(job.job_id).status == "QUEUED"
    assert store.get("f" * 32) is None


def test_counters_add_atomically_and_only_to_existing_jobs(table):
    from concurrent.futures import ThreadPoolExecutor

    from jobs.aws.store import DynamoJobStore

    store = DynamoJobStore(table)
    store.create(_job())
    with ThreadPoolExecutor(8) as pool:  # concurrent ranges: no update may be lost
        list(pool.map(lambda _: store.add("0" * 32, pages_done=20, pages_failed=1), range(16)))
    store.add("0" * 32, documents_total=3, pages_total=400)
    job = store.get("0" * 32)
    assert (job.pages_done, job.pages_failed, job.documents_total, job.pages_total) == (320, 16, 3, 400)
    assert job.updated_at > "2025-01-01T00:00:00Z"
    store.add("1" * 32, pages_done=1)  # no such job: nothing is created
    assert table.get_item(Key={"jobId": "1" * 32}).get("Item") is None
    with pytest.raises(ValueError):
        store.add("0" * 32, status=1)


def test_a_finished_jobs_status_never_changes(table):
    from jobs.aws.store import DynamoJobStore

    store = DynamoJobStore(table)
    store.create(_job())
    store.set_status("0" * 32, "RUNNING")
    assert store.get("0" * 32).status == "RUNNING"
    store.set_status("0" * 32, "PARTIAL", result_key="s3://r/jobs/0/result.jsonl")
    store.set_status("0" * 32, "FAILED", error={"code": "InternalError", "message": "late"})
    store.set_status("0" * 32, "RUNNING")
    job = store.get("0" * 32)
    assert (job.status, job.result_key, job.error) == ("PARTIAL", "s3://r/jobs/0/result.jsonl", None)
    store.set_status("2" * 32, "RUNNING")  # unknown: no ghost item
    assert table.get_item(Key={"jobId": "2" * 32}).get("Item") is None
    store.create(_job("3" * 32))
    store.set_status("3" * 32, "FAILED", error={"code": "UrlFetchFailed", "message": "gone", "n": 2})
    assert store.get("3" * 32).error == {"code": "UrlFetchFailed", "message": "gone", "n": 2}
    assert [j.job_id for j in store.unfinished()] == []


def test_expired_jobs_are_gone_before_dynamodb_deletes_them(table):
    from jobs.aws.store import DynamoJobStore

    store = DynamoJobStore(table, clock=lambda: 4_000_000_001)
    store.create(_job())
    assert store.get("0" * 32) is None


def test_unfinished_and_task_tokens_share_the_table_without_mixing(table):
    from jobs.aws.store import DynamoJobStore

    store = DynamoJobStore(table)
    store.create(_job("a" * 32))
    store.create(_job("b" * 32, status="RUNNING"))
    store.create(_job("c" * 32, status="SUCCEEDED"))
    store.put_token("a" * 32 + "-0000000-00001-x", "token-1", {"range": {"first": 1, "last": 20}}, 4_000_000_000)
    assert sorted(j.job_id for j in store.unfinished()) == ["a" * 32, "b" * 32]
    token = "a" * 32 + "-0000000-00001-x"
    assert store.get_token(token) == ("token-1", {"range": {"first": 1, "last": 20}})
    assert store.get_token(token) == ("token-1", {"range": {"first": 1, "last": 20}})  # kept until answered
    store.delete_token(token)
    assert store.get_token(token) is None  # answered once
    assert store.get("inference#" + "a" * 32) is None


# S3Blobs


def test_listing_is_in_key_order_and_lazy(s3):
    from jobs.aws.blobs import S3Blobs

    client, bucket = s3
    keys = ["scans/b.pdf", "scans/a/2.tif", "scans/a/10.tif", "scans/Z.pdf", "scans/é.pdf", "scans/folder/", "other"]
    for key in keys:
        client.put_object(Bucket=bucket, Key=key, Body=b"x" * len(key))
    calls = []
    client.meta.events.register("before-call.s3.ListObjectsV2", lambda **kw: calls.append(1))
    blobs = S3Blobs(client, page_size=2)
    listing = blobs.listing(f"s3://{bucket}/scans/")
    assert calls == []  # nothing asked until the first item is wanted
    first = next(listing)
    assert len(calls) == 1
    rest = list(listing)
    expected = sorted(k for k in keys if k.startswith("scans/") and not k.endswith("/"))
    assert [first, *rest] == [(f"s3://{bucket}/{k}", len(k)) for k in expected]
    assert len(calls) == 3  # 6 keys (the folder marker too) 2 at a time


def test_reads_are_bounded_and_missing_objects_are_the_callers_error(s3):
    from jobs.aws.blobs import S3Blobs

    client, bucket = s3
    blobs = S3Blobs(client)
    blobs.write(f"s3://{bucket}/doc.pdf", b"%PDF" + b"0" * 996)
    assert blobs.size(f"s3://{bucket}/doc.pdf") == 1000 and blobs.exists(f"s3://{bucket}/doc.pdf")
    assert blobs.read(f"s3://{bucket}/doc.pdf", 1000)[:4] == b"%PDF"
    with pytest.raises(ApiError) as too_large:
        blobs.read(f"s3://{bucket}/doc.pdf", 999)
    assert too_large.value.code == ErrorCode.PAYLOAD_TOO_LARGE
    blobs.write(f"s3://{bucket}/empty", b"")
    assert blobs.read(f"s3://{bucket}/empty", 10) == b""
    assert not blobs.exists(f"s3://{bucket}/nothing")
    for call in (lambda: blobs.size(f"s3://{bucket}/nothing"), lambda: blobs.read(f"s3://{bucket}/nothing", 10)):
        with pytest.raises(ApiError) as missing:
            call()
        assert missing.value.code == ErrorCode.URL_FETCH_FAILED
    with pytest.raises(ValueError):
        blobs.size("file:///etc/passwd")


def test_concat_copies_large_parts_and_joins_small_ones(s3):
    from jobs.aws.blobs import S3Blobs

    client, bucket = s3
    blobs = S3Blobs(client)
    sizes = [6 * MB, 100, 12 * MB, 200, 3 * MB, 5 * MB, 10]
    parts, expected = [], b""
    for i, size in enumerate(sizes):
        data = bytes([65 + i]) * size
        uri = f"s3://{bucket}/jobs/x/parts/{i:03d}.jsonl"
        blobs.write(uri, data)
        parts.append(uri)
        expected += data
    calls: dict[str, int] = {}
    for op in ("UploadPart", "UploadPartCopy", "PutObject"):
        client.meta.events.register(
            f"before-call.s3.{op}", lambda op=op, **kw: calls.__setitem__(op, calls.get(op, 0) + 1)
        )
    blobs.concat(parts, f"s3://{bucket}/jobs/x/result.jsonl")
    assert client.get_object(Bucket=bucket, Key="jobs/x/result.jsonl")["Body"].read() == expected
    # S3 itself refuses a part under 5 MB but the last: the upload completing shows each was whole.
    # 6 MB: copied whole; 100 B + the head of 12 MB: uploaded, and its rest copied; 200 B + 3 MB
    # + the head of 5 MB: uploaded; its rest + 10 B: the last part, uploaded.
    assert calls == {"UploadPartCopy": 2, "UploadPart": 3}
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")

    # All small: one plain object; none: an empty one.
    blobs.concat(parts[1:2] + parts[3:4], f"s3://{bucket}/small.jsonl")
    assert client.get_object(Bucket=bucket, Key="small.jsonl")["Body"].read() == b"B" * 100 + b"D" * 200
    blobs.concat([], f"s3://{bucket}/none.jsonl")
    assert client.get_object(Bucket=bucket, Key="none.jsonl")["Body"].read() == b""


def test_an_upload_in_parts_round_trips_and_one_that_fails_leaves_no_parts_behind(s3, tmp_path):
    """S3 keeps the parts of an upload never completed nor aborted (and bills them): a failure
    half-way must abort it, in upload() as in concat(); the object must not appear."""
    from botocore.exceptions import ClientError

    from jobs.aws.blobs import UPLOAD_PART_BYTES, S3Blobs

    client, bucket = s3
    blobs = S3Blobs(client)
    data = bytes(range(256)) * (UPLOAD_PART_BYTES * 2 // 256) + b"tail"
    path = tmp_path / "out.pdf"
    path.write_bytes(data)
    assert blobs.upload(f"s3://{bucket}/out/a.pdf", str(path), "application/pdf") == len(data)
    got = client.get_object(Bucket=bucket, Key="out/a.pdf")
    assert got["Body"].read() == data and got["ContentType"] == "application/pdf"

    def refuse_second_part(params, **_):
        if params.get("PartNumber") == 2:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "Reduce your request rate"}}, "UploadPart")

    client.meta.events.register("before-parameter-build.s3.UploadPart", refuse_second_part)
    client.meta.events.register("before-parameter-build.s3.UploadPartCopy", refuse_second_part)
    with pytest.raises(ClientError):
        blobs.upload(f"s3://{bucket}/out/b.pdf", str(path), "application/pdf")
    for i in range(2):
        blobs.write(f"s3://{bucket}/big/{i}", bytes([i]) * (6 * MB))
    with pytest.raises(ClientError):
        blobs.concat([f"s3://{bucket}/big/0", f"s3://{bucket}/big/1"], f"s3://{bucket}/out/c.jsonl")
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")
    keys = {obj["Key"] for obj in client.list_objects_v2(Bucket=bucket, Prefix="out/").get("Contents", [])}
    assert keys == {"out/a.pdf"}


def test_presigned_url_can_be_fetched_by_anyone_holding_it(s3):
    from jobs.aws.blobs import S3Blobs

    client, bucket = s3
    blobs = S3Blobs(client)
    body = json.dumps({"document": "a.pdf", "page": 1}).encode() + b"\n"
    blobs.write(f"s3://{bucket}/jobs/y/result.jsonl", body)
    url = blobs.url(f"s3://{bucket}/jobs/y/result.jsonl", 3600)
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=3600" in url
    with urllib.request.urlopen(url, timeout=10) as response:  # plain HTTP, no AWS client
        assert response.read() == body
    assert "X-Amz-Expires=604800" in blobs.url(f"s3://{bucket}/jobs/y/result.jsonl", 10**9)  # SigV4's most


# Starting the job's execution


def test_start_names_the_execution_by_the_job_id_once(moto_url, table, s3):
    import boto3

    from jobs.aws.backend import AwsBackend
    from jobs.aws.blobs import S3Blobs
    from jobs.aws.store import DynamoJobStore

    sfn = boto3.client("stepfunctions", endpoint_url=moto_url, **CREDENTIALS)
    machine = sfn.create_state_machine(
        name=f"jobs-{free_port()}",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/jobs",
    )["stateMachineArn"]
    client, bucket = s3
    backend = AwsBackend(DynamoJobStore(table), S3Blobs(client), bucket, machine, sfn)
    job = _job("d" * 32)
    backend.start(job)
    backend.start(job)  # a retried request: the same execution, not a second one
    (execution,) = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert execution["name"] == job.job_id
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == {"jobId": job.job_id}


# The state machine's handlers, run in its order against the real steps (jobs/steps.py), with
# SageMaker and Step Functions' task tokens played by fakes that record what they were asked.


class _Recorder:
    def __init__(self):
        self.calls: list[tuple[str, dict]] = []

    def __getattr__(self, name):
        return lambda **kwargs: self.calls.append((name, kwargs)) or {}


def test_a_job_runs_through_the_handlers_in_the_state_machines_order(table, s3, monkeypatch):
    from jobs import steps
    from jobs.aws import handlers
    from jobs.aws.backend import AwsBackend
    from jobs.aws.blobs import S3Blobs
    from jobs.aws.store import DynamoJobStore
    from tests.conftest import fixture_bytes

    client, bucket = s3
    backend = AwsBackend(
        DynamoJobStore(table), S3Blobs(client, results=f"s3://{bucket}/jobs/"), bucket, "arn:sm", _Recorder()
    )
    runtime = _Recorder()
    monkeypatch.setattr(handlers, "_backend", lambda: backend)
    monkeypatch.setattr(handlers, "_RUNTIME", [runtime])
    monkeypatch.setenv("JOBS_ASYNC_ENDPOINT", "stack-ocr-async")
    for name in ("a.png", "b.png"):
        client.put_object(Bucket=bucket, Key=f"in/{name}", Body=fixture_bytes("receipt.png"))
    job = steps.new_job(JobRequest(f"s3://{bucket}/in/", lang="ko"), "key-1")
    backend.store.create(job)

    planned = handlers.plan({"jobId": job.job_id})
    assert planned["documents"] == 2 and planned["manifest"]["Bucket"] == bucket
    manifest = client.get_object(Bucket=bucket, Key=planned["manifest"]["Key"])["Body"].read().decode()
    documents = [json.loads(line) for line in manifest.splitlines()]
    assert [d["name"] for d in documents] == ["in/a.png", "in/b.png"]

    inference_ids = []
    for token, document in zip(("token-a", "token-b"), documents):
        found = handlers.ranges({"jobId": job.job_id, "document": document})
        (unit,) = found["ranges"]
        state = {"taskToken": token, "jobId": job.job_id, "document": found["document"], "range": unit}
        answer = handlers.invoke_range(state)
        inference_ids.append(answer["inferenceId"])
    invocations = [kwargs for name, kwargs in runtime.calls if name == "invoke_endpoint_async"]
    assert [i["InputLocation"] for i in invocations] == [d["uri"] for d in documents]
    assert all("task=document" in i["CustomAttributes"] and "pages=1-1" in i["CustomAttributes"] for i in invocations)
    assert all("lane=bulk" in i["CustomAttributes"] and i["EndpointName"] == "stack-ocr-async" for i in invocations)
    assert all("lang=ko" in i["CustomAttributes"] for i in invocations)  # the job asked for Korean

    # SageMaker answers the first; the second fails (and, after its retries, is recorded failed).
    page = {"page": 1, "width": 10, "height": 10, "lines": [], "error": None}
    output = f"s3://{bucket}/async/out/{inference_ids[0]}.out"
    backend.blobs.write(output, json.dumps([page]).encode())
    notifications = [
        {
            "inferenceId": inference_ids[0],
            "invocationStatus": "Completed",
            "responseParameters": {"outputLocation": output},
        },
        {"inferenceId": inference_ids[1], "invocationStatus": "Failed", "failureReason": "ModelError"},
    ]
    event = {"Records": [{"Sns": {"Message": json.dumps(n)}} for n in notifications]}
    assert handlers.on_inference_done(event) == {"handled": 2}
    assert handlers.on_inference_done(event) == {"handled": 0}  # delivered twice: answered once
    answered = [(name, kwargs["taskToken"]) for name, kwargs in backend.sfn.calls]
    assert answered == [("send_task_success", "token-a"), ("send_task_failure", "token-b")]
    failure = {"Error": "InferenceFailed", "Cause": "ModelError"}
    handlers.range_failed({"jobId": job.job_id, "document": documents[1], "range": _range_of(), "error": failure})

    assert handlers.finish({"jobId": job.job_id}) == {"jobId": job.job_id, "status": "PARTIAL"}
    done = backend.store.get(job.job_id)
    assert (done.pages_total, done.pages_done, done.pages_failed, done.documents_done) == (2, 2, 1, 2)
    lines = [json.loads(line) for line in backend.blobs.read(done.result_key, 10**6).decode().splitlines()]
    assert [(line["document"], line["error"] is None) for line in lines] == [("in/a.png", True), ("in/b.png", False)]
    assert "InferenceFailed" in lines[1]["error"]["message"]


def _range_of() -> dict:
    """A range as the inner Map's items carry it: its pages, the document beside it."""
    return {"first": 1, "last": 1, "pagesTotal": 1}


# Documents as the ranges step reads them: streamed to a file (never whole in memory), and
# copied by S3 to a plain ASCII key when their own key cannot go out as SageMaker's InputLocation.


def test_download_streams_an_object_into_a_file_within_its_bound(s3):
    import tempfile

    from jobs.aws.blobs import S3Blobs

    client, bucket = s3
    blobs = S3Blobs(client)
    data = bytes(range(256)) * (7 * MB // 256)
    uri = f"s3://{bucket}/scans/合同.pdf"
    blobs.write(uri, data)
    with tempfile.TemporaryFile() as file:
        assert blobs.download(uri, file, len(data)) == len(data)
        file.seek(0)
        assert file.read() == data
    with tempfile.TemporaryFile() as file:
        with pytest.raises(ApiError) as too_large:
            blobs.download(uri, file, len(data) - 1)
        assert too_large.value.code == ErrorCode.PAYLOAD_TOO_LARGE
        assert file.seek(0, 2) == 0  # refused from S3's Content-Range, before a byte was written
    blobs.write(f"s3://{bucket}/empty", b"")
    with tempfile.TemporaryFile() as file:
        assert blobs.download(f"s3://{bucket}/empty", file, 10) == 0
        with pytest.raises(ApiError) as missing:
            blobs.download(f"s3://{bucket}/nothing", file, 10)
        assert missing.value.code == ErrorCode.URL_FETCH_FAILED


def test_copy_is_made_by_s3_and_keeps_the_bytes(s3):
    from jobs.aws.blobs import S3Blobs

    client, bucket = s3
    blobs = S3Blobs(client)
    data = bytes(range(256)) * 4096
    client.put_object(Bucket=bucket, Key="合同/2024年.pdf", Body=data, Tagging="owner=finance")
    calls: list[str] = []
    for op in ("CopyObject", "GetObject", "PutObject", "UploadPart"):
        client.meta.events.register(f"before-call.s3.{op}", lambda op=op, **kw: calls.append(op))
    blobs.copy(f"s3://{bucket}/合同/2024年.pdf", f"s3://{bucket}/jobs/j/input/0000000")
    assert calls == ["CopyObject"]  # one request: the bytes never pass through the caller
    assert client.get_object(Bucket=bucket, Key="jobs/j/input/0000000")["Body"].read() == data
    # The copy is the job's working file: the source's tags are not carried over.
    assert client.get_object_tagging(Bucket=bucket, Key="jobs/j/input/0000000")["TagSet"] == []
    with pytest.raises(ApiError) as missing:
        blobs.copy(f"s3://{bucket}/nothing", f"s3://{bucket}/jobs/j/input/0000001")
    assert missing.value.code == ErrorCode.URL_FETCH_FAILED


@pytest.fixture
def sagemaker_runtime():
    """A stand-in for SageMaker's runtime API on a loopback port, reached by a real boto3 client:
    it records the raw bytes of each InvokeEndpointAsync's X-Amzn-SageMaker-InputLocation header
    as they came over the wire, and answers 202 as SageMaker does."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import boto3

    seen: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            # http.server decodes header lines as ISO-8859-1: encoding back gives the raw bytes.
            seen.append(self.headers["X-Amzn-SageMaker-InputLocation"].encode("iso-8859-1"))
            body = json.dumps({"InferenceId": "i", "OutputLocation": "s3://b/async/out/i.out"}).encode()
            self.send_response(202)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = boto3.client("sagemaker-runtime", endpoint_url=f"http://127.0.0.1:{server.server_port}", **CREDENTIALS)
    yield client, seen
    server.shutdown()
    server.server_close()


LONG_KEY = "long/" + "a" * 1010 + ".pdf"  # 1,019 bytes: a valid key, but its URI is over 1,024


@pytest.mark.parametrize(
    "key, copied",
    [
        ("合同/2024年.pdf", True),  # UTF-8 in an HTTP header: what SageMaker does with it is undocumented
        ("scans/march report.pdf", True),  # a space: S3 lists it among the characters needing special handling
        ("scans/a+b%41.pdf", True),  # + and %: a URI decoder would read other characters
        (LONG_KEY, True),  # InputLocation is at most 1,024 characters
        ("scans/Report_(v2)-final.v1!'*.pdf", False),  # only S3's safe characters
    ],
    ids=["chinese", "space", "plus-percent", "long", "safe"],
)
def test_a_document_whose_key_is_not_plain_ascii_goes_to_sagemaker_as_a_copy(
    table, s3, sagemaker_runtime, monkeypatch, key, copied
):
    import time

    from jobs import finish, steps
    from jobs.aws import handlers
    from jobs.aws.backend import AwsBackend
    from jobs.aws.blobs import S3Blobs, split_uri
    from jobs.aws.store import DynamoJobStore
    from jobs.model import range_to_dict
    from tests.test_jobs import pdf_of

    client, bucket = s3
    runtime, seen = sagemaker_runtime
    backend = AwsBackend(
        DynamoJobStore(table), S3Blobs(client, results=f"s3://{bucket}/jobs/"), bucket, "arn:sm", _Recorder()
    )
    monkeypatch.setattr(handlers, "_backend", lambda: backend)
    monkeypatch.setattr(handlers, "_RUNTIME", [runtime])
    monkeypatch.setenv("JOBS_ASYNC_ENDPOINT", "stack-ocr-async")
    data = pdf_of(3)
    client.put_object(Bucket=bucket, Key=key, Body=data)
    job = steps.new_job(JobRequest(f"s3://{bucket}/{key}"), "key-1")
    backend.store.create(job)
    (document,) = steps.plan(job, backend.blobs, lambda url: b"")
    assert document.name == key

    units = steps.document_ranges(job, document, backend.blobs, backend.store, time.monotonic() + 30)
    (unit,) = units
    assert (unit.first, unit.last, unit.pages_total, unit.error, unit.document.name) == (1, 3, 3, None, key)
    copy = f"s3://{bucket}/jobs/{job.job_id}/input/0000000"
    input_objects = client.list_objects_v2(Bucket=bucket, Prefix=f"jobs/{job.job_id}/input/").get("Contents", [])
    if copied:
        assert unit.document.uri == copy
        assert client.get_object(Bucket=bucket, Key=split_uri(copy)[1])["Body"].read() == data
        assert len(input_objects) == 1
    else:
        assert unit.document.uri == f"s3://{bucket}/{key}"
        assert input_objects == []

    # What goes out over the wire to SageMaker: plain ASCII, the object just checked.
    handlers.invoke_range({"taskToken": "t", "jobId": job.job_id, "range": range_to_dict(unit)})
    assert seen == [unit.document.uri.encode("ascii")]

    # The result names the document by its own key.
    page = {"width": 10, "height": 10, "lines": [], "error": None}
    steps.record_range(job, unit, [{"page": n, **page} for n in (1, 2, 3)], backend.blobs, backend.store)
    done = finish.finish(job.job_id, backend.blobs, backend.store)
    lines = [json.loads(line) for line in backend.blobs.read(done.result_key, 10**6).decode().splitlines()]
    assert [(line["document"], line["page"]) for line in lines] == [(key, 1), (key, 2), (key, 3)]

    # Counted and copied once: a repeated step answers the ranges it kept, copying nothing again.
    if copied:
        client.delete_object(Bucket=bucket, Key=split_uri(copy)[1])
    assert steps.document_ranges(job, document, backend.blobs, backend.store, time.monotonic() + 30) == units
    assert not backend.blobs.exists(copy)
    assert backend.store.get(job.job_id).pages_total == 3
