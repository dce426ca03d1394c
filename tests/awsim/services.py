"""The services the harness plays itself, as AWS documents them, for World (world.py): Step
Functions' executions and task tokens (the definition run by asl.py), SageMaker Asynchronous
Inference (the input read and the answer written with the endpoint's own role, AWS's
notification published), SNS's and EventBridge's asynchronous Lambda invocations."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from . import iam
from .asl import Aborted, Execution, Interpreter
from .stack import ACCOUNT, REGION

CLIENT_ATTEMPTS = 5  # botocore's tries of one call, as jobs/aws/backend.clients configures them


class PlayedServices:
    """A mixin of World: it needs World's definition, machine_arn, machine_role, queue,
    executions, answers, throttle, inferences, bucket, topics, subscriptions, rules, client(),
    invoke_from_state_machine(), invoke_async() and _authorise()."""

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
