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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import iam
from .asl import Aborted, Execution, Interpreter, StatesError

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
ADMIN = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": REGION}
# What moto's CloudFormation creates for us; everything else is left out (see the docstring).
CREATED_BY_MOTO = {
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::SNS::Topic",
    "AWS::StepFunctions::StateMachine",
    "AWS::Lambda::Function",
    "AWS::Logs::LogGroup",
}
ASYNC_RETRIES = 2  # Lambda's asynchronous invocation: an error is retried twice
CLIENT_ATTEMPTS = 5  # botocore's tries of one call, as jobs/aws/backend.clients configures them


def synthesize(settings: dict) -> dict:
    """The stack's template as the CDK CLI synthesizes it for REGION and ACCOUNT."""
    sys.path.insert(0, str(ROOT))
    from app import build_app

    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    saved = {k: os.environ.get(k) for k in ("CDK_DEFAULT_REGION", "CDK_DEFAULT_ACCOUNT")}
    os.environ.update(CDK_DEFAULT_REGION=REGION, CDK_DEFAULT_ACCOUNT=ACCOUNT)
    try:
        assembly = build_app({**context, **settings}).synth()
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None)
            if value is not None:
                os.environ[key] = value
    return assembly.get_stack_by_name("ZhOcrEndpoint").template


def _refs(value: Any, found: set[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                found.add(item[0] if isinstance(item, list) else item.split(".")[0])
            else:
                _refs(item, found)
    elif isinstance(value, list):
        for item in value:
            _refs(item, found)


def deployable(template: dict) -> dict:
    """The template less what moto cannot create; AssertionError if a kept resource needs one."""
    kept = {k: copy_of(v) for k, v in template["Resources"].items() if v["Type"] in CREATED_BY_MOTO}
    for logical, resource in kept.items():
        found: set[str] = set()
        _refs(resource.get("Properties", {}), found)
        missing = sorted(
            r for r in found if r not in kept and not r.startswith("AWS::") and r not in template.get("Parameters", {})
        )
        assert not missing, f"{logical} refers to {missing}, which moto cannot create"
        if "DependsOn" in resource:
            depends = resource["DependsOn"] if isinstance(resource["DependsOn"], list) else [resource["DependsOn"]]
            resource["DependsOn"] = [d for d in depends if d in kept]
    return {"Parameters": template.get("Parameters", {}), "Resources": kept}


def copy_of(value: Any) -> Any:
    return json.loads(json.dumps(value))


@dataclass
class Function:
    name: str
    arn: str
    handler: str
    role_arn: str
    environment: dict[str, str]
    timeout_s: int
    warm: dict = field(default_factory=dict)  # the container's module state, kept between calls


class World:
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

    def object_kms_key(self, bucket: str, key: str) -> str | None:
        try:
            head = self.client(None, "s3").head_object(Bucket=bucket, Key=key)
        except Exception:
            return None
        if head.get("ServerSideEncryption") != "aws:kms":
            return None
        key_id = head.get("SSEKMSKeyId", "")
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

    # The services played here

    def _interceptors(self) -> None:
        self.interpreter = Interpreter(
            self.definition,
            self.machine_arn,
            invoke=self.invoke_from_state_machine,
            wait=self._wait,
            read_s3=lambda b, k: self.client(self.machine_role, "s3").get_object(Bucket=b, Key=k)["Body"].read(),
            write_s3=lambda b, k, d: self.client(self.machine_role, "s3").put_object(Bucket=b, Key=k, Body=d),
            may_start=self._may_start,
        )
        self.enforcer.interceptors.update(
            {
                ("SFN", "StartExecution"): self._start_execution,
                ("SFN", "DescribeExecution"): self._describe_execution,
                ("SFN", "SendTaskSuccess"): lambda p, _: self._answer(
                    p["taskToken"], ("success", json.loads(p["output"]))
                ),
                ("SFN", "SendTaskFailure"): lambda p, _: self._answer(
                    p["taskToken"], ("failure", (p.get("error", ""), p.get("cause", "")))
                ),
                ("SageMaker Runtime", "InvokeEndpointAsync"): self._invoke_endpoint_async,
                ("SNS", "Publish"): self._publish,
            }
        )

    def _may_start(self, machine_arn: str) -> None:
        self._authorise(iam.Check("states:StartExecution", machine_arn), "States.Runtime")

    def _start_execution(self, params: dict, principal) -> Any:
        if params["stateMachineArn"] != self.machine_arn:
            return iam.error("StateMachineDoesNotExist", params["stateMachineArn"])
        name = params.get("name") or str(uuid.uuid4())
        if name in self.executions:
            return iam.error("ExecutionAlreadyExists", f"Execution Already Exists: '{name}'")
        machine_name = self.machine_arn.rsplit(":", 1)[-1]
        execution = Execution(
            arn=f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{machine_name}:{name}",
            machine_arn=self.machine_arn,
            name=name,
            input=json.loads(params.get("input") or "{}"),
        )
        self.executions[name] = execution
        self.queue.append(("execution", lambda: self._run(execution)))
        return iam.answer({"executionArn": execution.arn, "startDate": datetime.now(UTC)})

    def _describe_execution(self, params: dict, principal) -> Any:
        name = params["executionArn"].rsplit(":", 1)[-1]
        execution = self.executions[name]
        return iam.answer(
            {"executionArn": execution.arn, "status": execution.status, "stateMachineArn": self.machine_arn}
        )

    def _run(self, execution: Execution) -> None:
        try:
            self.interpreter.run(execution)
        except Aborted:
            execution.status = "ABORTED"
        if execution.status in ("FAILED", "TIMED_OUT", "ABORTED"):
            self._emit_status_change(execution)

    def stop(self, name: str) -> None:
        """StopExecution: the execution ends ABORTED at its next step; no Catch runs."""
        self.executions[name].status = "ABORTED"

    def _answer(self, token: str, answer: tuple[str, Any]) -> Any:
        operation = "SendTaskSuccess" if answer[0] == "success" else "SendTaskFailure"
        if self.throttle[operation] > 0:
            # The caller's client retries a throttled call itself (botocore's standard mode,
            # CLIENT_ATTEMPTS tries: jobs/aws/backend.clients): it fails only when every try is.
            tries = min(self.throttle[operation], CLIENT_ATTEMPTS)
            self.throttle[operation] -= tries
            if tries == CLIENT_ATTEMPTS:
                return iam.error("ThrottlingException", "Rate exceeded")
        if token not in self.interpreter.tokens or token in self.answers:
            return iam.error("TaskDoesNotExist", "Task Does Not Exist")
        self.answers[token] = answer
        return iam.answer({})

    def _wait(self, token: str) -> tuple[str, Any] | None:
        execution = self.interpreter.tokens[token]
        while token not in self.answers:
            top = execution
            while top.parent is not None:
                top = top.parent
            if top.status == "ABORTED":
                raise Aborted(top.name)
            if not self.queue:
                return None  # nothing left that could answer: the task times out
            _, step = self.queue.popleft()
            step()
        return self.answers.pop(token)

    def drain(self) -> None:
        while self.queue:
            _, step = self.queue.popleft()
            step()

    def _invoke_endpoint_async(self, params: dict, principal) -> Any:
        if params["EndpointName"] != self.async_endpoint:
            return iam.error("ValidationError", f"Endpoint {params['EndpointName']} not found.")
        location = params["InputLocation"]
        # Sent as an HTTP header (X-Amzn-SageMaker-InputLocation): AWS documents an S3 URI, not
        # what a non-ASCII key becomes there, so the simulation takes ASCII S3 URIs only.
        if not location.startswith("s3://") or not location.isascii():
            return iam.error("ValidationError", f"InputLocation {location!r} is not an ASCII S3 URI")
        inference_id = params.get("InferenceId") or str(uuid.uuid4())
        output = f"s3://{self.bucket}/async/out/{uuid.uuid4()}.out"
        failure = f"s3://{self.bucket}/async/failed/{uuid.uuid4()}-error.out"
        record = {**params, "InferenceId": inference_id, "OutputLocation": output, "FailureLocation": failure}
        self.inferences.append(record)
        self.queue.append(("inference", lambda: self._infer(record)))
        return iam.answer({"InferenceId": inference_id, "OutputLocation": output, "FailureLocation": failure})

    def _infer(self, record: dict) -> None:
        """SageMaker's part: the input read with the endpoint's role, the container's answer
        written with it, and the notification (AWS's documented message) published with it."""
        s3, sns = self.client(self.async_role, "s3"), self.client(self.async_role, "sns")
        bucket, _, key = record["InputLocation"][len("s3://") :].partition("/")
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        request = {
            "contentType": record.get("ContentType", "application/octet-stream"),
            "customAttributes": record.get("CustomAttributes", ""),
            "endpointName": record["EndpointName"],
            "inputLocation": record["InputLocation"],
        }
        message: dict[str, Any] = {
            "awsRegion": REGION,
            "eventTime": now,
            "receivedTime": now,
            "requestParameters": request,
            "inferenceId": record["InferenceId"],
            "eventVersion": "1.0",
            "eventSource": "aws:sagemaker",
            "eventName": "InferenceResult",
        }
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            status, answer = self.container(body, request["contentType"], request["customAttributes"])
        except Exception as exc:  # the endpoint's role could not read the input
            status, answer = 400, f"ClientError: {exc}".encode()
        from botocore.exceptions import ClientError

        if 200 <= status < 300:
            out_bucket, _, out_key = record["OutputLocation"][len("s3://") :].partition("/")
            try:
                s3.put_object(Bucket=out_bucket, Key=out_key, Body=answer)
            except ClientError as exc:  # the answer could not be kept: the inference failed
                status, answer = 500, f"the output could not be written: {exc}".encode()
        if 200 <= status < 300:
            message.update(
                invocationStatus="Completed",
                responseParameters={"contentType": "application/json", "outputLocation": record["OutputLocation"]},
            )
            topic = self.success_topic
        else:
            fail_bucket, _, fail_key = record["FailureLocation"][len("s3://") :].partition("/")
            with contextlib.suppress(ClientError):
                s3.put_object(Bucket=fail_bucket, Key=fail_key, Body=answer)
            message.update(
                invocationStatus="Failed",
                failureReason=f"ClientError: Received server error ({status}) from primary with message "
                f'"{answer[:500].decode(errors="replace")}".',
                responseParameters={"contentType": "text/plain", "failureLocation": record["FailureLocation"]},
            )
            topic = self.error_topic
        with contextlib.suppress(ClientError):  # unpublished, the notification is lost
            sns.publish(TopicArn=topic, Message=json.dumps(message))

    def _publish(self, params: dict, principal) -> Any:
        message_id = str(uuid.uuid4())
        for topic, function in self.subscriptions:
            if topic == params["TopicArn"]:
                event = {
                    "Records": [
                        {
                            "EventSource": "aws:sns",
                            "EventVersion": "1.0",
                            "EventSubscriptionArn": f"{topic}:{uuid.uuid4()}",
                            "Sns": {
                                "Type": "Notification",
                                "MessageId": message_id,
                                "TopicArn": topic,
                                "Subject": None,
                                "Message": params["Message"],
                                "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                            },
                        }
                    ]
                }
                self.invoke_async(function, event)
        return iam.answer({"MessageId": message_id})

    def _emit_status_change(self, execution: Execution) -> None:
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states",
            "account": ACCOUNT,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [execution.arn],
            "detail": {
                "executionArn": execution.arn,
                "stateMachineArn": self.machine_arn,
                "name": execution.name,
                "status": execution.status,
                "input": json.dumps(execution.input),
                "output": None,
                "error": execution.error,
                "cause": execution.cause,
            },
        }
        for pattern, targets in self.rules:
            if _matches(pattern, event):
                for target in targets:
                    self.invoke_async(target, event)

    # The API's door, as API Gateway calls the frontend function

    def api(
        self, method: str, path: str, resource: str, body: Any = None, key_id: str = "key-1"
    ) -> tuple[int, Any, dict]:
        frontend = self.frontend
        event = {
            "resource": resource,
            "path": path,
            "httpMethod": method,
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


def _matches(pattern: Any, event: Any) -> bool:
    """EventBridge's pattern matching, for the patterns this stack uses: each key's list holds
    the event's value; nested objects match field by field."""
    if isinstance(pattern, dict):
        return isinstance(event, dict) and all(k in event and _matches(v, event[k]) for k, v in pattern.items())
    if isinstance(pattern, list):
        return event in pattern
    return pattern == event


def container_over_http(url: str, timeout_s: float = 600) -> Callable[[bytes, str, str], tuple[int, bytes]]:
    """The inference container as SageMaker calls it: POST /invocations, the request's content
    type and custom attributes as headers."""
    import urllib.error
    import urllib.request

    def call(body: bytes, content_type: str, custom_attributes: str) -> tuple[int, bytes]:
        request = urllib.request.Request(
            f"{url}/invocations",
            data=body,
            method="POST",
            headers={"Content-Type": content_type, "X-Amzn-SageMaker-Custom-Attributes": custom_attributes},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    return call
