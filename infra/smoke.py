"""`make smoke`: the first thing to run after `make deploy`. Every route of the API is called once
with a small fixture, each with its own secret header, and a 3-page job (a PDF made now) is run
to SUCCEEDED and its result fetched; a table says what answered, how, and how fast. Exit status
0 when everything passed, 1 when a check failed (with what to do), 2 when it could not start.

    python -m infra.smoke [-c stackName=NAME] [--profile P]       the deployed stack (make smoke CDK_ARGS=...)
    python -m infra.smoke --url http://127.0.0.1:8080 --jobs-input DIR   any running API (make serve JOBS_INPUT=DIR)

Deployed: the stack's outputs are read from CloudFormation (DescribeStacks on the stack name, the
`stackName` context as the CDK app takes it, default ZhOcrEndpoint), in the region the AWS CLI
would use (AWS_REGION, AWS_DEFAULT_REGION, the profile's). The API key is read as the
GetApiKeyCommand output says (API Gateway's GetApiKey with includeValue), through boto3: no AWS
CLI needed. A stack deployed with auth=iam has no key: requests are signed with SigV4 for
execute-api with your credentials. The job's PDF is uploaded to the stack's results bucket and
handed to POST /jobs as a presigned https URL (15 minutes); it is deleted once the job ends.

What stays: the job's record and results, deleted by the results bucket's lifecycle and the
table's expiry after jobResultDays (7 by default; a few KB). The asynchronous endpoint scales
back to zero instances by itself after the job (billed while it runs).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import re
import struct
import sys
import time
import unicodedata
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from ocr_contract.jobs import MAX_URI_LENGTH
from ocr_contract.routes import (
    CLOVA_GENERAL,
    GENERAL_OCR,
    JOB,
    JOBS,
    NHN_CROPPING,
    NHN_GENERAL,
    NHN_VEHICLE_PLATE,
)

# The result of a job: GET /jobs/{jobId}/result on the API (a 303 to a presigned S3 URL in AWS).
JOB_RESULT = JOB + "/result"

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
DEFAULT_STACK = "ZhOcrEndpoint"
# The header each route takes its secret in (frontend/doors/*.py SECRET_HEADER; the smoke runs
# where only the CDK's requirements are installed, so it does not import the doors).
SECRET_HEADERS = {
    GENERAL_OCR: "x-api-key",
    NHN_GENERAL: "Authorization",
    NHN_CROPPING: "Authorization",
    NHN_VEHICLE_PLATE: "Authorization",
    CLOVA_GENERAL: "X-OCR-SECRET",
    JOBS: "x-api-key",
    JOB: "x-api-key",
    JOB_RESULT: "x-api-key",
}
# The ids in the NHN and CLOVA paths are accepted and ignored.
PATH_IDS = {"appKey": "smoke", "domainId": "smoke", "signature": "smoke"}
# The fixtures and what each must be read as (NFKC, without spaces).
RECEIPT, RECEIPT_TEXT = "receipt.png", "08215563"
PLATE, PLATE_TEXT = "two_row_plate.png", "粤B12345"
# The job's PDF, page by page: (fixture, text the page must be read as).
JOB_PAGES = (("receipt.png", "08215563"), ("line.png", "识别测试"), ("hello_world.png", "Helloworld"))
PDF_DPI = 150
REQUEST_TIMEOUT_S = 60
JOB_TIMEOUT_S = 1200
PRESIGN_SECONDS = 900
MAX_REDIRECTS = 3


class SmokeError(Exception):
    """The smoke test cannot start: the message says what to do."""


# -- the job's document ---------------------------------------------------------------------


def _png_parts(png: bytes) -> tuple[int, int, int, bytes]:
    """(width, height, colours, zlib data) of an 8-bit, non-interlaced greyscale or RGB PNG."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    offset, header, data = 8, b"", b""
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        payload = png[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = payload
        elif kind == b"IDAT":
            data += payload
        offset += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour_type not in (0, 2) or interlace:
        raise ValueError("only 8-bit, non-interlaced greyscale or RGB PNGs are embedded")
    return width, height, 1 if colour_type == 0 else 3, data


def pdf_of_pngs(pngs: Iterable[bytes], dpi: int = PDF_DPI) -> bytes:
    """A PDF with one page per PNG, each page the image at `dpi`, with no library: a PNG's
    compressed rows are what PDF's FlateDecode reads with the PNG predictors (Predictor 15)."""
    objects: list[bytes] = []  # object n is objects[n - 1]
    pages = []
    for png in pngs:
        width, height, colours, data = _png_parts(png)
        image = len(objects) + 1
        objects.append(
            (
                f"<< /Type /XObject /Subtype /Image /Width {width} /Height {height} "
                f"/ColorSpace /{'DeviceGray' if colours == 1 else 'DeviceRGB'} /BitsPerComponent 8 "
                f"/Filter /FlateDecode /DecodeParms << /Predictor 15 /Colors {colours} /BitsPerComponent 8 "
                f"/Columns {width} >> /Length {len(data)} >>\nstream\n"
            ).encode()
            + data
            + b"\nendstream"
        )
        w, h = width * 72 / dpi, height * 72 / dpi
        draw = f"q {w:.2f} 0 0 {h:.2f} 0 0 cm /Im0 Do Q".encode()
        objects.append(b"<< /Length %d >>\nstream\n" % len(draw) + draw + b"\nendstream")
        pages.append((image, image + 1, w, h))
    tree = len(objects) + len(pages) + 1
    page_numbers = []
    for image, content, w, h in pages:
        objects.append(
            f"<< /Type /Page /Parent {tree} 0 R /MediaBox [0 0 {w:.2f} {h:.2f}] "
            f"/Resources << /XObject << /Im0 {image} 0 R >> >> /Contents {content} 0 R >>".encode()
        )
        page_numbers.append(len(objects))
    kids = " ".join(f"{n} 0 R" for n in page_numbers)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(page_numbers)} >>".encode())
    objects.append(f"<< /Type /Catalog /Pages {tree} 0 R >>".encode())
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, len(objects), xref)
    return bytes(out)


def job_pdf() -> bytes:
    """The job's 3-page PDF, made from the fixtures now."""
    return pdf_of_pngs((FIXTURES / name).read_bytes() for name, _ in JOB_PAGES)


# -- the deployed stack ---------------------------------------------------------------------


@dataclass
class Target:
    """What to call and how: the API's base URL (with its stage, no trailing slash)."""

    base: str
    api_key: str | None = None
    sign: Callable[[str, str, dict, bytes], dict] | None = None  # SigV4: headers of a signed request
    jobs: bool = True
    results_bucket: str | None = None
    described: str = ""  # one line for the table's heading
    endpoint_name: str | None = None


def _error_code(exc) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)


def stack_outputs(session, stack_name: str) -> dict[str, str]:
    """The stack's outputs by key; SmokeError when there is no such stack or it is not deployed."""
    from botocore.exceptions import BotoCoreError, ClientError

    region = session.region_name
    try:
        stacks = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", "")
        if _error_code(exc) == "ValidationError" and "does not exist" in message:
            raise SmokeError(
                f"no stack named {stack_name} in {region}: deploy it first (`make deploy`), or name the stack and "
                f'region you deployed: `make smoke CDK_ARGS="-c stackName=NAME"` with AWS_REGION set as for the '
                f'deploy. To test a running API without CloudFormation: `make smoke SMOKE_ARGS="--url BASE_URL"`.'
            ) from None
        raise SmokeError(
            f"could not read stack {stack_name} in {region} ({_error_code(exc)}: {message}); "
            "your credentials need cloudformation:DescribeStacks"
        ) from None
    except BotoCoreError as exc:
        raise SmokeError(f"could not read stack {stack_name} in {region}: {exc}") from None
    stack = stacks[0]
    status = stack.get("StackStatus", "")
    if status.endswith("_IN_PROGRESS"):
        raise SmokeError(f"stack {stack_name} is {status}: wait for the deploy to finish, then run `make smoke` again")
    if status.endswith("_FAILED") or status in ("ROLLBACK_COMPLETE", "DELETE_COMPLETE"):
        raise SmokeError(
            f"stack {stack_name} is {status}: the deploy did not finish. Its events say why "
            f"(aws cloudformation describe-stack-events --stack-name {stack_name}); fix it and `make deploy` again"
        )
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def read_api_key(session, key_id: str) -> str:
    """The API key's value, as `aws apigateway get-api-key --api-key ID --include-value` prints it."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return session.client("apigateway").get_api_key(apiKey=key_id, includeValue=True)["value"]
    except ClientError as exc:
        raise SmokeError(
            f"could not read the API key {key_id} ({_error_code(exc)}): your credentials need apigateway:GET on "
            f'/apikeys/{key_id}; or pass the key yourself: make smoke SMOKE_ARGS="--api-key KEY"'
        ) from None
    except BotoCoreError as exc:
        raise SmokeError(f"could not read the API key {key_id}: {exc}") from None


def api_region(url: str, default: str | None) -> str | None:
    """The region in an execute-api URL (https://ID.execute-api.REGION.amazonaws.com/prod), else `default`."""
    match = re.match(r"[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$", urlsplit(url).hostname or "")
    return match.group(1) if match else default


def sigv4_signer(session, region: str | None) -> Callable[[str, str, dict, bytes], dict]:
    """Signs a request for API Gateway (execute-api) with the session's credentials, as an
    auth=iam stack requires; SmokeError when there is nothing to sign with."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = session.get_credentials() if session is not None else None
    if credentials is None:
        raise SmokeError(
            "this API takes SigV4-signed requests (auth=iam) and there are no AWS credentials to sign them with: "
            "run `aws configure` or `aws sso login` (the caller needs execute-api:Invoke on the API)"
        )
    if not region:
        raise SmokeError("cannot sign for API Gateway without a region: export AWS_REGION=REGION")

    def sign(method: str, url: str, headers: dict, body: bytes) -> dict:
        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        SigV4Auth(credentials, "execute-api", region).add_auth(request)
        return dict(request.headers.items())

    return sign


def discover(session, stack_name: str) -> Target:
    """The deployed API from the stack's outputs: its base URL, the API key's value (or SigV4
    signing under auth=iam), whether the jobs API is deployed and its results bucket."""
    outputs = stack_outputs(session, stack_name)
    api_url = outputs.get("ApiUrl", "")
    if not api_url.endswith(GENERAL_OCR.lstrip("/")):
        raise SmokeError(
            f"stack {stack_name} has no ApiUrl output ({', '.join(sorted(outputs)) or 'no outputs'}): "
            "is it this app's stack? Deploy this tree with `make deploy`"
        )
    base = api_url[: -len(GENERAL_OCR)].rstrip("/")
    key_id = outputs.get("ApiKeyId")
    if not key_id:
        match = re.search(r"--api-key\s+(\S+)", outputs.get("GetApiKeyCommand", ""))
        key_id = match.group(1) if match else None
    where = f"stack {stack_name} in {session.region_name}"
    if key_id:
        key, sign, auth = read_api_key(session, key_id), None, f"API key {key_id}"
    else:
        key, sign = None, sigv4_signer(session, api_region(base, session.region_name))
        auth = "SigV4 (auth=iam)"
    return Target(
        base=base,
        api_key=key,
        sign=sign,
        jobs="JobsUrl" in outputs,
        results_bucket=outputs.get("JobResultsBucket"),
        described=f"{where}: {base} ({auth})",
        endpoint_name=outputs.get("EndpointName"),
    )


# -- HTTP -----------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int | None  # None: no answer (connection refused, timeout)
    body: bytes
    seconds: float
    error: str = ""  # why there was no answer
    redirected: str = ""  # where a redirect led (the host)

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # answered as the 3xx itself: Client follows redirects by hand


_opener = urllib.request.build_opener(_NoRedirects)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class Client:
    """Calls the API with each route's own secret header (or a SigV4 signature), and follows
    redirects by hand: a hop to another origin (S3's presigned URL) carries no secret at all."""

    def __init__(self, target: Target, timeout: float = REQUEST_TIMEOUT_S):
        self.target = target
        self.timeout = timeout

    def _authorised(self, method: str, url: str, headers: dict, body: bytes, secret_header: str) -> dict:
        headers = dict(headers)
        if self.target.api_key is not None:
            headers[secret_header] = self.target.api_key
        if self.target.sign is not None:
            headers = self.target.sign(method, url, headers, body)
        return headers

    def call(
        self, method: str, url: str, body: bytes = b"", headers: dict | None = None, secret_header: str = "x-api-key"
    ) -> Answer:
        started = time.perf_counter()
        redirected = ""
        for _hop in range(MAX_REDIRECTS + 1):
            own = _origin(url) == _origin(self.target.base)
            sent = self._authorised(method, url, headers or {}, body, secret_header) if own else {}
            request = urllib.request.Request(url, data=body or None, method=method, headers=sent)
            try:
                with _opener.open(request, timeout=self.timeout) as response:
                    return Answer(
                        response.status, response.read(), time.perf_counter() - started, redirected=redirected
                    )
            except urllib.error.HTTPError as exc:
                status, raw, location = exc.code, exc.read(), exc.headers.get("Location")
            except (OSError, ValueError, http.client.HTTPException) as exc:
                reason = getattr(exc, "reason", exc)
                return Answer(None, b"", time.perf_counter() - started, error=str(reason)[:200], redirected=redirected)
            if status not in (301, 302, 303, 307, 308) or not location:
                return Answer(status, raw, time.perf_counter() - started, redirected=redirected)
            url = urljoin(url, location)
            redirected = f"{status} to {urlsplit(url).hostname}"
            if status == 303 or (status in (301, 302) and method == "POST"):
                method, body, headers = "GET", b"", {}
        return Answer(None, b"", time.perf_counter() - started, error=f"more than {MAX_REDIRECTS} redirects")


# -- the checks -----------------------------------------------------------------------------


def norm(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


@dataclass
class Row:
    check: str  # METHOD route
    result: str  # PASS | FAIL | SKIP
    status: int | None = None
    seconds: float | None = None
    detail: str = ""
    advice: str = ""


def _message_of(answer: Answer) -> str:
    """What an error answer says, whichever API's shape it has."""
    body = answer.json()
    if isinstance(body, dict):
        error = body.get("error")
        header = body.get("header")
        if isinstance(error, dict):
            return f"{error.get('code', '')}: {error.get('message', '')}"[:160]
        if isinstance(header, dict) and header.get("resultMessage"):
            return str(header["resultMessage"])[:160]
        if body.get("message"):
            return str(body["message"])[:160]  # API Gateway's own ("Missing Authentication Token", "Forbidden")
    return answer.body[:160].decode("utf-8", "replace")


def logs_advice(target: Target) -> str:
    if target.endpoint_name:
        return (
            "look up the answer's requestId in the frontend Lambda's CloudWatch logs; the endpoint's logs are in "
            f"/aws/sagemaker/Endpoints/{target.endpoint_name}"
        )
    return "look up the answer's requestId in the server's log"


# Our own error codes (ocr_contract/errors.py) that say the job's document could not be had.
INPUT_ERRORS = ("InvalidUrl", "UrlNotAllowed", "UrlFetchFailed")


def advice_for(answer: Answer, target: Target) -> str:
    """What to do about an answer that is not the expected one."""
    if answer.status is None:
        return f"nothing answered at {target.base}: is it running (make serve), and is the URL right?"
    body = answer.json()
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    if code in INPUT_ERRORS:
        return (
            "the API would not read the job's document from its URL: name one it may read with "
            "--job-input s3://BUCKET/doc.pdf (a bucket of allowedBuckets) or a public https URL"
        )
    return {
        401: "the API wants a key: pass --api-key KEY (against a stack, make smoke reads it itself)",
        403: "refused: check the key (auth=apikey: the GetApiKeyCommand output) or, with auth=iam, that your "
        "credentials may call execute-api:Invoke on this API",
        404: "no such route here: deploy this tree (`make deploy`), or check the base URL (with its stage, /prod)",
        429: "throttled, or over the key's daily quota (throttleRate, quotaPerDay): wait, then run it again",
        503: "not ready (models loading, or an endpoint starting): wait a minute, then run it again",
        504: "over API Gateway's 29 s: a serverless endpoint's cold start, or an instance starting: run it again in a minute",
    }.get(answer.status, logs_advice(target))


def _multipart(name: str, filename: str, data: bytes, content_type: str) -> tuple[bytes, str]:
    boundary = f"smoke-{uuid.uuid4().hex}"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def route_url(target: Target, route: str) -> str:
    return target.base + route.format(**PATH_IDS)


def _texts(route: str, body) -> list[str] | None:
    """The texts an API's success answer carries, or None when it is not a success."""
    try:
        if route == GENERAL_OCR:
            return [line["words"] for line in body] if isinstance(body, list) else None
        if route in (NHN_GENERAL, NHN_CROPPING, NHN_VEHICLE_PLATE):
            if not body["header"]["isSuccessful"]:
                return None
            result = body["result"]
            return [
                v["value"] for v in (result["values"] if route == NHN_VEHICLE_PLATE else result["listOfInferTextList"])
            ]
        if route == CLOVA_GENERAL:
            image = body["images"][0]
            return [f["inferText"] for f in image["fields"]] if image["inferResult"] == "SUCCESS" else None
    except (KeyError, IndexError, TypeError):
        return None
    return None


def route_request(route: str) -> tuple[bytes, dict, str, str]:
    """(body, headers, fixture, text it must be read as) of one call of a synchronous route."""
    receipt = (FIXTURES / RECEIPT).read_bytes()
    if route == GENERAL_OCR:
        body = json.dumps({"img": base64.b64encode(receipt).decode()}).encode()
        return body, {"Content-Type": "application/json"}, RECEIPT, RECEIPT_TEXT
    if route in (NHN_GENERAL, NHN_CROPPING):
        body, content_type = _multipart("image", RECEIPT, receipt, "image/png")
        return body, {"Content-Type": content_type}, RECEIPT, RECEIPT_TEXT
    if route == NHN_VEHICLE_PLATE:
        body, content_type = _multipart("image", PLATE, (FIXTURES / PLATE).read_bytes(), "image/png")
        return body, {"Content-Type": content_type}, PLATE, PLATE_TEXT
    if route == CLOVA_GENERAL:
        message = {
            "version": "V2",
            "requestId": f"smoke-{uuid.uuid4().hex[:12]}",
            "timestamp": int(time.time() * 1000),
            "images": [{"format": "png", "name": "receipt", "data": base64.b64encode(receipt).decode()}],
        }
        return json.dumps(message).encode(), {"Content-Type": "application/json"}, RECEIPT, RECEIPT_TEXT
    raise ValueError(route)


SYNC_ROUTES = (GENERAL_OCR, NHN_GENERAL, NHN_CROPPING, NHN_VEHICLE_PLATE, CLOVA_GENERAL)


def check_route(client: Client, route: str) -> Row:
    body, headers, fixture, expected = route_request(route)
    answer = client.call("POST", route_url(client.target, route), body, headers, SECRET_HEADERS[route])
    row = Row(f"POST {route}", "FAIL", answer.status, answer.seconds)
    if answer.status != 200:
        row.detail = answer.error or _message_of(answer)
        row.advice = advice_for(answer, client.target)
        return row
    texts = _texts(route, answer.json())
    if texts is None:
        row.detail, row.advice = (
            f"200, but not a success answer: {_message_of(answer)}",
            advice_for(answer, client.target),
        )
    elif expected not in norm("".join(texts)):
        row.detail = f"{len(texts)} text(s), none reads {expected!r} in {fixture}"
        row.advice = "it answers but does not read the fixture: the model or its image is wrong; " + logs_advice(
            client.target
        )
    else:
        row.result, row.detail = "PASS", f"{len(texts)} text(s), read {expected!r} in {fixture}"
    return row


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


# -- the whole run --------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    head = ("check", "result", "HTTP", "time", "detail")
    cells = [
        (
            r.check,
            r.result,
            "-" if r.status is None else str(r.status),
            "-" if r.seconds is None else f"{r.seconds:.2f}s",
            r.detail,
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in [head, *cells]) for i in range(4)]
    lines = [
        "  ".join(value.ljust(widths[i]) if i < 4 else value for i, value in enumerate(row)) for row in [head, *cells]
    ]
    return "\n".join(lines)


def smoke(
    target: Target, make_job_input: Callable[[], JobInput] | None, job_skip: str, job_timeout_s: float, say=print
) -> tuple[list[Row], list[str]]:
    """Every route once, then the job (or its rows skipped, saying why): the rows, and notes on
    what was cleaned up and what stays."""
    client = Client(target)
    rows = [check_route(client, route) for route in SYNC_ROUTES]
    job_checks = (f"POST {JOBS}", f"GET {JOB}", f"GET {JOB_RESULT}")
    if make_job_input is None:
        return rows + [Row(check, "SKIP", detail=job_skip) for check in job_checks], []
    try:
        job_input = make_job_input()
    except SmokeError as exc:
        rows.append(Row(job_checks[0], "FAIL", detail="not run: the job's document could not be made", advice=str(exc)))
        return rows + [Row(check, "FAIL", detail="not run: the job was not submitted") for check in job_checks[1:]], []
    notes = []
    try:
        rows += run_job(client, job_input, job_timeout_s, say)
    finally:
        notes.append(job_input.cleanup())
    if rows[len(SYNC_ROUTES)].status == 202:
        notes.append(job_input.left_behind)
    return rows, [note for note in notes if note]


def _session(profile: str | None):
    from .doctor import Doctor, preflight_session

    session, problem = preflight_session(profile)
    doctor = Doctor(None, session)  # type: ignore[arg-type]  # credentials() reads no settings
    if problem or not doctor.credentials():
        raise SmokeError(
            (problem or doctor.findings[-1]).line().split("  ", 1)[-1]
            + ". `make smoke` reads the stack's outputs with your AWS credentials; to test a running API without "
            'them: make smoke SMOKE_ARGS="--url BASE_URL [--api-key KEY]"'
        )
    return session


def prepare(args) -> tuple[Target, Callable[[], JobInput] | None, str]:
    """The target, what makes the job's input when the job is run (None: no job), and why there
    is no job."""
    from .doctor import context_from
    from .settings import SettingsError

    session = None
    if args.url:
        base = args.url.rstrip("/")
        if not re.match(r"https?://[^/]+", base):
            raise SmokeError(
                f"--url {args.url!r}: give the API's base URL, e.g. http://127.0.0.1:8080 or https://ID.execute-api.REGION.amazonaws.com/prod"
            )
        sign = None
        if args.sigv4:
            session = _session(args.profile)
            sign = sigv4_signer(session, api_region(base, session.region_name))
        auth = "SigV4" if sign else ("API key given" if args.api_key else "no key")
        target = Target(base, args.api_key, sign, described=f"{base} ({auth})")
    else:
        try:
            stack_name = context_from(args.context).get("stackName") or DEFAULT_STACK
        except SettingsError as exc:
            raise SmokeError(str(exc)) from None
        session = _session(args.profile)
        target = discover(session, stack_name)
        if args.api_key:
            target.api_key, target.sign = args.api_key, None
    if args.no_jobs:
        return target, None, "left out (--no-jobs)"
    if not target.jobs:
        return target, None, "not deployed (jobs=false)"
    if args.job_input:
        left = AWS_LEFT_BEHIND if not args.url else ""
        return target, lambda: JobInput(args.job_input, False, left_behind=left), ""
    if args.jobs_input:
        folder = Path(args.jobs_input).expanduser().resolve()
        if not folder.is_dir():
            raise SmokeError(
                f"--jobs-input {folder} is not a folder: give the folder the stack was started with "
                f"(make serve JOBS_INPUT={folder})"
            )
        return target, lambda: folder_job_input(folder), ""
    bucket = target.results_bucket
    if bucket and session is not None and not args.url:
        return target, lambda: upload_job_input(session, bucket), ""
    raise SmokeError(
        "the job needs a document the API can read: against `make serve`, start it with JOBS_INPUT=DIR and pass "
        "--jobs-input DIR; elsewhere --job-input s3://allowed-bucket/doc.pdf or an https URL; or --no-jobs to leave the jobs API out"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.smoke", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "-c", "--context", action="append", default=[], metavar="KEY=VALUE", help="as cdk: stackName=NAME"
    )
    parser.add_argument("--profile", help="the AWS profile, as cdk's --profile (default: AWS_PROFILE, or default)")
    parser.add_argument("--url", help="test the API at this base URL instead of the stack's (no CloudFormation)")
    parser.add_argument("--api-key", help="the key to send in each route's secret header (default: the stack's)")
    parser.add_argument("--sigv4", action="store_true", help="with --url: sign requests with SigV4 (an auth=iam API)")
    parser.add_argument(
        "--jobs-input", metavar="DIR", help="the local stack's JOBS_INPUT folder: the job's PDF is written there"
    )
    parser.add_argument(
        "--job-input", metavar="URI", help="a document of yours for the job instead (s3://... or https://...)"
    )
    parser.add_argument("--no-jobs", action="store_true", help="leave the jobs API out")
    parser.add_argument("--job-timeout", type=float, default=JOB_TIMEOUT_S, metavar="SECONDS")
    args, _ = parser.parse_known_args(argv)  # make passes CDK_ARGS, which may hold other cdk flags
    try:
        target, make_job_input, job_skip = prepare(args)
    except SmokeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"smoke test of {target.described}", flush=True)
    rows, notes = smoke(
        target, make_job_input, job_skip, args.job_timeout, say=lambda line: print(line, file=sys.stderr, flush=True)
    )
    print()
    print(table(rows))
    if notes:
        print("\n" + "\n".join(notes))
    failed = [row for row in rows if row.result == "FAIL"]
    if failed:
        print(f"\n{len(failed)} of {len(rows)} check(s) failed. What to do:", file=sys.stderr)
        for row in failed:
            if row.advice:
                print(f"- {row.check}: {row.advice}", file=sys.stderr)
        return 1
    skipped = [row for row in rows if row.result == "SKIP"]
    print(f"\nAll {len(rows) - len(skipped)} check(s) passed" + (f"; {len(skipped)} skipped." if skipped else "."))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
