"""Deployment settings, read from CDK context (cdk.json, or `-c key=value` on the command line).

Imports nothing from the CDK at module level: `make doctor` reads the same settings without
starting the CDK's Node.js bridge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ocr_contract.jobs import MAX_DOCUMENT_BYTES, MAX_DOCUMENT_PAGES, RESULT_DAYS_DEFAULT

if TYPE_CHECKING:
    from constructs import Construct


class SettingsError(ValueError):
    pass


# Planning figures for coherence checks (see README, "Scaling, throttle and quota"): seconds a
# request keeps an instance busy, page-sized images. The GPU's is an estimate, not a measurement;
# the CPU's is make bench-gpu's 2.1 pages/s on 2 cores. `python -m bench.gpu` against a deployed
# endpoint gives yours.
GPU_SECONDS_PER_REQUEST = 0.3
CPU_SECONDS_PER_REQUEST = 0.5

# SageMaker Serverless Inference (README, "Choosing the instance"): memory in 1 GB steps.
SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
_INSTANCE = re.compile(r"^ml\.(?P<family>[a-z]+)(?P<generation>\d+)(?P<options>[a-z-]*)\.(?P<size>[0-9a-z]+)$")


def accelerator(instance_type: str) -> str:
    """'gpu' (NVIDIA: g4dn, g5, g6, g6e, p3, p4d, p5...) or 'cpu' (x86: c5, c6i, c7i, m5, m7i, r7i...);
    SettingsError for what our linux/amd64 CUDA/CPU image cannot run on: Graviton (a `g` after
    the generation: c7g, m6gd, g5g) and Inferentia/Trainium (inf, trn: AWS Neuron)."""
    match = _INSTANCE.match(instance_type)
    if not match:
        raise SettingsError(
            f"instanceType {instance_type!r} is not a SageMaker instance type (ml.<family>.<size>, "
            "e.g. ml.g4dn.xlarge or ml.c7i.xlarge)"
        )
    family, options = match["family"], match["options"]
    if "g" in options:
        raise SettingsError(
            f"instanceType {instance_type!r} is Graviton (arm64); the inference image is built for "
            "x86_64: choose an x86 type (ml.c7i, ml.m7i) or a GPU (ml.g4dn, ml.g5, ml.g6)"
        )
    if family in ("inf", "trn", "dl"):
        raise SettingsError(
            f"instanceType {instance_type!r} needs AWS Neuron models; the image runs onnxruntime on "
            "CUDA or the CPU: choose ml.g4dn/g5/g6 or ml.c7i/m7i"
        )
    return "gpu" if family in ("g", "p") else "cpu"


# What the frontend's handler keeps for itself (the request, its pages, boto3); the rest of the
# Lambda's memory is the page renderer's cap.
FRONTEND_HANDLER_MB = 512
FRONTEND_MIN_MEMORY_MB = 1024


@dataclass(frozen=True)
class Settings:
    instance_type: str = "ml.g4dn.xlarge"  # the endpoint's instances: a GPU type, or an x86 CPU type
    # SageMaker's host image for GPU types: the container's CUDA 13 needs its NVIDIA driver 580.
    inference_ami_version: str = "al2023-ami-sagemaker-inference-gpu-4-1"
    # SageMaker Serverless Inference instead of instances: CPU only, scales to zero, 4 MB per
    # call, 60 s per request; instance_type, min/max_instances and the AMI are then unused.
    serverless: bool = False
    serverless_memory_mb: int = 6144
    serverless_max_concurrency: int = 10  # a new account may run 10 at once in all (a quota)
    min_instances: int = 1  # real-time endpoints cannot scale to zero
    max_instances: int = 2
    # Target tracking on requests in flight per instance (SageMaker's high-resolution
    # ConcurrentRequestsPerModel): it follows GPU load whatever the image size, where
    # invocations per minute do not (a 4096 px page costs ~100x a plate crop).
    concurrency_per_instance_target: float = 4.0
    auth: str = "apikey"  # apikey (usage plan) | iam (SigV4)
    allowed_buckets: tuple[str, ...] = ()  # buckets that s3:// URLs may name; none by default
    bucket_owner: str = ""  # account that must own them; "" = the deploying account
    kms_key_arns: tuple[str, ...] = ()  # KMS keys of SSE-KMS buckets the Lambda may decrypt with
    allowed_url_ports: tuple[int, ...] = (80, 443)  # ports http(s) URLs may name
    throttle_rate: float = 50  # requests per second, steady (stage and usage plan)
    throttle_burst: int = 100
    quota_per_day: int = 1_000_000  # per API key; 0 = no quota
    # Concurrency reserved for the frontend Lambda: 0 (the default) reserves none, so the stack
    # deploys in any account (Lambda keeps 100 of the account's concurrency unreserved, and a new
    # account may have only 10 in all). N reserves N: the frontend always has them, and never runs
    # more at once (each waits up to 26 s on a slow URL; the cap keeps slow URLs from taking the
    # account's whole pool). make doctor checks that N fits.
    frontend_reserved_concurrency: int = 0
    # The frontend Lambda's memory (MB); it also buys CPU (1,769 MB = one vCPU). Documents are
    # rendered in a child process capped at this less FRONTEND_HANDLER_MB (documents/render.py):
    # 1,024 MB gives the renderer 512 MB, enough for a 4096 px page or a 4096 x 16384 px long
    # image, and renders a scanned A4 page in ~0.2 s (docs/deploy.md, "Frontend memory").
    frontend_memory_mb: int = 1024
    alarm_email: str = ""  # subscribed to the alarms' SNS topic when set
    log_retention_days: int = 30
    # The jobs API (POST /jobs, docs/deploy.md "Jobs on AWS"): on by default; idle, it costs
    # storage only (its endpoint scales to zero instances).
    jobs: bool = True
    job_max_pages: int = MAX_DOCUMENT_PAGES  # per document
    job_max_document_mb: int = MAX_DOCUMENT_BYTES // (1024 * 1024)
    job_concurrency: int = 10  # documents read at once per job (the Distributed Map's MaxConcurrency)
    job_result_days: int = RESULT_DAYS_DEFAULT  # results and job records are deleted after this
    # The asynchronous endpoint's instances: "" = instanceType (ml.c7i.xlarge when serverless).
    async_instance_type: str = ""
    async_max_instances: int = 2

    @classmethod
    def from_context(cls, scope: Construct | dict) -> Settings:
        """From a CDK app's context, or a plain dict of the same keys (make doctor)."""
        lookup = scope.get if isinstance(scope, dict) else scope.node.try_get_context

        def get(key, default):
            value = lookup(key)
            return default if value is None or value == "" else value

        def integer(key, default):
            try:
                return int(get(key, default))
            except (TypeError, ValueError):
                raise SettingsError(f"context {key} must be an integer") from None

        def number(key, default):
            try:
                return float(get(key, default))
            except (TypeError, ValueError):
                raise SettingsError(f"context {key} must be a number") from None

        def names(key):
            value = get(key, "")
            if isinstance(value, (int, float)):
                value = str(value)
            if isinstance(value, str):
                value = value.split(",")
            return tuple(str(v).strip() for v in value if str(v).strip())

        try:
            ports = tuple(sorted({int(p) for p in names("allowedUrlPorts")} | {80, 443}))
        except ValueError:
            raise SettingsError("context allowedUrlPorts must be comma-separated port numbers") from None

        def flag(key, default):
            value = str(get(key, default)).strip().lower()
            if value not in ("true", "false"):
                raise SettingsError(f"context {key} must be true or false, not {value!r}")
            return value == "true"

        serverless = "true" if flag("serverless", "false") else "false"
        settings = cls(
            instance_type=str(get("instanceType", cls.instance_type)),
            serverless=serverless == "true",
            serverless_memory_mb=integer("serverlessMemoryMb", cls.serverless_memory_mb),
            serverless_max_concurrency=integer("serverlessMaxConcurrency", cls.serverless_max_concurrency),
            inference_ami_version=str(get("inferenceAmiVersion", cls.inference_ami_version)),
            min_instances=integer("minInstances", cls.min_instances),
            max_instances=integer("maxInstances", cls.max_instances),
            concurrency_per_instance_target=number("concurrencyPerInstanceTarget", cls.concurrency_per_instance_target),
            auth=str(get("auth", cls.auth)).lower(),
            allowed_buckets=names("allowedBuckets"),
            bucket_owner=str(get("bucketOwner", cls.bucket_owner)).strip(),
            kms_key_arns=names("kmsKeyArns"),
            allowed_url_ports=ports,
            throttle_rate=number("throttleRate", cls.throttle_rate),
            throttle_burst=integer("throttleBurst", cls.throttle_burst),
            quota_per_day=integer("quotaPerDay", cls.quota_per_day),
            frontend_reserved_concurrency=integer("frontendReservedConcurrency", cls.frontend_reserved_concurrency),
            frontend_memory_mb=integer("frontendMemoryMb", cls.frontend_memory_mb),
            alarm_email=str(get("alarmEmail", cls.alarm_email)).strip(),
            log_retention_days=integer("logRetentionDays", cls.log_retention_days),
            jobs=flag("jobs", "true"),
            job_max_pages=integer("jobMaxPages", cls.job_max_pages),
            job_max_document_mb=integer("jobMaxDocumentMb", cls.job_max_document_mb),
            job_concurrency=integer("jobConcurrency", cls.job_concurrency),
            job_result_days=integer("jobResultDays", cls.job_result_days),
            async_instance_type=str(get("asyncInstanceType", cls.async_instance_type)).strip(),
            async_max_instances=integer("asyncMaxInstances", cls.async_max_instances),
        )
        settings.validate()
        return settings

    @property
    def render_memory_mb(self) -> int:
        """The page renderer's address-space cap: the Lambda's memory less the handler's share."""
        return self.frontend_memory_mb - FRONTEND_HANDLER_MB

    @property
    def reserved_concurrency(self) -> int | None:
        """The frontend's reserved concurrency, or None: no reservation (the account's pool)."""
        return self.frontend_reserved_concurrency or None

    @property
    def accelerator(self) -> str:
        """'gpu' or 'cpu': what the container runs on (serverless endpoints have no GPU)."""
        return "cpu" if self.serverless else accelerator(self.instance_type)

    @property
    def async_instance(self) -> str:
        """The jobs API's asynchronous endpoint's instance type."""
        if self.async_instance_type:
            return self.async_instance_type
        return "ml.c7i.xlarge" if self.serverless else self.instance_type

    def validate(self) -> None:
        if not self.serverless:
            accelerator(self.instance_type)
        if self.jobs:
            self._validate_jobs()
        if self.serverless_memory_mb not in SERVERLESS_MEMORY_MB:
            raise SettingsError(f"serverlessMemoryMb must be one of {', '.join(map(str, SERVERLESS_MEMORY_MB))}")
        if not 1 <= self.serverless_max_concurrency <= 200:
            raise SettingsError("serverlessMaxConcurrency must be between 1 and 200 (SageMaker's range)")
        if not 1 <= self.min_instances <= self.max_instances:
            raise SettingsError("need 1 <= minInstances <= maxInstances (real-time endpoints cannot scale to zero)")
        if not FRONTEND_MIN_MEMORY_MB <= self.frontend_memory_mb <= 10240:
            raise SettingsError(
                f"frontendMemoryMb must be between {FRONTEND_MIN_MEMORY_MB} and 10240 (Lambda's most): "
                f"the page renderer needs {FRONTEND_MIN_MEMORY_MB - FRONTEND_HANDLER_MB} MB beside the handler"
            )
        if self.auth not in ("apikey", "iam"):
            raise SettingsError(f"auth must be 'apikey' or 'iam', not {self.auth!r}")
        if self.log_retention_days not in _RETENTION:
            raise SettingsError(
                f"logRetentionDays {self.log_retention_days} is not a period CloudWatch offers: {sorted(_RETENTION)}"
            )
        for bucket in self.allowed_buckets:
            if bucket == "*" or "/" in bucket or ":" in bucket:
                raise SettingsError(f"allowedBuckets takes bucket names only, not {bucket!r}")
        if self.bucket_owner and not (self.bucket_owner.isdigit() and len(self.bucket_owner) == 12):
            raise SettingsError(f"bucketOwner must be a 12-digit AWS account id, not {self.bucket_owner!r}")
        for arn in self.kms_key_arns:
            if not arn.startswith("arn:") or ":kms:" not in arn or ":key/" not in arn:
                raise SettingsError(f"kmsKeyArns takes KMS key ARNs (arn:aws:kms:region:account:key/id), not {arn!r}")
        for port in self.allowed_url_ports:
            if not 1 <= port <= 65535:
                raise SettingsError(f"allowedUrlPorts: {port} is not a TCP port")
        if self.throttle_rate <= 0 or self.throttle_burst < 1:
            raise SettingsError("throttleRate and throttleBurst must be positive")
        if self.concurrency_per_instance_target <= 0:
            raise SettingsError("concurrencyPerInstanceTarget must be positive")
        if self.quota_per_day < 0 or self.frontend_reserved_concurrency < 0:
            raise SettingsError("quotaPerDay and frontendReservedConcurrency may not be negative (0 = none)")
        if self.alarm_email and ("@" not in self.alarm_email or " " in self.alarm_email):
            raise SettingsError(f"alarmEmail {self.alarm_email!r} is not an email address")

    def _validate_jobs(self) -> None:
        # One image serves both endpoints: the asynchronous one must run on what it was built for.
        if accelerator(self.async_instance) != self.accelerator:
            raise SettingsError(
                f"asyncInstanceType {self.async_instance!r} is a {accelerator(self.async_instance).upper()} type but the "
                f"inference image is built for the {self.accelerator.upper()} (instanceType/serverless): choose a "
                f"{self.accelerator.upper()} type, or leave asyncInstanceType empty"
            )
        if not 1 <= self.async_max_instances <= 100:
            raise SettingsError("asyncMaxInstances must be between 1 and 100")
        if not 1 <= self.job_max_pages <= MAX_DOCUMENT_PAGES:
            raise SettingsError(f"jobMaxPages must be between 1 and {MAX_DOCUMENT_PAGES}")
        if not 1 <= self.job_max_document_mb <= MAX_DOCUMENT_BYTES // (1024 * 1024):
            raise SettingsError(f"jobMaxDocumentMb must be between 1 and {MAX_DOCUMENT_BYTES // (1024 * 1024)}")
        if not 1 <= self.job_concurrency <= 10_000:
            raise SettingsError("jobConcurrency must be between 1 and 10000 (a Distributed Map's most)")
        if not 1 <= self.job_result_days <= 365:
            raise SettingsError("jobResultDays must be between 1 and 365")

    def coherence_warnings(self) -> list[str]:
        """Settings that deploy but cannot work together (README, "Scaling, throttle and quota")."""
        warnings = []
        # Little's law: at the throttle's rate, requests in flight at the endpoint average
        # rate x seconds each; scaling reaches maxInstances only if that exceeds the target there.
        seconds = GPU_SECONDS_PER_REQUEST if self.accelerator == "gpu" else CPU_SECONDS_PER_REQUEST
        in_flight = self.throttle_rate * seconds
        if self.serverless and in_flight > self.serverless_max_concurrency:
            warnings.append(
                f"the throttle ({self.throttle_rate:g} requests/s) keeps about {in_flight:.1f} requests in flight, over "
                f"serverlessMaxConcurrency={self.serverless_max_concurrency}: SageMaker would refuse the excess; raise "
                "serverlessMaxConcurrency or lower throttleRate"
            )
        elif (
            not self.serverless
            and in_flight < self.concurrency_per_instance_target * (self.max_instances - 1) + 1e-9
            and self.max_instances > 1
        ):
            warnings.append(
                f"autoscaling cannot reach maxInstances={self.max_instances}: the throttle ({self.throttle_rate:g} requests/s) "
                f"keeps about {in_flight:.1f} requests in flight, under the target of {self.concurrency_per_instance_target:g} "
                f"per instance x {self.max_instances - 1}; raise throttleRate or lower concurrencyPerInstanceTarget"
            )
        if self.quota_per_day and self.quota_per_day < self.throttle_rate * 3600:
            warnings.append(f"quotaPerDay={self.quota_per_day} is used up in under an hour at the throttle's rate")
        return warnings


_RETENTION = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
}


def retention(days: int):
    """CloudWatch accepts only certain retention periods; name the choice when it is not one."""
    from aws_cdk import aws_logs as logs

    if days not in _RETENTION:
        raise SettingsError(f"logRetentionDays {days} is not a period CloudWatch offers: {sorted(_RETENTION)}")
    return getattr(logs.RetentionDays, _RETENTION[days])
