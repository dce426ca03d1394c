"""The jobs state machine's Lambda functions (jobs/aws/handlers.py), each under a role that
holds what its handler calls and nothing more; tests/test_aws_deployed.py runs each handler
with its own role's permissions and removes each permission in turn."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from jobs.aws.backend import (
    ASYNC_ENDPOINT_ENV,
    ASYNC_OUTPUT_PREFIX,
    BUCKET_ENV,
    BUCKET_OWNER_ENV,
    JOBS_PREFIX,
    MAX_DOCUMENT_BYTES_ENV,
    MAX_PAGES_ENV,
    RESULT_DAYS_ENV,
    TABLE_ENV,
)

from ..grants import acknowledge_bucket_prefixes, read_allowed_buckets, read_encrypted_inputs
from ..lambda_bundle import bundled_function
from ..settings import Settings, retention

# name: (handler in jobs.aws.handlers, role, memory MB, timeout s)
SPECS = {
    "plan": ("plan", "steps", 1024, 900),
    # Counts a document's pages (pypdfium2) from a copy in /tmp (EPHEMERAL_MB).
    "ranges": ("ranges", "steps", 2048, 900),
    "invoke": ("invoke_range", "invoke", 256, 30),
    "done": ("on_inference_done", "done", 512, 120),
    "rangeFailed": ("range_failed", "steps", 512, 120),
    "documentFailed": ("document_failed", "steps", 512, 300),
    "finish": ("finish", "steps", 1024, 900),
    # A document's searchable PDF and Markdown (the job's "outputs"): the document and its PDF
    # in /tmp (OUTPUTS_EPHEMERAL_MB), pages added a few KB each (jobs/outputs/pdf.py).
    "outputs": ("outputs", "steps", 2048, 900),
    # A job whose map or finish step failed, or (EventBridge) whose execution failed, timed out
    # or was stopped: FAILED with the reason.
    "jobFailed": ("job_failed", "steps", 512, 300),
}
# /tmp of the ranges function: a document of jobMaxDocumentMb (500 MB at most) is copied there
# to be counted without holding it in memory (documents/render.py).
EPHEMERAL_MB = 1024
# /tmp of the outputs function: a document of at most 500 MB and its searchable PDF (the input's
# size and at most 5% + 4 KB a page more).
OUTPUTS_EPHEMERAL_MB = 2048


@dataclass
class Functions:
    by_name: dict[str, lambda_.Function]
    steps_role: iam.Role
    invoke_role: iam.Role
    done_role: iam.Role


def job_functions(
    scope: Construct,
    settings: Settings,
    table: dynamodb.Table,
    bucket: s3.Bucket,
    bucket_owner: str,
    endpoint_name: str,
    endpoint_arn: str,
) -> Functions:
    table_arn = table.table_arn
    jobs_objects = bucket.arn_for_objects(f"{JOBS_PREFIX}*")
    environment = {
        TABLE_ENV: table.table_name,
        BUCKET_ENV: bucket.bucket_name,
        BUCKET_OWNER_ENV: bucket_owner,
        "ALLOWED_BUCKETS": ",".join(settings.allowed_buckets),
        "ALLOWED_URL_PORTS": ",".join(str(p) for p in settings.allowed_url_ports),
        RESULT_DAYS_ENV: str(settings.job_result_days),
        MAX_PAGES_ENV: str(settings.job_max_pages),
        MAX_DOCUMENT_BYTES_ENV: str(settings.job_max_document_mb * 1024 * 1024),
        "LOG_LEVEL": "INFO",
    }

    def role(name: str, description: str, statements: list[iam.PolicyStatement]) -> iam.Role:
        made = iam.Role(scope, name, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description)
        for statement in statements:
            made.add_to_policy(statement)
        return made

    # plan, ranges, rangeFailed, documentFailed, outputs, finish, jobFailed: the job's record, its
    # files (outputs included), its inputs.
    steps_role = role(
        "StepsRole",
        "OCR jobs' steps: the job table, the job's files, the allowed buckets",
        [
            # A job's record is made by the API (PutItem there); the steps read and update it.
            iam.PolicyStatement(actions=["dynamodb:GetItem", "dynamodb:UpdateItem"], resources=[table_arn]),
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"], resources=[jobs_objects]
            ),
            # ListBucket on the stack's own bucket: listings of a job's parts, and a 404 (not
            # S3's 403) for an object not yet written (Blobs.exists).
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn]),
        ],
    )
    read_allowed_buckets(steps_role, settings, bucket_owner, list_buckets=True)
    read_encrypted_inputs(steps_role, settings)
    invoke_role = role(
        "InvokeRole",
        "OCR jobs: start one asynchronous inference per range and keep its task token",
        [
            iam.PolicyStatement(actions=["sagemaker:InvokeEndpointAsync"], resources=[endpoint_arn]),
            # PutItem: the task token under the inference's id; GetItem: the job's request.
            iam.PolicyStatement(actions=["dynamodb:PutItem", "dynamodb:GetItem"], resources=[table_arn]),
        ],
    )
    done_role = role(
        "DoneRole",
        "OCR jobs: record a finished inference and answer its task token",
        [
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"], resources=[table_arn]
            ),
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{ASYNC_OUTPUT_PREFIX}*")]
            ),
            iam.PolicyStatement(actions=["s3:GetObject", "s3:PutObject"], resources=[jobs_objects]),
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn]),
        ],
    )
    roles = {"steps": steps_role, "invoke": invoke_role, "done": done_role}

    functions = {}
    for name, (handler, role_name, memory, timeout) in SPECS.items():
        function_role = roles[role_name]
        log_group = logs.LogGroup(
            scope,
            f"{name.title()}Logs",
            retention=retention(settings.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        log_group.grant_write(function_role)
        function_environment = dict(environment)
        if name == "invoke":
            function_environment[ASYNC_ENDPOINT_ENV] = endpoint_name
        functions[name] = bundled_function(
            scope,
            f"{name[0].upper()}{name[1:]}Function",
            f"jobs.aws.handlers.{handler}",
            function_role,
            log_group,
            memory_size=memory,
            timeout=Duration.seconds(timeout),
            environment=function_environment,
            ephemeral_storage_size=(
                Size.mebibytes(EPHEMERAL_MB)
                if name == "ranges"
                else Size.mebibytes(OUTPUTS_EPHEMERAL_MB)
                if name == "outputs"
                else None
            ),
            description=f"OCR jobs: {handler}",
        )
    for function_role in roles.values():
        acknowledge_bucket_prefixes(
            function_role,
            bucket,
            "A job's files are under jobs/<jobId>/ and SageMaker's answers under async/ of the "
            "stack's own results bucket; jobs are made at run time.",
            [f"{JOBS_PREFIX}*", f"{ASYNC_OUTPUT_PREFIX}*"],
        )
    return Functions(by_name=functions, steps_role=steps_role, invoke_role=invoke_role, done_role=done_role)
