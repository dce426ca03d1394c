"""The jobs API's door: asynchronous and bulk OCR of documents, S3 prefixes and URLs.

    POST /jobs                 {"input", "output"?, "features"?, "name"?} -> 202 {"jobId", "status", "statusUrl"}
    GET  /jobs/{jobId}         -> 200 the job's status (jobs.answers.status_body)
    GET  /jobs/{jobId}/result  -> 303 to the result at a URL signed now, living RESULT_URL_EXPIRY_S
                                  (blobs.url: presigned S3 in AWS); 409 until the job has finished;
                                  ?output=outputs/FILE one of the job's outputs (jobs/outputs/),
                                  ?output=outputs.jsonl their list

The same code answers in AWS and on the local stack: the store, blobs and starter come from
jobs.backend.backend() (JOBS_BACKEND=aws|local). A job belongs to its caller: the API key's id
(requestContext.identity.apiKeyId), or the IAM principal (iam_principal: the role of an assumed
role's sessions, an IAM user); locally "local". Another caller's job id is answered as an
unknown one (404). The contract: ocr_contract/jobs.py.
"""

from __future__ import annotations

import json
import re

from ocr_contract import ApiError, ErrorCode, check_content_type
from ocr_contract.jobs import (
    JOB,
    JOB_ID,
    JOB_RESULT,
    JOBS,
    RESULT_URL_EXPIRY_S,
    JobRequest,
    job_not_finished,
    job_not_found,
    parse_job_request,
)
from ocr_contract.routes import JOB_ROUTES, matches
from urlfetch.guard import check_http_url

from ..incoming import KEY_PRINCIPAL, Incoming
from ..s3_fetch import allowed_buckets

ROUTES = JOB_ROUTES
# The header carrying the API key in AWS (frontend/authorizer.py).
SECRET_HEADER = "x-api-key"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


# An assumed role's session, as requestContext.identity.userArn names it (IAM identifiers:
# arn:aws:sts::ACCOUNT:assumed-role/ROLE-NAME/SESSION-NAME; role names and session names hold no "/").
_ASSUMED_ROLE = re.compile(r"(arn:[a-z-]+:sts::\d{12}:assumed-role/[^/]+)/[^/]+")


def iam_principal(user_arn: str) -> str:
    """The IAM principal behind a SigV4-signed request's userArn, the same for all its sessions:
    for an assumed role its session's ARN without the session name (each AssumeRole, each Lambda
    container, each `aws sso login` names a new session); an IAM user's, a federated user's or the
    account's own ARN as it is."""
    assumed = _ASSUMED_ROLE.fullmatch(user_arn)
    return assumed.group(1) if assumed else user_arn


def owner_of(incoming: Incoming, default: str | None) -> str:
    """Who calls: the API key's id (our authorizer's principal, or API Gateway's own), else the
    IAM principal (iam_principal), else `default` (locally "local")."""
    authorizer = incoming.context.get("authorizer")
    principal = authorizer.get("principalId") if isinstance(authorizer, dict) else None
    if isinstance(principal, str) and principal.startswith(KEY_PRINCIPAL) and len(principal) > len(KEY_PRINCIPAL):
        return principal
    identity = incoming.context.get("identity")
    identity = identity if isinstance(identity, dict) else {}
    for key in ("apiKeyId", "userArn", "caller"):
        value = identity.get(key)
        if isinstance(value, str) and value.strip():
            value = value.strip()
            return f"{key}:{iam_principal(value) if key == 'userArn' else value}"
    if default:
        return default
    raise ApiError(ErrorCode.FORBIDDEN, "the jobs API needs an API key (x-api-key) or IAM credentials")


def base_url(incoming: Incoming) -> str:
    """The API's own URL as the caller reached it (for statusUrl): the execute-api domain and
    its stage, a custom domain and its base path, or locally the Host header."""
    domain = incoming.context.get("domainName")
    if isinstance(domain, str) and domain:
        if domain.endswith(".amazonaws.com"):
            return f"https://{domain}/{incoming.context.get('stage', '')}".rstrip("/")
        path = incoming.path.rstrip("/")
        if matches(JOB_RESULT, incoming.route):
            path = path.rsplit("/", 2)[0]
        elif matches(JOB, incoming.route) and "/" in path:
            path = path.rsplit("/", 1)[0]
        prefix = path[: -len(JOBS)] if path.endswith(JOBS) else ""
        return f"https://{domain}{prefix}"
    return f"http://{incoming.headers.get('host', '127.0.0.1')}"


def _check_bucket(uri: str, what: str) -> None:
    bucket = uri[len("s3://") :].partition("/")[0]
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise ApiError(ErrorCode.INVALID_URL, f"{bucket[:80]!r} in '{what}' is not a valid S3 bucket name")
    if bucket not in allowed_buckets():
        raise ApiError(
            ErrorCode.URL_NOT_ALLOWED,
            f"bucket {bucket!r} is not allowed; the deployment's allowedBuckets setting lists the buckets that may be used",
        )


def check_request(request: JobRequest) -> None:
    """The rules of every backend: http(s) inputs through the URL guard (as POST /general_ocr's
    URLs), s3:// inputs and outputs only in ALLOWED_BUCKETS."""
    scheme = request.input.split(":", 1)[0].lower()
    if scheme in ("http", "https"):
        check_http_url(request.input)
    elif scheme == "s3":
        _check_bucket(request.input, "input")
    if request.output is not None:
        _check_bucket(request.output, "output")


def answer(incoming: Incoming, request_id: str, deadline: float, record: dict) -> tuple:
    """(status, body), or (status, body, headers) for the result's redirect."""
    from jobs import answers, steps
    from jobs.backend import backend

    jobs = backend()
    owner = owner_of(incoming, jobs.default_owner)
    result = matches(JOB_RESULT, incoming.route)
    if result or matches(JOB, incoming.route):
        parts = incoming.path.rstrip("/").rsplit("/", 2 if result else 1)
        job_id = parts[-2] if result else parts[-1]
        record["jobId"] = job_id[:40]
        job = jobs.store.get(job_id) if JOB_ID.fullmatch(job_id) else None
        if job is None or job.owner != owner:
            raise job_not_found(job_id)
        if not result:
            from jobs.outputs.write import listing

            return 200, {**answers.status_body(job, base_url(incoming)), **listing(job, jobs.blobs, base_url(incoming))}
        if not job.finished:
            raise job_not_finished(job_id, job.status)
        if not job.result_key:
            raise ApiError(ErrorCode.NOT_FOUND, f"job {job_id!r} ended {job.status} without a result")
        target = job.result_key
        if "output" in incoming.query:  # one of the job's outputs, or their list (jobs/outputs/)
            target = _output(job, jobs.blobs, incoming.query["output"])
        # Signed now, for minutes: with the frontend's credentials of this moment, whatever
        # their own lifetime, and however old the job (ocr_contract.jobs.RESULT_URL_EXPIRY_S).
        location = jobs.blobs.url(target, RESULT_URL_EXPIRY_S)
        headers = {"Location": location, "Cache-Control": "no-store"}
        return 303, {"jobId": job_id, "location": location, "expiresIn": RESULT_URL_EXPIRY_S}, headers
    check_content_type(incoming.headers.get("content-type"))
    try:
        payload = json.loads(incoming.body_bytes() or b"null")
    except (ValueError, RecursionError):
        raise ApiError(ErrorCode.INVALID_REQUEST, "the request body is not valid JSON") from None
    request = parse_job_request(payload)
    check_request(request)
    jobs.check_request(request)
    job = steps.new_job(request, owner)
    jobs.store.create(job)
    jobs.start(job)
    record["jobId"] = job.job_id
    return 202, answers.submitted_body(job, base_url(incoming))


def _output(job, blobs, file: str) -> str:
    """The URI of `?output=FILE` of GET /jobs/{jobId}/result: `outputs.jsonl` (the list) or a
    file under `outputs/` of a job that asked for outputs; 404 otherwise. Whether the file is
    there is the store's to say (S3 answers the signed URL with 404 or 403; the local stack 404):
    the frontend may read a job's objects, not list them."""
    from jobs.outputs.write import job_output_uri

    uri = job_output_uri(job, blobs, file) if job.request.outputs else None
    if uri is None:
        raise ApiError(
            ErrorCode.NOT_FOUND, f"job {job.job_id!r} has no output {file[:200]!r}; GET /jobs/{job.job_id} lists them"
        )
    return uri


def error_body(error: ApiError, request_id: str) -> dict:
    return error.body(request_id)
