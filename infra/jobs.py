"""The jobs API on AWS (docs/deploy.md, "Jobs on AWS"): a job table, a results bucket, the
inference image behind a SageMaker Asynchronous Inference endpoint that scales to zero, and a
Step Functions state machine reading each job's documents (a Distributed Map) range by range
(one asynchronous inference each, waited for with a task token).

    Plan -> HasDocuments? -> Documents (Distributed Map over the manifest, JSON Lines in S3)
                                 Ranges (count the pages) -> EachRange (Map)
                                     InvokeRange (.waitForTaskToken; retried) --catch--> RangeFailed
         -> Finish
"""

from __future__ import annotations

import re
from typing import cast

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from jobs.aws.backend import (
    ASYNC_ENDPOINT_ENV,
    ASYNC_FAILURE_PREFIX,
    ASYNC_OUTPUT_PREFIX,
    BUCKET_ENV,
    BUCKET_OWNER_ENV,
    JOBS_PREFIX,
    MAX_DOCUMENT_BYTES_ENV,
    MAX_PAGES_ENV,
    RESULT_DAYS_ENV,
    STATE_MACHINE_ENV,
    TABLE_ENV,
)
from jobs.aws.handlers import RANGE_ATTEMPTS, RANGE_TASK_TIMEOUT_S

from .inference_endpoint import CONTAINER_ENVIRONMENT, InferenceEndpoint, endpoint_role, variant_name
from .nag import ACCOUNT, PARTITION, REGION, acknowledge, acknowledge_wildcards
from .settings import Settings, accelerator, retention

# Requests one instance works on at once: the GPU shares recognition batches across four (as
# the real-time endpoint); on a CPU one range already keeps every core busy.
ASYNC_CONCURRENCY = {"gpu": 4, "cpu": 1}
# Ranges of one document in flight at once (the inner Map); the async endpoint queues the rest.
RANGE_CONCURRENCY = 10
# Scale-in: target tracking on the backlog per instance removes instances when the backlog
# stays under the target (CloudWatch's low alarm: 15 minutes), down to zero.
BACKLOG_PER_INSTANCE_TARGET = {"gpu": 8.0, "cpu": 2.0}


class Jobs(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, inference: InferenceEndpoint):
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
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

        # Results: manifests, parts, result lines, and the async endpoint's answers.
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

        self._async_endpoint(settings, inference, kind, bucket_owner)
        functions = self._functions(settings, bucket_owner)
        self.state_machine = self._state_machine(settings, functions)
        # The notifications' handler answers the state machine's task tokens.
        self.state_machine.grant_task_response(self.done_role)
        functions["done"].add_environment(STATE_MACHINE_ENV, self.state_machine.state_machine_arn)
        for topic in (self.success_topic, self.error_topic):
            functions["done"].add_event_source(event_sources.SnsEventSource(topic))
        self.job_objects_arn = self.bucket.arn_for_objects(f"{JOBS_PREFIX}*")
        del stack

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

    # The asynchronous endpoint

    def _async_endpoint(self, settings: Settings, inference: InferenceEndpoint, kind: str, bucket_owner: str) -> None:
        stack = Stack.of(self)
        suffix = "-ocr-async"
        self.endpoint_name = f"{stack.stack_name[: 63 - len(suffix)]}{suffix}"
        self.endpoint_arn = (
            f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}:endpoint/{self.endpoint_name.lower()}"
        )
        role, log_group = endpoint_role(
            self,
            "Async",
            self.endpoint_name,
            inference.image,
            settings,
            "SageMaker async OCR endpoint: read job inputs, write answers, notify",
        )
        # Inputs: the job's own copies (of http(s) inputs) and the deployer's allowed buckets.
        role.add_to_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[self.bucket.arn_for_objects(f"{JOBS_PREFIX}*")])
        )
        if settings.allowed_buckets:
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["s3:GetObject"],
                    resources=[f"arn:{stack.partition}:s3:::{b}/*" for b in settings.allowed_buckets],
                    conditions={"StringEquals": {"s3:ResourceAccount": bucket_owner}},
                )
            )
        # Answers: only the async prefixes of the results bucket.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[
                    self.bucket.arn_for_objects(f"{ASYNC_OUTPUT_PREFIX}*"),
                    self.bucket.arn_for_objects(f"{ASYNC_FAILURE_PREFIX}*"),
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["sns:Publish"], resources=[self.success_topic.topic_arn, self.error_topic.topic_arn]
            )
        )
        _acknowledge_role_wildcards(
            role,
            settings,
            log_group,
            "The async endpoint reads job inputs under jobs/ and writes answers under async/ of the "
            "stack's results bucket; SageMaker names each object by its inference id.",
            [f"{JOBS_PREFIX}*", f"{ASYNC_OUTPUT_PREFIX}*", f"{ASYNC_FAILURE_PREFIX}*"],
        )

        model = sagemaker.CfnModel(
            self,
            "AsyncModel",
            execution_role_arn=role.role_arn,
            # SageMaker itself moves the input and the answer between S3 and the container.
            enable_network_isolation=True,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=inference.image.image_uri, environment=CONTAINER_ENVIRONMENT[kind]
            ),
        )
        model.node.add_dependency(role)
        self.variant = variant_name(settings.async_instance)
        config = sagemaker.CfnEndpointConfig(
            self,
            "AsyncConfig",
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=self.variant,
                    model_name=model.attr_model_name,
                    instance_type=settings.async_instance,
                    # One at creation (SageMaker's least); scaling takes it to zero when idle.
                    initial_instance_count=1,
                    initial_variant_weight=1.0,
                    container_startup_health_check_timeout_in_seconds=600,
                    inference_ami_version=settings.inference_ami_version if kind == "gpu" else None,
                )
            ],
            async_inference_config=sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty(
                client_config=sagemaker.CfnEndpointConfig.AsyncInferenceClientConfigProperty(
                    max_concurrent_invocations_per_instance=ASYNC_CONCURRENCY[kind]
                ),
                output_config=sagemaker.CfnEndpointConfig.AsyncInferenceOutputConfigProperty(
                    s3_output_path=self.bucket.s3_url_for_object(ASYNC_OUTPUT_PREFIX.rstrip("/")),
                    s3_failure_path=self.bucket.s3_url_for_object(ASYNC_FAILURE_PREFIX.rstrip("/")),
                    notification_config=sagemaker.CfnEndpointConfig.AsyncInferenceNotificationConfigProperty(
                        success_topic=self.success_topic.topic_arn, error_topic=self.error_topic.topic_arn
                    ),
                ),
            ),
        )
        endpoint = sagemaker.CfnEndpoint(
            self,
            "AsyncEndpoint",
            endpoint_config_name=config.attr_endpoint_config_name,
            endpoint_name=self.endpoint_name,
            retain_all_variant_properties=True,  # a redeploy keeps the count scaling has set (0 too)
        )
        endpoint.node.add_dependency(log_group)
        self.endpoint = endpoint

        # Scaling, as AWS documents for async endpoints: target tracking on the backlog per
        # instance scales out under load and in to zero when idle; with no instance that metric
        # has nothing to divide by, so HasBacklogWithoutCapacity (1 while requests wait and no
        # instance runs) starts the first one through a step policy.
        target = autoscaling.ScalableTarget(
            self,
            "AsyncScaling",
            service_namespace=autoscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{self.endpoint_name}/variant/{self.variant}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=0,
            max_capacity=settings.async_max_instances,
        )
        target.node.add_dependency(endpoint)
        dimensions = {"EndpointName": self.endpoint_name}
        target.scale_to_track_metric(
            "BacklogPerInstance",
            custom_metric=cloudwatch.Metric(
                namespace="AWS/SageMaker",
                metric_name="ApproximateBacklogSizePerInstance",
                dimensions_map=dimensions,
                statistic="Average",
                period=Duration.minutes(1),
            ),
            target_value=BACKLOG_PER_INSTANCE_TARGET[kind],
            scale_out_cooldown=Duration.minutes(5),
            scale_in_cooldown=Duration.minutes(10),
        )
        from_zero = autoscaling.StepScalingAction(
            self,
            "ScaleFromZero",
            scaling_target=target,
            adjustment_type=autoscaling.AdjustmentType.CHANGE_IN_CAPACITY,
            metric_aggregation_type=autoscaling.MetricAggregationType.AVERAGE,
            cooldown=Duration.minutes(5),
        )
        from_zero.add_adjustment(adjustment=1, lower_bound=0)
        alarm = cloudwatch.Alarm(
            self,
            "BacklogWithoutCapacity",
            alarm_description="Jobs are waiting and the async endpoint has no instance: start one",
            metric=cloudwatch.Metric(
                namespace="AWS/SageMaker",
                metric_name="HasBacklogWithoutCapacity",
                dimensions_map=dimensions,
                statistic="Average",
                period=Duration.minutes(1),
            ),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cloudwatch_actions.ApplicationScalingAction(from_zero))

    # The state machine's functions

    def _functions(self, settings: Settings, bucket_owner: str) -> dict[str, lambda_.Function]:
        from .ocr_api import bundled_function  # noqa: PLC0415 - ocr_api imports this module's type

        stack = Stack.of(self)
        table_arn = self.table.table_arn
        jobs_objects = self.bucket.arn_for_objects(f"{JOBS_PREFIX}*")
        environment = {
            TABLE_ENV: self.table.table_name,
            BUCKET_ENV: self.bucket.bucket_name,
            BUCKET_OWNER_ENV: bucket_owner,
            "ALLOWED_BUCKETS": ",".join(settings.allowed_buckets),
            "ALLOWED_URL_PORTS": ",".join(str(p) for p in settings.allowed_url_ports),
            RESULT_DAYS_ENV: str(settings.job_result_days),
            MAX_PAGES_ENV: str(settings.job_max_pages),
            MAX_DOCUMENT_BYTES_ENV: str(settings.job_max_document_mb * 1024 * 1024),
            "LOG_LEVEL": "INFO",
        }

        def role(name: str, description: str, statements: list[iam.PolicyStatement]) -> iam.Role:
            made = iam.Role(
                self, name, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description
            )
            for statement in statements:
                made.add_to_policy(statement)
            return made

        read_inputs = []
        if settings.allowed_buckets:
            read_inputs = [
                iam.PolicyStatement(
                    actions=["s3:GetObject", "s3:ListBucket"],
                    resources=[f"arn:{stack.partition}:s3:::{b}" for b in settings.allowed_buckets]
                    + [f"arn:{stack.partition}:s3:::{b}/*" for b in settings.allowed_buckets],
                    conditions={"StringEquals": {"s3:ResourceAccount": bucket_owner}},
                )
            ]
        # plan, ranges, range_failed, finish: the job's record, its files, its inputs.
        steps_role = role(
            "StepsRole",
            "OCR jobs' steps: the job table, the job's files, the allowed buckets",
            [
                iam.PolicyStatement(
                    actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], resources=[table_arn]
                ),
                iam.PolicyStatement(
                    actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"], resources=[jobs_objects]
                ),
                # ListBucket on the stack's own bucket: listings of a job's parts, and a 404 (not
                # S3's 403) for an object not yet written (Blobs.exists).
                iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn]),
                *read_inputs,
            ],
        )
        invoke_role = role(
            "InvokeRole",
            "OCR jobs: start one asynchronous inference per range and keep its task token",
            [
                iam.PolicyStatement(actions=["sagemaker:InvokeEndpointAsync"], resources=[self.endpoint_arn]),
                iam.PolicyStatement(actions=["dynamodb:PutItem"], resources=[table_arn]),
            ],
        )
        self.done_role = role(
            "DoneRole",
            "OCR jobs: record a finished inference and answer its task token",
            [
                iam.PolicyStatement(
                    actions=["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"], resources=[table_arn]
                ),
                iam.PolicyStatement(
                    actions=["s3:GetObject"], resources=[self.bucket.arn_for_objects(f"{ASYNC_OUTPUT_PREFIX}*")]
                ),
                iam.PolicyStatement(actions=["s3:GetObject", "s3:PutObject"], resources=[jobs_objects]),
                iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn]),
            ],
        )
        specs = {
            # name: (handler, role, memory MB, timeout s)
            "plan": ("plan", steps_role, 1024, 900),
            "ranges": ("ranges", steps_role, 2048, 900),  # counts a document's pages (pypdfium2)
            "invoke": ("invoke_range", invoke_role, 256, 30),
            "done": ("on_inference_done", self.done_role, 512, 120),
            "rangeFailed": ("range_failed", steps_role, 512, 120),
            "finish": ("finish", steps_role, 1024, 900),
        }
        functions = {}
        for name, (handler, function_role, memory, timeout) in specs.items():
            log_group = logs.LogGroup(
                self,
                f"{name.title()}Logs",
                retention=retention(settings.log_retention_days),
                removal_policy=RemovalPolicy.DESTROY,
            )
            log_group.grant_write(function_role)
            function_environment = dict(environment)
            if name == "invoke":
                function_environment[ASYNC_ENDPOINT_ENV] = self.endpoint_name
            functions[name] = bundled_function(
                self,
                f"{name[0].upper()}{name[1:]}Function",
                f"jobs.aws.handlers.{handler}",
                function_role,
                log_group,
                memory_size=memory,
                timeout=Duration.seconds(timeout),
                environment=function_environment,
                description=f"OCR jobs: {handler}",
            )
        for function_role in (steps_role, invoke_role, self.done_role):
            _acknowledge_role_wildcards(
                function_role,
                settings,
                None,
                "A job's files are under jobs/<jobId>/ and SageMaker's answers under async/ of the "
                "stack's own results bucket; jobs are made at run time. Log streams are the "
                "function's own log group's.",
                [f"{JOBS_PREFIX}*", f"{ASYNC_OUTPUT_PREFIX}*"],
                log_groups=True,
            )
        return functions

    # The state machine

    def _state_machine(self, settings: Settings, functions: dict[str, lambda_.Function]) -> sfn.StateMachine:
        job_id = sfn.JsonPath.string_at("$$.Execution.Input.jobId")
        plan = tasks.LambdaInvoke(
            self,
            "Plan",
            lambda_function=functions["plan"],
            payload=sfn.TaskInput.from_object({"jobId": job_id}),
            payload_response_only=True,
            result_path="$.plan",
        )
        finish = tasks.LambdaInvoke(
            self,
            "Finish",
            lambda_function=functions["finish"],
            payload=sfn.TaskInput.from_object({"jobId": job_id}),
            payload_response_only=True,
        )
        # A job whose inputs cannot be listed (or read) fails as a whole, with the reason.
        plan_failed = tasks.LambdaInvoke(
            self,
            "PlanFailed",
            lambda_function=functions["finish"],
            payload=sfn.TaskInput.from_object({"jobId": job_id, "error": sfn.JsonPath.object_at("$.error")}),
            payload_response_only=True,
        )
        plan.add_catch(plan_failed, result_path="$.error")

        count = tasks.LambdaInvoke(
            self,
            "Ranges",
            lambda_function=functions["ranges"],
            payload=sfn.TaskInput.from_object(
                {"jobId": sfn.JsonPath.string_at("$.jobId"), "document": sfn.JsonPath.object_at("$.document")}
            ),
            payload_response_only=True,
            result_path="$.found",
        )
        invoke = tasks.LambdaInvoke(
            self,
            "InvokeRange",
            lambda_function=functions["invoke"],
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=sfn.TaskInput.from_object(
                {
                    "taskToken": sfn.JsonPath.task_token,
                    "jobId": sfn.JsonPath.string_at("$.jobId"),
                    "range": sfn.JsonPath.object_at("$.range"),
                }
            ),
            task_timeout=sfn.Timeout.duration(Duration.seconds(RANGE_TASK_TIMEOUT_S)),
            result_path=sfn.JsonPath.DISCARD,
        )
        # A failed range is tried again alone; the document's other ranges go on.
        invoke.add_retry(
            errors=["InferenceFailed", "RecordFailed", "States.Timeout", "States.TaskFailed"],
            interval=Duration.seconds(30),
            backoff_rate=4,
            max_attempts=RANGE_ATTEMPTS - 1,
        )
        range_failed = tasks.LambdaInvoke(
            self,
            "RangeFailed",
            lambda_function=functions["rangeFailed"],
            payload_response_only=True,
            result_path=sfn.JsonPath.DISCARD,
        )
        invoke.add_catch(range_failed, result_path="$.error")
        each_range = sfn.Map(
            self,
            "EachRange",
            items_path="$.found.ranges",
            item_selector={
                "jobId": sfn.JsonPath.string_at("$.jobId"),
                "range": sfn.JsonPath.object_at("$$.Map.Item.Value"),
            },
            max_concurrency=RANGE_CONCURRENCY,
            result_path=sfn.JsonPath.DISCARD,
        )
        each_range.item_processor(invoke)

        documents = sfn.DistributedMap(
            self,
            "Documents",
            item_reader=sfn.S3JsonLItemReader(bucket=self.bucket, key=sfn.JsonPath.string_at("$.plan.manifest.Key")),
            item_selector={"jobId": job_id, "document": sfn.JsonPath.object_at("$$.Map.Item.Value")},
            max_concurrency=settings.job_concurrency,
            # A document that fails as a whole is the job's PARTIAL, not its end: finish counts.
            tolerated_failure_percentage=100,
            map_execution_type=sfn.StateMachineType.STANDARD,  # .waitForTaskToken needs Standard
            result_path=sfn.JsonPath.DISCARD,
        )
        documents.item_processor(count.next(each_range))
        documents.next(finish)

        definition = plan.next(
            sfn.Choice(self, "HasDocuments")
            .when(sfn.Condition.number_greater_than("$.plan.documents", 0), documents)
            .otherwise(finish)
        )
        log_group = logs.LogGroup(
            self,
            "StateMachineLogs",
            retention=retention(settings.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.STANDARD,
            # A job of 3,000-page documents at a low concurrency may take days; a year is the most.
            timeout=Duration.days(7),
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            tracing_enabled=False,
        )
        acknowledge(
            machine,
            "AwsSolutions-SF2",
            "X-Ray would trace every range of every job; executions are logged (level ALL) and each "
            "Lambda logs its step as JSON.",
        )
        stack = Stack.of(self)
        bucket_id = stack.get_logical_id(cast(s3.CfnBucket, self.bucket.node.default_child))
        machine_id = stack.get_logical_id(cast(sfn.CfnStateMachine, machine.node.default_child))
        reasons = {
            f"arn:<AWS::Partition>:s3:::<{bucket_id}>/*": "The Distributed Map reads each job's manifest "
            "from the stack's results bucket; its key is made per job.",
            "*": "Step Functions' log delivery (logs:CreateLogDelivery and the like) and X-Ray take no "
            "resource-level permissions (AWS's documented policy for state machine logging).",
        }
        for name, function in functions.items():
            function_id = stack.get_logical_id(cast(lambda_.CfnFunction, function.node.default_child))
            reasons[f"<{function_id}.Arn>:*"] = (
                f"Versions and aliases of the {name} function the state machine invokes."
            )
        # The Distributed Map's child executions: arn:<partition>:states:<region>:<account>:
        # execution:<machine name>/<map run>:<child>, as the CDK CLI resolves it in any region.
        acknowledge_wildcards(
            machine,
            rf"arn:{PARTITION}:states:{REGION}:{ACCOUNT}:execution:"
            rf'\{{"Fn::Select":\[6,\{{"Fn::Split":\[":",\{{"Ref":"{re.escape(machine_id)}"\}}\]\}}\]\}}(/\*)?:\*',
            "The Distributed Map starts, describes and stops its child executions, named at run time.",
        )
        for resource, reason in reasons.items():
            acknowledge(machine, f"AwsSolutions-IAM5[Resource::{resource}]", reason)
        return machine


def _acknowledge_role_wildcards(
    role: iam.Role,
    settings: Settings,
    log_group: logs.LogGroup | None,
    reason: str,
    prefixes: list[str],
    *,
    log_groups: bool = False,
) -> None:
    """The wildcards a role of this construct holds, each for the reason given."""
    stack = Stack.of(role)
    results = next(c for c in role.node.scope.node.children if isinstance(c, s3.Bucket))  # type: ignore[union-attr]
    bucket_id = stack.get_logical_id(cast(s3.CfnBucket, results.node.default_child))
    for prefix in prefixes:
        acknowledge(role, f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{prefix}]", reason)
    for bucket in settings.allowed_buckets:
        acknowledge_wildcards(
            role,
            rf"arn:{PARTITION}:s3:::{re.escape(bucket)}/\*",
            "The deployer listed this bucket in allowedBuckets: any object in it may be a job's input.",
        )
    if log_group is not None:  # the endpoint's role
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken and cloudwatch:PutMetricData do not support resource-level "
            "permissions; PutMetricData is limited to SageMaker's namespaces by a condition.",
        )
        log_id = stack.get_logical_id(cast(logs.CfnLogGroup, log_group.node.default_child))
        acknowledge(role, f"AwsSolutions-IAM5[Resource::<{log_id}.Arn>:*]", "The endpoint's own log group's streams.")
    del log_groups
