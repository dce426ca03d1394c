"""A Step Functions interpreter for the state machine definition as deployed: the states,
paths, Retry and Catch, inline and Distributed Maps (S3 JSON Lines reader, S3 result writer,
tolerated failures), Lambda tasks (request-response and .waitForTaskToken), and the 256 KiB
payload limit, each as the Amazon States Language specification and the Step Functions
developer guide define them. Time is virtual: retries and timeouts do not wait.

Why not moto's interpreter (a port of LocalStack's)? It reads no JSON Lines manifest (its
ItemReader knows CSV and JSON only) and runs Lambda tasks through a Docker container. What this
one does not know (a state type, an intrinsic function, a JSONPath beyond dotted names) raises
Unsupported: a definition that grows past it fails the tests loudly instead of passing them.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PAYLOAD_LIMIT = 256 * 1024  # bytes of UTF-8: a state's input or output, a task's result


class Unsupported(AssertionError):
    pass


class Aborted(Exception):
    """StopExecution: the execution ends ABORTED at its next step, and no Catch runs."""


class StatesError(Exception):
    def __init__(self, error: str, cause: str = ""):
        super().__init__(f"{error}: {cause}")
        self.error, self.cause = error, cause


@dataclass
class Execution:
    arn: str
    machine_arn: str  # the state machine the execution's task tokens belong to
    name: str
    input: Any
    status: str = "RUNNING"
    output: Any = None
    error: str | None = None
    cause: str | None = None
    parent: Execution | None = None
    children: list[Execution] = field(default_factory=list)


class Interpreter:
    """`invoke(function_arn, payload) -> result` runs a Lambda (raising StatesError with the
    function's errorType); `wait(token) -> ("success", output) | ("failure", (error, cause)) |
    None` lets the world run until a task token is answered (None: it never was: the task times
    out); `read_s3(bucket, key) -> bytes` and `write_s3(bucket, key, bytes)` are the state
    machine role's own S3 calls; `may_start(machine_arn)` checks the role may start the
    Distributed Map's child executions."""

    def __init__(
        self,
        definition: dict,
        machine_arn: str,
        *,
        invoke: Callable[[str, Any], Any],
        wait: Callable[[str], tuple[str, Any] | None],
        read_s3: Callable[[str, str], bytes],
        write_s3: Callable[[str, str, bytes], None],
        may_start: Callable[[str], None],
    ):
        self.definition = definition
        self.machine_arn = machine_arn
        self.invoke, self.wait, self.read_s3, self.write_s3, self.may_start = invoke, wait, read_s3, write_s3, may_start
        self.tokens: dict[str, Execution] = {}  # token -> the execution that issued it
        self.attempts: list[tuple[str, str]] = []  # (state, error) of every retried failure

    # Executions

    def run(self, execution: Execution) -> Execution:
        context = {"Execution": {"Id": execution.arn, "Name": execution.name, "Input": execution.input}}
        try:
            _limit(execution.input, "the execution's input")
            execution.output = self._run_states(self.definition, execution.input, context, execution)
            execution.status = "SUCCEEDED"
        except StatesError as failure:
            execution.status = "FAILED"
            execution.error, execution.cause = failure.error, failure.cause
        return execution

    def _run_states(self, machine: dict, data: Any, context: dict, execution: Execution) -> Any:
        name = machine["StartAt"]
        while True:
            top = execution
            while top.parent is not None:
                top = top.parent
            if top.status == "ABORTED":
                raise Aborted(top.name)
            state = machine["States"][name]
            data, following = self._state(name, state, data, context, execution)
            _limit(data, f"the output of state {name}")
            if following is None:
                return data
            name = following

    def _state(self, name: str, state: dict, raw: Any, context: dict, execution: Execution):
        kind = state["Type"]
        if kind == "Choice":
            return raw, _choose(state, raw)
        if kind == "Succeed":
            return _path(raw, state.get("OutputPath", "$"), context), None
        if kind == "Fail":
            raise StatesError(state.get("Error", "States.Fail"), state.get("Cause", ""))
        if kind not in ("Task", "Map", "Pass"):
            raise Unsupported(f"state type {kind} ({name})")
        retries: dict[int, int] = {}
        while True:
            try:
                effective = _path(raw, state.get("InputPath", "$"), context)
                if kind == "Pass":
                    if "Result" in state:
                        result = copy.deepcopy(state["Result"])
                    elif "Parameters" in state:
                        result = _template(state["Parameters"], effective, context)
                    else:
                        result = effective
                elif kind == "Task":
                    result = self._task(name, state, effective, context, execution)
                else:
                    result = self._map(name, state, effective, context, execution)
                if "ResultSelector" in state:
                    result = _template(state["ResultSelector"], result, context)
                _limit(result, f"the result of state {name}")
                out = _put(raw, state.get("ResultPath", "$"), result)
                out = _path(out, state.get("OutputPath", "$"), context)
                return out, None if state.get("End") else state["Next"]
            except StatesError as failure:
                retrier = _matching(state.get("Retry", []), failure.error)
                if retrier is not None:
                    index = state["Retry"].index(retrier)
                    retries[index] = retries.get(index, 0) + 1
                    if retries[index] <= retrier.get("MaxAttempts", 3):
                        self.attempts.append((name, failure.error))
                        continue
                catcher = _matching(state.get("Catch", []), failure.error)
                if catcher is None:
                    raise
                error_output = {"Error": failure.error, "Cause": failure.cause}
                return _put(raw, catcher.get("ResultPath", "$"), error_output), catcher["Next"]

    # Tasks

    def _task(self, name: str, state: dict, data: Any, context: dict, execution: Execution) -> Any:
        resource = state["Resource"]
        if resource.startswith("arn:aws:lambda:"):  # a function's ARN: its payload alone
            payload = _template(state["Parameters"], data, context) if "Parameters" in state else data
            _limit(payload, f"the payload of {name}")
            return self.invoke(resource, payload)
        if resource.endswith(":lambda:invoke.waitForTaskToken"):
            token = uuid.uuid4().hex + uuid.uuid4().hex
            self.tokens[token] = execution
            task_context = {**context, "Task": {"Token": token}}
            parameters = _template(state["Parameters"], data, task_context)
            self.invoke(parameters["FunctionName"], parameters.get("Payload", data))
            answer = self.wait(token)
            self.tokens.pop(token, None)
            if answer is None:
                raise StatesError("States.Timeout", f"no answer within {state.get('TimeoutSeconds')} s")
            kind, value = answer
            if kind == "failure":
                raise StatesError(*value)
            return value
        if resource.endswith(":lambda:invoke"):
            parameters = _template(state["Parameters"], data, context)
            payload = self.invoke(parameters["FunctionName"], parameters.get("Payload", data))
            return {"Payload": payload, "StatusCode": 200}
        raise Unsupported(f"task resource {resource} ({name})")

    # Maps

    def _map(self, name: str, state: dict, data: Any, context: dict, execution: Execution) -> Any:
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor is None:
            raise Unsupported(f"map {name} without ItemProcessor")
        mode = processor.get("ProcessorConfig", {}).get("Mode", "INLINE")
        if mode == "INLINE":
            items = _path(data, state.get("ItemsPath", "$"), context)
            outputs = []
            for index, item in enumerate(items):
                item_context = {**context, "Map": {"Item": {"Index": index, "Value": item}}}
                selected = _template(state["ItemSelector"], data, item_context) if "ItemSelector" in state else item
                outputs.append(self._run_states(processor, selected, item_context, execution))
            return outputs
        if mode != "DISTRIBUTED":
            raise Unsupported(f"map mode {mode}")
        return self._distributed(name, state, processor, data, context, execution)

    def _distributed(self, name: str, state: dict, processor: dict, data: Any, context: dict, execution: Execution):
        reader = state["ItemReader"]
        if reader["Resource"] != "arn:aws:states:::s3:getObject" or reader["ReaderConfig"]["InputType"] != "JSONL":
            raise Unsupported(f"item reader {reader}")
        where = _template(reader["Parameters"], data, context)
        try:
            lines = self.read_s3(where["Bucket"], where["Key"]).decode().splitlines()
        except Exception as exc:  # the role could not read it (AWS: the Map state fails so)
            raise StatesError("States.ItemReaderFailed", str(exc)) from exc
        items = [json.loads(line) for line in lines if line.strip()]
        # The map run's children are executions of this state machine: the role must be able to
        # start them (AWS's documented permission for Distributed Maps).
        self.may_start(self.machine_arn)
        label = uuid.uuid4().hex[:8]
        run_arn = f"{self.machine_arn.replace(':stateMachine:', ':mapRun:')}/{label}:{uuid.uuid4()}"
        child_machine = f"{self.machine_arn}/{label}"
        results, failed = [], 0
        for index, item in enumerate(items):
            item_context = {**context, "Map": {"Item": {"Index": index, "Value": item}}}
            selected = _template(state["ItemSelector"], data, item_context) if "ItemSelector" in state else item
            child_id = str(uuid.uuid4())
            child = Execution(
                arn=f"{execution.arn}/{label}:{child_id}",
                machine_arn=child_machine,
                name=child_id,
                input=selected,
                parent=execution,
            )
            execution.children.append(child)
            child_context = {**context, "Execution": {"Id": child.arn, "Name": child.name, "Input": selected}}
            try:
                _limit(selected, f"the input of a child of {name}")
                child.output = self._run_states(processor, selected, child_context, child)
                child.status = "SUCCEEDED"
                results.append({"Output": child.output, "Status": "SUCCEEDED"})
            except StatesError as failure:
                child.status, child.error, child.cause = "FAILED", failure.error, failure.cause
                failed += 1
                results.append({"Error": failure.error, "Cause": failure.cause, "Status": "FAILED"})
        tolerated = state.get("ToleratedFailurePercentage", 0)
        if items and 100.0 * failed / len(items) > tolerated:
            raise StatesError("States.ExceedToleratedFailureThreshold", f"{failed} of {len(items)} items failed")
        writer = state.get("ResultWriter")
        if writer is None:
            # Without a writer the children's outputs are the Map's result, under the same limit.
            return [r.get("Output") for r in results]
        target = _template(writer["Parameters"], data, context)
        prefix = f"{target.get('Prefix', '').rstrip('/')}/{label}/".lstrip("/")
        succeeded = [r for r in results if r["Status"] == "SUCCEEDED"]
        failures = [r for r in results if r["Status"] == "FAILED"]
        manifest = {"DestinationBucket": target["Bucket"], "MapRunArn": run_arn}
        try:
            self.write_s3(target["Bucket"], prefix + "SUCCEEDED_0.json", json.dumps(succeeded).encode())
            self.write_s3(target["Bucket"], prefix + "FAILED_0.json", json.dumps(failures).encode())
            self.write_s3(target["Bucket"], prefix + "manifest.json", json.dumps(manifest).encode())
        except Exception as exc:
            raise StatesError("States.ResultWriterFailed", str(exc)) from exc
        return {
            "MapRunArn": run_arn,
            "ResultWriterDetails": {"Bucket": target["Bucket"], "Key": prefix + "manifest.json"},
        }


# Paths and templates (the States Language's "Input and Output Processing")


def _limit(value: Any, what: str) -> None:
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    if size > PAYLOAD_LIMIT:
        raise StatesError("States.DataLimitExceeded", f"{what} is {size} bytes, over {PAYLOAD_LIMIT}")


def _steps(path: str) -> list[str]:
    if path == "$":
        return []
    if not path.startswith("$.") or any(c in path for c in "[]*?@'\" "):
        raise Unsupported(f"JSONPath {path!r}")
    return path[2:].split(".")


def _path(data: Any, path: str | None, context: dict) -> Any:
    if path is None:
        return {}
    if path.startswith("$$"):
        data, path = context, "$" + path[2:]
    for step in _steps(path):
        if not isinstance(data, dict) or step not in data:
            raise StatesError("States.Runtime", f"the JSONPath {path!r} could not be found in the input")
        data = data[step]
    return copy.deepcopy(data)


def _put(raw: Any, path: str | None, result: Any) -> Any:
    if path is None:
        return copy.deepcopy(raw)
    steps = _steps(path)
    if not steps:
        return result
    out = copy.deepcopy(raw) if isinstance(raw, dict) else {}
    node = out
    for step in steps[:-1]:
        node = node.setdefault(step, {})
    node[steps[-1]] = result
    return out


def _template(template: Any, data: Any, context: dict) -> Any:
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$"):
                if not isinstance(value, str) or value.startswith("States."):
                    raise Unsupported(f"intrinsic function or path {value!r}")
                out[key[:-2]] = _path(data, value, context)
            else:
                out[key] = _template(value, data, context)
        return out
    if isinstance(template, list):
        return [_template(v, data, context) for v in template]
    return template


def _matching(handlers: list[dict], error: str) -> dict | None:
    for handler in handlers:
        names = handler["ErrorEquals"]
        if error in names:
            return handler
        if "States.ALL" in names and error != "States.Runtime":
            return handler
        if "States.TaskFailed" in names and error not in (
            "States.Timeout",
            "States.Runtime",
            "States.DataLimitExceeded",
        ):
            return handler
    return None


def _choose(state: dict, data: Any) -> str:
    for choice in state["Choices"]:
        variable = choice["Variable"]
        try:
            value = _path(data, variable, {})
        except StatesError:
            value = None
        for operator, wanted in choice.items():
            if operator in ("Variable", "Next"):
                continue
            holds = {
                "NumericGreaterThan": lambda v, w: isinstance(v, (int, float)) and v > w,
                "NumericEquals": lambda v, w: isinstance(v, (int, float)) and v == w,
                "StringEquals": lambda v, w: v == w,
                "BooleanEquals": lambda v, w: v is w,
                "IsPresent": lambda v, w: (v is not None) == w,
            }.get(operator)
            if holds is None:
                raise Unsupported(f"choice operator {operator}")
            if holds(value, wanted):
                return choice["Next"]
    if "Default" not in state:
        raise StatesError("States.NoChoiceMatched", "no choice matched")
    return state["Default"]
