"""IAM grants more than one construct gives its roles, each with its cdk-nag acknowledgement:
reading the deployer's allowed buckets (and their SSE-KMS keys), and a role's own prefixes of
the jobs' results bucket. Constructs take these as plain functions: none imports another."""

from __future__ import annotations

import re
from typing import cast

from aws_cdk import Aws, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3

from .nag import PARTITION, acknowledge, acknowledge_wildcards
from .settings import Settings


def read_allowed_buckets(role: iam.IRole, settings: Settings, bucket_owner: str, *, list_buckets: bool) -> None:
    """s3:GetObject (and s3:ListBucket for prefixes) on the allowedBuckets, only where the
    expected account owns the bucket (s3:ResourceAccount): a bucket name that was deleted and
    registered again by a stranger is not read."""
    if not settings.allowed_buckets:
        return
    partition = Stack.of(role).partition
    resources = [f"arn:{partition}:s3:::{b}/*" for b in settings.allowed_buckets]
    actions = ["s3:GetObject"]
    if list_buckets:
        resources += [f"arn:{partition}:s3:::{b}" for b in settings.allowed_buckets]
        actions.append("s3:ListBucket")
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=actions, resources=resources, conditions={"StringEquals": {"s3:ResourceAccount": bucket_owner}}
        )
    )
    for bucket in settings.allowed_buckets:
        acknowledge_wildcards(
            role,
            rf"arn:{PARTITION}:s3:::{re.escape(bucket)}/\*",
            "The deployer listed this bucket in allowedBuckets: any object in it may be read.",
        )


def read_encrypted_inputs(role: iam.IRole, settings: Settings) -> None:
    """kms:Decrypt with the kmsKeyArns, and only on S3's behalf (kms:ViaService): every role that
    reads an input from an SSE-KMS bucket needs it, S3 decrypting with the caller's permissions."""
    if not settings.kms_key_arns:
        return
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["kms:Decrypt"],
            resources=list(settings.kms_key_arns),
            # s3.<region>.amazonaws.com, or .amazonaws.com.cn in China: the URL suffix says which.
            conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.{Aws.URL_SUFFIX}"}},
        )
    )


def acknowledge_bucket_prefixes(role: iam.IRole, bucket: s3.IBucket, reason: str, prefixes: list[str]) -> None:
    """The role's wildcards under prefixes of a bucket of this stack (objects named at run time)."""
    stack = Stack.of(role)
    bucket_id = stack.get_logical_id(cast(s3.CfnBucket, bucket.node.default_child))
    for prefix in prefixes:
        acknowledge(role, f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{prefix}]", reason)


def acknowledge_endpoint_role(role: iam.IRole, log_group: logs.LogGroup) -> None:
    """The wildcards every SageMaker execution role of this stack holds (endpoint_role)."""
    stack = Stack.of(role)
    acknowledge(
        role,
        "AwsSolutions-IAM5[Resource::*]",
        "ecr:GetAuthorizationToken and cloudwatch:PutMetricData do not support resource-level "
        "permissions; PutMetricData is limited to SageMaker's namespaces by a condition.",
    )
    log_id = stack.get_logical_id(cast(logs.CfnLogGroup, log_group.node.default_child))
    acknowledge(
        role,
        f"AwsSolutions-IAM5[Resource::<{log_id}.Arn>:*]",
        "Log streams of the endpoint's own log group; SageMaker names them per instance at run time.",
    )
