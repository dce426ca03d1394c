"""The public front door: a regional REST API, the Lambda frontend, and their guard rails."""

from __future__ import annotations

import json

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from documents.render import RENDER_MEMORY_ENV
from frontend.authorizer import ERROR_BODY_HEAD
from frontend.doors import secret_header
from frontend.shrink import REAL_TIME_LIMIT_BYTES, SERVERLESS_LIMIT_BYTES
from ocr_contract import ErrorCode
from ocr_contract.jobs import JOB, JOBS
from ocr_contract.limits import API_GATEWAY_TIMEOUT_S, FRONTEND_TIMEOUT_S, IMG_MAX_BASE64_CHARS
from ocr_contract.request import LANG_PATTERN, MAX_URL_LENGTH, SCHEMA_ERROR_MESSAGE
from ocr_contract.routes import BINARY_MEDIA_TYPES, GENERAL_OCR, JOB_ROUTES, ROUTES, method_of

from .grants import read_allowed_buckets, read_encrypted_inputs
from .lambda_bundle import bundled_function
from .nag import acknowledge
from .settings import Settings, retention

# API Gateway answers these itself, before the Lambda runs, in the same JSON shape as our own
# errors: (code, status or None to keep the gateway's own, message). A gateway response template
# is not run through VTL: `$context` variables are substituted as they are, unescaped, so a
# message that quoted one (a validation error, say) could break the JSON. Only fixed messages and
# $context.requestId (a UUID) go in; tests/test_infra.py renders every template with hostile
# values and parses it.
GATEWAY_ERRORS = {
    apigw.ResponseType.BAD_REQUEST_BODY: (ErrorCode.INVALID_REQUEST, 400, SCHEMA_ERROR_MESSAGE),
    apigw.ResponseType.BAD_REQUEST_PARAMETERS: (
        ErrorCode.INVALID_REQUEST,
        400,
        "the request's parameters are not valid",
    ),
    apigw.ResponseType.REQUEST_TOO_LARGE: (
        ErrorCode.PAYLOAD_TOO_LARGE,
        413,
        "the request body is over 10 MB; send large images by url",
    ),
    apigw.ResponseType.UNSUPPORTED_MEDIA_TYPE: (
        ErrorCode.UNSUPPORTED_MEDIA_TYPE,
        415,
        "send the JSON body with Content-Type: application/json",
    ),
    apigw.ResponseType.RESOURCE_NOT_FOUND: (ErrorCode.NOT_FOUND, 404, "no such path; call POST /general_ocr"),
    apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN: (
        ErrorCode.FORBIDDEN,
        403,
        "no such route or no credentials; call POST /general_ocr with your x-api-key header (or SigV4 with auth=iam)",
    ),
    apigw.ResponseType.INVALID_API_KEY: (
        ErrorCode.FORBIDDEN,
        403,
        "the x-api-key header is missing or not a key of this API",
    ),
    apigw.ResponseType.ACCESS_DENIED: (ErrorCode.FORBIDDEN, 403, "access denied: the caller may not invoke this API"),
    apigw.ResponseType.UNAUTHORIZED: (
        ErrorCode.FORBIDDEN,
        401,
        "no API key: send it in x-api-key (POST /general_ocr), Authorization (the NHN routes) or X-OCR-SECRET (the CLOVA route)",
    ),
    apigw.ResponseType.INVALID_SIGNATURE: (
        ErrorCode.FORBIDDEN,
        403,
        "the request's SigV4 signature does not match; sign it for execute-api in this region",
    ),
    apigw.ResponseType.EXPIRED_TOKEN: (ErrorCode.FORBIDDEN, 403, "the request's credentials have expired"),
    apigw.ResponseType.WAF_FILTERED: (
        ErrorCode.FORBIDDEN,
        403,
        "the request was blocked by the web application firewall",
    ),
    apigw.ResponseType.THROTTLED: (ErrorCode.TOO_MANY_REQUESTS, 429, "too many requests; slow down and retry"),
    apigw.ResponseType.QUOTA_EXCEEDED: (ErrorCode.TOO_MANY_REQUESTS, 429, "this API key's daily quota is used up"),
    apigw.ResponseType.INTEGRATION_TIMEOUT: (
        ErrorCode.TIMEOUT,
        504,
        f"the request took longer than {API_GATEWAY_TIMEOUT_S} s; try a smaller image",
    ),
    apigw.ResponseType.INTEGRATION_FAILURE: (
        ErrorCode.INTERNAL_ERROR,
        None,
        "the OCR service failed; quote requestId $context.requestId",
    ),
    apigw.ResponseType.DEFAULT_4_XX: (
        ErrorCode.INVALID_REQUEST,
        None,
        "the request was refused; quote requestId $context.requestId",
    ),
    apigw.ResponseType.DEFAULT_5_XX: (
        ErrorCode.INTERNAL_ERROR,
        None,
        "internal error; quote requestId $context.requestId",
    ),
}


# With API keys, ACCESS_DENIED comes only from our authorizer (frontend/authorizer.py), which
# denies an unknown key with the body in the called API's own error shape, less its request id:
# the deny is cached for later callers, so each request's own id is added here.
AUTHORIZER_ERROR_TEMPLATE = f'$context.authorizer.{ERROR_BODY_HEAD}, "requestId": "$context.requestId"}}'


def gateway_template(code: ErrorCode, message: str) -> str:
    """The gateway response body: our error shape, with $context.requestId left for API Gateway."""
    return json.dumps(
        {"error": {"code": code.value, "message": message}, "requestId": "$context.requestId"}, ensure_ascii=True
    )


class OcrApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        endpoint_name: str,
        endpoint_arn: str,
        jobs_routes: bool = False,
    ):
        """`jobs_routes`: add POST /jobs and GET /jobs/{jobId} (the stack gives the function what
        they need: Jobs.grant_frontend)."""
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        function_logs = logs.LogGroup(
            self, "FrontendLogs", retention=retention(settings.log_retention_days), removal_policy=RemovalPolicy.DESTROY
        )
        role = iam.Role(
            self,
            "FrontendRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="OCR frontend: invoke one endpoint, read allowed buckets, write its own logs",
        )
        role.add_to_policy(iam.PolicyStatement(actions=["sagemaker:InvokeEndpoint"], resources=[endpoint_arn]))
        bucket_owner = settings.bucket_owner or Aws.ACCOUNT_ID
        # s3:// URLs in the allowed buckets (ExpectedBucketOwner on every GetObject in
        # frontend/s3_fetch.py too), SSE-KMS ones decrypted through S3 only.
        read_allowed_buckets(role, settings, bucket_owner, list_buckets=False)
        read_encrypted_inputs(role, settings)
        function_logs.grant_write(role)

        self.function = bundled_function(
            self,
            "Frontend",
            "frontend.handler.handler",
            role,
            function_logs,
            memory_size=settings.frontend_memory_mb,  # CPU scales with it: base64, JSON, page rendering
            # A backstop under API Gateway's 29 s: the handler plans to answer within
            # FRONTEND_BUDGET_S, so the client gets our JSON 504, not the gateway's.
            timeout=Duration.seconds(FRONTEND_TIMEOUT_S),
            # None by default: a reservation needs the account to keep 100 more unreserved, which
            # a new account's 10 cannot (frontendReservedConcurrency; docs/deploy.md, "Scaling,
            # throttle and quota").
            reserved_concurrent_executions=settings.reserved_concurrency,
            environment={
                "ENDPOINT_NAME": endpoint_name,
                # SageMaker takes 4 MB per call to a serverless endpoint, 6 MB otherwise (shrink.py).
                "OCR_INVOKE_LIMIT_BYTES": str(SERVERLESS_LIMIT_BYTES if settings.serverless else REAL_TIME_LIMIT_BYTES),
                "BUCKET_OWNER": bucket_owner,
                "ALLOWED_BUCKETS": ",".join(settings.allowed_buckets),
                "ALLOWED_URL_PORTS": ",".join(str(p) for p in settings.allowed_url_ports),
                "LOG_LEVEL": "INFO",
                RENDER_MEMORY_ENV: str(settings.render_memory_mb),
            },
            description="POST /general_ocr: validate, fetch, invoke the SageMaker endpoint",
        )

        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=retention(settings.log_retention_days), removal_policy=RemovalPolicy.DESTROY
        )
        iam_auth = settings.auth == "iam"
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=f"{stack.stack_name}-api",
            description="Chinese OCR: POST /general_ocr, and the NHN and CLOVA OCR APIs",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # File uploads (the NHN and CLOVA doors) reach the Lambda base64-encoded, bytes intact.
            binary_media_types=list(BINARY_MEDIA_TYPES),
            # Keys come from the authorizer, which reads each API's own secret header.
            api_key_source_type=None if iam_auth else apigw.ApiKeySourceType.AUTHORIZER,
            # Access logs need API Gateway's account-wide CloudWatch Logs role; an account where
            # nobody set one refuses the stage. The stack sets it, and keeps the role on destroy
            # (other APIs in the account may log through it): README, "Destroy".
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name="prod",
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                throttling_rate_limit=settings.throttle_rate,
                throttling_burst_limit=settings.throttle_burst,
                metrics_enabled=True,
            ),
        )
        for response_type, (code, status, message) in GATEWAY_ERRORS.items():
            template = gateway_template(code, message)
            if response_type.response_type == "ACCESS_DENIED" and not iam_auth:
                template = AUTHORIZER_ERROR_TEMPLATE
            self.api.add_gateway_response(
                f"Gateway{response_type.response_type}",
                type=response_type,
                status_code=None if status is None else str(status),
                response_headers={"Content-Type": "'application/json'"},
                templates={"application/json": template},
            )

        body_model = self.api.add_model(
            "OcrRequest",
            content_type="application/json",
            model_name="OcrRequest",
            schema=apigw.JsonSchema(
                schema=apigw.JsonSchemaVersion.DRAFT4,
                title="OcrRequest",
                type=apigw.JsonSchemaType.OBJECT,
                properties={
                    "url": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, min_length=1, max_length=MAX_URL_LENGTH),
                    # Longer would make the Lambda's event exceed its 6 MB payload limit.
                    "img": apigw.JsonSchema(
                        type=apigw.JsonSchemaType.STRING, min_length=1, max_length=IMG_MAX_BASE64_CHARS
                    ),
                    # "ko": Korean lines too (ocr_contract.request.ocr_lang; null or "" for the default).
                    "lang": apigw.JsonSchema(
                        type=[apigw.JsonSchemaType.STRING, apigw.JsonSchemaType.NULL], pattern=LANG_PATTERN
                    ),
                },
                additional_properties=False,
                one_of=[apigw.JsonSchema(required=["url"]), apigw.JsonSchema(required=["img"])],
            ),
        )
        # Parameters too (none are declared, so none may be required): cdk-nag APIG2 asks for both.
        validator = self.api.add_request_validator(
            "RequestValidator", validate_request_body=True, validate_request_parameters=True
        )
        authorizers = {} if iam_auth else self._authorizers(settings)
        integration = apigw.LambdaIntegration(
            self.function, proxy=True, timeout=Duration.seconds(API_GATEWAY_TIMEOUT_S)
        )
        self.methods = {}
        for route in ROUTES:
            if route in JOB_ROUTES and not jobs_routes:
                continue  # -c jobs=false
            resource = self.api.root
            for part in route.strip("/").split("/"):
                resource = resource.get_resource(part) or resource.add_resource(part)
            self.methods[route] = resource.add_method(
                method_of(route),
                integration,
                request_validator=validator,
                # $default: bodies of every other Content-Type are checked against the same schema
                # (API Gateway validates only the types listed), so none reaches the Lambda unchecked
                # or over its 6 MB; the Lambda answers 415 for a non-JSON type. The other APIs take
                # forms and their own JSON: their doors check them (frontend/doors/).
                request_models={"application/json": body_model, "$default": body_model}
                if route == GENERAL_OCR
                else None,
                api_key_required=not iam_auth,
                authorization_type=apigw.AuthorizationType.IAM if iam_auth else apigw.AuthorizationType.CUSTOM,
                authorizer=authorizers.get(secret_header(route)),
            )
        self.method = self.methods[GENERAL_OCR]
        if jobs_routes:
            self._job_routes(integration, validator, iam_auth, authorizers)

        self.api_key = None
        if not iam_auth:
            self.api_key = self.api.add_api_key("ApiKey", description="Default key of the OCR API")
            plan = self.api.add_usage_plan(
                "UsagePlan",
                description="Throttle and daily quota per API key",
                throttle=apigw.ThrottleSettings(rate_limit=settings.throttle_rate, burst_limit=settings.throttle_burst),
                quota=apigw.QuotaSettings(limit=settings.quota_per_day, period=apigw.Period.DAY)
                if settings.quota_per_day
                else None,
            )
            plan.add_api_key(self.api_key)
            plan.add_api_stage(stage=self.api.deployment_stage)
            acknowledge(
                self.api,
                "AwsSolutions-APIG4",
                "Callers authenticate with an API key bound to a usage plan (throttle + quota); "
                "deploy with -c auth=iam for SigV4 (IAM) authorization instead.",
            )
        acknowledge(
            self.api, "AwsSolutions-COG4", "This is a machine-to-machine API: API keys or IAM, not Cognito user pools."
        )
        acknowledge(
            self.api,
            "AwsSolutions-APIG3",
            "WAF is left to the deployer (it bills per web ACL and rule); throttling, quotas, body "
            "validation and the frontend's own input limits apply without it.",
        )
        acknowledge(
            self.api,
            "AwsSolutions-APIG6",
            "Execution logs go to a log group API Gateway creates outside the stack (never expiring, "
            "left after destroy); access logs are on, and the Lambda logs every request as JSON.",
        )
        acknowledge(
            self.api,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-wide logging role: AWS's managed policy is the documented one for it.",
        )

        self.url = f"{self.api.url}general_ocr"

    def _job_routes(self, integration, validator, iam_auth: bool, authorizers: dict) -> None:
        """POST /jobs and GET /jobs/{jobId}, authorised as POST /general_ocr (x-api-key, or IAM)."""
        if JOBS in ROUTES:
            return  # ocr_contract.routes lists them (jobs-core): the loop above made them
        jobs = self.api.root.add_resource(JOBS.strip("/"))
        job = jobs.add_resource(JOB.rsplit("/", 1)[1])
        options = {
            "api_key_required": not iam_auth,
            "authorization_type": apigw.AuthorizationType.IAM if iam_auth else apigw.AuthorizationType.CUSTOM,
            "authorizer": authorizers.get("x-api-key"),
            "request_validator": validator,
        }
        self.methods[f"POST {JOBS}"] = jobs.add_method("POST", integration, **options)
        self.methods[f"GET {JOB}"] = job.add_method(
            "GET", integration, request_parameters={"method.request.path.jobId": True}, **options
        )

    def _authorizers(self, settings: Settings) -> dict:
        """One REQUEST authorizer per secret header, all run by one small function."""
        stack = Stack.of(self)
        logs_group = logs.LogGroup(
            self,
            "AuthorizerLogs",
            retention=retention(settings.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        role = iam.Role(
            self,
            "AuthorizerRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="OCR API authorizer: list the region's API keys, write its own logs",
        )
        # GetApiKeys: the only way to tell whether a secret is a key, by its value.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["apigateway:GET"], resources=[f"arn:{stack.partition}:apigateway:{stack.region}::/apikeys"]
            )
        )
        logs_group.grant_write(role)
        function = bundled_function(
            self,
            "Authorizer",
            "frontend.authorizer.handler",
            role,
            logs_group,
            memory_size=256,
            timeout=Duration.seconds(10),
            environment={"LOG_LEVEL": "INFO"},
            description="OCR API: each API's secret header (x-api-key, Authorization, X-OCR-SECRET) as the usage plan's key",
        )
        headers = sorted({secret_header(route) for route in ROUTES} | {"x-api-key"})
        return {
            header: apigw.RequestAuthorizer(
                self,
                f"Authorizer{''.join(p.title() for p in header.split('-'))}",
                handler=function,
                identity_sources=[apigw.IdentitySource.header(header)],
                results_cache_ttl=Duration.minutes(5),
            )
            for header in headers
        }
