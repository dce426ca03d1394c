"""Alarms (to an SNS topic someone can subscribe to) and a dashboard for the endpoint, the
frontend and the API. README, "Alarms", says what each alarm means and what to do."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from .nag import acknowledge

# Where SageMaker publishes what: invocation metrics in AWS/SageMaker, instance metrics (CPU,
# GPU, memory, disk) in /aws/sagemaker/Endpoints.
INVOCATION_NAMESPACE = "AWS/SageMaker"
INSTANCE_NAMESPACE = "/aws/sagemaker/Endpoints"


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        variant: str,
        function,
        api,
        alarm_email: str = "",
        gpu: bool = True,
    ):
        super().__init__(scope, construct_id)
        dims = {"EndpointName": endpoint_name, "VariantName": variant}

        def endpoint(metric, statistic="Sum", namespace=INVOCATION_NAMESPACE, label=None, period=None):
            return cw.Metric(
                namespace=namespace,
                metric_name=metric,
                dimensions_map=dims,
                statistic=statistic,
                period=period or Duration.minutes(1),
                label=label or metric,
            )

        invocations = endpoint("Invocations")
        errors_5xx = endpoint("Invocation5XXErrors")
        errors_4xx = endpoint("Invocation4XXErrors")
        model_latency = endpoint("ModelLatency", "p90", label="ModelLatency p90 (µs)")
        overhead = endpoint("OverheadLatency", "p90", label="OverheadLatency p90 (µs)")
        concurrency = endpoint(
            "ConcurrentRequestsPerModel", "Maximum", label="requests in flight (max)", period=Duration.seconds(10)
        )
        cpu = endpoint("CPUUtilization", "Average", INSTANCE_NAMESPACE, "CPU % (100 per core)")
        gpu_use = endpoint("GPUUtilization", "Average", INSTANCE_NAMESPACE, "GPU %")
        gpu_memory = endpoint("GPUMemoryUtilization", "Average", INSTANCE_NAMESPACE, "GPU memory %")
        # Each instance reports CPUUtilization once a minute: the count of samples is the count
        # of instances serving.
        instances = endpoint("CPUUtilization", "SampleCount", INSTANCE_NAMESPACE, "instances")

        self.topic = sns.Topic(self, "AlarmTopic", display_name="Chinese OCR endpoint alarms", enforce_ssl=True)
        acknowledge(
            self.topic,
            "AwsSolutions-SNS2",
            "CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed SNS key, and alarm "
            "messages carry only metric names and thresholds; a customer key would add cost and a key policy.",
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))

        def alarm(
            name,
            metric,
            threshold,
            description,
            periods=1,
            comparison=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        ):
            created = cw.Alarm(
                self,
                name,
                metric=metric,
                threshold=threshold,
                evaluation_periods=periods,
                comparison_operator=comparison,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            created.add_alarm_action(cw_actions.SnsAction(self.topic))
            created.add_ok_action(cw_actions.SnsAction(self.topic))
            return created

        five = Duration.minutes(5)
        self.alarms = [
            alarm(
                "Endpoint5xx",
                errors_5xx.with_(period=five),
                1,
                "The inference container answered 5xx errors: see the endpoint's log group for the requestId",
            ),
            alarm(
                "ModelLatency",
                model_latency.with_(period=five),
                5_000_000,
                "p90 model latency over 5 s for 10 minutes: the endpoint is saturated (scale out) or the GPU is "
                "not used (check the provider in the container log)",
                periods=2,
                comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            ),
            alarm(
                "FrontendErrors",
                function.metric_errors(period=five),
                1,
                "The frontend Lambda crashed or timed out: see its log group",
            ),
            alarm(
                "FrontendThrottles",
                function.metric_throttles(period=five),
                1,
                "The frontend Lambda was throttled: the account's concurrent executions (shared by all its "
                "functions; see the Lambda quota in Service Quotas) or, where set, frontendReservedConcurrency "
                "ran out, from slow URLs or more traffic: ask for a higher quota or raise the setting",
            ),
            alarm(
                "Api5xx",
                api.metric_server_error(period=five, statistic="Sum"),
                5,
                "The API answered 5xx to clients: see the frontend's log for the requestIds",
            ),
        ]
        if gpu:  # CPU instances and serverless endpoints publish no GPU metrics
            self.alarms.append(
                alarm(
                    "GpuMemory",
                    gpu_memory.with_(period=five),
                    90,
                    "GPU memory over 90% for 15 minutes: memory is growing; restart by redeploying, and report it",
                    periods=3,
                    comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                )
            )

        dashboard = cw.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Endpoint invocations and errors", left=[invocations, errors_4xx, errors_5xx], width=8
            ),
            cw.GraphWidget(
                title="Endpoint latency (model and SageMaker overhead)",
                left=[model_latency, endpoint("ModelLatency", "p50", label="ModelLatency p50 (µs)"), overhead],
                width=8,
            ),
            cw.GraphWidget(title="Instances and requests in flight", left=[instances], right=[concurrency], width=8),
        )
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Instance CPU, GPU, GPU memory" if gpu else "Instance CPU",
                left=[gpu_use, gpu_memory] if gpu else [cpu],
                right=[cpu] if gpu else [],
                width=8,
            ),
            cw.GraphWidget(
                title="Frontend Lambda",
                left=[function.metric_duration(statistic="p50"), function.metric_duration(statistic="p99")],
                right=[function.metric_errors(statistic="Sum"), function.metric_throttles(statistic="Sum")],
                width=8,
            ),
            cw.GraphWidget(
                title="API requests, errors, latency",
                left=[
                    api.metric_count(statistic="Sum"),
                    api.metric_client_error(statistic="Sum"),
                    api.metric_server_error(statistic="Sum"),
                ],
                right=[api.metric_latency(statistic="p90")],
                width=8,
            ),
        )
        dashboard.add_widgets(cw.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24))
