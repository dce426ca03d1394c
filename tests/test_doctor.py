"""`make doctor`: each preflight check against AWS's answers (botocore Stubber) and this
machine's tools (a stand-in for subprocess.run)."""

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from infra.doctor import Doctor, context_from, main
from infra.settings import Settings

ACCOUNT = "111122223333"


class StubbedSession:
    """A boto3 session whose clients answer from Stubbers queued per test."""

    region_name = "us-east-1"

    def __init__(self):
        self.stubs = {}
        self.clients = {}

    def client(self, name):
        if name not in self.clients:
            self.clients[name] = boto3.client(
                name, region_name=self.region_name, aws_access_key_id="x", aws_secret_access_key="x"
            )
            self.stubs[name] = Stubber(self.clients[name])
            self.stubs[name].activate()
        return self.clients[name]

    def stub(self, name):
        self.client(name)
        return self.stubs[name]


def machine(docker="linux/amd64", node="v22.11.0", buildx=""):
    def run(command, **kwargs):
        if command[:2] == ["docker", "version"]:
            if docker is None:
                return subprocess.CompletedProcess(command, 1, "", "Cannot connect to the Docker daemon")
            return subprocess.CompletedProcess(command, 0, docker + "\n", "")
        if command[:2] == ["docker", "buildx"]:
            return subprocess.CompletedProcess(command, 0, buildx, "")
        if command[0] == "node":
            if node is None:
                raise FileNotFoundError("node")
            return subprocess.CompletedProcess(command, 0, node + "\n", "")
        raise AssertionError(command)

    return run


def aws(session, quota=4, bootstrap="28", unreserved=1000, role=None, serverless_quota=None, quotas=None):
    """AWS's answers to the doctor: `quota` for ml.g4dn.xlarge endpoint instances, `quotas` for
    other types ({instance type: value}), the account's Lambda concurrency (`unreserved`)..."""
    session.stub("sts").add_response(
        "get_caller_identity", {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/dev", "UserId": "AIDA"}
    )
    if bootstrap is None:
        session.stub("ssm").add_client_error(
            "get_parameter", service_error_code="ParameterNotFound", http_status_code=400
        )
    else:
        session.stub("ssm").add_response(
            "get_parameter",
            {"Parameter": {"Name": "/cdk-bootstrap/hnb659fds/version", "Type": "String", "Value": bootstrap}},
        )
    quotas_list = [{"QuotaName": "ml.g5.xlarge for endpoint usage", "QuotaCode": "L-1", "Value": 8.0}]
    if quota is not None:
        quotas_list.append(
            {"QuotaName": "ml.g4dn.xlarge for endpoint usage", "QuotaCode": "L-1D5E8F2A", "Value": float(quota)}
        )
    for instance_type, value in (quotas or {}).items():
        quotas_list = [q for q in quotas_list if q["QuotaName"] != f"{instance_type} for endpoint usage"]
        quotas_list.append(
            {
                "QuotaName": f"{instance_type} for endpoint usage",
                "QuotaCode": "L-" + instance_type.replace(".", "-").upper(),
                "Value": float(value),
            }
        )
    if serverless_quota is not None:
        quotas_list.append(
            {
                "QuotaName": "Maximum total concurrency that can be allocated across all serverless endpoints",
                "QuotaCode": "L-S1",
                "Value": float(serverless_quota),
            }
        )
    session.stub("service-quotas").add_response("list_service_quotas", {"Quotas": quotas_list})
    session.stub("lambda").add_response(
        "get_account_settings",
        {
            "AccountLimit": {
                "ConcurrentExecutions": unreserved,
                "UnreservedConcurrentExecutions": unreserved,
                "TotalCodeSize": 1,
                "CodeSizeUnzipped": 1,
                "CodeSizeZipped": 1,
            },
            "AccountUsage": {},
        },
    )
    session.stub("apigateway").add_response("get_account", {"cloudwatchRoleArn": role} if role else {})


def statuses(findings):
    return {f.check: f.status for f in findings}


def test_a_ready_account_and_machine():
    session = StubbedSession()
    aws(session)
    findings = Doctor(Settings(), session, machine()).check()
    assert all(f.status == "OK" for f in findings), [f.line() for f in findings]
    assert {
        "credentials",
        "CDK bootstrap",
        "endpoint quota",
        "Lambda concurrency",
        "API Gateway logging role",
        "Docker",
        "Node.js",
    } <= set(statuses(findings))


def test_a_fresh_account_with_no_gpu_quota_no_bootstrap_and_little_lambda_concurrency():
    # What a brand-new account looks like: the GPU endpoint quota is 0, nobody ran cdk bootstrap,
    # and Lambda allows 10 concurrent executions.
    session = StubbedSession()
    aws(session, quota=0, bootstrap=None, unreserved=10)
    findings = {f.check: f for f in Doctor(Settings(), session, machine()).check()}
    assert findings["endpoint quota"].status == "FAIL"
    # maxInstances (2) of the real-time endpoint and asyncMaxInstances (2) of the jobs API's
    # asynchronous one, both ml.g4dn.xlarge by default.
    assert "--quota-code L-1D5E8F2A --desired-value 4" in findings["endpoint quota"].detail
    assert (
        findings["CDK bootstrap"].status == "FAIL"
        and f"cdk bootstrap aws://{ACCOUNT}/us-east-1" in findings["CDK bootstrap"].detail
    )
    # The default reserves nothing, so it deploys; but 10 at once is under the throttle's burst.
    assert findings["Lambda concurrency"].status == "WARN"
    assert "10" in findings["Lambda concurrency"].detail and "throttleBurst" in findings["Lambda concurrency"].detail


# Lambda: "You can reserve up to the Unreserved account concurrency value that is shown, minus
# 100 for functions that don't have reserved concurrency" (AWS Lambda Developer Guide,
# "Configuring reserved concurrency for a function"); a deploy asking for more fails.
LAMBDA_MIN_UNRESERVED = 100


@pytest.mark.parametrize(
    "unreserved, reserved, status",
    [
        (10, 0, "WARN"),  # a new account: deploys (nothing reserved), 10 at once at most
        (1000, 0, "OK"),
        (1000, 100, "OK"),
        (120, 20, "OK"),  # 120 - 20 = 100 left unreserved: exactly what Lambda keeps
        (120, 21, "FAIL"),
        (10, 5, "FAIL"),
    ],
)
def test_lambda_concurrency_is_checked_against_what_lambda_keeps_unreserved(unreserved, reserved, status):
    session = StubbedSession()
    aws(session, unreserved=unreserved)
    settings = Settings(frontend_reserved_concurrency=reserved)
    finding = {f.check: f for f in Doctor(settings, session, machine()).check()}["Lambda concurrency"]
    assert finding.status == status, finding.line()
    assert (unreserved - reserved >= LAMBDA_MIN_UNRESERVED or not reserved) == (status != "FAIL")
    if status == "FAIL":
        fits = max(0, unreserved - LAMBDA_MIN_UNRESERVED)
        assert f"N <= {fits}" in finding.detail and "frontendReservedConcurrency" in finding.detail


def endpoint_quotas(findings) -> list:
    return [f for f in findings if f.check == "endpoint quota"]


@pytest.mark.parametrize("quota, status", [(3, "FAIL"), (4, "OK")])
def test_the_jobs_asynchronous_endpoint_counts_against_the_same_instance_quota(quota, status):
    # SageMaker's "<type> for endpoint usage" quota counts every endpoint's instances of that
    # type: the real-time endpoint's maxInstances and the jobs API's asyncMaxInstances add up.
    session = StubbedSession()
    aws(session, quota=quota)
    (finding,) = endpoint_quotas(Doctor(Settings(), session, machine()).check())
    assert finding.status == status, finding.line()
    assert "ml.g4dn.xlarge" in finding.detail and "asyncMaxInstances" in finding.detail
    if status == "FAIL":
        assert "--desired-value 4" in finding.detail


def test_without_jobs_only_the_real_time_endpoint_counts():
    session = StubbedSession()
    aws(session, quota=2)
    (finding,) = endpoint_quotas(Doctor(Settings(jobs=False), session, machine()).check())
    assert finding.status == "OK", finding.line()


def test_an_asynchronous_endpoint_of_another_type_needs_that_types_quota():
    session = StubbedSession()
    aws(session, quota=2, quotas={"ml.g5.xlarge": 1})
    settings = Settings(async_instance_type="ml.g5.xlarge", async_max_instances=3)
    found = {f.detail.split("'")[1]: f for f in endpoint_quotas(Doctor(settings, session, machine()).check())}
    assert found["ml.g4dn.xlarge for endpoint usage"].status == "OK"
    assert found["ml.g5.xlarge for endpoint usage"].status == "FAIL"
    assert "--quota-code L-ML-G5-XLARGE --desired-value 3" in found["ml.g5.xlarge for endpoint usage"].detail


def test_an_instance_type_not_offered_in_the_region():
    session = StubbedSession()
    aws(session, quota=None)
    findings = {f.check: f for f in Doctor(Settings(), session, machine()).check()}
    assert findings["endpoint quota"].status == "FAIL" and "not be offered here" in findings["endpoint quota"].detail


@pytest.mark.parametrize(
    "docker,buildx,status",
    [
        (None, "", "FAIL"),  # not running
        ("linux/arm64", "default linux/arm64", "FAIL"),  # Apple silicon without amd64 emulation
        ("linux/arm64", "default linux/arm64, linux/amd64", "OK"),
    ],
)
def test_docker_must_run_and_build_linux_amd64(docker, buildx, status):
    session = StubbedSession()
    aws(session)
    assert statuses(Doctor(Settings(), session, machine(docker=docker, buildx=buildx)).check())["Docker"] == status


@pytest.mark.parametrize("node,status", [("v20.20.2", "FAIL"), (None, "FAIL"), ("v24.1.0", "OK")])
def test_node_version(node, status):
    session = StubbedSession()
    aws(session)
    assert statuses(Doctor(Settings(), session, machine(node=node)).check())["Node.js"] == status


def test_no_region_and_no_credentials():
    session = StubbedSession()
    session.region_name = None
    findings = Doctor(Settings(), session, machine()).check()
    assert statuses(findings)["region"] == "FAIL"
    session = StubbedSession()
    session.stub("sts").add_client_error("get_caller_identity", service_error_code="ExpiredToken", http_status_code=403)
    findings = Doctor(Settings(), session, machine()).check()
    assert statuses(findings)["credentials"] == "FAIL" and "ExpiredToken" in next(
        f.detail for f in findings if f.check == "credentials"
    )


def test_settings_come_from_cdk_json_and_the_same_c_flags_as_deploy():
    settings = Settings.from_context(context_from(["instanceType=ml.g5.xlarge", "maxInstances=4"]))
    assert (settings.instance_type, settings.max_instances, settings.throttle_rate) == ("ml.g5.xlarge", 4, 50)


def test_bad_settings_fail_before_any_call(capsys):
    assert main(["-c", "minInstances=0"]) == 1
    assert "minInstances" in capsys.readouterr().out


def test_serverless_checks_the_accounts_serverless_concurrency_quota():
    # A serverless endpoint needs no instance quota, but its MaxConcurrency must fit in the
    # account's total serverless concurrency (10 in a new account). The jobs API's asynchronous
    # endpoint cannot be serverless: its instances (ml.c7i.xlarge) need their own quota.
    session = StubbedSession()
    aws(session, serverless_quota=10, quotas={"ml.c7i.xlarge": 0})
    settings = Settings(serverless=True, serverless_max_concurrency=20)
    serverless, instances = sorted(
        endpoint_quotas(Doctor(settings, session, machine()).check()), key=lambda f: "serverless" not in f.detail
    )
    assert serverless.status == "FAIL" and "--quota-code L-S1 --desired-value 20" in serverless.detail
    assert instances.status == "FAIL" and "ml.c7i.xlarge" in instances.detail
    assert "--desired-value 2" in instances.detail


# ---- Region and credentials as the AWS CLI finds them --------------------------------------


def aws_environment(tmp_path, region_in_profile=None, **variables) -> dict:
    """An environment with no AWS settings but `variables`: config and credentials files of
    our own (a profile region if asked), and no instance metadata to wait for."""
    config, credentials = tmp_path / "config", tmp_path / "credentials"
    config.write_text(f"[default]\nregion = {region_in_profile}\n" if region_in_profile else "")
    credentials.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=str(config),
        AWS_SHARED_CREDENTIALS_FILE=str(credentials),
        AWS_EC2_METADATA_DISABLED="true",
        **variables,
    )
    return env


# The AWS CLI v2's order (its documentation, "Environment variables to configure the AWS CLI"):
# AWS_REGION overrides AWS_DEFAULT_REGION, which overrides the profile's `region`.
@pytest.mark.parametrize(
    "variables, profile_region, expected",
    [
        ({"AWS_REGION": "eu-west-1"}, None, "eu-west-1"),
        ({"AWS_DEFAULT_REGION": "ap-northeast-2"}, None, "ap-northeast-2"),
        ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "ap-northeast-2"}, "us-west-2", "eu-west-1"),
        ({"AWS_DEFAULT_REGION": "ap-northeast-2"}, "us-west-2", "ap-northeast-2"),
        ({}, "us-west-2", "us-west-2"),
        ({}, None, None),
    ],
)
def test_the_region_is_the_one_the_aws_cli_would_use(tmp_path, monkeypatch, variables, profile_region, expected):
    from infra.doctor import aws_session

    env = aws_environment(tmp_path, profile_region, **variables)
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert aws_session().region_name == expected


def run_module(args, env):
    """`python -m ...` as make runs it, from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(Path(__file__).resolve().parent.parent),
    )


def test_doctor_never_asks_for_the_region_it_was_given(tmp_path):
    # `AWS_REGION=us-east-1 make doctor` said "no region: export AWS_REGION=us-east-1".
    result = run_module(["infra.doctor"], aws_environment(tmp_path, AWS_REGION="us-east-1"))
    assert result.returncode == 1
    assert "region:" not in result.stdout and "no region" not in result.stdout, result.stdout
    assert "FAIL  credentials" in result.stdout and "aws configure" in result.stdout


@pytest.mark.parametrize(
    "variables", [{}, {"AWS_REGION": "us-east-1"}, {"AWS_REGION": "us-east-1", "AWS_PROFILE": "nope"}]
)
def test_credentials_only_says_what_to_do_in_two_lines(tmp_path, variables):
    # `make destroy`'s preflight, with no region, then no credentials, then a profile that is not there.
    result = run_module(
        ["infra.doctor", "--credentials-only", "--for", "make destroy"], aws_environment(tmp_path, **variables)
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2 and "Traceback" not in result.stderr, result.stderr
    assert "`make destroy`" in result.stderr and "make doctor" in result.stderr
    assert ("AWS_REGION" in lines[0]) if not variables else ("aws configure" in lines[0])
    if variables == {"AWS_REGION": "us-east-1"}:
        assert "aws sso login" in lines[0] and "aws sts get-caller-identity" in lines[0]
