"""Deployment settings, read from CDK context (cdk.json, or `-c key=value` on the command line)."""
from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_logs as logs
from constructs import Construct


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    instance_type: str = "ml.g4dn.xlarge"   # GPU instance of the SageMaker endpoint
    # SageMaker's host image: the container's CUDA 13 needs its NVIDIA driver 580.
    inference_ami_version: str = "al2023-ami-sagemaker-inference-gpu-4-1"
    min_instances: int = 1                  # real-time endpoints cannot scale to zero
    max_instances: int = 2
    invocations_per_instance_target: int = 600   # per minute, for target-tracking autoscaling
    auth: str = "apikey"                    # apikey (usage plan) | iam (SigV4)
    allowed_buckets: tuple[str, ...] = ()   # buckets that s3:// URLs may name; none by default
    allowed_url_ports: tuple[int, ...] = (80, 443)  # ports http(s) URLs may name
    throttle_rate: float = 10               # requests per second, steady
    throttle_burst: int = 20
    quota_per_day: int = 10000              # per API key
    log_retention_days: int = 30

    @classmethod
    def from_context(cls, scope: Construct) -> "Settings":
        def get(key, default):
            value = scope.node.try_get_context(key)
            return default if value is None or value == "" else value

        def integer(key, default):
            try:
                return int(get(key, default))
            except (TypeError, ValueError):
                raise SettingsError(f"context {key} must be an integer") from None

        buckets = get("allowedBuckets", "")
        if isinstance(buckets, str):
            buckets = [b.strip() for b in buckets.split(",")]
        ports = get("allowedUrlPorts", "80,443")
        if isinstance(ports, str):
            ports = [p.strip() for p in ports.split(",") if p.strip()]
        elif isinstance(ports, int):
            ports = [ports]
        try:
            ports = tuple(sorted({int(p) for p in ports} | {80, 443}))
        except (TypeError, ValueError):
            raise SettingsError("context allowedUrlPorts must be comma-separated port numbers") from None
        settings = cls(
            instance_type=str(get("instanceType", cls.instance_type)),
            inference_ami_version=str(get("inferenceAmiVersion", cls.inference_ami_version)),
            min_instances=integer("minInstances", cls.min_instances),
            max_instances=integer("maxInstances", cls.max_instances),
            invocations_per_instance_target=integer("invocationsPerInstanceTarget", cls.invocations_per_instance_target),
            auth=str(get("auth", cls.auth)).lower(),
            allowed_buckets=tuple(b for b in buckets if b),
            allowed_url_ports=ports,
            throttle_rate=float(get("throttleRate", cls.throttle_rate)),
            throttle_burst=integer("throttleBurst", cls.throttle_burst),
            quota_per_day=integer("quotaPerDay", cls.quota_per_day),
            log_retention_days=integer("logRetentionDays", cls.log_retention_days),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if not self.instance_type.startswith("ml."):
            raise SettingsError(f"instanceType {self.instance_type!r} is not a SageMaker instance type (ml.*)")
        if not 1 <= self.min_instances <= self.max_instances:
            raise SettingsError("need 1 <= minInstances <= maxInstances (real-time endpoints cannot scale to zero)")
        if self.auth not in ("apikey", "iam"):
            raise SettingsError(f"auth must be 'apikey' or 'iam', not {self.auth!r}")
        retention(self.log_retention_days)
        for port in self.allowed_url_ports:
            if not 1 <= port <= 65535:
                raise SettingsError(f"allowedUrlPorts: {port} is not a TCP port")
        for bucket in self.allowed_buckets:
            if bucket == "*" or "/" in bucket or ":" in bucket:
                raise SettingsError(f"allowedBuckets takes bucket names only, not {bucket!r}")


_RETENTION = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH",
    60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS", 150: "FIVE_MONTHS", 180: "SIX_MONTHS",
    365: "ONE_YEAR", 400: "THIRTEEN_MONTHS", 545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS",
}


def retention(days: int) -> logs.RetentionDays:
    """CloudWatch accepts only certain retention periods; name the choice when it is not one."""
    if days not in _RETENTION:
        raise SettingsError(f"logRetentionDays {days} is not a period CloudWatch offers: {sorted(_RETENTION)}")
    return getattr(logs.RetentionDays, _RETENTION[days])
