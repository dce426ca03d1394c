"""`make synth` as users run it: in every environment the CDK CLI can give the stack (none, a
region and account, another partition) and with every documented combination of settings, cdk-nag
finds nothing unacknowledged; and once through the real CDK CLI, whose template cfn-lint reads.

The CLI gives the stack a concrete region (us-east-1 when none is configured), so the template's
ARNs hold literal regions and partitions there where an in-process synth without an environment
holds pseudo parameters: a test that synthesizes only without one cannot see what the CLI sees.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.infra

ROOT = Path(__file__).resolve().parent.parent
CONTEXT = json.loads((ROOT / "cdk.json").read_text())["context"]

ENVIRONMENTS = {
    "no environment": {},
    "the CLI's default region": {"CDK_DEFAULT_REGION": "us-east-1"},
    "Seoul, with an account": {"CDK_DEFAULT_REGION": "ap-northeast-2", "CDK_DEFAULT_ACCOUNT": "123456789012"},
    "aws-cn": {"CDK_DEFAULT_REGION": "cn-north-1", "CDK_DEFAULT_ACCOUNT": "123456789012"},
    "aws-us-gov": {"CDK_DEFAULT_REGION": "us-gov-west-1", "CDK_DEFAULT_ACCOUNT": "123456789012"},
}
# The settings docs/deploy.md documents, together: buckets (with a dot in a name), KMS, IAM auth,
# alarms, a CPU instance type, serverless, jobs off.
SETTINGS = {
    "defaults": {},
    "buckets, KMS, IAM auth, alarms": {
        "allowedBuckets": "team-scans,archive.images",
        "bucketOwner": "111122223333",
        "kmsKeyArns": "arn:aws:kms:ap-northeast-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "auth": "iam",
        "alarmEmail": "ops@example.com",
    },
    "CPU instances with buckets": {"instanceType": "ml.c7i.xlarge", "allowedBuckets": "team-scans"},
    "serverless with buckets": {"serverless": "true", "allowedBuckets": "team-scans", "serverlessMaxConcurrency": 30},
    "jobs off": {"jobs": "false", "allowedBuckets": "team-scans"},
}


def _synth(environment: dict, settings: dict) -> None:
    from app import build_app

    saved = {k: os.environ.pop(k, None) for k in ("CDK_DEFAULT_REGION", "CDK_DEFAULT_ACCOUNT")}
    try:
        os.environ.update(environment)
        build_app({**CONTEXT, **settings}).synth()  # raises on an unacknowledged cdk-nag finding
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None)
            if value is not None:
                os.environ[key] = value


@pytest.mark.parametrize("environment", list(ENVIRONMENTS), ids=list(ENVIRONMENTS))
def test_default_settings_synthesize_in_every_environment(environment):
    sys.path.insert(0, str(ROOT))
    _synth(ENVIRONMENTS[environment], {})


@pytest.mark.parametrize("settings", [s for s in SETTINGS if s != "defaults"])
@pytest.mark.parametrize("environment", ["no environment", "Seoul, with an account", "aws-cn"])
def test_documented_settings_synthesize_in_every_environment(environment, settings):
    sys.path.insert(0, str(ROOT))
    _synth(ENVIRONMENTS[environment], SETTINGS[settings])


def test_a_wildcard_nobody_acknowledged_still_fails_the_synth():
    # The acknowledgements are patterns: one that matched everything would hide a new wildcard.
    from aws_cdk import App, Stack, Validations
    from aws_cdk import aws_iam as iam
    from cdk_nag import AwsSolutionsChecks

    from infra.nag import PARTITION, acknowledge_wildcards, settle

    app = App()
    stack = Stack(app, "S")
    role = iam.Role(stack, "R", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::named-bucket/*"]))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::other-bucket/*"]))
    acknowledge_wildcards(role, rf"arn:{PARTITION}:s3:::named-bucket/\*", "named")
    settle(stack)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(Exception, match="other-bucket"):
        app.synth()


def test_the_cdk_cli_synthesizes_in_a_region_and_cfn_lint_finds_no_error(tmp_path):
    """The real `make synth` (npm's pinned CDK CLI, which installs here if missing), in Seoul: the
    CLI sets CDK_DEFAULT_REGION itself, from the region a user configures (AWS_REGION)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are needed for the CDK CLI")
    out = tmp_path / "cdk.out"
    env = {**os.environ, "AWS_REGION": "ap-northeast-2", "AWS_DEFAULT_REGION": "ap-northeast-2"}
    result = subprocess.run(
        ["make", "--no-print-directory", "synth", f"CDK_ARGS=--output {out}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    template = out / "ZhOcrEndpoint.template.json"
    body = json.loads(template.read_text())
    # The stack really was given the region: its ARNs hold it literally.
    assert "ap-northeast-2" in template.read_text()
    assert body["Resources"]
    cfn_lint = str(Path(sys.executable).parent / "cfn-lint")
    lint = subprocess.run([cfn_lint, str(template), "--regions", "ap-northeast-2"], capture_output=True, text=True)
    assert lint.returncode & 2 == 0 and lint.returncode in (0, 4, 8, 12), lint.stdout[-3000:] + lint.stderr[-2000:]
