"""The jobs API on AWS (docs/deploy.md, "Jobs on AWS"): a job table, a results bucket, the
inference image behind a SageMaker Asynchronous Inference endpoint that scales to zero
(async_endpoint.py), the steps' Lambda functions (functions.py), and the Step Functions state
machine that reads each job's documents range by range (state_machine.py).

The stack wires it to the API: `grant_frontend(function)` gives the API's Lambda what POST
/jobs and GET /jobs/{jobId} need, and `frontend_environment()` what it reads.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from jobs.aws.backend import (
    BUCKET_ENV,
    JOBS_PREFIX,
    MAX_DOCUMENT_BYTES_ENV,
    MAX_PAGES_ENV,
    RESULT_DAYS_ENV,
    RESULT_NAME,
    STATE_MACHINE_ENV,
    TABLE_ENV,
)
from jobs.outputs.write import INDEX_NAME as OUTPUTS_INDEX
from jobs.outputs.write import OUTPUTS_FOLDER

from ..grants import acknowledge_bucket_prefixes
from ..inference_endpoint import InferenceEndpoint
from ..nag import acknowledge
from ..settings import Settings, accelerator
from .async_endpoint import async_endpoint
from .functions import job_functions
from .state_machine import state_machine

# The execution statuses that end a job's execution without its own steps having said so.
ENDED_WITHOUT_FINISHING = ["FAILED", "TIMED_OUT", "ABORTED"]


class Jobs(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, inference: InferenceEndpoint):
        super().__init__(scope, construct_id)
        self.settings = settings
        kind = accelerator(settings.async_instance)
        bucket_owner = settings.bucket_owner or Aws.ACCOUNT_ID

        # State: one item per job (and per inference in flight), deleted by TTL.
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="jobId", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute="expiresAt",
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.table,
            "AwsSolutions-DDB3",
            "Job records live jobResultDays and can be recreated by resubmitting the job; "
            "point-in-time recovery would bill for backups of transient state.",
        )

        # Results: manifests, parts, result lines, the async endpoint's answers, map runs.
        self.bucket = s3.Bucket(
            self,
            "Results",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-results",
                    expiration=Duration.days(settings.job_result_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=RemovalPolicy.DESTROY,
            auto_delete_objects=True,  # `make destroy` empties it first: nothing billable stays
        )
        acknowledge(
            self.bucket,
            "AwsSolutions-S1",
            "Objects are written only by this stack's roles and read through presigned URLs that "
            "expire; a second bucket of access logs would outlive the results it logs.",
        )

        # The async endpoint's notifications.
        self.success_topic = sns.Topic(self, "InferenceSucceeded", enforce_ssl=True)
        self.error_topic = sns.Topic(self, "InferenceFailed", enforce_ssl=True)
        for topic in (self.success_topic, self.error_topic):
            acknowledge(
                topic,
                "AwsSolutions-SNS2",
                "Messages carry an inference id and S3 URIs, no document content; a customer managed "
                "KMS key would bill monthly while the stack is idle.",
            )

        endpoint = async_endpoint(
            self, settings, inference, self.bucket, (self.success_topic, self.error_topic), kind, bucket_owner
        )
        self.endpoint_name, self.endpoint_arn, self.variant = endpoint.name, endpoint.arn, endpoint.variant
        self.endpoint = endpoint.endpoint
        made = job_functions(self, settings, self.table, self.bucket, bucket_owner, endpoint.name, endpoint.arn)
        functions = made.by_name
        self.done_role = made.done_role
        self.state_machine = state_machine(self, settings, functions, self.bucket)

        # The notifications' handler answers the task tokens. IAM evaluates SendTaskSuccess on
        # the state machine of the execution that issued the token: for the Distributed Map's
        # child executions that is <state machine ARN>/<map run label>, so both are granted.
        machine_arn = self.state_machine.state_machine_arn
        self.done_role.add_to_policy(
            iam.PolicyStatement(
                actions=["states:SendTaskSuccess", "states:SendTaskFailure"],
                resources=[machine_arn, f"{machine_arn}/*"],
            )
        )
        acknowledge(
            self.done_role,
            f"AwsSolutions-IAM5[Resource::<{self.state_machine.stack.get_logical_id(self.state_machine.node.default_child)}>/*]",  # type: ignore[arg-type]
            "Task tokens of the Distributed Map's child executions: their state machine is this "
            "one's map runs, named at run time.",
        )
        functions["done"].add_environment(STATE_MACHINE_ENV, machine_arn)
        for topic in (self.success_topic, self.error_topic):
            functions["done"].add_event_source(event_sources.SnsEventSource(topic))

        # An execution that ends without its steps having finished the job (its timeout, a
        # stop, a failure past every Catch) fails the job with the reason.
        events.Rule(
            self,
            "ExecutionEnded",
            description="OCR jobs: an execution that failed, timed out or was stopped fails its job",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={"status": ENDED_WITHOUT_FINISHING, "stateMachineArn": [machine_arn]},
            ),
            targets=[targets.LambdaFunction(functions["jobFailed"], retry_attempts=8)],
        )
        self.job_objects_arn = self.bucket.arn_for_objects(f"{JOBS_PREFIX}*")

    def frontend_environment(self) -> dict[str, str]:
        """What the API's door (frontend/doors/jobs.py, through jobs/backend.py) reads."""
        return {
            "JOBS_BACKEND": "aws",
            TABLE_ENV: self.table.table_name,
            BUCKET_ENV: self.bucket.bucket_name,
            STATE_MACHINE_ENV: self.state_machine.state_machine_arn,
            RESULT_DAYS_ENV: str(self.settings.job_result_days),
            MAX_PAGES_ENV: str(self.settings.job_max_pages),
            MAX_DOCUMENT_BYTES_ENV: str(self.settings.job_max_document_mb * 1024 * 1024),
        }

    def grant_frontend(self, function: lambda_.Function) -> None:
        """POST /jobs and GET /jobs/{jobId}: the job's record, starting its execution, and
        presigning its result (a URL signed with the function's credentials reads as they may)."""
        role = function.role
        assert role is not None
        # PutItem: a new job's record; GetItem: its status (the door never updates a job).
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["dynamodb:GetItem", "dynamodb:PutItem"], resources=[self.table.table_arn])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["states:StartExecution"], resources=[self.state_machine.state_machine_arn])
        )
        # Only what GET /jobs/{jobId}/result presigns: a URL reads as its signer may. A job's
        # outputs (jobs/outputs/) too: their list (GET /jobs/{jobId} reads its head) and files.
        presigned = [
            f"{JOBS_PREFIX}*/{RESULT_NAME}",
            f"{JOBS_PREFIX}*/{OUTPUTS_INDEX}",
            f"{JOBS_PREFIX}*/{OUTPUTS_FOLDER}*",
        ]
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[self.bucket.arn_for_objects(key) for key in presigned]
            )
        )
        acknowledge_bucket_prefixes(
            role,
            self.bucket,
            "Presigned URLs of job results and outputs, jobs/<jobId>/result.jsonl, outputs.jsonl and "
            "outputs/ of the stack's results bucket; jobs are made at run time.",
            presigned,
        )
        for name, value in self.frontend_environment().items():
            function.add_environment(name, value)
