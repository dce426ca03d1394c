"""The jobs' state machine: a job's documents read by a Distributed Map, each document's ranges
of pages by an inner Map, one asynchronous inference per range waited for with a task token.

    Plan --catch--> PlanFailed
      -> HasDocuments? -> Documents (Distributed Map over the manifest; results to S3) --catch--> JobFailed
                              Ranges (count the pages) --catch--> DocumentFailed
                              -> EachRange (Map) --catch--> DocumentFailed
                                     InvokeRange (.waitForTaskToken; retried) --catch--> RangeFailed
                              -> HasOutputs? -> Outputs (the document's PDF, Markdown) --catch--> DocumentRead
                              -> DocumentRead (a small output: the Map's results stay small)
      -> Finish --catch--> JobFailed

An execution that ends otherwise (its 7-day timeout, a stop, a failure no Catch takes) fails
its job through an EventBridge rule on the execution's status (infra/jobs/__init__.py).
Every failure path records what happened, so a job never stays RUNNING and never answers
SUCCEEDED with a document missing (jobs/steps.py finish checks the manifest too).
"""

from __future__ import annotations

import re
from typing import cast

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from jobs.aws.backend import MAP_RESULTS_PREFIX
from jobs.aws.handlers import RANGE_ATTEMPTS, RANGE_TASK_TIMEOUT_S

from ..nag import ACCOUNT, PARTITION, REGION, acknowledge, acknowledge_wildcards
from ..settings import Settings, retention

# Ranges of one document in flight at once (the inner Map); the async endpoint queues the rest.
RANGE_CONCURRENCY = 10
# A job of 3,000-page documents at a low concurrency may take days; a year is the most.
EXECUTION_TIMEOUT = Duration.days(7)


def state_machine(
    scope: Construct, settings: Settings, functions: dict[str, lambda_.Function], bucket: s3.Bucket
) -> sfn.StateMachine:
    stack = Stack.of(scope)
    job_id = sfn.JsonPath.string_at("$$.Execution.Input.jobId")

    def call(name: str, function: str, payload: dict | None = None, **options) -> tasks.LambdaInvoke:
        return _lambda(scope, name, functions[function], payload, **options)

    error = sfn.JsonPath.object_at("$.error")
    plan = call("Plan", "plan", {"jobId": job_id}, result_path="$.plan")
    finish = call("Finish", "finish", {"jobId": job_id})
    # A job whose inputs cannot be listed (or read) fails as a whole, with the reason.
    plan_failed = call("PlanFailed", "finish", {"jobId": job_id, "error": error})
    plan.add_catch(plan_failed, result_path="$.error")
    # The documents' map or the finish step failed past its retries: the job fails with the reason.
    job_failed = call("JobFailed", "jobFailed", {"jobId": job_id, "error": error})
    finish.add_catch(job_failed, result_path="$.error")

    documents = sfn.DistributedMap(
        scope,
        "Documents",
        item_reader=sfn.S3JsonLItemReader(bucket=bucket, key=sfn.JsonPath.string_at("$.plan.manifest.Key")),
        item_selector={
            "jobId": job_id,
            "document": sfn.JsonPath.object_at("$$.Map.Item.Value"),
            "outputs": sfn.JsonPath.string_at("$.plan.outputs"),
        },
        max_concurrency=settings.job_concurrency,
        # A document that fails as a whole is the job's PARTIAL, not its end: finish counts.
        tolerated_failure_percentage=100,
        map_execution_type=sfn.StateMachineType.STANDARD,  # .waitForTaskToken needs Standard
        # Without a writer the children's outputs are collected into the state, whose 256 KiB
        # limit a job of a few thousand documents would pass; written to S3 they are not.
        result_writer_v2=sfn.ResultWriterV2(bucket=bucket, prefix=MAP_RESULTS_PREFIX),
        result_path=sfn.JsonPath.DISCARD,
    )
    documents.item_processor(_document(scope, functions))
    documents.add_catch(job_failed, result_path="$.error")
    documents.next(finish)

    definition = plan.next(
        sfn.Choice(scope, "HasDocuments")
        .when(sfn.Condition.number_greater_than("$.plan.documents", 0), documents)
        .otherwise(finish)
    )
    log_group = logs.LogGroup(
        scope,
        "StateMachineLogs",
        # AWS's advice for vended logs: under /aws/vendedlogs/ the account's CloudWatch Logs
        # resource policy (5,120 characters) need not name each log group.
        log_group_name=f"/aws/vendedlogs/states/{stack.stack_name}-jobs",
        retention=retention(settings.log_retention_days),
        removal_policy=RemovalPolicy.DESTROY,
    )
    machine = sfn.StateMachine(
        scope,
        "StateMachine",
        definition_body=sfn.DefinitionBody.from_chainable(definition),
        state_machine_type=sfn.StateMachineType.STANDARD,
        timeout=EXECUTION_TIMEOUT,
        logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
        tracing_enabled=False,
    )
    _acknowledge(machine, functions, bucket)
    return machine


def _lambda(
    scope: Construct, name: str, function: lambda_.Function, payload: dict | None = None, **options
) -> tasks.LambdaInvoke:
    """A task calling one of the steps' functions; its answer is the function's payload alone."""
    return tasks.LambdaInvoke(
        scope,
        name,
        lambda_function=function,
        payload=sfn.TaskInput.from_object(payload) if payload is not None else None,
        payload_response_only=True,
        **options,
    )


def _document(scope: Construct, functions: dict[str, lambda_.Function]) -> sfn.IChainable:
    """One document: count its pages, read each range; any failure records the document failed."""
    the_document = {"jobId": sfn.JsonPath.string_at("$.jobId"), "document": sfn.JsonPath.object_at("$.document")}
    count = _lambda(scope, "Ranges", functions["ranges"], the_document, result_path="$.found")
    invoke = tasks.LambdaInvoke(
        scope,
        "InvokeRange",
        lambda_function=functions["invoke"],
        integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
        payload=sfn.TaskInput.from_object(
            {
                "taskToken": sfn.JsonPath.task_token,
                "jobId": sfn.JsonPath.string_at("$.jobId"),
                "document": sfn.JsonPath.object_at("$.document"),
                "range": sfn.JsonPath.object_at("$.range"),
            }
        ),
        task_timeout=sfn.Timeout.duration(Duration.seconds(RANGE_TASK_TIMEOUT_S)),
        # Each range's output is the token's answer alone ({"inferenceId", "pages"}): the inner
        # Map collects one per range, never the document and its ranges again.
        result_path="$.done",
        output_path="$.done",
    )
    # A failed range is tried again alone; the document's other ranges go on.
    invoke.add_retry(
        errors=["InferenceFailed", "RecordFailed", "States.Timeout", "States.TaskFailed"],
        interval=Duration.seconds(30),
        backoff_rate=4,
        max_attempts=RANGE_ATTEMPTS - 1,
    )
    range_failed = _lambda(
        scope, "RangeFailed", functions["rangeFailed"], result_path="$.recorded", output_path="$.recorded"
    )
    invoke.add_catch(range_failed, result_path="$.error")
    each_range = sfn.Map(
        scope,
        "EachRange",
        items_path="$.found.ranges",
        item_selector={
            "jobId": sfn.JsonPath.string_at("$.jobId"),
            "document": sfn.JsonPath.object_at("$.found.document"),
            "range": sfn.JsonPath.object_at("$$.Map.Item.Value"),
        },
        max_concurrency=RANGE_CONCURRENCY,
        result_path=sfn.JsonPath.DISCARD,
    )
    each_range.item_processor(invoke)
    document_failed = _lambda(
        scope,
        "DocumentFailed",
        functions["documentFailed"],
        {**the_document, "error": sfn.JsonPath.object_at("$.error")},
        result_path=sfn.JsonPath.DISCARD,
    )
    count.add_catch(document_failed, result_path="$.error")
    each_range.add_catch(document_failed, result_path="$.error")
    # The child execution's output: nothing the parent needs (its results go to S3 anyway).
    read = sfn.Pass(scope, "DocumentRead", result=sfn.Result.from_object({}))
    document_failed.next(read)
    # The job's "outputs" (searchable PDF, Markdown), once every range is recorded: retried
    # alone; past its retries the document is listed without them (finish says why).
    outputs = _lambda(scope, "Outputs", functions["outputs"], the_document, result_path=sfn.JsonPath.DISCARD)
    outputs.add_retry(errors=["States.ALL"], interval=Duration.seconds(10), backoff_rate=3, max_attempts=2)
    outputs.add_catch(read, result_path="$.error")
    outputs.next(read)
    wanted = (
        sfn.Choice(scope, "HasOutputs").when(sfn.Condition.boolean_equals("$.outputs", True), outputs).otherwise(read)
    )
    return count.next(each_range).next(wanted)


def _acknowledge(machine: sfn.StateMachine, functions: dict[str, lambda_.Function], bucket: s3.Bucket) -> None:
    acknowledge(
        machine,
        "AwsSolutions-SF2",
        "X-Ray would trace every range of every job; executions are logged (level ALL) and each "
        "Lambda logs its step as JSON.",
    )
    stack = Stack.of(machine)
    bucket_id = stack.get_logical_id(cast(s3.CfnBucket, bucket.node.default_child))
    machine_id = stack.get_logical_id(cast(sfn.CfnStateMachine, machine.node.default_child))
    acknowledge_wildcards(
        machine,
        rf"(arn:{PARTITION}:s3:::<{bucket_id}>|<{bucket_id}\.Arn>)/.*\*",
        "The Distributed Map reads each job's manifest from the stack's results bucket and "
        "writes its map run's results there; both keys are made per job.",
    )
    acknowledge_wildcards(
        machine,
        r"\*",
        "Step Functions' log delivery (logs:CreateLogDelivery and the like) and X-Ray take no "
        "resource-level permissions (AWS's documented policy for state machine logging).",
    )
    for name, function in functions.items():
        function_id = stack.get_logical_id(cast(lambda_.CfnFunction, function.node.default_child))
        acknowledge_wildcards(
            machine,
            rf"<{re.escape(function_id)}\.Arn>:\*",
            f"Versions and aliases of the {name} function the state machine invokes.",
        )
    # The Distributed Map's child executions: arn:<partition>:states:<region>:<account>:
    # execution:<machine name>/<map run>:<child>, as the CDK CLI resolves it in any region.
    acknowledge_wildcards(
        machine,
        rf"arn:{PARTITION}:states:{REGION}:{ACCOUNT}:execution:"
        rf'\{{"Fn::Select":\[6,\{{"Fn::Split":\[":",\{{"Ref":"{re.escape(machine_id)}"\}}\]\}}\]\}}(/\*)?:\*',
        "The Distributed Map starts, describes and stops its child executions, named at run time.",
    )
    acknowledge_wildcards(
        machine,
        rf"arn:{PARTITION}:states:{REGION}:{ACCOUNT}:mapRun:"
        rf'\{{"Fn::Select":\[6,\{{"Fn::Split":\[":",\{{"Ref":"{re.escape(machine_id)}"\}}\]\}}\]\}}/\*:\*',
        "The Distributed Map describes and updates its own map runs, named at run time.",
    )
