"""The jobs API's AWS resources (infra/jobs/), read from the synthesized template: the async
endpoint and its scaling to and from zero, the state machine's shape, state, results, and the
IAM each role holds. Nothing here needs AWS credentials or Docker."""

from __future__ import annotations

import json

import pytest

from tests.test_infra import synth

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def default(synthesized_app):
    return synthesized_app


@pytest.fixture(scope="module")
def raw(default):
    return default[0].to_json()["Resources"]


def _of(raw, kind):
    return {k: v for k, v in raw.items() if v["Type"] == kind}


def _async_config(raw):
    (config_id, config), *others = [
        (k, v)
        for k, v in _of(raw, "AWS::SageMaker::EndpointConfig").items()
        if "AsyncInferenceConfig" in v["Properties"]
    ]
    assert not others
    return config_id, config["Properties"]


def _endpoint_of(raw, config_id):
    return next(
        v["Properties"]
        for v in _of(raw, "AWS::SageMaker::Endpoint").values()
        if v["Properties"]["EndpointConfigName"] == {"Fn::GetAtt": [config_id, "EndpointConfigName"]}
    )


def _bucket_id(raw):
    (bucket_id,) = _of(raw, "AWS::S3::Bucket")
    return bucket_id


def test_async_endpoint_writes_to_the_results_bucket_and_notifies_both_topics(raw):
    config_id, config = _async_config(raw)
    bucket = _bucket_id(raw)
    output = config["AsyncInferenceConfig"]["OutputConfig"]
    assert bucket in json.dumps(output["S3OutputPath"]) and "/async/out" in json.dumps(output["S3OutputPath"])
    assert "/async/failed" in json.dumps(output["S3FailurePath"])
    topics = output["NotificationConfig"]
    assert {topics["SuccessTopic"]["Ref"], topics["ErrorTopic"]["Ref"]} <= set(_of(raw, "AWS::SNS::Topic"))
    assert topics["SuccessTopic"] != topics["ErrorTopic"]
    assert config["AsyncInferenceConfig"]["ClientConfig"]["MaxConcurrentInvocationsPerInstance"] >= 1
    (variant,) = config["ProductionVariants"]
    assert variant["InstanceType"] == "ml.g4dn.xlarge"  # the real-time one's, by default
    # The same image as the real-time endpoint: one image asset, two models.
    images = {
        json.dumps(m["Properties"]["PrimaryContainer"]["Image"]) for m in _of(raw, "AWS::SageMaker::Model").values()
    }
    assert len(images) == 1 and len(_of(raw, "AWS::SageMaker::Model")) == 2
    # Both topics deliver to the notifications' handler.
    subscriptions = [s["Properties"] for s in _of(raw, "AWS::SNS::Subscription").values()]
    assert {json.dumps(s["TopicArn"]) for s in subscriptions if s["Protocol"] == "lambda"} == {
        json.dumps(topics["SuccessTopic"]),
        json.dumps(topics["ErrorTopic"]),
    }


def _alarm_actions_to_policies(raw) -> dict[str, dict]:
    """Scaling policy id -> the alarm whose action it is."""
    found = {}
    for alarm in _of(raw, "AWS::CloudWatch::Alarm").values():
        for action in alarm["Properties"].get("AlarmActions", []):
            ref = action.get("Ref") if isinstance(action, dict) else None
            if ref in raw and raw[ref]["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy":
                found[ref] = alarm["Properties"]
    return found


def test_async_endpoint_scales_from_zero_on_backlog_and_back_to_zero_when_idle(raw):
    config_id, config = _async_config(raw)
    endpoint = _endpoint_of(raw, config_id)
    (variant,) = config["ProductionVariants"]
    resource_id = f"endpoint/{endpoint['EndpointName']}/variant/{variant['VariantName']}"
    (target_id, target) = next(
        (k, v["Properties"])
        for k, v in _of(raw, "AWS::ApplicationAutoScaling::ScalableTarget").items()
        if v["Properties"]["ResourceId"] == resource_id
    )
    assert target["MinCapacity"] == 0 and target["MaxCapacity"] >= 1
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    policies = {
        k: v["Properties"]
        for k, v in _of(raw, "AWS::ApplicationAutoScaling::ScalingPolicy").items()
        if v["Properties"].get("ScalingTargetId") == {"Ref": target_id}
    }

    # From zero: HasBacklogWithoutCapacity >= 1 (requests wait, no instance runs) sets off a step
    # policy adding capacity. Walk it: at metric value 1 the alarm is in ALARM and the step that
    # applies adds at least one instance to 0.
    triggers = _alarm_actions_to_policies(raw)
    (step_id,) = [k for k in policies if policies[k]["PolicyType"] == "StepScaling"]
    alarm = triggers[step_id]
    assert alarm["MetricName"] == "HasBacklogWithoutCapacity" and alarm["Namespace"] == "AWS/SageMaker"
    assert alarm["Dimensions"] == [{"Name": "EndpointName", "Value": endpoint["EndpointName"]}]
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and alarm["Threshold"] <= 1
    assert alarm["TreatMissingData"] == "notBreaching"  # no data (no requests ever) never starts one
    step = policies[step_id]["StepScalingPolicyConfiguration"]
    assert step["AdjustmentType"] == "ChangeInCapacity"

    def added(metric: float) -> int:
        for adjustment in step["StepAdjustments"]:
            low = alarm["Threshold"] + adjustment.get("MetricIntervalLowerBound", float("-inf"))
            high = alarm["Threshold"] + adjustment.get("MetricIntervalUpperBound", float("inf"))
            if low <= metric < high:
                return adjustment["ScalingAdjustment"]
        return 0

    assert min(target["MaxCapacity"], max(target["MinCapacity"], 0 + added(1.0))) >= 1

    # Back to zero: target tracking on the backlog per instance; with no backlog the metric is
    # 0, under any positive target, so it scales in, and MinCapacity 0 lets it reach zero.
    (tracking_id,) = [k for k in policies if policies[k]["PolicyType"] == "TargetTrackingScaling"]
    tracking = policies[tracking_id]["TargetTrackingScalingPolicyConfiguration"]
    metric = tracking["CustomizedMetricSpecification"]
    assert metric["MetricName"] == "ApproximateBacklogSizePerInstance" and metric["Namespace"] == "AWS/SageMaker"
    assert metric["Dimensions"] == [{"Name": "EndpointName", "Value": endpoint["EndpointName"]}]
    assert tracking["TargetValue"] > 0 and not tracking.get("DisableScaleIn", False)
    # Target tracking's desired count at an idle backlog: ceil(current x metric / target) = 0.
    assert -(-(target["MaxCapacity"] * 0.0) // tracking["TargetValue"]) == target["MinCapacity"] == 0
    # A redeploy keeps whatever count scaling has set (zero included).
    assert endpoint["RetainAllVariantProperties"] is True


def _definition(raw) -> dict:
    (machine,) = _of(raw, "AWS::StepFunctions::StateMachine").values()
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts)), machine["Properties"]


def _states(states: dict):
    for name, state in states.items():
        yield name, state
        if "ItemProcessor" in state:
            yield from _states(state["ItemProcessor"]["States"])


def test_state_machine_maps_documents_distributed_and_waits_for_each_range(raw):
    definition, machine = _definition(raw)
    assert machine.get("StateMachineType", "STANDARD") == "STANDARD"
    states = dict(_states(definition["States"]))
    documents = states["Documents"]
    assert documents["Type"] == "Map" and documents["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    # Child executions must be Standard: .waitForTaskToken is not available in Express.
    assert documents["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] == "STANDARD"
    reader = documents["ItemReader"]
    assert reader["ReaderConfig"]["InputType"] == "JSONL" and reader["Resource"].endswith(":states:::s3:getObject")
    assert documents["MaxConcurrency"] == 10  # jobConcurrency
    assert documents["ToleratedFailurePercentage"] == 100  # one bad document does not end the job
    invoke = states["InvokeRange"]
    assert invoke["Resource"].endswith(":states:::lambda:invoke.waitForTaskToken")
    assert invoke["Parameters"]["Payload"]["taskToken.$"] == "$$.Task.Token"
    assert invoke["TimeoutSeconds"] > 6 * 3600  # SageMaker's queue may hold it up to 6 h
    retried = next(r for r in invoke["Retry"] if "InferenceFailed" in r["ErrorEquals"])
    assert "States.Timeout" in retried["ErrorEquals"] and retried["MaxAttempts"] >= 1
    assert states[invoke["Catch"][0]["Next"]] is states["RangeFailed"]
    assert states["Plan"]["Next"] == "HasDocuments" and states["Documents"]["Next"] == "Finish"
    assert states["Finish"].get("End") is True
    assert machine["LoggingConfiguration"]["Level"] == "ALL"
    custom, _ = synth(jobConcurrency=40)
    assert dict(_states(_definition(custom.to_json()["Resources"])[0]["States"]))["Documents"]["MaxConcurrency"] == 40


def test_every_failure_path_ends_the_job_and_no_state_collects_every_documents_output(raw):
    definition, _ = _definition(raw)
    states = dict(_states(definition["States"]))
    # A document that cannot be counted or read past its retries is recorded, not dropped.
    for name in ("Ranges", "EachRange"):
        assert [c["Next"] for c in states[name]["Catch"]] == ["DocumentFailed"], name
    # The documents' map failing as a whole, or the finish step, fail the job with the reason.
    for name in ("Documents", "Finish"):
        assert [c["Next"] for c in states[name]["Catch"]] == ["JobFailed"], name
        assert states[name]["Catch"][0]["ErrorEquals"] == ["States.ALL"]
    # Without a ResultWriter a Distributed Map collects every child's output into its own,
    # which the 256 KiB payload limit caps (AWS: use ResultWriter for large map runs).
    writer = states["Documents"]["ResultWriter"]
    assert writer["Resource"].endswith(":states:::s3:putObject")
    # What an execution ends with otherwise (its timeout, a stop) fails the job through EventBridge.
    (rule,) = _of(raw, "AWS::Events::Rule").values()
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.states"] and pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert sorted(pattern["detail"]["status"]) == ["ABORTED", "FAILED", "TIMED_OUT"]


def test_the_state_machines_log_group_is_a_vended_logs_group(raw):
    # AWS: log groups for vended logs under /aws/vendedlogs/ keep the account's CloudWatch Logs
    # resource policy under its 5,120-character limit.
    machine = next(iter(_of(raw, "AWS::StepFunctions::StateMachine").values()))["Properties"]
    destination = machine["LoggingConfiguration"]["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]
    group_id = destination["Fn::GetAtt"][0]
    assert _of(raw, "AWS::Logs::LogGroup")[group_id]["Properties"]["LogGroupName"].startswith("/aws/vendedlogs/states/")


def test_table_is_on_demand_encrypted_and_expires_jobs(raw):
    (table,) = _of(raw, "AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [{"AttributeName": "jobId", "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert table["DeletionPolicy"] == "Delete"


def test_results_bucket_expires_with_the_setting_and_is_emptied_on_destroy(raw, default):
    bucket_id = _bucket_id(raw)
    bucket = raw[bucket_id]
    props = bucket["Properties"]
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == 7 and rule["Status"] == "Enabled"
    assert rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert bucket["DeletionPolicy"] == "Delete"
    assert any(v["Type"] == "Custom::S3AutoDeleteObjects" for v in raw.values())
    policy = next(
        v for v in _of(raw, "AWS::S3::BucketPolicy").values() if v["Properties"]["Bucket"] == {"Ref": bucket_id}
    )
    assert "aws:SecureTransport" in json.dumps(policy)
    longer, _ = synth(jobResultDays=30)
    (bucket,) = _of(longer.to_json()["Resources"], "AWS::S3::Bucket").values()
    assert bucket["Properties"]["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 30


def _role_statements(raw, role_id):
    return [
        st
        for p in _of(raw, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for st in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement):
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


# Actions that take no resource-level permission (AWS's service authorization reference).
UNSCOPABLE = {
    "ecr:GetAuthorizationToken",
    "cloudwatch:PutMetricData",
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
}


def test_jobs_roles_are_scoped_to_the_jobs_bucket_table_topics_and_endpoint(raw):
    bucket, (table,) = _bucket_id(raw), list(_of(raw, "AWS::DynamoDB::Table"))
    jobs_roles = {k: v for k, v in _of(raw, "AWS::IAM::Role").items() if k.startswith("Jobs")}
    # The endpoint's, its scaling target's, the steps', invoke's, done's, the state machine's.
    assert len(jobs_roles) == 6
    for role_id in jobs_roles:
        for st in _role_statements(raw, role_id):
            resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            if "*" in resources:
                assert set(_actions(st)) <= UNSCOPABLE, (role_id, st)
                if "cloudwatch:PutMetricData" in _actions(st):
                    assert "cloudwatch:namespace" in json.dumps(st["Condition"])
            for action in _actions(st):
                assert not action.endswith("*"), (role_id, action)  # no service-wide wildcards
                if action.startswith("dynamodb:"):
                    assert resources == [{"Fn::GetAtt": [table, "Arn"]}], (role_id, st)
                if action.startswith("s3:"):
                    assert all(bucket in json.dumps(r) for r in resources), (role_id, st)
                if action == "sns:Publish":
                    assert {r["Ref"] for r in resources} <= set(_of(raw, "AWS::SNS::Topic"))

    endpoint_role = next(k for k, v in jobs_roles.items() if "sagemaker.amazonaws.com" in json.dumps(v))
    writes = [st for st in _role_statements(raw, endpoint_role) if "s3:PutObject" in _actions(st)]
    assert writes and all("/async/" in json.dumps(st["Resource"]) for st in writes)
    invoke_role = next(k for k in jobs_roles if k.startswith("JobsInvokeRole"))
    statements = _role_statements(raw, invoke_role)
    invoke = next(st for st in statements if "sagemaker:InvokeEndpointAsync" in _actions(st))
    assert "endpoint/zhocrendpoint-ocr-async" in json.dumps(invoke["Resource"])
    done_role = next(k for k in jobs_roles if k.startswith("JobsDoneRole"))
    answers = next(st for st in _role_statements(raw, done_role) if "states:SendTaskSuccess" in _actions(st))
    # IAM evaluates SendTaskSuccess on the state machine of the execution that issued the token;
    # a Distributed Map's child executions belong to <state machine ARN>/<map run label>.
    machine = {"Ref": next(iter(_of(raw, "AWS::StepFunctions::StateMachine")))}
    assert sorted(map(json.dumps, answers["Resource"])) == sorted(
        map(json.dumps, [machine, {"Fn::Join": ["", [machine, "/*"]]}])
    )


def test_allowed_buckets_are_readable_by_the_steps_and_the_endpoint_only_from_their_owner():
    template, _ = synth(allowedBuckets="team-scans", bucketOwner="111122223333")
    raw = template.to_json()["Resources"]
    for prefix in ("JobsAsyncExecutionRole", "JobsStepsRole"):
        role_id = next(k for k in _of(raw, "AWS::IAM::Role") if k.startswith(prefix))
        reads = [st for st in _role_statements(raw, role_id) if "team-scans" in json.dumps(st["Resource"])]
        assert reads and all(
            st["Condition"] == {"StringEquals": {"s3:ResourceAccount": "111122223333"}} for st in reads
        )
        assert all(set(_actions(st)) <= {"s3:GetObject", "s3:ListBucket"} for st in reads)


def test_the_api_routes_jobs_to_the_frontend_which_may_only_start_read_and_presign(raw, default):
    template, _ = default
    methods = [m["Properties"] for m in _of(raw, "AWS::ApiGateway::Method").values()]
    resources = {k: v["Properties"] for k, v in _of(raw, "AWS::ApiGateway::Resource").items()}
    jobs_id = next(k for k, v in resources.items() if v["PathPart"] == "jobs")
    job_id = next(k for k, v in resources.items() if v["PathPart"] == "{jobId}")
    assert resources[job_id]["ParentId"] == {"Ref": jobs_id}
    post = next(m for m in methods if m["ResourceId"] == {"Ref": jobs_id})
    get = next(m for m in methods if m["ResourceId"] == {"Ref": job_id})
    assert (post["HttpMethod"], get["HttpMethod"]) == ("POST", "GET")
    general = next(m for m in methods if m["ResourceId"] != {"Ref": jobs_id} and m.get("RequestModels"))
    for method in (post, get):
        assert method["AuthorizationType"] == "CUSTOM" and method["ApiKeyRequired"] is True
        assert method["AuthorizerId"] == general["AuthorizerId"]  # x-api-key, as POST /general_ocr
        assert method["Integration"]["Uri"] == general["Integration"]["Uri"]
    frontend_role = next(k for k in _of(raw, "AWS::IAM::Role") if k.startswith("FrontendFrontendRole"))
    statements = _role_statements(raw, frontend_role)
    jobs_actions = sorted(
        a for st in statements for a in _actions(st) if a.split(":")[0] in ("dynamodb", "states", "s3")
    )
    assert jobs_actions == [
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "s3:GetObject",
        "states:StartExecution",
    ]
    s3_read = next(st for st in statements if "s3:GetObject" in _actions(st))
    assert "/jobs/*/result.jsonl" in json.dumps(s3_read["Resource"])  # what it presigns, nothing else
    frontend = next(
        f["Properties"]
        for f in _of(raw, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "frontend.handler.handler"
    )
    variables = frontend["Environment"]["Variables"]
    assert variables["JOBS_BACKEND"] == "aws" and {"JOBS_TABLE", "JOBS_BUCKET", "JOBS_STATE_MACHINE_ARN"} <= set(
        variables
    )


def test_jobs_off_adds_nothing():
    template, _ = synth(jobs="false")
    raw = template.to_json()["Resources"]
    for kind in ("AWS::StepFunctions::StateMachine", "AWS::DynamoDB::Table", "AWS::S3::Bucket"):
        assert not _of(raw, kind), kind
    assert len(_of(raw, "AWS::SageMaker::Endpoint")) == 1
    assert not any(v["Properties"]["PathPart"] == "jobs" for v in _of(raw, "AWS::ApiGateway::Resource").values())


@pytest.mark.parametrize(
    "context,message",
    [
        ({"asyncInstanceType": "ml.c7i.xlarge"}, "asyncInstanceType"),  # a CPU type for the GPU image
        ({"serverless": "true", "asyncInstanceType": "ml.g5.xlarge"}, "asyncInstanceType"),
        ({"jobMaxPages": 5000}, "jobMaxPages"),
        ({"jobConcurrency": 0}, "jobConcurrency"),
        ({"jobResultDays": 0}, "jobResultDays"),
        ({"jobs": "maybe"}, "jobs"),
    ],
)
def test_bad_jobs_settings_are_refused_with_a_reason(context, message):
    from infra.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match=message):
        Settings.from_context(context)


def test_serverless_deployments_get_a_cpu_async_endpoint():
    from infra.settings import Settings

    assert Settings.from_context({"serverless": "true"}).async_instance == "ml.c7i.xlarge"
    assert Settings.from_context({"instanceType": "ml.g5.xlarge"}).async_instance == "ml.g5.xlarge"
