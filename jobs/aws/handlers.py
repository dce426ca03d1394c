"""The Lambda handlers the jobs state machine runs (infra/jobs/), each thin: it turns the
state's input into the model's objects, calls the job's step (jobs/steps.py), and answers what
the next state reads.

    plan        {"jobId"}                           -> {"jobId", "documents", "outputs", "manifest": {"Bucket", "Key"}}
    ranges      {"jobId", "document"}               -> {"document", "ranges": [{"first", "last", "pagesTotal"}]}
                (the document as its ranges read it; each range without it, so the inner Map's
                items stay small)
    invoke_range {"taskToken", "jobId", "document", "range"} -> {"inferenceId"}; the state
                waits for the token, which on_inference_done sends back
    on_inference_done  (SNS: the async endpoint's success and error notifications)
    range_failed {"jobId", "document", "range", "error": {"Error", "Cause"}}: after the retries
    document_failed {"jobId", "document", "error"}: counting or a range failed past every retry
    outputs     {"jobId", "document"}               -> {"written", "failed"}: the document's
                searchable PDF and Markdown (jobs/outputs/), once its ranges are recorded
    finish      {"jobId", "error"?}                 -> {"jobId", "status"}
    job_failed  {"jobId", "error"} (the map or finish failed), or EventBridge's "Step Functions
                Execution Status Change" (the execution failed, timed out or was stopped)
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import time
from typing import Any

from ocr_contract import ApiError, ErrorCode
from ocr_contract.jobs import JOB_ID

from ..model import Job, Range, document_from_dict, document_to_dict, range_from_dict, range_to_dict
from .backend import ASYNC_ENDPOINT_ENV, AwsBackend, backend, clients, job_prefix
from .blobs import split_uri

log = logging.getLogger("jobs.aws")
log.setLevel(os.environ.get("LOG_LEVEL", "INFO"))

# SageMaker Asynchronous Inference: how long a request may wait in the endpoint's queue (the
# most is 6 h: scaling from zero takes minutes, a long backlog hours), and how long the
# container may take on one range (over the container's own OCR_DOCUMENT_TIMEOUT_S, 900 s).
REQUEST_TTL_S = 6 * 3600
INVOCATION_TIMEOUT_S = 1200
# The state machine's wait for one range: the queue and the invocation, and a margin for the
# notification; past it the task times out and is retried (infra/jobs/state_machine.py reads this).
RANGE_TASK_TIMEOUT_S = REQUEST_TTL_S + INVOCATION_TIMEOUT_S + 600
# A range's answer: 20 pages of lines, far under this.
MAX_OUTPUT_BYTES = 64 * 1024 * 1024
MANIFEST_NAME = "manifest.jsonl"
# Tries of one range in all (the state machine's Retry: infra/jobs/state_machine.py reads this).
RANGE_ATTEMPTS = 3


def _steps():
    from .. import steps  # jobs/steps.py: the job's logic, shared with the local stack

    return steps


def _finish():
    from .. import finish  # jobs/finish.py: the job's end, shared with the local stack

    return finish


def _backend() -> AwsBackend:
    return backend()


def _job(b: AwsBackend, job_id: str) -> Job:
    job = b.store.get(job_id)
    if job is None:
        raise LookupError(f"no job {job_id}")
    return job


def _remaining_s(context: Any, default: float = 60.0) -> float:
    getter = getattr(context, "get_remaining_time_in_millis", None)
    return getter() / 1000 if getter else default


def plan(event: dict, context: Any = None) -> dict:
    """List the job's documents (steps.plan, steps.write_manifest: chunks of JSON Lines), and
    join the chunks into the one manifest the Distributed Map reads (S3 copies them). An input
    that cannot be read fails the job here (finish.fail): then there are no documents."""
    steps = _steps()
    b = _backend()
    job = _job(b, event["jobId"])
    b.store.set_status(job.job_id, "RUNNING")
    try:
        count = steps.write_manifest(job, steps.plan(job, b.blobs, steps.fetch_input_url), b.blobs, b.store)
    except ApiError as error:
        _finish().fail(job.job_id, error, b.blobs, b.store)
        return {"jobId": job.job_id, "documents": 0, "outputs": False}
    chunks = [uri for uri, _ in b.blobs.listing(steps.manifest_prefix(job, b.blobs)) if uri.endswith(".jsonl")]
    manifest = job_prefix(b.bucket, job.job_id) + MANIFEST_NAME
    b.blobs.concat(chunks, manifest)
    bucket, key = split_uri(manifest)
    return {
        "jobId": job.job_id,
        "documents": count,
        # Whether each document's map item goes on to its outputs (the job's "outputs").
        "outputs": bool(job.request.outputs),
        "manifest": {"Bucket": bucket, "Key": key},
    }


def ranges(event: dict, context: Any = None) -> dict:
    """The document's ranges of pages (counted once: steps.document_ranges). A document that
    cannot be read at all is recorded failed here, without invoking the model, and has none."""
    steps = _steps()
    b = _backend()
    job = _job(b, event["jobId"])
    document = document_from_dict(event["document"])
    deadline = time.monotonic() + max(5.0, _remaining_s(context) - 20)
    found = []
    for unit in steps.document_ranges(job, document, b.blobs, b.store, deadline):
        error = steps.range_error(unit)
        if error is not None:
            steps.record_range(job, unit, error, b.blobs, b.store)
        else:
            document = unit.document  # where its pages are read from (a copy, for some keys)
            found.append({"first": unit.first, "last": unit.last, "pagesTotal": unit.pages_total})
    return {"document": document_to_dict(document), "ranges": found}


def _range(event: dict) -> Range:
    """A range of the state's input: {"document", "range": {"first", "last", "pagesTotal"}}, or
    (a token stored by an earlier version) {"range": range_to_dict}."""
    if "document" in event:
        return range_from_dict({**event["range"], "document": event["document"]})
    return range_from_dict(event["range"])


def invoke_range(event: dict, context: Any = None) -> dict:
    """One range: a SageMaker Asynchronous Inference request reading the document where it is.
    The task token is stored under the inference's id first, so a notification however early
    finds it."""
    b = _backend()
    job_id = event["jobId"]
    work_range = _range(event)
    document = work_range.document
    inference_id = f"{job_id}-{work_range.key}-{secrets.token_hex(4)}"  # new on every attempt
    work = {"jobId": job_id, "range": range_to_dict(work_range)}
    b.store.put_token(inference_id, event["taskToken"], work, int(time.time()) + RANGE_TASK_TIMEOUT_S + 3600)
    job = _job(b, job_id)
    options = job.request.range_options(job_id, (work_range.first, work_range.last))
    _runtime().invoke_endpoint_async(
        EndpointName=os.environ[ASYNC_ENDPOINT_ENV],
        InputLocation=document.uri,
        ContentType="application/octet-stream",
        CustomAttributes=options.header(),
        InferenceId=inference_id,
        RequestTTLSeconds=REQUEST_TTL_S,
        InvocationTimeoutSeconds=INVOCATION_TIMEOUT_S,
    )
    log.info(json.dumps({"event": "range_invoked", "jobId": job_id, "inferenceId": inference_id}))
    return {"inferenceId": inference_id}


_RUNTIME: list[Any] = []


def _runtime() -> Any:
    if not _RUNTIME:
        _RUNTIME.append(clients()["sagemaker-runtime"])
    return _RUNTIME[0]


def on_inference_done(event: dict, context: Any = None) -> dict:
    """The async endpoint's notifications (SNS): record the range's pages and hand the task
    token back, or fail the task so that Step Functions retries the range.

    The token is deleted only once Step Functions has taken the answer: a call that fails here
    (throttled, a 5xx) raises, Lambda delivers the notification again (SNS invokes it
    asynchronously: two more tries), and the token is still there to answer. Recording is
    idempotent (record_range), so a repeated delivery adds nothing."""
    b = _backend()
    handled = 0
    for record in event.get("Records", []):
        message = json.loads(record["Sns"]["Message"])
        inference_id = message.get("inferenceId", "")
        found = b.store.get_token(inference_id)
        if found is None:  # answered already, or the task timed out and was retried
            log.info(json.dumps({"event": "unknown_inference", "inferenceId": inference_id}))
            continue
        token, work = found
        handled += 1
        if message.get("invocationStatus") != "Completed":
            _fail(b, token, "InferenceFailed", str(message.get("failureReason", "the inference failed"))[:30000])
        else:
            try:
                output = message["responseParameters"]["outputLocation"]
                pages = json.loads(b.blobs.read(output, MAX_OUTPUT_BYTES))
                job = _job(b, work["jobId"])
                _steps().record_range(job, range_from_dict(work["range"]), pages, b.blobs, b.store)
            except (ApiError, LookupError, KeyError, ValueError) as exc:
                _fail(b, token, "RecordFailed", f"{type(exc).__name__}: {exc}"[:30000])
            else:
                _succeed(b, token, {"inferenceId": inference_id, "pages": len(pages)})
        b.store.delete_token(inference_id)
    return {"handled": handled}


def _succeed(b: AwsBackend, token: str, output: dict) -> None:
    try:
        b.sfn.send_task_success(taskToken=token, output=json.dumps(output))
    except Exception as exc:  # the task timed out meanwhile: its retry has its own token
        if getattr(exc, "response", {}).get("Error", {}).get("Code") not in ("TaskTimedOut", "TaskDoesNotExist"):
            raise


def _fail(b: AwsBackend, token: str, error: str, cause: str) -> None:
    try:
        b.sfn.send_task_failure(taskToken=token, error=error, cause=cause)
    except Exception as exc:
        if getattr(exc, "response", {}).get("Error", {}).get("Code") not in ("TaskTimedOut", "TaskDoesNotExist"):
            raise


def range_failed(event: dict, context: Any = None) -> dict:
    """A range that failed every try: its pages are recorded failed, with the last error."""
    b = _backend()
    job = _job(b, event["jobId"])
    failure = event.get("error") or {}
    kind = str(failure.get("Error", ""))
    code = ErrorCode.TIMEOUT if kind == "States.Timeout" else ErrorCode.INTERNAL_ERROR
    message = f"the range failed {RANGE_ATTEMPTS} times; last: {kind}: {_cause(failure)}"[:1000]
    _steps().record_range(job, _range(event), ApiError(code, message), b.blobs, b.store)
    return {"recorded": True}


def document_failed(event: dict, context: Any = None) -> dict:
    """A document whose counting or ranges failed past every retry (the state machine's Catch):
    its pages without a part are recorded failed with the reason (finish.fail_document)."""
    b = _backend()
    job = _job(b, event["jobId"])
    failure = event.get("error") or {}
    message = f"the document could not be read: {failure.get('Error', '')}: {_cause(failure)}"[:1000]
    document = document_from_dict(event["document"])
    _finish().fail_document(job, document, ApiError(ErrorCode.INTERNAL_ERROR, message), b.blobs, b.store)
    return {"recorded": True}


def outputs(event: dict, context: Any = None) -> dict:
    """A document's outputs, once its ranges are all recorded (jobs/outputs/write_outputs): each
    written whole under the job's outputs/ or not at all, once (a retried call keeps what an
    earlier one stored)."""
    from ..outputs.write import write_outputs

    b = _backend()
    job = _job(b, event["jobId"])
    entries = write_outputs(job, document_from_dict(event["document"]), b.blobs)
    return {"written": sum(1 for e in entries if e.get("file")), "failed": sum(1 for e in entries if e.get("error"))}


def job_failed(event: dict, context: Any = None) -> dict:
    """A job that ended without finishing: from the state machine's Catch ({"jobId", "error"}),
    or from EventBridge when its execution failed, timed out or was stopped (the execution is
    named by the job's id). FAILED with the reason (finish.fail_job); a finished job stays."""
    detail = event.get("detail")
    if isinstance(detail, dict):  # "Step Functions Execution Status Change"
        job_id = str(detail.get("name", ""))
        status = str(detail.get("status", ""))
        reason = {
            "TIMED_OUT": "the job's execution timed out (7 days); resubmit it in smaller parts",
            "ABORTED": "the job's execution was stopped",
        }.get(status, f"the job's execution failed: {detail.get('error') or ''}: {detail.get('cause') or ''}")
        code = ErrorCode.TIMEOUT if status == "TIMED_OUT" else ErrorCode.INTERNAL_ERROR
    else:
        job_id = str(event.get("jobId", ""))
        failure = event.get("error") or {}
        reason = f"the job could not be finished: {failure.get('Error', '')}: {_cause(failure)}"
        code = ErrorCode.INTERNAL_ERROR
    if not JOB_ID.fullmatch(job_id):
        log.info(json.dumps({"event": "not_a_job", "name": job_id[:80]}))
        return {"jobId": None}
    done = _finish().fail_job(job_id, ApiError(code, reason[:1000]), _backend().blobs, _backend().store)
    return {"jobId": job_id, "status": done.status if done else None}


def _cause(failure: dict) -> str:
    message = str(failure.get("Cause", ""))
    with contextlib.suppress(ValueError, AttributeError):  # a Lambda's error: JSON, errorMessage
        message = str(json.loads(message).get("errorMessage", message))
    return message


def finish(event: dict, context: Any = None) -> dict:
    """The job's result and final status (finish.finish); with `error` (the plan step failed
    unexpectedly: Step Functions' Error and Cause), the job FAILED with that reason."""
    b = _backend()
    failure = event.get("error")
    if failure:
        error = ApiError(ErrorCode.INTERNAL_ERROR, f"{failure.get('Error', '')}: {_cause(failure)}"[:1000])
        done = _finish().fail(event["jobId"], error, b.blobs, b.store)
    else:
        job = b.store.get(event["jobId"])
        if job is not None and not job.finished and job.request.outputs:
            from ..outputs.write import write_index

            write_index(job, b.blobs)  # every document's outputs, listed for GET /jobs/{jobId}
        done = _finish().finish(event["jobId"], b.blobs, b.store)
    return {"jobId": done.job_id, "status": done.status}
