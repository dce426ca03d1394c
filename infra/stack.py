"""The whole deployment as one stack: `cdk deploy` creates it, `cdk destroy` removes all of it."""

from __future__ import annotations

from aws_cdk import Annotations, CfnOutput, Stack
from constructs import Construct

from .inference_endpoint import InferenceEndpoint
from .jobs import Jobs
from .monitoring import Monitoring
from .nag import settle
from .ocr_api import OcrApi
from .settings import Settings


class OcrStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs):
        super().__init__(
            scope, construct_id, description="Chinese OCR endpoint (PP-OCR on SageMaker) behind API Gateway", **kwargs
        )
        inference = InferenceEndpoint(self, "Inference", settings=settings)
        jobs = Jobs(self, "Jobs", settings=settings, inference=inference) if settings.jobs else None
        api = OcrApi(
            self,
            "Frontend",
            settings=settings,
            endpoint_name=inference.endpoint_name,
            endpoint_arn=inference.endpoint_arn,
            jobs_routes=jobs is not None,
        )
        if jobs is not None:
            jobs.grant_frontend(api.function)
        # The Lambda names the endpoint in a plain string: without this, a change that replaces
        # the endpoint (serverless on or off) could point the Lambda at the new one before it is
        # in service. With it, the new endpoint serves before the Lambda switches and the old one
        # is deleted.
        api.function.node.add_dependency(inference.endpoint)
        monitoring = Monitoring(
            self,
            "Monitoring",
            endpoint_name=inference.endpoint_name,
            variant=inference.variant,
            function=api.function,
            api=api.api,
            alarm_email=settings.alarm_email,
            gpu=inference.accelerator == "gpu",
        )
        # Last: the wildcards acknowledged by pattern are matched against the finished policies.
        settle(self)
        for warning in settings.coherence_warnings():
            Annotations.of(self).add_warning_v2("zh-ocr:settings", warning)

        CfnOutput(self, "ApiUrl", value=api.url, description="POST images here")
        CfnOutput(self, "EndpointName", value=inference.endpoint_name)
        if jobs is not None:
            CfnOutput(self, "JobsUrl", value=f"{api.api.url}jobs", description="POST documents and S3 prefixes here")
            CfnOutput(self, "AsyncEndpointName", value=jobs.endpoint_name)
            CfnOutput(self, "JobResultsBucket", value=jobs.bucket.bucket_name)
        CfnOutput(
            self,
            "AlarmTopicArn",
            value=monitoring.topic.topic_arn,
            description="Alarms are published here; subscribe with -c alarmEmail=you@example.com or in the SNS console",
        )
        if api.api_key is not None:
            CfnOutput(self, "ApiKeyId", value=api.api_key.key_id)
            CfnOutput(
                self,
                "GetApiKeyCommand",
                value=f"aws apigateway get-api-key --api-key {api.api_key.key_id} --include-value --query value --output text",
                description="Prints the API key to send as the x-api-key header",
            )
