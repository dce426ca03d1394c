"""The AWS deployment, checked offline: CDK assertions, cdk-nag, cfn-lint, hadolint, the
container's requirements and entrypoint. Nothing here needs AWS credentials or Docker."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aws_cdk.assertions import Match, Template

from infra.ocr_api import AUTHORIZER_ERROR_TEMPLATE
from ocr_contract import ErrorCode
from ocr_contract.routes import ROUTES
from tests.conftest import free_port, http

pytestmark = pytest.mark.infra

ROOT = Path(__file__).resolve().parent.parent
CDK_JSON = json.loads((ROOT / "cdk.json").read_text())


def synth(tmp_path=None, **context):
    """The app as `cdk synth` builds it: cdk.json's context plus overrides; cdk-nag runs here."""
    sys.path.insert(0, str(ROOT))
    from app import build_app

    app = build_app({**CDK_JSON["context"], **{k: v for k, v in context.items()}})
    assembly = app.synth()  # raises when a cdk-nag finding is not acknowledged
    stack = app.node.find_child("ZhOcrEndpoint")
    return Template.from_stack(stack), assembly


@pytest.fixture(scope="module")
def default(synthesized_app):
    return synthesized_app


@pytest.fixture(scope="module")
def iam_with_buckets():
    return synth(auth="iam", allowedBuckets="team-scans,archive.images", alarmEmail="ops@example.com")


def resources(template, kind, jobs=False):
    """The template's resources of a kind; those of the jobs API (infra/jobs/, tested in
    tests/test_infra_jobs.py) only when asked for."""
    found = template.find_resources(kind)
    return found if jobs else {k: v for k, v in found.items() if not k.startswith("Jobs")}


def test_inference_model_is_network_isolated_and_gpu_only(default):
    template, _ = default
    template.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "EnableNetworkIsolation": True,
            "PrimaryContainer": {
                "Image": Match.any_value(),
                "Environment": Match.object_like({"OCR_PROVIDER": "cuda"}),
            },
        },
    )


def test_endpoint_config_defaults_and_context(default):
    template, _ = default
    template.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "ProductionVariants": [
                Match.object_like(
                    {
                        "InstanceType": "ml.g4dn.xlarge",
                        "InitialInstanceCount": 1,
                        "VariantName": "g4dn-xlarge",
                        "InferenceAmiVersion": "al2023-ami-sagemaker-inference-gpu-4-1",
                    }
                )
            ]
        },
    )
    custom, _ = synth(instanceType="ml.g5.xlarge", minInstances=2, maxInstances=5)
    custom.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {"ProductionVariants": [Match.object_like({"InstanceType": "ml.g5.xlarge", "InitialInstanceCount": 2})]},
    )
    custom.has_resource_properties("AWS::ApplicationAutoScaling::ScalableTarget", {"MinCapacity": 2, "MaxCapacity": 5})


def _scaling(template):
    target = next(iter(resources(template, "AWS::ApplicationAutoScaling::ScalableTarget").values()))["Properties"]
    policy = next(iter(resources(template, "AWS::ApplicationAutoScaling::ScalingPolicy").values()))["Properties"]
    stage = next(iter(resources(template, "AWS::ApiGateway::Stage").values()))["Properties"]
    rate = next(m["ThrottlingRateLimit"] for m in stage["MethodSettings"] if "ThrottlingRateLimit" in m)
    return target, policy["TargetTrackingScalingPolicyConfiguration"], rate


def test_autoscaling_follows_requests_in_flight_and_can_reach_max_under_the_throttle(default):
    # Little's law: at the throttle's steady rate, with each request keeping the model busy for
    # the planning figure's seconds, the endpoint has rate x seconds requests in flight; target
    # tracking reaches MaxCapacity only if that exceeds the per-instance target x (max - 1).
    # (The old defaults, 10 requests/s against 600 invocations/instance/minute, never could.)
    from infra.settings import GPU_SECONDS_PER_REQUEST

    template, _ = default
    target, tracking, rate = _scaling(template)
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert (
        tracking["PredefinedMetricSpecification"]["PredefinedMetricType"]
        == "SageMakerVariantConcurrentRequestsPerModelHighResolution"
    )
    in_flight = rate * GPU_SECONDS_PER_REQUEST
    assert in_flight > tracking["TargetValue"] * (target["MaxCapacity"] - 1)
    assert target["MinCapacity"] >= 1


def test_incoherent_settings_are_flagged_at_synth():
    from infra.settings import Settings

    assert Settings().coherence_warnings() == []
    assert "cannot reach maxInstances" in Settings(throttle_rate=5, max_instances=4).coherence_warnings()[0]


# Lambda keeps 100 of an account's concurrency for functions without a reservation: "You can
# reserve up to the Unreserved account concurrency value that is shown, minus 100" (AWS Lambda
# Developer Guide, "Configuring reserved concurrency for a function"); a deploy that reserves
# more fails. A new account's concurrency limit may be 10.
LAMBDA_MIN_UNRESERVED = 100


def _reserved(template) -> int:
    """Concurrency the stack's functions reserve, all together (the jobs API's included)."""
    return sum(
        f["Properties"].get("ReservedConcurrentExecutions", 0)
        for f in resources(template, "AWS::Lambda::Function", jobs=True).values()
    )


def test_the_default_deploy_reserves_no_concurrency_so_it_fits_any_account(default):
    template, _ = default
    for account_limit in (10, 50, 100, 1000):
        assert _reserved(template) <= max(0, account_limit - LAMBDA_MIN_UNRESERVED), account_limit
    assert "ReservedConcurrentExecutions" not in _frontend(template)


def test_a_deployer_may_reserve_concurrency_for_the_frontend():
    custom, _ = synth(frontendReservedConcurrency=20)
    assert _frontend(custom)["ReservedConcurrentExecutions"] == 20
    # What that asks of the account: at least 120 unreserved before the deploy.
    assert _reserved(custom) + LAMBDA_MIN_UNRESERVED == 120


def test_changing_instance_type_or_counts_on_a_live_stack(default):
    # SageMaker refuses to change the instance type of a variant registered with autoscaling, and
    # a plain redeploy would reset the instance count to minInstances. A new instance type must
    # therefore bring a new variant (and a scaling target for it); a new count must keep both.
    template, _ = default
    bigger, _ = synth(instanceType="ml.g5.xlarge")
    more, _ = synth(minInstances=2, maxInstances=3)

    def variant(t):
        config = next(iter(resources(t, "AWS::SageMaker::EndpointConfig").values()))["Properties"]
        return config["ProductionVariants"][0]["VariantName"]

    for t in (template, bigger, more):
        endpoint = next(iter(resources(t, "AWS::SageMaker::Endpoint").values()))["Properties"]
        assert endpoint["RetainAllVariantProperties"] is True
        target, _, _ = _scaling(t)
        assert target["ResourceId"].endswith(f"/variant/{variant(t)}")
    assert variant(bigger) != variant(template)
    assert variant(more) == variant(template)
    # Same scaling target (logical id) when only the counts change: it is updated, not replaced.
    assert set(resources(more, "AWS::ApplicationAutoScaling::ScalableTarget")) == set(
        resources(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    )
    assert _scaling(more)[0]["MinCapacity"] == 2


def test_alarms_go_to_a_topic_and_an_optional_email(default):
    template, _ = default
    topics = {k: v for k, v in resources(template, "AWS::SNS::Topic").items() if k.startswith("Monitoring")}
    assert len(topics) == 1
    topic_id = next(iter(topics))
    alarms = resources(template, "AWS::CloudWatch::Alarm").values()
    metrics = set()
    for alarm in alarms:
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": topic_id}], props
        metrics.add(props.get("MetricName"))
        for query in props.get("Metrics", []):
            metric = query["MetricStat"]["Metric"]
            metrics.add(metric["MetricName"])
            if metric["MetricName"] == "GPUMemoryUtilization":
                assert metric["Namespace"] == "/aws/sagemaker/Endpoints"
    assert {"Invocation5XXErrors", "ModelLatency", "GPUMemoryUtilization", "Errors", "Throttles", "5XXError"} <= metrics
    # (The jobs API's topics deliver to its own function: tests/test_infra_jobs.py.)
    assert not [
        s
        for s in resources(template, "AWS::SNS::Subscription", jobs=True).values()
        if s["Properties"]["Protocol"] == "email"
    ]
    with_email, _ = synth(alarmEmail="ops@example.com")
    with_email.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"})


def _dashboard_metrics(template) -> list:
    body = next(iter(resources(template, "AWS::CloudWatch::Dashboard").values()))["Properties"]["DashboardBody"]
    parts = body["Fn::Join"][1]
    text = "".join(p if isinstance(p, str) else "TOKEN" for p in parts)
    metrics = []
    for widget in json.loads(text)["widgets"]:
        for metric in widget.get("properties", {}).get("metrics", []):
            metrics.append((metric[0], metric[1]))
    return metrics


def test_dashboard_reads_each_metric_from_the_namespace_that_has_it(default):
    # SageMaker publishes invocation metrics in AWS/SageMaker and instance metrics (CPU, GPU,
    # GPU memory) in /aws/sagemaker/Endpoints; a metric asked from the other namespace is empty.
    metrics = _dashboard_metrics(default[0])
    instance_metrics = {
        "CPUUtilization",
        "GPUUtilization",
        "GPUMemoryUtilization",
        "MemoryUtilization",
        "DiskUtilization",
    }
    for namespace, name in metrics:
        if name in instance_metrics:
            assert namespace == "/aws/sagemaker/Endpoints", (namespace, name)
        if name in ("Invocations", "ModelLatency", "OverheadLatency", "Invocation5XXErrors"):
            assert namespace == "AWS/SageMaker", (namespace, name)
    names = {name for _, name in metrics}
    assert {
        "GPUUtilization",
        "GPUMemoryUtilization",
        "CPUUtilization",
        "ModelLatency",
        "OverheadLatency",
        "Invocations",
        "Duration",
        "Errors",
        "Throttles",
        "Count",
        "Latency",
        "4XXError",
        "5XXError",
    } <= names


def test_lambda_is_current_python_on_arm(default):
    template, _ = default
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "python3.14",
            "Architectures": ["arm64"],
            "Handler": "frontend.handler.handler",
            "Timeout": 28,
            "Environment": {
                "Variables": Match.object_like({"ENDPOINT_NAME": "ZhOcrEndpoint-ocr", "ALLOWED_BUCKETS": ""})
            },
        },
    )


def _frontend_statements(template):
    role_id = next(
        k
        for k, r in resources(template, "AWS::IAM::Role").items()
        if "lambda.amazonaws.com" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])
        and k.startswith("FrontendFrontendRole")
    )
    role = resources(template, "AWS::IAM::Role")[role_id]["Properties"]
    assert not role.get("ManagedPolicyArns") and not role.get("Policies")
    statements = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _actions(statement):
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


def test_frontend_role_is_least_privilege(default, iam_with_buckets):
    statements = _frontend_statements(default[0])
    actions = sorted(a for s in statements for a in _actions(s))
    jobs = ["dynamodb:GetItem", "dynamodb:PutItem", "s3:GetObject", "states:StartExecution"]
    assert actions == sorted(["logs:CreateLogStream", "logs:PutLogEvents", "sagemaker:InvokeEndpoint", *jobs])
    invoke = next(s for s in statements if "sagemaker:InvokeEndpoint" in _actions(s))
    assert "endpoint/zhocrendpoint-ocr" in json.dumps(invoke["Resource"])
    assert all(s["Resource"] != "*" for s in statements)

    statements = _frontend_statements(iam_with_buckets[0])
    # (The jobs API's presigning read is tests/test_infra_jobs.py's.)
    s3 = [s for s in statements if any(a.startswith("s3:") for a in _actions(s)) and "Condition" in s]
    assert len(s3) == 1 and _actions(s3[0]) == ["s3:GetObject"]
    # Only buckets the deploying account owns (a re-registered bucket name is someone else's).
    assert s3[0]["Condition"] == {"StringEquals": {"s3:ResourceAccount": {"Ref": "AWS::AccountId"}}}
    assert "team-scans/*" in json.dumps(s3[0]["Resource"]) and "archive.images/*" in json.dumps(s3[0]["Resource"])
    iam_with_buckets[0].has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like({"ALLOWED_BUCKETS": "team-scans,archive.images"})}},
    )


def test_regional_api_with_validation_and_api_key(default):
    template, _ = default
    template.has_resource_properties("AWS::ApiGateway::RestApi", {"EndpointConfiguration": {"Types": ["REGIONAL"]}})
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "POST",
            "ApiKeyRequired": True,
            "AuthorizationType": "CUSTOM",
            "RequestValidatorId": Match.any_value(),
            "RequestModels": {"application/json": Match.any_value(), "$default": Match.any_value()},
        },
    )
    template.has_resource_properties("AWS::ApiGateway::RequestValidator", {"ValidateRequestBody": True})
    model = next(iter(resources(template, "AWS::ApiGateway::Model").values()))["Properties"]["Schema"]
    assert model["additionalProperties"] is False and len(model["oneOf"]) == 2
    template.has_resource_properties(
        "AWS::ApiGateway::UsagePlan",
        {"Throttle": {"RateLimit": 50, "BurstLimit": 100}, "Quota": {"Limit": 1000000, "Period": "DAY"}},
    )
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
            "MethodSettings": Match.array_with(
                [Match.object_like({"ThrottlingRateLimit": 50, "ThrottlingBurstLimit": 100})]
            ),
        },
    )
    outputs = template.to_json()["Outputs"]
    assert {"ApiUrl", "ApiKeyId", "GetApiKeyCommand", "EndpointName"} <= set(outputs)


def test_iam_auth_option(iam_with_buckets):
    template, _ = iam_with_buckets
    methods = resources(template, "AWS::ApiGateway::Method").values()
    assert len(methods) == len(ROUTES) and all(
        m["Properties"]["AuthorizationType"] == "AWS_IAM" and not m["Properties"]["ApiKeyRequired"] for m in methods
    )
    template.resource_count_is("AWS::ApiGateway::UsagePlan", 0)
    template.resource_count_is("AWS::ApiGateway::ApiKey", 0)
    template.resource_count_is("AWS::ApiGateway::Authorizer", 0)


def _path_of(template, resource_ref: dict) -> str:
    """A method's full path, from its chain of AWS::ApiGateway::Resource parents."""
    raw = template.to_json()["Resources"]
    parts, ref = [], resource_ref
    while isinstance(ref, dict) and "Ref" in ref and raw[ref["Ref"]]["Type"] == "AWS::ApiGateway::Resource":
        props = raw[ref["Ref"]]["Properties"]
        parts.append(props["PathPart"])
        ref = props["ParentId"]
    return "/" + "/".join(reversed(parts))


def test_every_api_route_takes_its_own_secret_header_as_the_usage_plans_key(default):
    # The documented routes, each behind a REQUEST authorizer reading that API's secret header;
    # the API takes its keys from the authorizer, so the key reaches the usage plan.
    template, _ = default
    raw = template.to_json()["Resources"]
    api = next(v for v in raw.values() if v["Type"] == "AWS::ApiGateway::RestApi")["Properties"]
    assert api["ApiKeySourceType"] == "AUTHORIZER" and api["BinaryMediaTypes"] == ["multipart/form-data"]
    headers = {}
    for method in (v["Properties"] for v in raw.values() if v["Type"] == "AWS::ApiGateway::Method"):
        assert method["ApiKeyRequired"] is True
        authorizer = raw[method["AuthorizerId"]["Ref"]]["Properties"]
        assert authorizer["Type"] == "REQUEST" and authorizer["AuthorizerResultTtlInSeconds"] == 300
        headers[f"{method['HttpMethod']} {_path_of(template, method['ResourceId'])}"] = authorizer["IdentitySource"]
    assert headers == {
        "POST /general_ocr": "method.request.header.x-api-key",
        "POST /v1.0/appkeys/{appKey}/general": "method.request.header.authorization",
        "POST /v1.0/appkeys/{appKey}/general/cropping": "method.request.header.authorization",
        "POST /v1.0/appkeys/{appKey}/vehicle-plate": "method.request.header.authorization",
        "POST /custom/v1/{domainId}/{signature}/general": "method.request.header.x-ocr-secret",
        "POST /jobs": "method.request.header.x-api-key",
        "GET /jobs/{jobId}": "method.request.header.x-api-key",
        "GET /jobs/{jobId}/result": "method.request.header.x-api-key",
    }
    plan = next(v for v in raw.values() if v["Type"] == "AWS::ApiGateway::UsagePlan")["Properties"]
    assert plan["ApiStages"]  # the stage every route is in
    # The authorizer may list keys and nothing else.
    role = next(v for k, v in raw.items() if v["Type"] == "AWS::IAM::Policy" and "AuthorizerRole" in k)
    actions = {
        a
        for st in role["Properties"]["PolicyDocument"]["Statement"]
        for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    }
    assert "apigateway:GET" in actions and not any(
        a.startswith(("apigateway:P", "apigateway:D", "apigateway:*")) for a in actions
    )


def _methods_by_path(template) -> dict:
    raw = template.to_json()["Resources"]
    return {
        f"{v['Properties']['HttpMethod']} {_path_of(template, v['Properties']['ResourceId'])}": v["Properties"]
        for v in raw.values()
        if v["Type"] == "AWS::ApiGateway::Method"
    }


@pytest.mark.parametrize("settings", ["default", "iam_with_buckets"])
def test_a_jobs_result_route_is_authorised_as_its_status(settings, request):
    # GET /jobs/{jobId}/result answers the redirect to a job's result (frontend/doors/jobs.py):
    # the same caller as GET /jobs/{jobId}, the same authorizer (or IAM), the same Lambda.
    template, _ = request.getfixturevalue(settings)
    methods = _methods_by_path(template)
    result, status = methods["GET /jobs/{jobId}/result"], methods["GET /jobs/{jobId}"]
    for key in ("AuthorizationType", "AuthorizerId", "ApiKeyRequired", "Integration"):
        assert result.get(key) == status.get(key), key
    assert result["AuthorizationType"] == ("AWS_IAM" if settings == "iam_with_buckets" else "CUSTOM")
    assert result["Integration"]["Type"] == "AWS_PROXY"


def test_jobs_off_has_no_result_route():
    template, _ = synth(jobs="false")
    assert not [route for route in _methods_by_path(template) if "/jobs" in route]


HOSTILE = 'he said "no" \\ then\nleft </script> ${x}'


def _render_like_api_gateway(template: str) -> str:
    """API Gateway's gateway-response templates are not VTL: each $context variable is replaced
    by its value as it is, with no escaping and no $util functions. The request id is a UUID the
    gateway makes; every other variable may carry text a client influenced (a validation error
    quoting the body, a message) and is given a hostile value."""

    def value(match):
        return "6f1c0c7e-3b1a-4d2b-9a8e-0c2f1e5b7d10" if match.group(0) == "$context.requestId" else HOSTILE

    return re.sub(r"\$context\.[A-Za-z.]+", value, template)


def test_gateway_errors_are_json_in_our_shape_whatever_the_context_holds(default):
    template, _ = default
    responses = resources(template, "AWS::ApiGateway::GatewayResponse").values()
    assert len(responses) >= 15
    for response in responses:
        body = response["Properties"]["ResponseTemplates"]["application/json"]
        if response["Properties"]["ResponseType"] == "ACCESS_DENIED":
            # Our authorizer's body, completed with each request's id (tests/test_authorizer.py
            # renders it with the authorizer's own answers).
            assert body == AUTHORIZER_ERROR_TEMPLATE
            continue
        assert "$util" not in body  # not evaluated in gateway responses: it would reach clients as is
        parsed = json.loads(_render_like_api_gateway(body))
        assert set(parsed) == {"error", "requestId"} and set(parsed["error"]) == {"code", "message"}
        assert parsed["error"]["code"] in {c.value for c in ErrorCode}


def test_gateway_errors_keep_their_own_status_unless_we_know_better(default):
    # DEFAULT_4XX covers 404s, 415s, 401s...: forcing one status on them all would lie.
    template, _ = default
    by_type = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in resources(template, "AWS::ApiGateway::GatewayResponse").values()
    }
    assert "StatusCode" not in by_type["DEFAULT_4XX"] and "StatusCode" not in by_type["DEFAULT_5XX"]
    assert (
        by_type["UNSUPPORTED_MEDIA_TYPE"]["StatusCode"] == "415"
        and by_type["RESOURCE_NOT_FOUND"]["StatusCode"] == "404"
    )
    assert by_type["THROTTLED"]["StatusCode"] == "429" and by_type["INTEGRATION_TIMEOUT"]["StatusCode"] == "504"


def test_img_schema_limit_keeps_the_lambda_event_under_6_mb(default):
    # An img the schema lets through must fit Lambda's 6 MB synchronous payload once API Gateway
    # wraps it in its proxy event; a longer one is refused by the schema, in our JSON shape,
    # instead of failing at Lambda with a non-JSON "Request Too Long".
    from types import SimpleNamespace

    from local.gateway import proxy_event

    template, _ = default
    model = next(iter(resources(template, "AWS::ApiGateway::Model").values()))["Properties"]["Schema"]
    longest = model["properties"]["img"]["maxLength"]
    body = json.dumps({"img": "A" * longest}).encode()
    headers = {f"X-Header-{i}": "v" * 200 for i in range(40)}  # ~10 KB of headers, API Gateway's most
    request = SimpleNamespace(path="/general_ocr", method="POST", headers=headers, query={}, remote="203.0.113.9")
    event = proxy_event(request, body, "r" * 36)
    event["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    assert len(json.dumps(event)) <= 6 * 1024 * 1024


def test_api_logging_has_the_account_role_it_needs(default, iam_with_buckets):
    # A stage with access or execution logging fails to create in any account/region whose API
    # Gateway settings have no CloudWatch Logs role ("CloudWatch Logs role ARN must be set in
    # account settings to enable logging"). The stack must set it, before the stage.
    for template, _ in (default, iam_with_buckets):
        raw = template.to_json()["Resources"]
        stages = {k: v for k, v in raw.items() if v["Type"] == "AWS::ApiGateway::Stage"}
        assert any("AccessLogSetting" in s["Properties"] for s in stages.values())
        accounts = {k: v for k, v in raw.items() if v["Type"] == "AWS::ApiGateway::Account"}
        assert len(accounts) == 1
        account_id, account = next(iter(accounts.items()))
        role_ref = account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
        assert "apigateway.amazonaws.com" in json.dumps(raw[role_ref]["Properties"]["AssumeRolePolicyDocument"])

        def depends_on(resource_id, target, seen=(), raw=raw):
            deps = raw[resource_id].get("DependsOn", [])
            deps = [deps] if isinstance(deps, str) else deps
            return target in deps or any(depends_on(d, target, seen + (resource_id,)) for d in deps if d not in seen)

        for stage_id in stages:
            assert depends_on(stage_id, account_id), stage_id


def test_s3_reads_can_decrypt_with_listed_kms_keys_only_through_s3():
    key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    template, _ = synth(allowedBuckets="team-scans", kmsKeyArns=key, bucketOwner="111122223333")
    statements = _frontend_statements(template)
    kms = [s for s in statements if "kms:Decrypt" in _actions(s)]
    assert len(kms) == 1 and kms[0]["Resource"] == key and "kms:ViaService" in json.dumps(kms[0]["Condition"])
    s3 = next(s for s in statements if "s3:GetObject" in _actions(s) and "Condition" in s)
    assert s3["Condition"] == {"StringEquals": {"s3:ResourceAccount": "111122223333"}}
    template.has_resource_properties(
        "AWS::Lambda::Function", {"Environment": {"Variables": Match.object_like({"BUCKET_OWNER": "111122223333"})}}
    )


def test_endpoint_role_may_create_its_own_log_group(default):
    # SageMaker's log agent calls CreateLogGroup at start; without it the container's logs can go
    # missing. Granted on the endpoint's own group only.
    template, _ = default
    role_id = next(
        k
        for k, r in resources(template, "AWS::IAM::Role").items()
        if "sagemaker.amazonaws.com" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])
    )
    statements = [
        st
        for p in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for st in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    create = [st for st in statements if "logs:CreateLogGroup" in _actions(st)]
    assert create and all("EndpointLogs" in json.dumps(st["Resource"]) for st in create)


def test_destroy_leaves_nothing_behind_but_the_accounts_api_logging_role(default):
    # The one thing kept: API Gateway's account-wide CloudWatch role, which other APIs in the
    # account may log through once the stack has set it (docs/deploy.md, "Destroy").
    template, _ = default
    raw = template.to_json()["Resources"]
    account_id, account = next((k, v) for k, v in raw.items() if v["Type"] == "AWS::ApiGateway::Account")
    kept = {account_id, account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]}
    for name, resource in raw.items():
        expected = "Retain" if name in kept else "Delete"
        assert resource.get("DeletionPolicy", "Delete") == expected, name
        assert resource.get("UpdateReplacePolicy", "Delete") == expected, name
    for group in resources(template, "AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == 30


@pytest.mark.parametrize(
    "context,message",
    [
        ({"minInstances": 0}, "minInstances"),
        ({"minInstances": 3, "maxInstances": 2}, "minInstances"),
        ({"auth": "cognito"}, "auth"),
        ({"allowedBuckets": "*"}, "allowedBuckets"),
        ({"instanceType": "g4dn.xlarge"}, "instanceType"),
        ({"instanceType": "ml.c7g.xlarge"}, "Graviton"),  # arm64: the image is x86_64
        ({"instanceType": "ml.g5g.xlarge"}, "Graviton"),
        ({"instanceType": "ml.inf2.xlarge"}, "Neuron"),
        ({"serverless": "true", "serverlessMemoryMb": 8192}, "serverlessMemoryMb"),  # SageMaker's 1-6 GB
        ({"serverless": "true", "serverlessMaxConcurrency": 201}, "serverlessMaxConcurrency"),
        ({"serverless": "yes"}, "serverless"),
        ({"logRetentionDays": 31}, "logRetentionDays"),
        ({"frontendMemoryMb": 512}, "frontendMemoryMb"),  # no room for the page renderer
        ({"frontendMemoryMb": 20480}, "frontendMemoryMb"),  # Lambda's most is 10,240 MB
    ],
)
def test_bad_settings_are_refused_with_a_reason(context, message):
    from infra.settings import SettingsError

    with pytest.raises(SettingsError, match=message):
        synth(**context)


def test_cdk_nag_runs_at_synth_and_fails_on_an_unacknowledged_finding():
    # The fixtures' synth succeeding means every finding is acknowledged; this shows it would fail.
    sys.path.insert(0, str(ROOT))
    from aws_cdk import aws_sqs as sqs

    from app import build_app

    app = build_app(dict(CDK_JSON["context"]))
    sqs.Queue(app.node.find_child("ZhOcrEndpoint"), "UnencryptedQueueWithoutDlq")
    with pytest.raises(Exception, match="AwsSolutions|Validation failed|ValidationFailed"):
        app.synth()


def test_cfn_lint_finds_no_errors(default, iam_with_buckets):
    # cfn-lint's exit status is a bit set: 2 errors, 4 warnings, 8 informational; anything else
    # (1: it could not run) fails too. (`python -m cfnlint` cannot run cfn-lint 1.x: this test
    # passed without linting anything until it called the console script.)
    cfn_lint = shutil.which("cfn-lint") or str(Path(sys.executable).parent / "cfn-lint")
    serverless, cpu = synth(serverless="true"), synth(instanceType="ml.c7i.xlarge")
    # One run for the four templates (cfn-lint takes several; each start costs seconds). Each
    # synth writes its own assembly directory, so the four files are distinct.
    templates = [
        str(Path(assembly.directory) / "ZhOcrEndpoint.template.json")
        for _, assembly in (default, iam_with_buckets, serverless, cpu)
    ]
    assert len(set(templates)) == 4
    result = subprocess.run([cfn_lint, *templates], capture_output=True, text=True)
    errors = [line for line in result.stdout.splitlines() if re.match(r"^E\d", line)]
    assert result.returncode & ~(4 | 8) == 0 and not errors, result.stdout + result.stderr


def test_hadolint_passes_on_the_dockerfile():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, str(ROOT / "inference" / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_context_is_small():
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*")] == "*" and "!inference/" in ignore and "!ocr_contract/" in ignore


def test_container_requirements_resolve_for_linux_amd64_python_312(tmp_path):
    base = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--dry-run",
        "--ignore-installed",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        "3.12",
        "--target",
        str(tmp_path),
        "--platform",
        "manylinux_2_28_x86_64",
        "--platform",
        "manylinux_2_17_x86_64",
        "--platform",
        "manylinux2014_x86_64",
    ]
    from concurrent.futures import ThreadPoolExecutor

    extras = [
        ["-r", str(ROOT / "inference" / "requirements-gpu.txt")],
        ["-r", str(ROOT / "inference" / "requirements-cpu.txt")],
        ["--no-deps", "-r", str(ROOT / "inference" / "requirements-models.txt")],
    ]
    # The three resolutions at once: each mostly waits on the package index.
    with ThreadPoolExecutor(len(extras)) as pool:
        results = list(pool.map(lambda extra: subprocess.run(base + extra, capture_output=True, text=True), extras))
    for extra, result in zip(extras, results):
        assert result.returncode == 0, (extra[-1], result.stderr[-3000:])


def _dockerfile_command():
    text = (ROOT / "inference" / "Dockerfile").read_text()
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M).group(1))
    command = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))
    assert entrypoint[0] == "python"
    return [sys.executable] + entrypoint[1:] + command  # what `docker run <image>` runs, with our Python


@pytest.mark.models
def test_container_entrypoint_serves_ping_on_cpu():
    port = free_port()
    env = {**os.environ, "OCR_PROVIDER": "cpu", "SAGEMAKER_BIND_TO_PORT": str(port), "OCR_THREADS": "2"}
    process = subprocess.Popen(
        _dockerfile_command(), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                status, body, _ = http("GET", f"http://127.0.0.1:{port}/ping", timeout=2)
                if status == 200:
                    assert body["provider"] == "CPUExecutionProvider"
                    break
            except OSError:
                pass
            assert process.poll() is None, "the server exited"
            time.sleep(0.5)
        else:
            pytest.fail("no /ping 200 within 120 s")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=40) == 0


def test_container_refuses_to_serve_on_cpu_when_a_gpu_is_expected():
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("CUDA is available here")
    env = {**os.environ, "OCR_PROVIDER": "cuda", "SAGEMAKER_BIND_TO_PORT": str(free_port())}
    result = subprocess.run(_dockerfile_command(), cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "cuda" in (result.stdout + result.stderr).lower()


def test_the_lambda_answers_before_the_gateway_gives_up(default):
    # API Gateway cuts the integration at its timeout and answers its own 504; the Lambda's
    # timeout must be shorter, and the handler's own budget shorter still.
    from ocr_contract.limits import FRONTEND_BUDGET_S, URL_FETCH_TIMEOUT_S

    template, _ = default
    function = _frontend(template)
    method = next(
        m for m in resources(template, "AWS::ApiGateway::Method").values() if m["Properties"]["HttpMethod"] == "POST"
    )
    gateway_ms = method["Properties"]["Integration"].get("TimeoutInMillis", 29000)
    assert URL_FETCH_TIMEOUT_S < FRONTEND_BUDGET_S < function["Timeout"] < gateway_ms / 1000 <= 29


@pytest.mark.parametrize("context", [{}, {"auth": "iam", "allowedBuckets": "a-bucket", "allowedUrlPorts": "8080"}])
def test_no_deployed_function_may_fetch_loopback_urls(context):
    # OCR_TEST_ALLOW_LOOPBACK_URLS exists for the local stack's tests only.
    template, _ = synth(**context)
    for function in resources(template, "AWS::Lambda::Function").values():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        assert "OCR_TEST_ALLOW_LOOPBACK_URLS" not in variables


def test_url_ports_are_80_and_443_unless_the_deployer_adds_some(default):
    template, _ = default
    template.has_resource_properties(
        "AWS::Lambda::Function", {"Environment": {"Variables": Match.object_like({"ALLOWED_URL_PORTS": "80,443"})}}
    )
    custom, _ = synth(allowedUrlPorts="8080, 8443")
    custom.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like({"ALLOWED_URL_PORTS": "80,443,8080,8443"})}},
    )


def _image_build_args(assembly) -> dict:
    manifest = json.loads((Path(assembly.directory) / "ZhOcrEndpoint.assets.json").read_text())
    (image,) = manifest["dockerImages"].values()
    return image["source"].get("dockerBuildArgs", {})


def test_a_cpu_instance_type_gets_the_cpu_image_and_no_gpu_settings():
    template, assembly = synth(instanceType="ml.c7i.xlarge")
    assert _image_build_args(assembly) == {"BASE_IMAGE": "ubuntu:24.04", "ONNXRUNTIME": "cpu", "OCR_PROVIDER": "cpu"}
    template.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "EnableNetworkIsolation": True,
            "PrimaryContainer": {"Image": Match.any_value(), "Environment": Match.object_like({"OCR_PROVIDER": "cpu"})},
        },
    )
    (config,) = resources(template, "AWS::SageMaker::EndpointConfig").values()
    (variant,) = config["Properties"]["ProductionVariants"]
    # SageMaker's inference AMI versions are GPU host images (NVIDIA driver): none on a CPU type.
    assert variant["InstanceType"] == "ml.c7i.xlarge" and "InferenceAmiVersion" not in variant
    assert not any(
        "GPUMemoryUtilization" in json.dumps(alarm) for alarm in resources(template, "AWS::CloudWatch::Alarm").values()
    )
    assert _scaling(template)[0]["ResourceId"].endswith("/variant/c7i-xlarge")


def test_the_default_gpu_image_is_the_dockerfiles_own(default):
    _, assembly = default
    assert _image_build_args(assembly) == {}
    text = (ROOT / "inference" / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=nvidia/cuda:13[\d.]+-cudnn-runtime-ubuntu24\.04$", text, re.M)
    assert re.search(r"^ARG ONNXRUNTIME=gpu$", text, re.M) and re.search(r"^ARG OCR_PROVIDER=cuda$", text, re.M)


def test_serverless_option_scales_to_zero_within_sagemakers_serverless_rules(default):
    template, assembly = synth(serverless="true", serverlessMemoryMb=4096, serverlessMaxConcurrency=20)
    assert _image_build_args(assembly)["ONNXRUNTIME"] == "cpu"  # Serverless Inference has no GPU
    (config,) = resources(template, "AWS::SageMaker::EndpointConfig").values()
    (variant,) = config["Properties"]["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 4096, "MaxConcurrency": 20}
    for instance_only in (
        "InstanceType",
        "InitialInstanceCount",
        "InferenceAmiVersion",
        "ContainerStartupHealthCheckTimeoutInSeconds",
    ):
        assert instance_only not in variant
    # It scales itself: an Application Auto Scaling target on it would be refused.
    assert not resources(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    # Serverless Inference does not support network isolation.
    (model,) = resources(template, "AWS::SageMaker::Model").values()
    assert model["Properties"]["EnableNetworkIsolation"] is False
    # SageMaker cannot update an instance endpoint into a serverless one: a new name replaces it.
    (endpoint,) = resources(template, "AWS::SageMaker::Endpoint").values()
    (default_endpoint,) = resources(default[0], "AWS::SageMaker::Endpoint").values()
    assert endpoint["Properties"]["EndpointName"] != default_endpoint["Properties"]["EndpointName"]
    assert endpoint["Properties"]["RetainAllVariantProperties"] is False  # a new memory size must apply
    # The Lambda moves to the new endpoint only once it is in service (CloudFormation creates a
    # replacement, then updates what depends on it, then deletes the old one).
    (endpoint_id,) = resources(template, "AWS::SageMaker::Endpoint")
    frontend = next(
        f
        for f in resources(template, "AWS::Lambda::Function").values()
        if "ENDPOINT_NAME" in f["Properties"].get("Environment", {}).get("Variables", {})
    )
    assert endpoint_id in frontend.get("DependsOn", [])
    # 4 MB per serverless invocation (6 MB for instances): the Lambda shrinks images under it.
    function = next(
        f
        for f in resources(template, "AWS::Lambda::Function").values()
        if "ENDPOINT_NAME" in f["Properties"].get("Environment", {}).get("Variables", {})
    )
    assert function["Properties"]["Environment"]["Variables"]["OCR_INVOKE_LIMIT_BYTES"] == "4000000"
    default_function = next(
        f
        for f in resources(default[0], "AWS::Lambda::Function").values()
        if "ENDPOINT_NAME" in f["Properties"].get("Environment", {}).get("Variables", {})
    )
    assert default_function["Properties"]["Environment"]["Variables"]["OCR_INVOKE_LIMIT_BYTES"] == "6000000"


def _frontend(template):
    return next(
        f["Properties"]
        for f in resources(template, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "frontend.handler.handler"
    )


def test_the_page_renderer_gets_the_lambdas_memory_less_the_handlers_share(default):
    template, _ = default
    frontend = _frontend(template)
    cap = int(frontend["Environment"]["Variables"]["OCR_RENDER_MEMORY_MB"])
    assert frontend["MemorySize"] == 1024 and 0 < cap <= frontend["MemorySize"] - 384
    bigger, _ = synth(frontendMemoryMb=2048)
    frontend = _frontend(bigger)
    assert frontend["MemorySize"] == 2048
    assert int(frontend["Environment"]["Variables"]["OCR_RENDER_MEMORY_MB"]) > cap  # more memory, a larger cap


@pytest.mark.parametrize("lang", ["ko", " KO ", "", None, "kr", "th", 5, ["ko"]])
def test_the_gateways_schema_takes_the_lang_the_lambda_takes(default, lang):
    # /general_ocr's optional "lang" (docs/api.md): the request schema in front of the Lambda must
    # neither refuse a value the Lambda reads nor let through one it would refuse in another shape.
    import jsonschema

    from ocr_contract import ApiError
    from ocr_contract.request import ocr_lang

    template, _ = default
    model = next(iter(resources(template, "AWS::ApiGateway::Model").values()))["Properties"]["Schema"]
    schema = {key: value for key, value in model.items() if key != "$schema"}
    body = {"img": "AAAA", "lang": lang}
    try:
        ocr_lang(lang)
        lambda_takes = True
    except ApiError:
        lambda_takes = False
    assert jsonschema.Draft4Validator(schema).is_valid(body) == lambda_takes
