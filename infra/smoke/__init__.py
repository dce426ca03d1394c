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

from .checks import (
    INPUT_ERRORS,
    SYNC_ROUTES,
    Row,
    _message_of,
    _multipart,
    _texts,
    advice_for,
    check_route,
    logs_advice,
    norm,
    route_request,
    route_url,
)
from .client import Answer, Client, _NoRedirects, _opener, _origin
from .common import (
    DEFAULT_STACK,
    FIXTURES,
    JOB_PAGES,
    JOB_RESULT,
    JOB_TIMEOUT_S,
    MAX_REDIRECTS,
    PATH_IDS,
    PDF_DPI,
    PRESIGN_SECONDS,
    REQUEST_TIMEOUT_S,
    ROOT,
    SECRET_HEADERS,
    SmokeError,
)
from .document import _png_parts, job_pdf, pdf_of_pngs
from .job import (
    AWS_LEFT_BEHIND,
    LOCAL_LEFT_BEHIND,
    JobInput,
    _status_of,
    fetch_result,
    folder_job_input,
    run_job,
    upload_job_input,
)
from .run import _session, main, prepare, smoke, table
from .stack import Target, _error_code, api_region, discover, read_api_key, sigv4_signer, stack_outputs

__all__ = [
    "AWS_LEFT_BEHIND",
    "Answer",
    "Client",
    "DEFAULT_STACK",
    "FIXTURES",
    "INPUT_ERRORS",
    "JOB_PAGES",
    "JOB_RESULT",
    "JOB_TIMEOUT_S",
    "JobInput",
    "LOCAL_LEFT_BEHIND",
    "MAX_REDIRECTS",
    "PATH_IDS",
    "PDF_DPI",
    "PRESIGN_SECONDS",
    "REQUEST_TIMEOUT_S",
    "ROOT",
    "Row",
    "SECRET_HEADERS",
    "SYNC_ROUTES",
    "SmokeError",
    "Target",
    "_NoRedirects",
    "_error_code",
    "_message_of",
    "_multipart",
    "_opener",
    "_origin",
    "_png_parts",
    "_session",
    "_status_of",
    "_texts",
    "advice_for",
    "api_region",
    "check_route",
    "discover",
    "fetch_result",
    "folder_job_input",
    "job_pdf",
    "logs_advice",
    "main",
    "norm",
    "pdf_of_pngs",
    "prepare",
    "read_api_key",
    "route_request",
    "route_url",
    "run_job",
    "sigv4_signer",
    "smoke",
    "stack_outputs",
    "table",
    "upload_job_input",
]
