"""Alarms and a dashboard for the endpoint, the frontend and the API."""
from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from constructs import Construct

from .inference_endpoint import VARIANT


class Monitoring(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, endpoint_name: str, function, api):
        super().__init__(scope, construct_id)
        dims = {"EndpointName": endpoint_name, "VariantName": VARIANT}

        def sagemaker(metric, statistic="Sum", namespace="AWS/SageMaker", label=None):
            return cw.Metric(namespace=namespace, metric_name=metric, dimensions_map=dims, statistic=statistic,
                             period=Duration.minutes(1), label=label or metric)

        invocations = sagemaker("Invocations")
        errors_5xx = sagemaker("Invocation5XXErrors")
        errors_4xx = sagemaker("Invocation4XXErrors")
        model_latency = sagemaker("ModelLatency", "p90", label="ModelLatency p90 (microseconds)")
        gpu = sagemaker("GPUUtilization", "Average", namespace="/aws/sagemaker/Endpoints")
        instances = cw.Metric(namespace="AWS/SageMaker", metric_name="CPUUtilization", dimensions_map=dims,
                              statistic="SampleCount", period=Duration.minutes(1), label="instances reporting")

        self.alarms = [
            cw.Alarm(self, "Endpoint5xx", metric=errors_5xx.with_(period=Duration.minutes(5)),
                     threshold=1, evaluation_periods=1,
                     comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                     treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                     alarm_description="The inference container answered 5xx errors"),
            cw.Alarm(self, "ModelLatency", metric=model_latency.with_(period=Duration.minutes(5)),
                     threshold=5_000_000, evaluation_periods=2,
                     comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                     treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                     alarm_description="p90 model latency over 5 s for 10 minutes: scale out or check the GPU"),
            cw.Alarm(self, "FrontendErrors", metric=function.metric_errors(period=Duration.minutes(5)),
                     threshold=1, evaluation_periods=1,
                     comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                     treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                     alarm_description="The frontend Lambda crashed or timed out"),
            cw.Alarm(self, "Api5xx", metric=api.metric_server_error(period=Duration.minutes(5), statistic="Sum"),
                     threshold=5, evaluation_periods=1,
                     comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                     treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                     alarm_description="The API answered 5xx to clients"),
        ]

        dashboard = cw.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
        dashboard.add_widgets(
            cw.GraphWidget(title="Endpoint invocations and errors", left=[invocations, errors_4xx, errors_5xx], width=12),
            cw.GraphWidget(title="Model latency", left=[model_latency, sagemaker("ModelLatency", "p50", label="p50")], width=12),
        )
        dashboard.add_widgets(
            cw.GraphWidget(title="GPU utilisation and instances", left=[gpu], right=[instances], width=12),
            cw.GraphWidget(title="API requests, errors, latency",
                           left=[api.metric_count(statistic="Sum"), api.metric_client_error(statistic="Sum"),
                                 api.metric_server_error(statistic="Sum")],
                           right=[api.metric_latency(statistic="p90")], width=12),
        )
        dashboard.add_widgets(cw.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24))
