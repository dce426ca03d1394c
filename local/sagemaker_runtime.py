"""A local stand-in for SageMaker's runtime API (InvokeEndpoint), in front of the inference server.

    POST /endpoints/{name}/invocations   -> the container's POST /invocations

In AWS the Lambda's boto3 client calls SageMaker's runtime service, which forwards the body and
the CustomAttributes header to the container and answers the container's errors as ModelError
(424) carrying the container's status and body. `make serve` points the Lambda's client here
(SAGEMAKER_ENDPOINT_URL), so the Lambda's real error mapping runs, and SageMaker's own limits
hold where AWS would apply them: at most 6 MB per call, at most 60 s for the container.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

from inference.serving.http_io import read_body
from ocr_contract import ApiError, ErrorCode
from ocr_contract.limits import SAGEMAKER_INVOKE_MAX_BYTES, SAGEMAKER_INVOKE_TIMEOUT_S

INFERENCE_URL = web.AppKey("inference_url", str)
TIMEOUT_S = web.AppKey("timeout_s", float)
SESSION = web.AppKey("session", aiohttp.ClientSession)
# What SageMaker passes on to the container (its other headers are its own).
FORWARDED = ("Content-Type", "Accept", "X-Amzn-SageMaker-Custom-Attributes")


def _model_error(status: int, original: str, request_id: str = "") -> web.Response:
    """ModelError (424), as the runtime API answers a container's error."""
    return web.json_response(
        {
            "message": f'Received client error ({status}) from primary with message "{original}"',
            "OriginalStatusCode": status,
            "OriginalMessage": original,
            "LogStreamArn": "",
        },
        status=424,
        headers={"X-Amzn-ErrorType": "ModelError", "X-Request-Id": request_id},
    )


def _too_large(size: int) -> ApiError:
    return ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"HTTP content length exceeded {SAGEMAKER_INVOKE_MAX_BYTES} bytes.")


async def invoke_endpoint(request: web.Request) -> web.Response:
    try:
        body = await read_body(request, SAGEMAKER_INVOKE_MAX_BYTES, _too_large)
    except ApiError as error:
        # What the runtime API answers (botocore reads it as a ClientError with code "413").
        return web.json_response({"message": error.message}, status=413 if error.status == 413 else 400)
    headers = {name: request.headers[name] for name in FORWARDED if name in request.headers}
    url = request.app[INFERENCE_URL] + "/invocations"
    try:
        async with request.app[SESSION].post(
            url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=request.app[TIMEOUT_S])
        ) as answer:
            payload = await answer.read()
            request_id = answer.headers.get("X-Request-Id", "")
            if answer.status >= 400:
                return _model_error(answer.status, payload.decode("utf-8", "replace"), request_id)
            return web.Response(
                status=answer.status,
                body=payload,
                headers={
                    "Content-Type": answer.headers.get("Content-Type", "application/json"),
                    "X-Request-Id": request_id,
                },
            )
    except TimeoutError:
        message = "Your invocation timed out while waiting for a response from container primary."
        return web.json_response(
            {"message": message, "OriginalStatusCode": 0, "OriginalMessage": message},
            status=424,
            headers={"X-Amzn-ErrorType": "ModelError"},
        )
    except aiohttp.ClientError:
        # The container is not listening (yet): the runtime answers that the endpoint cannot serve.
        return web.json_response(
            {"message": "the endpoint's container is not reachable"},
            status=503,
            headers={"X-Amzn-ErrorType": "ServiceUnavailable"},
        )


def create_runtime(inference_url: str, timeout_s: float = SAGEMAKER_INVOKE_TIMEOUT_S) -> web.Application:
    app = web.Application(client_max_size=SAGEMAKER_INVOKE_MAX_BYTES + 1024 * 1024)
    app[INFERENCE_URL] = inference_url.rstrip("/")
    app[TIMEOUT_S] = timeout_s
    app.router.add_post("/endpoints/{name}/invocations", invoke_endpoint)

    async def session(app: web.Application):
        app[SESSION] = aiohttp.ClientSession()
        yield
        await app[SESSION].close()

    app.cleanup_ctx.append(session)
    return app
