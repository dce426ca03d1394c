"""The AWS backend of jobs/backend.py: the job table, the results bucket, and starting a job's
state machine execution. Configured by the stack (infra/jobs/) through the environment."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from typing import Any

from ocr_contract import ApiError, ErrorCode
from ocr_contract.jobs import JobRequest

from .. import steps
from ..model import Job
from .blobs import S3Blobs
from .store import DynamoJobStore

# The environment the stack gives every function that touches jobs (infra/jobs/).
TABLE_ENV = "JOBS_TABLE"
BUCKET_ENV = "JOBS_BUCKET"
STATE_MACHINE_ENV = "JOBS_STATE_MACHINE_ARN"
ASYNC_ENDPOINT_ENV = "JOBS_ASYNC_ENDPOINT"
# The jobs' own limits, read by the steps (jobs/steps.py).
RESULT_DAYS_ENV, MAX_PAGES_ENV, MAX_DOCUMENT_BYTES_ENV = (
    steps.RESULT_DAYS_ENV,
    steps.MAX_PAGES_ENV,
    steps.MAX_DOCUMENT_BYTES_ENV,
)
BUCKET_OWNER_ENV = "BUCKET_OWNER"

# Where each thing lives in the results bucket (its lifecycle rule expires all of it).
JOBS_PREFIX = "jobs/"  # jobs/<jobId>/manifest.jsonl, parts, result.jsonl
RESULT_NAME = steps.RESULT_NAME  # a job's result, under its prefix (jobs.steps.result_uri)
ASYNC_OUTPUT_PREFIX = "async/out/"  # SageMaker writes each inference's answer here
ASYNC_FAILURE_PREFIX = "async/failed/"
MAP_RESULTS_PREFIX = "map-runs/"  # the Distributed Map's results (ResultWriter), never read by us


def job_prefix(bucket: str, job_id: str) -> str:
    return f"s3://{bucket}/{JOBS_PREFIX}{job_id}/"


@dataclass
class AwsBackend:
    store: DynamoJobStore
    blobs: S3Blobs
    bucket: str
    state_machine_arn: str
    sfn: Any
    # A request with no identity is refused in AWS (the authorizer or IAM always gives one).
    default_owner: str | None = None

    def check_request(self, request: JobRequest) -> None:
        """AWS's own rules: inputs are s3:// or http(s) (never file://); results go to the
        stack's bucket (its roles may write nowhere else)."""
        if request.input.lower().startswith("file:"):
            raise ApiError(
                ErrorCode.INVALID_URL, "'input' must be s3://bucket/key, s3://bucket/prefix/ or an http(s) URL"
            )
        if request.output is not None:
            raise ApiError(
                ErrorCode.INVALID_REQUEST,
                "'output' is not supported by this deployment yet: results are kept in its own bucket; leave it out",
            )

    @property
    def results_root(self) -> str:
        """Where the steps write a job's files: s3://<bucket>/jobs/ (then <jobId>/...)."""
        return f"s3://{self.bucket}/{JOBS_PREFIX}"

    def start(self, job: Job) -> None:
        """Start the job's execution, named by its id: a second start of the same job (a retried
        request) is refused by Step Functions and changes nothing."""
        try:
            self.sfn.start_execution(
                stateMachineArn=self.state_machine_arn, name=job.job_id, input=json.dumps({"jobId": job.job_id})
            )
        except Exception as exc:
            if getattr(exc, "response", {}).get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise


def clients(region: str | None = None) -> dict[str, Any]:
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 5})
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return {
        "dynamodb": boto3.resource("dynamodb", region_name=region, config=config),
        # SigV4 and the regional endpoint: presigned URLs that work in every region.
        "s3": boto3.client(
            "s3",
            region_name=region,
            endpoint_url=f"https://s3.{region}.amazonaws.com" if region else None,
            config=config.merge(Config(signature_version="s3v4", s3={"addressing_style": "virtual"})),
        ),
        "stepfunctions": boto3.client("stepfunctions", region_name=region, config=config),
        "sagemaker-runtime": boto3.client("sagemaker-runtime", region_name=region, config=config),
    }


@cache
def backend() -> AwsBackend:
    """From the environment the stack sets (once per Lambda container)."""
    made = clients()
    owner = os.environ.get(BUCKET_OWNER_ENV, "")
    return AwsBackend(
        store=DynamoJobStore(made["dynamodb"].Table(os.environ[TABLE_ENV])),
        # The results bucket is the stack's own; inputs are checked against BUCKET_OWNER where
        # they are read (the steps' listing and the async endpoint's role).
        blobs=S3Blobs(
            made["s3"],
            expected_owner=owner,
            own_buckets=frozenset({os.environ[BUCKET_ENV]}),
            results=f"s3://{os.environ[BUCKET_ENV]}/{JOBS_PREFIX}",
        ),
        bucket=os.environ[BUCKET_ENV],
        state_machine_arn=os.environ.get(STATE_MACHINE_ENV, ""),
        sfn=made["stepfunctions"],
    )
