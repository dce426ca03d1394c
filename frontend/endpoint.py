"""Calling the SageMaker endpoint, and turning its failures into the API's errors.

A container's 4xx/5xx comes back from SageMaker as ModelError, carrying the original status
and body: the client gets that status and the container's own error, not a generic 500.
"""

from __future__ import annotations

import json
import logging
import os
import time

from ocr_contract import ApiError, ErrorCode
from ocr_contract.protocol import InvokeOptions, Lane, Lang, Task

from .shrink import ENDPOINT_LIMIT_BYTES

log = logging.getLogger(__name__)

ENDPOINT_NAME_ENV = "ENDPOINT_NAME"
ENDPOINT_URL_ENV = "SAGEMAKER_ENDPOINT_URL"  # local mode: the inference server's address

_clients: dict = {}

# Below this much time left there is no point in calling the model: answer 504 at once.
MIN_INVOKE_S = 1.0


def _runtime(read_timeout_s: int):
    """A sagemaker-runtime client whose read timeout is `read_timeout_s`. botocore fixes the
    timeout per client, so there is one client per whole second of budget (at most ~30,
    created on first use and kept while the Lambda is warm)."""
    client = _clients.get(read_timeout_s)
    if client is None:
        import boto3
        from botocore.config import Config

        client = _clients[read_timeout_s] = boto3.client(
            "sagemaker-runtime",
            endpoint_url=os.environ.get(ENDPOINT_URL_ENV) or None,
            # One attempt, never retried: a retry after a read timeout makes the GPU do the
            # work twice and runs past API Gateway's 29 s, so the client would get the
            # gateway's 504 instead of ours.
            config=Config(
                connect_timeout=min(3, read_timeout_s),
                read_timeout=read_timeout_s,
                retries={"mode": "standard", "total_max_attempts": 1},
            ),
        )
    return client


def _timed_out(request_id: str) -> ApiError:
    return ApiError(
        ErrorCode.TIMEOUT,
        f"the OCR model did not answer in time; retry, or send a smaller image (requestId {request_id})",
    )


def invoke(
    image: bytes,
    request_id: str,
    deadline: float | None = None,
    detail: bool = False,
    task: Task = "lines",
    country: str | None = None,
    lane: Lane = "interactive",
    tables: bool = False,
    lang: Lang | None = None,
) -> bytes:
    """The container's JSON answer (bytes) for an image, or an ApiError. The call is made once
    and waits at most until `deadline` (time.monotonic()); the container is told how long it
    has (CustomAttributes timeoutMs), so that it answers its own 504 first. `detail` asks for
    each line's corners and its characters' too; `task=plates` for licence plates instead of
    lines (inference/server.py), `country` to read one country's plates only; `lane` bulk for
    the parts a request fans out (ocr_contract.protocol); `tables` for {"lines", "tables"}
    (task lines) instead of the bare list of lines; `lang` "ko" to read Korean lines too."""
    from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    name = os.environ.get(ENDPOINT_NAME_ENV)
    if not name:
        raise RuntimeError(f"{ENDPOINT_NAME_ENV} is not set")
    remaining = (deadline - time.monotonic()) if deadline is not None else 20.0
    if remaining < MIN_INVOKE_S:
        raise _timed_out(request_id)
    read_timeout = max(1, int(remaining))
    try:
        response = _runtime(read_timeout).invoke_endpoint(
            EndpointName=name,
            Body=image,
            ContentType="application/octet-stream",
            Accept="application/json",
            CustomAttributes=InvokeOptions(
                request_id=request_id,
                timeout_ms=int(1000 * read_timeout),
                detail=detail,
                task=task,
                country=country,
                lane=lane,
                tables=tables,
                lang=lang,
            ).header(),
        )
        return response["Body"].read()
    except ClientError as exc:
        raise _from_client_error(exc, request_id) from None
    except ReadTimeoutError:
        raise _timed_out(request_id) from None
    except BotoConnectionError:
        raise ApiError(ErrorCode.MODEL_NOT_READY, "the OCR endpoint cannot be reached yet; retry shortly") from None
    except BotoCoreError as exc:
        log.error("invoke failed: %r", exc)
        raise ApiError(
            ErrorCode.INTERNAL_ERROR, f"the OCR model could not be called; quote requestId {request_id}"
        ) from None


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
            if "timed out" in str(original) + message:  # SageMaker's own 60 s limit
                return _timed_out(request_id)
            log.error("container answered %s with a body we cannot read: %.500s", status, original)
            return ApiError(ErrorCode.INTERNAL_ERROR, f"the OCR model failed; quote requestId {request_id}")
    if code == "413":  # SageMaker's invoke limit; fit_invoke_limit keeps us under it
        return ApiError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"the image is over the OCR endpoint's {ENDPOINT_LIMIT_BYTES / 1e6:g} MB limit; send a smaller image",
        )
    if code in ("ThrottlingException", "ServiceUnavailable", "ModelNotReadyException") or (
        code == "ValidationError"
        and ("not found" in message or "InService" in message or "not in service" in message.lower())
    ):
        log.warning("endpoint not ready: %s %s", code, message)
        return ApiError(ErrorCode.MODEL_NOT_READY, "the OCR endpoint is not in service yet; retry shortly")
    log.error("invoke failed: %s %s", code, message)
    return ApiError(ErrorCode.INTERNAL_ERROR, f"the OCR model could not be called; quote requestId {request_id}")
