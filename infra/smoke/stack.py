"""The deployed stack: its outputs from CloudFormation, its API key, SigV4 for auth=iam."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from ocr_contract.routes import (
    GENERAL_OCR,
)

from .common import SmokeError

# -- the deployed stack ---------------------------------------------------------------------


@dataclass
class Target:
    """What to call and how: the API's base URL (with its stage, no trailing slash)."""

    base: str
    api_key: str | None = None
    sign: Callable[[str, str, dict, bytes], dict] | None = None  # SigV4: headers of a signed request
    jobs: bool = True
    results_bucket: str | None = None
    described: str = ""  # one line for the table's heading
    endpoint_name: str | None = None


def _error_code(exc) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)


def stack_outputs(session, stack_name: str) -> dict[str, str]:
    """The stack's outputs by key; SmokeError when there is no such stack or it is not deployed."""
    from botocore.exceptions import BotoCoreError, ClientError

    region = session.region_name
    try:
        stacks = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", "")
        if _error_code(exc) == "ValidationError" and "does not exist" in message:
            raise SmokeError(
                f"no stack named {stack_name} in {region}: deploy it first (`make deploy`), or name the stack and "
                f'region you deployed: `make smoke CDK_ARGS="-c stackName=NAME"` with AWS_REGION set as for the '
                f'deploy. To test a running API without CloudFormation: `make smoke SMOKE_ARGS="--url BASE_URL"`.'
            ) from None
        raise SmokeError(
            f"could not read stack {stack_name} in {region} ({_error_code(exc)}: {message}); "
            "your credentials need cloudformation:DescribeStacks"
        ) from None
    except BotoCoreError as exc:
        raise SmokeError(f"could not read stack {stack_name} in {region}: {exc}") from None
    stack = stacks[0]
    status = stack.get("StackStatus", "")
    if status.endswith("_IN_PROGRESS"):
        raise SmokeError(f"stack {stack_name} is {status}: wait for the deploy to finish, then run `make smoke` again")
    if status.endswith("_FAILED") or status in ("ROLLBACK_COMPLETE", "DELETE_COMPLETE"):
        raise SmokeError(
            f"stack {stack_name} is {status}: the deploy did not finish. Its events say why "
            f"(aws cloudformation describe-stack-events --stack-name {stack_name}); fix it and `make deploy` again"
        )
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def read_api_key(session, key_id: str) -> str:
    """The API key's value, as `aws apigateway get-api-key --api-key ID --include-value` prints it."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return session.client("apigateway").get_api_key(apiKey=key_id, includeValue=True)["value"]
    except ClientError as exc:
        raise SmokeError(
            f"could not read the API key {key_id} ({_error_code(exc)}): your credentials need apigateway:GET on "
            f'/apikeys/{key_id}; or pass the key yourself: make smoke SMOKE_ARGS="--api-key KEY"'
        ) from None
    except BotoCoreError as exc:
        raise SmokeError(f"could not read the API key {key_id}: {exc}") from None


def api_region(url: str, default: str | None) -> str | None:
    """The region in an execute-api URL (https://ID.execute-api.REGION.amazonaws.com/prod), else `default`."""
    match = re.match(r"[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$", urlsplit(url).hostname or "")
    return match.group(1) if match else default


def sigv4_signer(session, region: str | None) -> Callable[[str, str, dict, bytes], dict]:
    """Signs a request for API Gateway (execute-api) with the session's credentials, as an
    auth=iam stack requires; SmokeError when there is nothing to sign with."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = session.get_credentials() if session is not None else None
    if credentials is None:
        raise SmokeError(
            "this API takes SigV4-signed requests (auth=iam) and there are no AWS credentials to sign them with: "
            "run `aws configure` or `aws sso login` (the caller needs execute-api:Invoke on the API)"
        )
    if not region:
        raise SmokeError("cannot sign for API Gateway without a region: export AWS_REGION=REGION")

    def sign(method: str, url: str, headers: dict, body: bytes) -> dict:
        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        SigV4Auth(credentials, "execute-api", region).add_auth(request)
        return dict(request.headers.items())

    return sign


def discover(session, stack_name: str) -> Target:
    """The deployed API from the stack's outputs: its base URL, the API key's value (or SigV4
    signing under auth=iam), whether the jobs API is deployed and its results bucket."""
    outputs = stack_outputs(session, stack_name)
    api_url = outputs.get("ApiUrl", "")
    if not api_url.endswith(GENERAL_OCR.lstrip("/")):
        raise SmokeError(
            f"stack {stack_name} has no ApiUrl output ({', '.join(sorted(outputs)) or 'no outputs'}): "
            "is it this app's stack? Deploy this tree with `make deploy`"
        )
    base = api_url[: -len(GENERAL_OCR)].rstrip("/")
    key_id = outputs.get("ApiKeyId")
    if not key_id:
        match = re.search(r"--api-key\s+(\S+)", outputs.get("GetApiKeyCommand", ""))
        key_id = match.group(1) if match else None
    where = f"stack {stack_name} in {session.region_name}"
    if key_id:
        key, sign, auth = read_api_key(session, key_id), None, f"API key {key_id}"
    else:
        key, sign = None, sigv4_signer(session, api_region(base, session.region_name))
        auth = "SigV4 (auth=iam)"
    return Target(
        base=base,
        api_key=key,
        sign=sign,
        jobs="JobsUrl" in outputs,
        results_bucket=outputs.get("JobResultsBucket"),
        described=f"{where}: {base} ({auth})",
        endpoint_name=outputs.get("EndpointName"),
    )
