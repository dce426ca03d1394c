"""Error codes, their HTTP statuses and the JSON error body every part of the system answers."""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    INVALID_REQUEST = "InvalidRequest"
    INVALID_IMAGE = "InvalidImage"
    UNSUPPORTED_IMAGE_FORMAT = "UnsupportedImageFormat"
    IMAGE_TOO_LARGE = "ImageTooLarge"
    PAYLOAD_TOO_LARGE = "PayloadTooLarge"
    INVALID_URL = "InvalidUrl"
    URL_NOT_ALLOWED = "UrlNotAllowed"
    URL_FETCH_FAILED = "UrlFetchFailed"
    INTERNAL_ERROR = "InternalError"
    MODEL_NOT_READY = "ModelNotReady"
    UNSUPPORTED_MEDIA_TYPE = "UnsupportedMediaType"
    TIMEOUT = "Timeout"
    # A language asked for (lang=ko) whose recogniser this deployment lacks: an installation
    # problem of the server's, not the caller's (the message says what to install).
    LANGUAGE_NOT_AVAILABLE = "LanguageNotAvailable"
    # Beyond the public table: the server is saturated (retry later), and requests to paths or
    # with methods that do not exist.
    SERVER_BUSY = "ServerBusy"
    NOT_FOUND = "NotFound"
    METHOD_NOT_ALLOWED = "MethodNotAllowed"
    # A job's result asked for before the job has finished (GET /jobs/{jobId}/result).
    JOB_NOT_FINISHED = "JobNotFinished"
    # Answered by API Gateway itself, before our code runs (see infra/ocr_api.py).
    FORBIDDEN = "Forbidden"
    TOO_MANY_REQUESTS = "TooManyRequests"


_STATUS = {
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.INVALID_IMAGE: 400,
    ErrorCode.UNSUPPORTED_IMAGE_FORMAT: 400,
    ErrorCode.IMAGE_TOO_LARGE: 400,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.INVALID_URL: 400,
    ErrorCode.URL_NOT_ALLOWED: 403,
    ErrorCode.URL_FETCH_FAILED: 400,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.MODEL_NOT_READY: 503,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.SERVER_BUSY: 503,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.JOB_NOT_FINISHED: 409,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.TOO_MANY_REQUESTS: 429,
    ErrorCode.TIMEOUT: 504,
    ErrorCode.LANGUAGE_NOT_AVAILABLE: 501,
}


def error_status(code: ErrorCode | str) -> int:
    return _STATUS[ErrorCode(code)]


class ApiError(Exception):
    """An error meant for the client: a stable code and a message that says what to fix."""

    def __init__(self, code: ErrorCode | str, message: str):
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message

    @property
    def status(self) -> int:
        return error_status(self.code)

    def body(self, request_id: str | None) -> dict:
        return error_body(self.code, self.message, request_id)


def error_body(code: ErrorCode | str, message: str, request_id: str | None) -> dict:
    body: dict = {"error": {"code": ErrorCode(code).value, "message": message}}
    if request_id:
        body["requestId"] = request_id
    return body
