"""The jobs API's SageMaker Asynchronous Inference endpoint: the inference image reading each
range of pages from S3, answering into the results bucket, notifying two SNS topics, and
scaling to zero when idle."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from jobs.aws.backend import ASYNC_FAILURE_PREFIX, ASYNC_OUTPUT_PREFIX, JOBS_PREFIX

from ..grants import acknowledge_bucket_prefixes, acknowledge_endpoint_role, read_allowed_buckets, read_encrypted_inputs
from ..inference_endpoint import CONTAINER_ENVIRONMENT, InferenceEndpoint, endpoint_role, variant_name
from ..settings import Settings

# Requests one instance works on at once: the GPU shares recognition batches across four (as
# the real-time endpoint); on a CPU one range already keeps every core busy.
ASYNC_CONCURRENCY = {"gpu": 4, "cpu": 1}
# Scale-in: target tracking on the backlog per instance removes instances when the backlog
# stays under the target (CloudWatch's low alarm: 15 minutes), down to zero.
BACKLOG_PER_INSTANCE_TARGET = {"gpu": 8.0, "cpu": 2.0}


@dataclass
class AsyncEndpoint:
    name: str
    arn: str
    variant: str
    role: iam.Role
    endpoint: sagemaker.CfnEndpoint


def async_endpoint(
    scope: Construct,
    settings: Settings,
    inference: InferenceEndpoint,
    bucket: s3.Bucket,
    topics: tuple[sns.Topic, sns.Topic],
    kind: str,
    bucket_owner: str,
) -> AsyncEndpoint:
    """The endpoint, its role and its scaling; `topics`: (success, error)."""
    stack = Stack.of(scope)
    suffix = "-ocr-async"
    name = f"{stack.stack_name[: 63 - len(suffix)]}{suffix}"
    # SageMaker names endpoints case-insensitively and writes them in lower case in ARNs.
    arn = f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}:endpoint/{name.lower()}"
    role, log_group = endpoint_role(
        scope,
        "Async",
        name,
        inference.image,
        settings,
        "SageMaker async OCR endpoint: read job inputs, write answers, notify",
    )
    # Inputs: the job's own copies (of http(s) inputs, and of keys SageMaker cannot take as they
    # are) and the deployer's allowed buckets, decrypted with their KMS keys through S3 only.
    role.add_to_policy(
        iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{JOBS_PREFIX}*")])
    )
    read_allowed_buckets(role, settings, bucket_owner, list_buckets=False)
    read_encrypted_inputs(role, settings)
    # Answers: only the async prefixes of the results bucket.
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["s3:PutObject", "s3:AbortMultipartUpload"],
            resources=[
                bucket.arn_for_objects(f"{ASYNC_OUTPUT_PREFIX}*"),
                bucket.arn_for_objects(f"{ASYNC_FAILURE_PREFIX}*"),
            ],
        )
    )
    role.add_to_policy(iam.PolicyStatement(actions=["sns:Publish"], resources=[t.topic_arn for t in topics]))
    acknowledge_bucket_prefixes(
        role,
        bucket,
        "The async endpoint reads job inputs under jobs/ and writes answers under async/ of the "
        "stack's results bucket; SageMaker names each object by its inference id.",
        [f"{JOBS_PREFIX}*", f"{ASYNC_OUTPUT_PREFIX}*", f"{ASYNC_FAILURE_PREFIX}*"],
    )
    acknowledge_endpoint_role(role, log_group)

    model = sagemaker.CfnModel(
        scope,
        "AsyncModel",
        execution_role_arn=role.role_arn,
        # SageMaker itself moves the input and the answer between S3 and the container.
        enable_network_isolation=True,
        primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
            image=inference.image.image_uri, environment=CONTAINER_ENVIRONMENT[kind]
        ),
    )
    model.node.add_dependency(role)
    variant = variant_name(settings.async_instance)
    config = sagemaker.CfnEndpointConfig(
        scope,
        "AsyncConfig",
        production_variants=[
            sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name=variant,
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
                s3_output_path=bucket.s3_url_for_object(ASYNC_OUTPUT_PREFIX.rstrip("/")),
                s3_failure_path=bucket.s3_url_for_object(ASYNC_FAILURE_PREFIX.rstrip("/")),
                notification_config=sagemaker.CfnEndpointConfig.AsyncInferenceNotificationConfigProperty(
                    success_topic=topics[0].topic_arn, error_topic=topics[1].topic_arn
                ),
            ),
        ),
    )
    endpoint = sagemaker.CfnEndpoint(
        scope,
        "AsyncEndpoint",
        endpoint_config_name=config.attr_endpoint_config_name,
        endpoint_name=name,
        retain_all_variant_properties=True,  # a redeploy keeps the count scaling has set (0 too)
    )
    endpoint.node.add_dependency(log_group)
    _scaling(scope, settings, name, variant, kind, endpoint)
    return AsyncEndpoint(name=name, arn=arn, variant=variant, role=role, endpoint=endpoint)


def _scaling(
    scope: Construct, settings: Settings, name: str, variant: str, kind: str, endpoint: sagemaker.CfnEndpoint
) -> None:
    """As AWS documents for async endpoints: target tracking on the backlog per instance scales
    out under load and in to zero when idle; with no instance that metric has nothing to divide
    by, so HasBacklogWithoutCapacity (1 while requests wait and no instance runs) starts the
    first one through a step policy."""
    target = autoscaling.ScalableTarget(
        scope,
        "AsyncScaling",
        service_namespace=autoscaling.ServiceNamespace.SAGEMAKER,
        resource_id=f"endpoint/{name}/variant/{variant}",
        scalable_dimension="sagemaker:variant:DesiredInstanceCount",
        min_capacity=0,
        max_capacity=settings.async_max_instances,
    )
    target.node.add_dependency(endpoint)
    dimensions = {"EndpointName": name}
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
        scope,
        "ScaleFromZero",
        scaling_target=target,
        adjustment_type=autoscaling.AdjustmentType.CHANGE_IN_CAPACITY,
        metric_aggregation_type=autoscaling.MetricAggregationType.AVERAGE,
        cooldown=Duration.minutes(5),
    )
    from_zero.add_adjustment(adjustment=1, lower_bound=0)
    alarm = cloudwatch.Alarm(
        scope,
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
