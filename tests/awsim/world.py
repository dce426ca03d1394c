"""The deployed stack, run offline: the synthesized template created in moto by CloudFormation,
each Lambda run in this process under its own role's credentials (IAM enforced by iam.py), the
state machine's deployed definition run by asl.py, and the services moto cannot play for us
played here as AWS documents them: SageMaker Asynchronous Inference (read the input with the
endpoint's role, the container's answer to S3, the notification to SNS), SNS's and
EventBridge's asynchronous Lambda invocations (two retries), Step Functions' task tokens.

What moto's CloudFormation does not create (API Gateway's details, SageMaker endpoints,
autoscaling, alarms, SNS subscriptions, Lambda permissions, EventBridge rules, custom
resources) is left out of the stack and, where a test needs it, played from the template:
SNS subscriptions and EventBridge rules are read from it and delivered here.
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import os
import sys
import threading
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import iam
from .asl import Execution, StatesError
from .services import PlayedServices, container_over_http
from .stack import ACCOUNT, ADMIN, REGION, deployable, synthesize

__all__ = ["ACCOUNT", "REGION", "World", "container_over_http", "synthesize"]
ASYNC_RETRIES = 2  # Lambda's asynchronous invocation: an error is retried twice


@dataclass
class Function:
    name: str
    arn: str
    handler: str
    role_arn: str
    environment: dict[str, str]
    timeout_s: int
    warm: dict = field(default_factory=dict)  # the container's module state, kept between calls


class World(PlayedServices):
    """Call inside moto's mock_aws(). `container(body, content_type, custom_attributes) ->
    (status, body)` plays the inference container (an HTTP POST to /invocations by default)."""

    def __init__(self, template: dict, container: Callable[[bytes, str, str], tuple[int, bytes]]):
        import boto3

        self.template = template
        self.container = container
        self.admin = boto3.Session(**ADMIN)
        self.region, self.account, self.operation = REGION, ACCOUNT, ""
        self.enforcer = iam.Enforcer(self)
        self.queue: collections.deque[tuple[str, Callable[[], None]]] = collections.deque()
        self.sessions: dict[str, Any] = {}
        self.clients: dict[tuple[str | None, str], Any] = {}
        self.inferences: list[dict] = []  # every InvokeEndpointAsync, as SageMaker received it
        self.deliveries: list[tuple[str, int, str | None]] = []  # (function, attempt, error)
        self.executions: dict[str, Execution] = {}
        self.answers: dict[str, tuple[str, Any]] = {}
        self.throttle: collections.Counter[str] = collections.Counter()  # operation -> throttles to inject
        self.foreign_buckets: dict[str, str] = {}  # bucket -> owner account, when not ACCOUNT
        self._lock = threading.Lock()
        self._create_stack()
        self._interceptors()

    # The stack

    def _create_stack(self) -> None:
        ssm, s3 = self.admin.client("ssm"), self.admin.client("s3")
        # What `cdk bootstrap` leaves in an account: the version parameter, the assets bucket.
        ssm.put_parameter(Name="/cdk-bootstrap/hnb659fds/version", Value="30", Type="String")
        assets = f"cdk-hnb659fds-assets-{ACCOUNT}-{REGION}"
        s3.create_bucket(Bucket=assets)
        body = deployable(self.template)
        for resource in body["Resources"].values():
            code = resource.get("Properties", {}).get("Code", {}) if resource["Type"] == "AWS::Lambda::Function" else {}
            if "S3Key" in code:  # the handlers run in this process; the asset only has to exist
                zipped = io.BytesIO()
                with zipfile.ZipFile(zipped, "w") as archive:
                    archive.writestr("README", "run in-process by tests/awsim")
                s3.put_object(Bucket=assets, Key=code["S3Key"], Body=zipped.getvalue())
        cloudformation = self.admin.client("cloudformation")
        cloudformation.create_stack(
            StackName="ZhOcrEndpoint", TemplateBody=json.dumps(body), Capabilities=["CAPABILITY_IAM"]
        )
        status = cloudformation.describe_stacks(StackName="ZhOcrEndpoint")["Stacks"][0]["StackStatus"]
        assert status == "CREATE_COMPLETE", status
        summaries = cloudformation.list_stack_resources(StackName="ZhOcrEndpoint")["StackResourceSummaries"]
        self.physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in summaries}
        lambdas = self.admin.client("lambda")
        self.functions: dict[str, Function] = {}
        for logical, resource in body["Resources"].items():
            if resource["Type"] != "AWS::Lambda::Function":
                continue
            config = lambdas.get_function_configuration(FunctionName=self.physical[logical])
            self.functions[logical] = Function(
                name=config["FunctionName"],
                arn=config["FunctionArn"],
                handler=config["Handler"],
                role_arn=config["Role"],
                environment=config.get("Environment", {}).get("Variables", {}),
                timeout_s=int(config["Timeout"]),
            )
        self.by_arn = {f.arn: f for f in self.functions.values()}
        self.frontend = next(f for f in self.functions.values() if f.handler == "frontend.handler.handler")
        machine_id = self.logical("AWS::StepFunctions::StateMachine")
        self.machine_arn = self.physical[machine_id]
        described = self.admin.client("stepfunctions").describe_state_machine(stateMachineArn=self.machine_arn)
        self.definition = json.loads(described["definition"])
        self.machine_role = described["roleArn"]
        self.bucket = self.physical[self.logical("AWS::S3::Bucket")]
        self.table = self.physical[self.logical("AWS::DynamoDB::Table")]
        endpoints = [
            r["Properties"]["EndpointName"]
            for r in self.template["Resources"].values()
            if r["Type"] == "AWS::SageMaker::Endpoint"
            and str(r["Properties"].get("EndpointName", "")).endswith("-async")
        ]
        self.async_endpoint = endpoints[0]
        self.async_role = self.role_arn(self.logical("AWS::IAM::Role", "JobsAsyncExecutionRole"))
        topics = {k: self.physical[k] for k in body["Resources"] if body["Resources"][k]["Type"] == "AWS::SNS::Topic"}
        self.success_topic = next(v for k, v in topics.items() if k.startswith("JobsInferenceSucceeded"))
        self.error_topic = next(v for k, v in topics.items() if k.startswith("JobsInferenceFailed"))
        self.subscriptions = [
            (self.resolve(r["Properties"]["TopicArn"]), self.resolve(r["Properties"]["Endpoint"]))
            for r in self.template["Resources"].values()
            if r["Type"] == "AWS::SNS::Subscription" and r["Properties"].get("Protocol") == "lambda"
        ]
        self.rules = [
            (
                self.resolve(r["Properties"]["EventPattern"]),
                [self.resolve(t["Arn"]) for t in r["Properties"]["Targets"]],
            )
            for r in self.template["Resources"].values()
            if r["Type"] == "AWS::Events::Rule"
        ]

    def logical(self, kind: str, prefix: str = "") -> str:
        found = [k for k, v in self.template["Resources"].items() if v["Type"] == kind and k.startswith(prefix)]
        assert len(found) == 1, (kind, prefix, found)
        return found[0]

    def role_arn(self, logical: str) -> str:
        return f"arn:aws:iam::{ACCOUNT}:role/{self.physical[logical]}"

    def resolve(self, value: Any) -> Any:
        """Ref and Fn::GetAtt ...Arn of the created resources, as CloudFormation resolves them."""
        if isinstance(value, dict):
            if set(value) == {"Ref"}:
                return self.physical[value["Ref"]]
            if set(value) == {"Fn::GetAtt"}:
                logical, attribute = value["Fn::GetAtt"]
                assert attribute == "Arn", value
                kind = self.template["Resources"][logical]["Type"]
                if kind == "AWS::Lambda::Function":
                    return self.functions[logical].arn
                raise AssertionError(f"no ARN for {kind}")
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    # Identities

    def session(self, role_arn: str):
        """A boto3 session with the role's temporary credentials, as Lambda or SageMaker give
        their code; every call it makes is authorised against the role's policies."""
        import boto3

        if role_arn in self.sessions:
            return self.sessions[role_arn]
        name = role_arn.rsplit("/", 1)[-1][:64]
        credentials = self.admin.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=name)["Credentials"]
        session = boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=REGION,
        )
        self.enforcer.add(
            credentials["AccessKeyId"],
            iam.Principal(
                role_arn,
                f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_arn.rsplit('/', 1)[-1]}/{name}",
                self.policies(role_arn),
            ),
        )
        self._watch(session)
        self.sessions[role_arn] = session
        return session

    def client(self, role_arn: str | None, service: str):
        """A client made once per role (None: the administrator's) and service."""
        key = (role_arn, service)
        if key not in self.clients:
            self.clients[key] = (self.session(role_arn) if role_arn else self.admin).client(service)
        return self.clients[key]

    def _watch(self, session) -> None:
        events = session._session.get_component("event_emitter")
        events.register("before-parameter-build", self.enforcer.remember)
        events.register("before-call", self.enforcer)

    def policies(self, role_arn: str) -> list[dict]:
        """The role's policies as IAM holds them now (inline and attached)."""
        client = self.admin.client("iam")
        role = role_arn.rsplit("/", 1)[-1]
        documents = [
            client.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            for name in client.list_role_policies(RoleName=role)["PolicyNames"]
        ]
        for attached in client.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
            version = client.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
            documents.append(
                client.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)["PolicyVersion"][
                    "Document"
                ]
            )
        return [json.loads(d) if isinstance(d, str) else d for d in documents]

    def session_policies(self, role_arn: str) -> list[dict]:
        """The policies of a role as this world last read them (refresh() reads them again)."""
        self.session(role_arn)
        return next(p.policies for p in self.enforcer.principals.values() if p.role_arn == role_arn)

    def refresh(self) -> None:
        """Read every assumed role's policies again (after a test changed one)."""
        for principal in self.enforcer.principals.values():
            principal.policies = self.policies(principal.role_arn)

    # Lookups the IAM checks need (iam.ACTIONS)

    def bucket_owner(self, bucket: str) -> str:
        return self.foreign_buckets.get(bucket, ACCOUNT)

    def _stored(self, bucket: str, key: str):
        """The object as moto keeps it, or None: looked up in moto's store, not through the S3 API
        (a HeadObject through botocore for each of the enforcer's two questions doubled the
        1,000-document job's S3 calls)."""
        from moto.s3.models import s3_backends

        try:
            return s3_backends[ACCOUNT]["aws"].head_object(bucket, key)
        except Exception:  # no such bucket (or a delete marker): no such object
            return None

    def object_exists(self, bucket: str, key: str) -> bool:
        return self._stored(bucket, key) is not None

    def object_kms_key(self, bucket: str, key: str) -> str | None:
        stored = self._stored(bucket, key)
        if stored is None or stored.encryption != "aws:kms":
            return None
        key_id = stored.kms_key_id or ""
        return key_id if key_id.startswith("arn:") else f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"

    def token_machine(self, token: str) -> str:
        execution = self.interpreter.tokens.get(token)
        return execution.machine_arn if execution is not None else self.machine_arn

    # Lambda

    @contextlib.contextmanager
    def _in_container(self, function: Function):
        """The function's environment and its warm container's module state (its boto3 clients,
        made once under its role, as a warm Lambda keeps them)."""
        import boto3

        import jobs.aws
        from jobs.aws import handlers

        aws_backend = sys.modules["jobs.aws.backend"]

        saved_env = dict(os.environ)
        saved = (jobs.aws.backend, handlers.backend, list(handlers._RUNTIME), boto3.DEFAULT_SESSION)
        session = self.session(function.role_arn)
        os.environ.update(function.environment)
        os.environ.update(AWS_REGION=REGION, AWS_DEFAULT_REGION=REGION, AWS_LAMBDA_FUNCTION_NAME=function.name)
        boto3.DEFAULT_SESSION = session
        warm = function.warm

        def made() -> Any:
            if "backend" not in warm:
                warm["backend"] = aws_backend.backend.__wrapped__()
            return warm["backend"]

        jobs.aws.backend = made  # type: ignore[assignment]
        handlers.backend = made  # type: ignore[assignment]
        handlers._RUNTIME[:] = warm.setdefault("runtime", [])
        try:
            yield
        finally:
            warm["runtime"] = list(handlers._RUNTIME)
            jobs.aws.backend, handlers.backend, handlers._RUNTIME[:], boto3.DEFAULT_SESSION = (
                saved[0],
                saved[1],
                saved[2],
                saved[3],
            )
            os.environ.clear()
            os.environ.update(saved_env)

    def call(self, function: Function, event: Any) -> Any:
        """One invocation: the event and the answer go through JSON, as Lambda's do; a handler's
        exception is the function error Step Functions sees (its errorType, errorMessage)."""
        import importlib

        module_name, _, attribute = function.handler.rpartition(".")
        event = json.loads(json.dumps(event))
        with self._in_container(function):
            handler = getattr(importlib.import_module(module_name), attribute)
            try:
                result = handler(event, _Context(function))
            except Exception as exc:
                cause = json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__})
                raise StatesError(type(exc).__name__, cause) from exc
        return json.loads(json.dumps(result))

    def invoke_from_state_machine(self, arn: str, payload: Any) -> Any:
        function = self.by_arn[arn]
        self._authorise(iam.Check("lambda:InvokeFunction", arn), "Lambda.AWSLambdaException")
        return self.call(function, payload)

    def _authorise(self, check: iam.Check, error: str) -> None:
        """What Step Functions does with the state machine's own role."""
        if iam.decide(self.session_policies(self.machine_role), check) != "Allow":
            self.enforcer.denied.append((self.machine_role, check))
            raise StatesError(
                error, f"the state machine's role is not authorized to perform {check.action} on {check.resource}"
            )
        self.enforcer.allowed.add((self.machine_role, check.action))

    def invoke_async(self, arn: str, event: Any) -> None:
        """Lambda's asynchronous invocation (SNS, EventBridge): queued, retried twice on error."""
        function = self.by_arn[arn]

        def attempt(number: int = 0) -> None:
            try:
                self.call(function, event)
                self.deliveries.append((function.name, number, None))
            except StatesError as failure:
                self.deliveries.append((function.name, number, failure.error))
                if number < ASYNC_RETRIES:
                    self.queue.append(("lambda", lambda: attempt(number + 1)))

        self.queue.append(("lambda", attempt))

    # The API's door, as API Gateway calls the frontend function

    def api(
        self, method: str, path: str, resource: str, body: Any = None, key_id: str = "key-1", query: dict | None = None
    ) -> tuple[int, Any, dict]:
        frontend = self.frontend
        event = {
            "resource": resource,
            "path": path,
            "httpMethod": method,
            "queryStringParameters": query,
            "headers": {"Content-Type": "application/json", "Host": "abc123.execute-api.us-east-1.amazonaws.com"},
            "body": json.dumps(body) if body is not None else None,
            "isBase64Encoded": False,
            "requestContext": {
                "identity": {"apiKeyId": key_id},
                "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
                "stage": "prod",
                "requestId": str(uuid.uuid4()),
                "resourcePath": resource,
            },
        }
        answer = self.call(frontend, event)
        text = answer.get("body") or "null"
        return (
            answer["statusCode"],
            json.loads(text) if text.startswith(("{", "[", "null")) else text,
            answer.get("headers", {}),
        )


class _Context:
    def __init__(self, function: Function):
        self.function_name = function.name
        self.aws_request_id = str(uuid.uuid4())
        self._timeout_ms = function.timeout_s * 1000

    def get_remaining_time_in_millis(self) -> int:
        return self._timeout_ms
