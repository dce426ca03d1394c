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

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from tests.conftest import free_port, http

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
def default():
    return synth()


@pytest.fixture(scope="module")
def iam_with_buckets():
    return synth(auth="iam", allowedBuckets="team-scans,archive.images")


def resources(template, kind):
    return template.find_resources(kind)


def test_inference_model_is_network_isolated_and_gpu_only(default):
    template, _ = default
    template.has_resource_properties("AWS::SageMaker::Model", {
        "EnableNetworkIsolation": True,
        "PrimaryContainer": {"Image": Match.any_value(), "Environment": Match.object_like({"OCR_PROVIDER": "cuda"})},
    })


def test_endpoint_config_defaults_and_context(default):
    template, _ = default
    template.has_resource_properties("AWS::SageMaker::EndpointConfig", {"ProductionVariants": [Match.object_like({
        "InstanceType": "ml.g4dn.xlarge", "InitialInstanceCount": 1, "VariantName": "AllTraffic",
        "InferenceAmiVersion": "al2023-ami-sagemaker-inference-gpu-4-1"})]})
    custom, _ = synth(instanceType="ml.g5.xlarge", minInstances=2, maxInstances=5)
    custom.has_resource_properties("AWS::SageMaker::EndpointConfig", {"ProductionVariants": [Match.object_like({
        "InstanceType": "ml.g5.xlarge", "InitialInstanceCount": 2})]})
    custom.has_resource_properties("AWS::ApplicationAutoScaling::ScalableTarget", {"MinCapacity": 2, "MaxCapacity": 5})


def test_autoscaling_tracks_invocations_per_instance(default):
    template, _ = default
    template.has_resource_properties("AWS::ApplicationAutoScaling::ScalableTarget", {
        "MinCapacity": 1, "MaxCapacity": 2, "ServiceNamespace": "sagemaker",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "ResourceId": "endpoint/ZhOcrEndpoint-ocr/variant/AllTraffic"})
    template.has_resource_properties("AWS::ApplicationAutoScaling::ScalingPolicy", {
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": Match.object_like({
            "TargetValue": 600,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}})})


def test_alarms_and_dashboard(default):
    template, _ = default
    metrics = set()
    for alarm in resources(template, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        metrics.add(props.get("MetricName"))
        metrics.update(m["MetricStat"]["Metric"]["MetricName"] for m in props.get("Metrics", []) if "MetricStat" in m)
    assert {"Invocation5XXErrors", "ModelLatency", "Errors", "5XXError"} <= metrics
    template.resource_count_is("AWS::CloudWatch::Dashboard", 1)


def test_lambda_is_current_python_on_arm(default):
    template, _ = default
    template.has_resource_properties("AWS::Lambda::Function", {
        "Runtime": "python3.14", "Architectures": ["arm64"], "Handler": "frontend.handler.handler", "Timeout": 28,
        "Environment": {"Variables": Match.object_like({"ENDPOINT_NAME": "ZhOcrEndpoint-ocr", "ALLOWED_BUCKETS": ""})}})


def _frontend_statements(template):
    role_id = next(k for k, r in resources(template, "AWS::IAM::Role").items()
                   if "lambda.amazonaws.com" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"]))
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
    assert actions == ["logs:CreateLogStream", "logs:PutLogEvents", "sagemaker:InvokeEndpoint"]
    invoke = next(s for s in statements if "sagemaker:InvokeEndpoint" in _actions(s))
    assert "endpoint/zhocrendpoint-ocr" in json.dumps(invoke["Resource"])
    assert all(s["Resource"] != "*" for s in statements)

    statements = _frontend_statements(iam_with_buckets[0])
    s3 = [s for s in statements if any(a.startswith("s3:") for a in _actions(s))]
    assert len(s3) == 1 and _actions(s3[0]) == ["s3:GetObject"]
    assert "team-scans/*" in json.dumps(s3[0]["Resource"]) and "archive.images/*" in json.dumps(s3[0]["Resource"])
    iam_with_buckets[0].has_resource_properties("AWS::Lambda::Function", {
        "Environment": {"Variables": Match.object_like({"ALLOWED_BUCKETS": "team-scans,archive.images"})}})


def test_regional_api_with_validation_and_api_key(default):
    template, _ = default
    template.has_resource_properties("AWS::ApiGateway::RestApi", {"EndpointConfiguration": {"Types": ["REGIONAL"]}})
    template.has_resource_properties("AWS::ApiGateway::Method", {
        "HttpMethod": "POST", "ApiKeyRequired": True, "AuthorizationType": "NONE",
        "RequestValidatorId": Match.any_value(), "RequestModels": {"application/json": Match.any_value()}})
    template.has_resource_properties("AWS::ApiGateway::RequestValidator", {"ValidateRequestBody": True})
    model = next(iter(resources(template, "AWS::ApiGateway::Model").values()))["Properties"]["Schema"]
    assert model["additionalProperties"] is False and len(model["oneOf"]) == 2
    template.has_resource_properties("AWS::ApiGateway::UsagePlan", {
        "Throttle": {"RateLimit": 10, "BurstLimit": 20}, "Quota": {"Limit": 10000, "Period": "DAY"}})
    template.has_resource_properties("AWS::ApiGateway::Stage", {
        "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
        "MethodSettings": Match.array_with([Match.object_like({"ThrottlingRateLimit": 10, "ThrottlingBurstLimit": 20})])})
    outputs = template.to_json()["Outputs"]
    assert {"ApiUrl", "ApiKeyId", "GetApiKeyCommand", "EndpointName"} <= set(outputs)


def test_iam_auth_option(iam_with_buckets):
    template, _ = iam_with_buckets
    template.has_resource_properties("AWS::ApiGateway::Method", {"AuthorizationType": "AWS_IAM", "ApiKeyRequired": False})
    template.resource_count_is("AWS::ApiGateway::UsagePlan", 0)
    template.resource_count_is("AWS::ApiGateway::ApiKey", 0)


def test_gateway_errors_are_json_in_our_shape(default):
    template, _ = default
    responses = resources(template, "AWS::ApiGateway::GatewayResponse").values()
    assert len(responses) >= 10
    for response in responses:
        body = response["Properties"]["ResponseTemplates"]["application/json"]
        filled = re.sub(r"\$util\.escapeJavaScript\(\$context\.error\.validationErrorString\)", "x", body)
        filled = filled.replace("$context.error.messageString", '"x"').replace("$context.requestId", "r")
        parsed = json.loads(filled)
        assert set(parsed) == {"error", "requestId"} and set(parsed["error"]) == {"code", "message"}


def test_destroy_leaves_nothing_behind(default):
    template, _ = default
    for name, resource in template.to_json()["Resources"].items():
        assert resource.get("DeletionPolicy", "Delete") == "Delete", name
        assert resource.get("UpdateReplacePolicy", "Delete") == "Delete", name
    for group in resources(template, "AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == 30


@pytest.mark.parametrize("context,message", [
    ({"minInstances": 0}, "minInstances"),
    ({"minInstances": 3, "maxInstances": 2}, "minInstances"),
    ({"auth": "cognito"}, "auth"),
    ({"allowedBuckets": "*"}, "allowedBuckets"),
    ({"instanceType": "g4dn.xlarge"}, "instanceType"),
    ({"logRetentionDays": 31}, "logRetentionDays"),
])
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
    for _, assembly in (default, iam_with_buckets):
        template_file = Path(assembly.directory) / "ZhOcrEndpoint.template.json"
        result = subprocess.run([sys.executable, "-m", "cfnlint", str(template_file)], capture_output=True, text=True)
        errors = [line for line in result.stdout.splitlines() if re.match(r"^E\d", line)]
        assert result.returncode & 2 == 0 and not errors, result.stdout


def test_hadolint_passes_on_the_dockerfile():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, str(ROOT / "inference" / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_context_is_small():
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*")] == "*" and "!inference/" in ignore and "!ocr_contract/" in ignore


def test_container_requirements_resolve_for_linux_amd64_python_312(tmp_path):
    base = [sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed", "--only-binary=:all:",
            "--implementation", "cp", "--python-version", "3.12", "--target", str(tmp_path),
            "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64"]
    for extra in (["-r", str(ROOT / "inference" / "requirements-gpu.txt")], ["--no-deps", "-r", str(ROOT / "inference" / "requirements-models.txt")]):
        result = subprocess.run(base + extra, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-3000:]


def _dockerfile_command():
    text = (ROOT / "inference" / "Dockerfile").read_text()
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M).group(1))
    command = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))
    assert entrypoint[0] == "python"
    return [sys.executable] + entrypoint[1:] + command  # what `docker run <image>` runs, with our Python


def test_container_entrypoint_serves_ping_on_cpu():
    port = free_port()
    env = {**os.environ, "OCR_PROVIDER": "cpu", "SAGEMAKER_BIND_TO_PORT": str(port), "OCR_THREADS": "2"}
    process = subprocess.Popen(_dockerfile_command(), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
    function = next(iter(resources(template, "AWS::Lambda::Function").values()))["Properties"]
    method = next(m for m in resources(template, "AWS::ApiGateway::Method").values() if m["Properties"]["HttpMethod"] == "POST")
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
    template.has_resource_properties("AWS::Lambda::Function", {
        "Environment": {"Variables": Match.object_like({"ALLOWED_URL_PORTS": "80,443"})}})
    custom, _ = synth(allowedUrlPorts="8080, 8443")
    custom.has_resource_properties("AWS::Lambda::Function", {
        "Environment": {"Variables": Match.object_like({"ALLOWED_URL_PORTS": "80,443,8080,8443"})}})
