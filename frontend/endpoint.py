"""Calling the SageMaker endpoint, and turning its failures into the API's errors.

A container's 4xx/5xx comes back from SageMaker as ModelError, carrying the original status
and body: the client gets that status and the container's own error, not a generic 500.
"""
from __future__ import annotations

import json
import logging
import os

from ocr_contract import ApiError, ErrorCode

log = logging.getLogger(__name__)

ENDPOINT_NAME_ENV = "ENDPOINT_NAME"
ENDPOINT_URL_ENV = "SAGEMAKER_ENDPOINT_URL"  # local mode: the inference server's address

_client = None


def _runtime():
    global _client
    if _client is None:
        import boto3
        from botocore.config import Config

        _client = boto3.client(
            "sagemaker-runtime",
            endpoint_url=os.environ.get(ENDPOINT_URL_ENV) or None,
            # Throttling and transient faults are retried with backoff; the read timeout stays
            # inside API Gateway's 29 s integration limit.
            config=Config(connect_timeout=3, read_timeout=20, retries={"mode": "standard", "max_attempts": 3}),
        )
    return _client


def invoke(image: bytes, request_id: str) -> bytes:
    """The container's JSON answer (bytes) for an image, or an ApiError."""
    from botocore.exceptions import BotoCoreError, ClientError, ConnectionError as BotoConnectionError, ReadTimeoutError

    name = os.environ.get(ENDPOINT_NAME_ENV)
    if not name:
        raise RuntimeError(f"{ENDPOINT_NAME_ENV} is not set")
    try:
        response = _runtime().invoke_endpoint(
            EndpointName=name,
            Body=image,
            ContentType="application/octet-stream",
            Accept="application/json",
            CustomAttributes=f"requestId={request_id}",
        )
        return response["Body"].read()
    except ClientError as exc:
        raise _from_client_error(exc, request_id) from None
    except ReadTimeoutError:
        raise ApiError(ErrorCode.INTERNAL_ERROR, f"the OCR model did not answer in time; quote requestId {request_id}") from None
    except BotoConnectionError:
        raise ApiError(ErrorCode.MODEL_NOT_READY, "the OCR endpoint cannot be reached yet; retry shortly") from None
    except BotoCoreError as exc:
        log.error("invoke failed: %r", exc)
        raise ApiError(ErrorCode.INTERNAL_ERROR, f"the OCR model could not be called; quote requestId {request_id}") from None


def _from_client_error(exc, request_id: str) -> ApiError:
    error = exc.response.get("Error", {})
    code, message = error.get("Code", ""), error.get("Message", "")
    if code == "ModelError":
        status = exc.response.get("OriginalStatusCode")
        original = exc.response.get("OriginalMessage", "")
        try:
            inner = json.loads(original)["error"]
            return ApiError(inner["code"], inner["message"])
        except (ValueError, KeyError, TypeError):
            log.error("container answered %s with a body we cannot read: %.500s", status, original)
            return ApiError(ErrorCode.INTERNAL_ERROR, f"the OCR model failed; quote requestId {request_id}")
    if code in ("ThrottlingException", "ServiceUnavailable", "ModelNotReadyException") or (
        code == "ValidationError" and ("not found" in message or "InService" in message or "not in service" in message.lower())
    ):
        log.warning("endpoint not ready: %s %s", code, message)
        return ApiError(ErrorCode.MODEL_NOT_READY, "the OCR endpoint is not in service yet; retry shortly")
    log.error("invoke failed: %s %s", code, message)
    return ApiError(ErrorCode.INTERNAL_ERROR, f"the OCR model could not be called; quote requestId {request_id}")
