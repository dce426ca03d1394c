"""The job: its document handed over, POST /jobs polled to the end, its result fetched."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ocr_contract.jobs import MAX_URI_LENGTH
from ocr_contract.routes import (
    JOB,
    JOBS,
)

from .checks import Row, _message_of, advice_for, norm
from .client import Answer, Client, _origin
from .common import JOB_PAGES, JOB_RESULT, PRESIGN_SECONDS, SECRET_HEADERS, SmokeError
from .document import job_pdf
from .stack import _error_code

# -- the job --------------------------------------------------------------------------------


@dataclass
class JobInput:
    """Where the job's document comes from: `uri` for POST /jobs, and what to undo afterwards."""

    uri: str
    ours: bool  # the 3-page PDF made here (its pages are checked), or a document the user named
    cleanup: Callable[[], str] = field(default=lambda: "")
    # What the job leaves once submitted, said after the table.
    left_behind: str = ""


AWS_LEFT_BEHIND = (
    "Left behind: the job's record and results (a few KB), deleted after jobResultDays (7 by default) by the "
    "results bucket's lifecycle and the jobs table's expiry. The asynchronous endpoint removes the instance it "
    "started for the job by itself, about 15-25 minutes after the job (billed until then); nothing else runs."
)
LOCAL_LEFT_BEHIND = "Left behind: the job's record and results, in the local stack's data folder (JOBS_DATA)."


def upload_job_input(session, bucket: str) -> JobInput:
    """The PDF put in the stack's results bucket and handed to the job as a presigned URL (the
    API reads http(s) inputs; s3:// only from allowedBuckets). Deleted by cleanup(); the bucket's
    lifecycle would expire it anyway."""
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    key = f"smoke/{uuid.uuid4().hex}/three-pages.pdf"
    # SigV4 (every region takes it; regions opened since 2014 take nothing else), in the
    # bucket's own region: the stack's.
    s3 = session.client("s3", config=Config(signature_version="s3v4"))
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=job_pdf(), ContentType="application/pdf")
        url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=PRESIGN_SECONDS)
    except (BotoCoreError, ClientError) as exc:
        raise SmokeError(
            f"could not upload the job's PDF to s3://{bucket}/{key} ({_error_code(exc)}): your credentials need "
            's3:PutObject there; or name a 3-page document yourself: SMOKE_ARGS="--job-input s3://allowed-bucket/doc.pdf"'
        ) from None
    if len(url) > MAX_URI_LENGTH:
        s3.delete_object(Bucket=bucket, Key=key)
        raise SmokeError(
            f"the job's presigned URL is {len(url)} characters, over the {MAX_URI_LENGTH} POST /jobs takes (your "
            "credentials' session token is long): name a 3-page document yourself, "
            'SMOKE_ARGS="--job-input s3://allowed-bucket/doc.pdf", or leave the job out with --no-jobs'
        )

    def cleanup() -> str:
        try:
            s3.delete_object(Bucket=bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            return f"could not delete s3://{bucket}/{key} ({_error_code(exc)}); the bucket's lifecycle expires it"
        return f"deleted the job's input s3://{bucket}/{key}"

    return JobInput(url, True, cleanup, AWS_LEFT_BEHIND)


def folder_job_input(folder: Path) -> JobInput:
    """The PDF written into the folder the local stack reads file:// inputs from (JOBS_INPUT)."""
    path = folder / f"smoke-{uuid.uuid4().hex[:12]}.pdf"
    path.write_bytes(job_pdf())

    def cleanup() -> str:
        path.unlink(missing_ok=True)
        return f"deleted the job's input {path}"

    return JobInput(path.as_uri(), True, cleanup, LOCAL_LEFT_BEHIND)


def _status_of(answer: Answer) -> dict | None:
    body = answer.json()
    return body if answer.status == 200 and isinstance(body, dict) and "status" in body else None


def run_job(client: Client, job_input: JobInput, timeout_s: float, say: Callable[[str], None]) -> list[Row]:
    """POST /jobs, GET /jobs/{jobId} until it is finished, then its result: three rows."""
    target = client.target
    rows = [Row(f"POST {JOBS}", "FAIL"), Row(f"GET {JOB}", "FAIL"), Row(f"GET {JOB_RESULT}", "FAIL")]
    submit = {"input": job_input.uri, "name": "make smoke"}
    answer = client.call(
        "POST",
        target.base + JOBS,
        json.dumps(submit).encode(),
        {"Content-Type": "application/json"},
        SECRET_HEADERS[JOBS],
    )
    body = answer.json()
    rows[0].status, rows[0].seconds = answer.status, answer.seconds
    if answer.status != 202 or not isinstance(body, dict) or "jobId" not in body:
        rows[0].detail, rows[0].advice = answer.error or _message_of(answer), advice_for(answer, target)
        rows[1].detail = rows[2].detail = "not run: the job was not submitted"
        return rows
    job_id = body["jobId"]
    rows[0].result, rows[0].detail = "PASS", f"202, job {job_id}"
    # Polled until finished: 1 s at first, then every 5 s (a job in AWS waits minutes for the
    # asynchronous endpoint to start its first instance from zero).
    started, last_said, polls, state = time.perf_counter(), time.perf_counter(), 0, None
    while True:
        answer = client.call("GET", f"{target.base}/jobs/{job_id}", secret_header=SECRET_HEADERS[JOB])
        polls += 1
        state = _status_of(answer)
        elapsed = time.perf_counter() - started
        rows[1].status, rows[1].seconds = answer.status, elapsed
        if state is None:
            rows[1].detail, rows[1].advice = answer.error or _message_of(answer), advice_for(answer, target)
            rows[2].detail = "not run: the job's status could not be read"
            return rows
        if state["status"] in ("SUCCEEDED", "PARTIAL", "FAILED"):
            break
        if elapsed > timeout_s:
            rows[
                1
            ].detail = f"still {state['status']} after {elapsed:.0f} s ({state.get('pagesDone', 0)} of {state.get('pagesTotal', 0)} pages)"
            rows[1].advice = (
                "the asynchronous endpoint may still be starting its first instance: run `make smoke` again later, "
                "or wait longer with --job-timeout SECONDS"
            )
            rows[2].detail = "not run: the job did not finish"
            return rows
        if time.perf_counter() - last_said >= 30:
            say(
                f"  job {job_id}: {state['status']}, {state.get('pagesDone', 0)} of {state.get('pagesTotal', 0)} pages after {elapsed:.0f} s"
            )
            last_said = time.perf_counter()
        time.sleep(1.0 if elapsed < 30 else 5.0)
    pages = f"{state.get('pagesDone', 0)} of {state.get('pagesTotal', 0)} pages"
    if state["status"] != "SUCCEEDED":
        error = state.get("error") or {}
        rows[
            1
        ].detail = f"{state['status']}: {pages}, {state.get('pagesFailed', 0)} failed {error.get('code', '')} {error.get('message', '')}".strip()
        rows[
            1
        ].advice = "the job ran but did not read every page: its result says which failed and why; the steps' logs are in CloudWatch"
    elif job_input.ours and state.get("pagesTotal") != len(JOB_PAGES):
        rows[1].detail = f"SUCCEEDED, but {pages} (the PDF has {len(JOB_PAGES)})"
        rows[1].advice = "pages were lost counting the document: look at the job's steps in Step Functions"
    else:
        rows[1].result, rows[1].detail = "PASS", f"SUCCEEDED, {pages} after {polls} poll(s)"
    rows[2] = fetch_result(client, job_id, state, job_input)
    return rows


def fetch_result(client: Client, job_id: str, state: dict, job_input: JobInput) -> Row:
    """The job's result: resultUrl as GET /jobs/{jobId} gives it (the API's own /result route,
    which redirects to S3 in AWS, or a presigned S3 URL), else the route itself."""
    url = state.get("resultUrl") or f"{client.target.base}/jobs/{job_id}/result"
    own = _origin(url) == _origin(client.target.base)
    row = Row(f"GET {JOB_RESULT}" if own else "GET resultUrl", "FAIL")
    answer = client.call("GET", url, secret_header=SECRET_HEADERS[JOB_RESULT])
    row.status, row.seconds = answer.status, answer.seconds
    via = f" (via {answer.redirected})" if answer.redirected else ""
    if answer.status != 200:
        row.detail = (answer.error or _message_of(answer)) + via
        row.advice = advice_for(answer, client.target)
        return row
    try:
        pages = [json.loads(line) for line in answer.body.decode("utf-8").splitlines() if line.strip()]
    except ValueError:
        row.detail = f"not JSON Lines{via}: {answer.body[:80]!r}"
        return row
    failed = [page for page in pages if page.get("error")]
    if failed:
        row.detail = f"{len(failed)} of {len(pages)} page(s) with an error: {failed[0]['error']}"
        return row
    if job_input.ours:
        read = [norm("".join(line["words"] for line in page.get("lines", []))) for page in pages]
        wrong = [i + 1 for i, (_, text) in enumerate(JOB_PAGES) if i >= len(read) or text not in read[i]]
        if len(pages) != len(JOB_PAGES) or wrong:
            row.detail = f"{len(pages)} page(s); page(s) {wrong} not read as expected{via}"
            row.advice = (
                "the job reads pages differently from the synchronous routes: look at the async endpoint's logs"
            )
            return row
    lines = sum(len(page.get("lines", [])) for page in pages)
    row.result, row.detail = "PASS", f"{len(pages)} page(s), {lines} line(s){via}"
    return row
