"""`make doctor`: what a first `make deploy` needs, checked in seconds instead of found out after
a 15-minute deploy. Each line says OK, or what is wrong and what to do.

    python -m infra.doctor [-c key=value ...]      (the same -c settings as make deploy)
    python -m infra.doctor --credentials-only      (credentials and region alone: make destroy's preflight)

The region is found as the AWS CLI v2 and the CDK CLI find it: AWS_REGION, then
AWS_DEFAULT_REGION, then the profile's `region` (boto3 alone reads no AWS_REGION).

Checks: credentials and region; the CDK bootstrap; SageMaker's endpoint quotas for the instances
both endpoints may run (the real-time one's maxInstances, the jobs API's asynchronous one's
asyncMaxInstances: the same type adds up) or the serverless concurrency; Lambda concurrency
(a reservation must leave Lambda its 100 unreserved; without one, the account's pool against
the throttle's burst); API Gateway's CloudWatch Logs role; Docker, and whether it can build
linux/amd64 images; Node.js. Exit status 1 when any check fails (warnings do not fail).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parent.parent
BOOTSTRAP_VERSION_PARAMETER = "/cdk-bootstrap/hnb659fds/version"
MIN_BOOTSTRAP_VERSION = 6  # what CDK v2 deploys need
MIN_NODE_MAJOR = 22
# Lambda keeps this many executions unreserved in every account: a function may reserve at most
# the account's unreserved concurrency less this (AWS Lambda Developer Guide, "Configuring
# reserved concurrency for a function").
LAMBDA_MIN_UNRESERVED = 100
SERVERLESS_QUOTA = "Maximum total concurrency that can be allocated across all serverless endpoints"


@dataclass
class Finding:
    status: str  # OK | WARN | FAIL
    check: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<4}  {self.check}: {self.detail}"


CREDENTIALS_ADVICE = "run `aws configure` or `aws sso login`, then `aws sts get-caller-identity`"


def region_from_environment() -> str | None:
    """The region the environment names, as the AWS CLI v2 reads it: AWS_REGION first, then
    AWS_DEFAULT_REGION; None leaves it to the profile's `region`."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


def aws_session(profile: str | None = None):
    """A boto3 session for the deploy tools, its region resolved as the AWS CLI v2 and the CDK
    CLI resolve it (boto3 reads AWS_DEFAULT_REGION and the profile, never AWS_REGION).
    Raises botocore's ProfileNotFound for a profile the config files do not have."""
    import boto3

    return boto3.session.Session(profile_name=profile or None, region_name=region_from_environment())


def preflight_session(profile: str | None = None):
    """(session, None), or (None, a Finding saying what to do) when no session can be made."""
    from botocore.exceptions import BotoCoreError

    try:
        return aws_session(profile), None
    except BotoCoreError as exc:  # ProfileNotFound: AWS_PROFILE or --profile names no profile
        return None, Finding(
            "FAIL",
            "credentials",
            f"{exc}: run `aws configure --profile NAME` (or `aws configure sso`), or unset AWS_PROFILE",
        )


def _client_error_code(exc) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)


class Doctor:
    def __init__(self, settings: Settings, session, run=subprocess.run):
        self.settings = settings
        self.session = session
        self.run = run
        self.findings: list[Finding] = []

    def _add(self, status, check, detail):
        self.findings.append(Finding(status, check, detail))

    def client(self, name):
        return self.session.client(name)

    # -- AWS --------------------------------------------------------------------------------
    def credentials(self) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        region = self.session.region_name
        if not region:
            self._add("FAIL", "region", "no region: export AWS_REGION=us-east-1 (or set one in your profile)")
            return False
        try:
            identity = self.client("sts").get_caller_identity()
        except (ClientError, BotoCoreError) as exc:
            self._add(
                "FAIL", "credentials", f"no usable AWS credentials ({_client_error_code(exc)}): {CREDENTIALS_ADVICE}"
            )
            return False
        self.account = identity["Account"]
        self._add("OK", "credentials", f"account {identity['Account']} as {identity['Arn']}, region {region}")
        return True

    def bootstrap(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        command = f"node_modules/.bin/cdk bootstrap aws://{self.account}/{self.session.region_name}"
        try:
            value = self.client("ssm").get_parameter(Name=BOOTSTRAP_VERSION_PARAMETER)["Parameter"]["Value"]
        except ClientError as exc:
            if _client_error_code(exc) == "ParameterNotFound":
                self._add("FAIL", "CDK bootstrap", f"this account/region is not bootstrapped: run `{command}`")
            else:
                self._add(
                    "WARN", "CDK bootstrap", f"could not read {BOOTSTRAP_VERSION_PARAMETER} ({_client_error_code(exc)})"
                )
            return
        except BotoCoreError as exc:
            self._add("WARN", "CDK bootstrap", f"could not be checked ({type(exc).__name__})")
            return
        if int(value) < MIN_BOOTSTRAP_VERSION:
            self._add("FAIL", "CDK bootstrap", f"version {value} is too old: run `{command}` to upgrade it")
        else:
            self._add("OK", "CDK bootstrap", f"version {value}")

    def endpoint_needs(self) -> dict[str, tuple[int, list[str]]]:
        """SageMaker quota name -> (what the settings need at most, what needs it). Each instance
        type's "for endpoint usage" quota counts the instances of every endpoint in the account:
        the real-time endpoint's and the jobs API's asynchronous one's add up when they share a
        type. A serverless endpoint counts against the account's serverless concurrency instead;
        the asynchronous endpoint always runs instances (SageMaker offers no serverless one)."""
        s = self.settings
        needs: dict[str, tuple[int, list[str]]] = {}

        def need(name: str, count: int, why: str) -> None:
            total, reasons = needs.get(name, (0, []))
            needs[name] = (total + count, [*reasons, why])

        if s.serverless:
            need(
                SERVERLESS_QUOTA,
                s.serverless_max_concurrency,
                f"serverlessMaxConcurrency={s.serverless_max_concurrency}",
            )
        else:
            need(
                f"{s.instance_type} for endpoint usage", s.max_instances, f"maxInstances={s.max_instances} (real-time)"
            )
        if s.jobs:
            need(
                f"{s.async_instance} for endpoint usage",
                s.async_max_instances,
                f"asyncMaxInstances={s.async_max_instances} (the jobs API's asynchronous endpoint)",
            )
        return needs

    def endpoint_quota(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        needs = self.endpoint_needs()
        try:
            pages = self.client("service-quotas").get_paginator("list_service_quotas").paginate(ServiceCode="sagemaker")
            quotas = {q["QuotaName"]: q for page in pages for q in page["Quotas"] if q["QuotaName"] in needs}
        except (ClientError, BotoCoreError) as exc:
            wanted = ", ".join(f"'{name}' >= {needed}" for name, (needed, _) in needs.items())
            self._add(
                "WARN",
                "endpoint quota",
                f"could not read Service Quotas ({_client_error_code(exc)}); check {wanted} in the console "
                "(Service Quotas > Amazon SageMaker)",
            )
            return
        for name, (needed, reasons) in needs.items():
            self._quota(name, quotas.get(name), needed, " + ".join(reasons))

    def _quota(self, name: str, quota: dict | None, needed: int, why: str) -> None:
        if quota is None and name == SERVERLESS_QUOTA:
            self._add(
                "WARN",
                "endpoint quota",
                f"no quota named '{name}' here; check that serverless endpoints are offered in this region",
            )
            return
        if quota is None:
            instance_type = name.removesuffix(" for endpoint usage")
            self._add(
                "FAIL",
                "endpoint quota",
                f"no quota named '{name}' in this region: {instance_type} may not be offered here; choose "
                "another region, or another -c instanceType=... / -c asyncInstanceType=...",
            )
            return
        value = int(quota["Value"])
        if value < needed:
            self._add(
                "FAIL",
                "endpoint quota",
                f"'{name}' is {value}, the settings need {needed} ({why}); the deploy would fail after ~10 minutes "
                f"with ResourceLimitExceeded. Request it: aws service-quotas request-service-quota-increase "
                f"--service-code sagemaker --quota-code {quota['QuotaCode']} --desired-value {needed}"
                + (" (or lower asyncMaxInstances, or -c jobs=false)" if "asyncMaxInstances" in why else ""),
            )
        else:
            self._add("OK", "endpoint quota", f"'{name}' is {value} (needed: {needed}: {why})")

    def lambda_concurrency(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        reserved = self.settings.reserved_concurrency
        burst = self.settings.throttle_burst
        try:
            limits = self.client("lambda").get_account_settings()["AccountLimit"]
        except (ClientError, BotoCoreError) as exc:
            self._add("WARN", "Lambda concurrency", f"could not be read ({_client_error_code(exc)})")
            return
        unreserved = limits["UnreservedConcurrentExecutions"]
        account = f"the account has {limits['ConcurrentExecutions']} concurrent executions ({unreserved} unreserved)"
        if reserved and unreserved - reserved < LAMBDA_MIN_UNRESERVED:
            # Lambda refuses the reservation: the deploy would fail.
            self._add(
                "FAIL",
                "Lambda concurrency",
                f"{account}; reserving frontendReservedConcurrency={reserved} would leave under the "
                f"{LAMBDA_MIN_UNRESERVED} Lambda keeps unreserved, and Lambda refuses it. Deploy without a "
                f"reservation (frontendReservedConcurrency=0, the default), or with N <= "
                f"{max(0, unreserved - LAMBDA_MIN_UNRESERVED)}, or request more (Service Quotas > AWS Lambda > "
                "Concurrent executions)",
            )
        elif reserved:
            self._add("OK", "Lambda concurrency", f"{unreserved} unreserved; the frontend reserves {reserved}")
        elif unreserved < burst:
            # Deploys; but at most `unreserved` requests run at once, shared with every other
            # function of the account: the rest of a burst the gateway lets through is throttled.
            self._add(
                "WARN",
                "Lambda concurrency",
                f"{account}, shared by all its functions, the frontend among them: fewer than the throttle lets "
                f"start at once (throttleBurst={burst}), so beyond {unreserved} requests at once callers get "
                "errors. Request more (Service Quotas > AWS Lambda > Concurrent executions), or lower "
                "-c throttleBurst",
            )
        else:
            self._add(
                "OK",
                "Lambda concurrency",
                f"{unreserved} unreserved, shared by the frontend (no reservation; -c frontendReservedConcurrency=N "
                "to reserve and cap it)",
            )

    def api_gateway_role(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            role = self.client("apigateway").get_account().get("cloudwatchRoleArn")
        except (ClientError, BotoCoreError) as exc:
            self._add("WARN", "API Gateway logging role", f"could not be read ({_client_error_code(exc)})")
            return
        if role:
            self._add(
                "OK",
                "API Gateway logging role",
                f"set ({role}); the stack points it at a role of its own, kept after destroy",
            )
        else:
            self._add("OK", "API Gateway logging role", "not set yet; the stack sets it (access logs need it)")

    # -- this machine -----------------------------------------------------------------------
    def _output(self, command: list[str]) -> tuple[int, str]:
        try:
            result = self.run(command, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return 127, str(exc)
        return result.returncode, (result.stdout or "") + (result.stderr or "")

    def docker(self) -> None:
        code, out = self._output(["docker", "version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"])
        if code != 0:
            why = "not installed" if code == 127 else "not running (or this user may not use it)"
            self._add(
                "FAIL",
                "Docker",
                f"{why}: CDK builds the inference image with Docker; start Docker Desktop or the docker service",
            )
            return
        platform = out.strip().splitlines()[-1] if out.strip() else ""
        if platform == "linux/amd64":
            self._add("OK", "Docker", "running, builds linux/amd64 natively")
            return
        code, out = self._output(["docker", "buildx", "ls"])
        if code == 0 and "linux/amd64" in out:
            self._add("OK", "Docker", f"running on {platform}, builds linux/amd64 through buildx emulation (slower)")
        else:
            self._add(
                "FAIL",
                "Docker",
                f"running on {platform} and cannot build linux/amd64 images: install QEMU "
                "emulation (docker run --privileged --rm tonistiigi/binfmt --install amd64)",
            )

    def node(self) -> None:
        code, out = self._output(["node", "--version"])
        match = re.match(r"v(\d+)", out.strip()) if code == 0 else None
        if not match:
            self._add("FAIL", "Node.js", f"not found: the CDK needs Node.js {MIN_NODE_MAJOR} or newer")
        elif int(match.group(1)) < MIN_NODE_MAJOR:
            self._add(
                "FAIL",
                "Node.js",
                f"{out.strip()} is past its end of life for the CDK: install Node.js {MIN_NODE_MAJOR}+",
            )
        else:
            self._add("OK", "Node.js", out.strip())

    def check(self) -> list[Finding]:
        if self.credentials():
            self.bootstrap()
            self.endpoint_quota()
            self.lambda_concurrency()
            self.api_gateway_role()
        self.docker()
        self.node()
        for warning in self.settings.coherence_warnings():
            self._add("WARN", "settings", warning)
        return self.findings


def context_from(args: list[str]) -> dict:
    """cdk.json's context with `-c key=value` overrides, as `cdk` itself reads them."""
    context = dict(json.loads((ROOT / "cdk.json").read_text())["context"])
    for item in args:
        key, sep, value = item.partition("=")
        if not sep:
            raise SettingsError(f"-c takes key=value, not {item!r}")
        context[key] = value
    return context


def credentials_only(profile: str | None, purpose: str) -> int:
    """Credentials and region alone, said in one or two lines: the preflight of `make destroy`
    and `make destroy-assets`, which need nothing else this checks."""
    session, problem = preflight_session(profile)
    doctor = Doctor(None, session)  # type: ignore[arg-type]  # credentials() reads no settings
    if problem is None and doctor.credentials():
        print(doctor.findings[-1].line())
        return 0
    print((problem or doctor.findings[-1]).line(), file=sys.stderr)
    print(
        f"`{purpose}` needs AWS credentials and a region; `make doctor` checks them (and what a deploy needs).",
        file=sys.stderr,
    )
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.doctor", description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--profile", help="the AWS profile, as cdk's --profile (default: AWS_PROFILE, or default)")
    parser.add_argument(
        "--credentials-only", action="store_true", help="check credentials and region only (make destroy's preflight)"
    )
    parser.add_argument("--for", dest="purpose", default="python -m infra.doctor", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args(argv)  # make passes CDK_ARGS, which may hold other cdk flags
    if args.credentials_only:
        return credentials_only(args.profile, args.purpose)
    try:
        settings = Settings.from_context(context_from(args.context))
    except SettingsError as exc:
        print(f"FAIL  settings: {exc}")
        return 1
    session, problem = preflight_session(args.profile)
    findings = [problem] if problem else Doctor(settings, session).check()
    for finding in findings:
        print(finding.line())
    failed = [f for f in findings if f.status == "FAIL"]
    print(f"\n{len(failed)} problem(s) to fix before `make deploy`." if failed else "\nReady for `make deploy`.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
