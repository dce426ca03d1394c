"""IAM as AWS enforces it on the calls our code makes: each AWS API call made with a role's
credentials is checked against that role's policies (read back from the deployed stack) before
moto answers it, with the action, resource ARN and condition keys AWS's Service Authorization
Reference gives for that operation.

Why not moto's own enforcement (INITIAL_NO_AUTH_ACTION_COUNT)? moto 5 checks the action only
against the resource "*" for every service but S3 and IAM, and passes no condition keys: a
policy scoped to a table, or conditioned on s3:ResourceAccount or kms:ViaService, as ours are,
would be denied there for the wrong reason. This evaluator follows AWS's documented logic for
identity policies: an explicit Deny wins, else an Allow whose Action, Resource and Condition all
match, else an implicit deny. Operations it does not know fail loudly (UnmappedOperation).
"""

from __future__ import annotations

import fnmatch
import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote


class UnmappedOperation(AssertionError):
    """A call this module cannot authorise: map it (ACTIONS) before a test relies on it."""


@dataclass(frozen=True)
class Check:
    action: str
    resource: str
    context: dict[str, str] = field(default_factory=dict)


def _wildcard(pattern: str, value: str, *, case: bool) -> bool:
    if not case:
        pattern, value = pattern.lower(), value.lower()
    # IAM wildcards: * any run of characters, ? one character; nothing else is special.
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _listed(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _condition_holds(operator: str, key: str, wanted: list, context: dict[str, str]) -> bool:
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    if base.startswith(("ForAnyValue:", "ForAllValues:")):
        raise UnmappedOperation(f"condition operator {operator} is not supported by the simulator")
    actual = next((v for k, v in context.items() if k.lower() == key.lower()), None)
    if actual is None:
        # A missing key: only the negated operators and ...IfExists match (AWS's documented rule).
        return if_exists or base in ("StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike")
    values = [str(w) for w in wanted]
    if base == "StringEquals":
        return actual in values
    if base == "StringNotEquals":
        return actual not in values
    if base == "StringEqualsIgnoreCase":
        return actual.lower() in [v.lower() for v in values]
    if base in ("StringLike", "ArnLike", "ArnEquals"):
        return any(_wildcard(v, actual, case=True) for v in values)
    if base in ("StringNotLike", "ArnNotLike", "ArnNotEquals"):
        return not any(_wildcard(v, actual, case=True) for v in values)
    if base == "Bool":
        return actual.lower() in [v.lower() for v in values]
    raise UnmappedOperation(f"condition operator {operator} is not supported by the simulator")


def _statement_matches(statement: dict, check: Check) -> bool:
    if "Action" in statement:
        if not any(_wildcard(a, check.action, case=False) for a in _listed(statement["Action"])):
            return False
    elif any(_wildcard(a, check.action, case=False) for a in _listed(statement.get("NotAction", []))):
        return False
    if "Resource" in statement:
        if not any(_wildcard(r, check.resource, case=True) for r in _listed(statement["Resource"])):
            return False
    elif any(_wildcard(r, check.resource, case=True) for r in _listed(statement.get("NotResource", []))):
        return False
    for operator, keys in (statement.get("Condition") or {}).items():
        for key, wanted in keys.items():
            if not _condition_holds(operator, key, _listed(wanted), check.context):
                return False
    return True


def decide(documents: list[dict], check: Check) -> str:
    """'Allow', 'Deny' (an explicit deny) or 'ImplicitDeny'."""
    allowed = False
    for document in documents:
        for statement in _listed(document.get("Statement", [])):
            if _statement_matches(statement, check):
                if statement.get("Effect") == "Deny":
                    return "Deny"
                allowed = allowed or statement.get("Effect") == "Allow"
    return "Allow" if allowed else "ImplicitDeny"


# The operations our code calls, as the Service Authorization Reference authorises them:
# (service id, operation) -> checks(params, env) where env has region, account, and lookups.
def _table(params, env):
    return f"arn:aws:dynamodb:{env.region}:{env.account}:table/{params['TableName']}"


def _object(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def _s3_context(env, bucket: str) -> dict[str, str]:
    return {"s3:ResourceAccount": env.bucket_owner(bucket)}


def _read_object(params, env, bucket=None, key=None) -> list[Check]:
    bucket, key = bucket or params["Bucket"], key if key is not None else params["Key"]
    checks = [Check("s3:GetObject", _object(bucket, key), _s3_context(env, bucket))]
    kms_key = env.object_kms_key(bucket, key)
    if kms_key:  # S3 decrypts an SSE-KMS object with the caller's permission on the key
        via = {"kms:ViaService": f"s3.{env.region}.amazonaws.com", "kms:CallerAccount": env.account}
        checks.append(Check("kms:Decrypt", kms_key, via))
    return checks


def _head_object(params, env) -> list[Check]:
    # HeadObject needs s3:GetObject; S3 reads the key's metadata without decrypting the object.
    return [Check("s3:GetObject", _object(params["Bucket"], params["Key"]), _s3_context(env, params["Bucket"]))]


def _write_object(params, env) -> list[Check]:
    return [Check("s3:PutObject", _object(params["Bucket"], params["Key"]), _s3_context(env, params["Bucket"]))]


def _copy(params, env) -> list[Check]:
    source = params["CopySource"]
    if isinstance(source, str):
        source_bucket, _, source_key = source.lstrip("/").partition("/")
    else:
        source_bucket, source_key = source["Bucket"], source["Key"]
    return _write_object(params, env) + _read_object(params, env, source_bucket, source_key)


def _machine_of_token(params, env) -> list[Check]:
    # IAM evaluates the task-token calls on the state machine of the execution that issued the
    # token (AWS's AccessDenied names it: "...on resource: arn:aws:states:...:stateMachine:...").
    action = "states:" + env.operation
    return [Check(action, env.token_machine(params["taskToken"]))]


ACTIONS = {
    ("DynamoDB", "GetItem"): lambda p, e: [Check("dynamodb:GetItem", _table(p, e))],
    ("DynamoDB", "PutItem"): lambda p, e: [Check("dynamodb:PutItem", _table(p, e))],
    ("DynamoDB", "UpdateItem"): lambda p, e: [Check("dynamodb:UpdateItem", _table(p, e))],
    ("DynamoDB", "DeleteItem"): lambda p, e: [Check("dynamodb:DeleteItem", _table(p, e))],
    ("DynamoDB", "Query"): lambda p, e: [Check("dynamodb:Query", _table(p, e))],
    ("DynamoDB", "Scan"): lambda p, e: [Check("dynamodb:Scan", _table(p, e))],
    ("S3", "GetObject"): _read_object,
    ("S3", "HeadObject"): _head_object,
    ("S3", "PutObject"): _write_object,
    ("S3", "CreateMultipartUpload"): _write_object,
    ("S3", "UploadPart"): _write_object,
    ("S3", "CompleteMultipartUpload"): _write_object,
    ("S3", "UploadPartCopy"): _copy,
    ("S3", "CopyObject"): _copy,
    ("S3", "AbortMultipartUpload"): lambda p, e: [
        Check("s3:AbortMultipartUpload", _object(p["Bucket"], p["Key"]), _s3_context(e, p["Bucket"]))
    ],
    ("S3", "DeleteObject"): lambda p, e: [
        Check("s3:DeleteObject", _object(p["Bucket"], p["Key"]), _s3_context(e, p["Bucket"]))
    ],
    ("S3", "ListObjectsV2"): lambda p, e: [
        Check("s3:ListBucket", f"arn:aws:s3:::{p['Bucket']}", _s3_context(e, p["Bucket"]))
    ],
    ("SFN", "StartExecution"): lambda p, e: [Check("states:StartExecution", p["stateMachineArn"])],
    ("SFN", "StopExecution"): lambda p, e: [Check("states:StopExecution", p["executionArn"])],
    ("SFN", "DescribeExecution"): lambda p, e: [Check("states:DescribeExecution", p["executionArn"])],
    ("SFN", "SendTaskSuccess"): _machine_of_token,
    ("SFN", "SendTaskFailure"): _machine_of_token,
    ("SFN", "SendTaskHeartbeat"): _machine_of_token,
    ("SageMaker Runtime", "InvokeEndpointAsync"): lambda p, e: [
        Check(
            "sagemaker:InvokeEndpointAsync",
            f"arn:aws:sagemaker:{e.region}:{e.account}:endpoint/{p['EndpointName'].lower()}",
        )
    ],
    ("SNS", "Publish"): lambda p, e: [Check("sns:Publish", p["TopicArn"])],
    ("STS", "GetCallerIdentity"): lambda p, e: [],
}


class AccessDenied(Exception):
    def __init__(self, principal: str, check: Check, decision: str):
        self.check = check
        reason = "an explicit deny" if decision == "Deny" else "no identity-based policy allows it"
        super().__init__(
            f"User: {principal} is not authorized to perform: {check.action} on resource: {check.resource} because {reason}"
        )


@dataclass
class Principal:
    role_arn: str
    session_arn: str
    policies: list[dict]


class Enforcer:
    """Registered on boto3's default session (botocore's before-call event): every call made
    with credentials of a role the harness assumed is authorised first; calls with other
    credentials (the test's own set-up, as an administrator) pass. Denials answer as AWS does:
    S3 403 AccessDenied, the JSON services 400 AccessDeniedException."""

    def __init__(self, env):
        self.env = env
        self.principals: dict[str, Principal] = {}
        self.denied: list[tuple[str, Check]] = []
        self.allowed: set[tuple[str, str]] = set()  # (role ARN, action) of every allowed call
        self.interceptors: dict[tuple[str, str], Any] = {}
        self.lock = threading.Lock()

    def add(self, access_key: str, principal: Principal) -> None:
        self.principals[access_key] = principal

    def remember(self, params, model, context=None, **_):
        """before-parameter-build: the operation's parameters as the caller gave them (by
        before-call botocore has serialised them for the wire)."""
        if context is not None:
            context["awsim_params"] = dict(params)

    def _listing_for_missing(self, params: dict) -> list[Check]:
        """S3 answers a GET or HEAD of a key that does not exist with 404 only to a caller who
        may list the bucket (s3:ListBucket); to others with 403 Access Denied (AWS's documented
        rule, so that keys cannot be probed)."""
        if self.env.object_exists(params["Bucket"], params["Key"]):
            return []
        bucket = params["Bucket"]
        return [Check("s3:ListBucket", f"arn:aws:s3:::{bucket}", _s3_context(self.env, bucket))]

    def __call__(self, model, params, request_signer, context=None, **_):
        service, operation = model.service_model.service_id, model.name
        params = (context or {}).get("awsim_params", {})
        credentials = getattr(request_signer, "_credentials", None)
        principal = self.principals.get(getattr(credentials, "access_key", None) or "")
        if principal is not None:
            make = ACTIONS.get((service, operation))
            if make is None:
                raise UnmappedOperation(f"{service}.{operation} is not mapped to IAM actions (tests/awsim/iam.py)")
            self.env.operation = operation
            checks = make(params, self.env)
            if (service, operation) in (("S3", "GetObject"), ("S3", "HeadObject")):
                checks += self._listing_for_missing(params)
            for check in checks:
                decision = decide(principal.policies, check)
                if decision == "Allow":
                    self.allowed.add((principal.role_arn, check.action))
                else:
                    with self.lock:
                        self.denied.append((principal.role_arn, check))
                    return _denied(service, AccessDenied(principal.session_arn, check, decision))
        intercept = self.interceptors.get((service, operation))
        if intercept is not None:  # a service the harness plays itself (Step Functions' tokens, SageMaker)
            return intercept(params, principal)
        return None


def _denied(service: str, error: AccessDenied):
    from botocore.awsrequest import AWSResponse

    status = 403 if service == "S3" else 400
    code = "AccessDenied" if service == "S3" else "AccessDeniedException"
    body = {"Error": {"Code": code, "Message": str(error)}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return AWSResponse("https://denied.invalid", status, {}, None), body


def answer(body: dict, status: int = 200):
    """What an interceptor returns: an HTTP status and a parsed body, as botocore hands them on."""
    from botocore.awsrequest import AWSResponse

    body = {**body, "ResponseMetadata": {"HTTPStatusCode": status}}
    return AWSResponse("https://simulated.invalid", status, {}, None), body


def error(code: str, message: str, status: int = 400):
    from botocore.awsrequest import AWSResponse

    body = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return AWSResponse("https://simulated.invalid", status, {}, None), body


def encode_key(key: str) -> str:
    return quote(key, safe="/")


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
