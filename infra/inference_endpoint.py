"""The SageMaker endpoint running the inference container: on GPU or CPU instances, autoscaled,
or serverless (CPU, scales to zero)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from .nag import acknowledge
from .settings import Settings, retention

ROOT = Path(__file__).resolve().parent.parent


def variant_name(instance_type: str) -> str:
    """The production variant is named after its instance type (ml.g4dn.xlarge -> g4dn-xlarge).

    SageMaker refuses an endpoint update that changes the instance type of a variant registered
    with Application Auto Scaling. A new instance type therefore makes a new variant (and a new
    scalable target for it) instead of changing the registered one, so `-c instanceType=...`
    redeploys a live stack without deregistering anything by hand."""
    return instance_type.removeprefix("ml.").replace(".", "-")[:63]


# What the container is built and started with, per accelerator (infra/settings.accelerator).
IMAGE_BUILD_ARGS = {
    "gpu": {},  # the Dockerfile's defaults: CUDA 13 + cuDNN 9 base, onnxruntime-gpu
    "cpu": {"BASE_IMAGE": "ubuntu:24.04", "ONNXRUNTIME": "cpu", "OCR_PROVIDER": "cpu"},
}
CONTAINER_ENVIRONMENT = {
    # cuda: refuse to start on the CPU if the GPU is unusable. Four requests in flight keep the
    # GPU fed while their CPU stages run; their strips share recognition batches (batching.py).
    "gpu": {"OCR_PROVIDER": "cuda", "OCR_WORKERS": "4", "OCR_REC_BATCH": "16"},
    # int8 recogniser, every core: one request already keeps them busy (README, "Throughput").
    "cpu": {"OCR_PROVIDER": "cpu", "OCR_WORKERS": "4", "OCR_REC_BATCH": "8"},
}


def endpoint_role(
    scope: Construct,
    prefix: str,
    endpoint_name: str,
    image: ecr_assets.DockerImageAsset,
    settings: Settings,
    description: str,
) -> tuple[iam.Role, logs.LogGroup]:
    """An endpoint's log group and execution role: pull the image, write its own logs and
    SageMaker's metrics. The real-time endpoint and the jobs API's asynchronous one (infra/jobs/async_endpoint.py,
    which adds its S3 and SNS grants) each have one; `prefix` names the constructs apart."""
    log_group = logs.LogGroup(
        scope,
        f"{prefix}EndpointLogs",
        log_group_name=f"/aws/sagemaker/Endpoints/{endpoint_name}",
        retention=retention(settings.log_retention_days),
        removal_policy=RemovalPolicy.DESTROY,
    )
    role = iam.Role(
        scope,
        f"{prefix}ExecutionRole",
        assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
        description=description,
    )
    image.repository.grant_pull(role)
    # CreateLogGroup too: SageMaker's agent calls it at start, and the stack's own group
    # already exists, so granting it on that group alone lets nothing new be created.
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            resources=[log_group.log_group_arn, f"{log_group.log_group_arn}:*"],
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": ["/aws/sagemaker/Endpoints", "AWS/SageMaker"]}},
        )
    )
    return role, log_group


class InferenceEndpoint(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings):
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        # A fixed name, so the endpoint's log group can be created (and destroyed) with it. The
        # serverless endpoint has its own: SageMaker cannot turn an instance endpoint into a
        # serverless one (or back) by an update, so switching replaces the endpoint instead.
        suffix = "-ocr-serverless" if settings.serverless else "-ocr"
        self.endpoint_name = f"{stack.stack_name[: 63 - len(suffix)]}{suffix}"
        self.accelerator = settings.accelerator

        # Built from the repository root (the image needs inference/ and ocr_contract/), with
        # the root .dockerignore letting in nothing else.
        image = ecr_assets.DockerImageAsset(
            self,
            "Image",
            directory=str(ROOT),
            file="inference/Dockerfile",
            platform=ecr_assets.Platform.LINUX_AMD64,
            build_args=IMAGE_BUILD_ARGS[self.accelerator],
        )
        self.image = image  # the jobs API's asynchronous endpoint runs the same image (infra/jobs/async_endpoint.py)

        role, log_group = endpoint_role(
            self,
            "",
            self.endpoint_name,
            image,
            settings,
            "SageMaker OCR endpoint: pull its image, write its logs and metrics",
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken and cloudwatch:PutMetricData do not support resource-level "
            "permissions; PutMetricData is limited to SageMaker's namespaces by a condition.",
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(cast(logs.CfnLogGroup, log_group.node.default_child))}.Arn>:*]",
            "Log streams of the endpoint's own log group; SageMaker names them per instance at run time.",
        )

        model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=role.role_arn,
            # The container never reaches the network. Serverless Inference does not offer
            # network isolation (README, "Choosing the instance"); the container still makes no
            # outbound call: the models are in the image and the Lambda fetches the images.
            enable_network_isolation=not settings.serverless,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=image.image_uri,
                environment=CONTAINER_ENVIRONMENT[self.accelerator],
            ),
        )
        model.node.add_dependency(role)

        if settings.serverless:
            self.variant = "serverless"
            variant = sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name=self.variant,
                model_name=model.attr_model_name,
                serverless_config=sagemaker.CfnEndpointConfig.ServerlessConfigProperty(
                    memory_size_in_mb=settings.serverless_memory_mb,
                    max_concurrency=settings.serverless_max_concurrency,
                ),
            )
        else:
            self.variant = variant_name(settings.instance_type)
            variant = sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name=self.variant,
                model_name=model.attr_model_name,
                instance_type=settings.instance_type,
                initial_instance_count=settings.min_instances,
                initial_variant_weight=1.0,
                container_startup_health_check_timeout_in_seconds=600,
                # NVIDIA driver 580 / CUDA 13, which the container's onnxruntime-gpu needs; CPU
                # types run on SageMaker's default host image.
                inference_ami_version=settings.inference_ami_version if self.accelerator == "gpu" else None,
            )
        config = sagemaker.CfnEndpointConfig(self, "Config", production_variants=[variant])
        endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_config_name=config.attr_endpoint_config_name,
            endpoint_name=self.endpoint_name,
            # A redeploy keeps the instance count autoscaling has set, instead of resetting it to
            # minInstances (which would drop capacity under load). A serverless variant has no
            # count, and a new memory size must reach it.
            retain_all_variant_properties=not settings.serverless,
        )
        endpoint.node.add_dependency(log_group)
        self.endpoint = endpoint
        self.endpoint_arn = (
            f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}:endpoint/{self.endpoint_name.lower()}"
        )
        if settings.serverless:
            return  # SageMaker scales serverless endpoints itself (to zero, up to max_concurrency)

        target = autoscaling.ScalableTarget(
            self,
            "Scaling",
            service_namespace=autoscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{self.endpoint_name}/variant/{self.variant}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=settings.min_instances,
            max_capacity=settings.max_instances,
        )
        target.node.add_dependency(endpoint)
        # Requests in flight per instance, sampled every 10 s: it rises with GPU load whatever the
        # images' sizes, and reacts within a minute, where invocations per minute need minutes.
        target.scale_to_track_metric(
            "ConcurrencyPerInstance",
            predefined_metric=autoscaling.PredefinedMetric.SAGEMAKER_VARIANT_CONCURRENT_REQUESTS_PER_MODEL_HIGH_RESOLUTION,
            target_value=settings.concurrency_per_instance_target,
            scale_out_cooldown=Duration.minutes(1),
            scale_in_cooldown=Duration.minutes(10),
        )
