"""Reading s3://bucket/key images, only from the buckets the deployment allows."""

from __future__ import annotations

import os
import re

from ocr_contract import MAX_IMAGE_BYTES, ApiError, ErrorCode

ALLOWED_BUCKETS_ENV = "ALLOWED_BUCKETS"
# The account that must own the allowed buckets (the deploying one unless bucketOwner says
# otherwise): S3 refuses the read when a bucket of that name belongs to anyone else.
BUCKET_OWNER_ENV = "BUCKET_OWNER"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")

_client = None


def _s3():
    global _client
    if _client is None:
        import boto3
        from botocore.config import Config

        # Two short attempts fit inside the 12 s a URL fetch may take (README, "Time budget").
        _client = boto3.client(
            "s3",
            config=Config(connect_timeout=2, read_timeout=4, retries={"mode": "standard", "total_max_attempts": 2}),
        )
    return _client


def allowed_buckets() -> set[str]:
    return {b.strip() for b in os.environ.get(ALLOWED_BUCKETS_ENV, "").split(",") if b.strip()}


def parse_s3_url(url: str) -> tuple[str, str]:
    rest = url[len("s3://") :]
    bucket, _, key = rest.partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise ApiError(ErrorCode.INVALID_URL, f"{bucket!r} is not a valid S3 bucket name; use s3://bucket/key")
    if not key:
        raise ApiError(ErrorCode.INVALID_URL, "the S3 URL has no object key; use s3://bucket/key")
    return bucket, key


def fetch_s3(url: str) -> bytes:
    bucket, key = parse_s3_url(url)
    if bucket not in allowed_buckets():
        raise ApiError(
            ErrorCode.URL_NOT_ALLOWED,
            f"bucket {bucket!r} is not allowed; the deployment's allowedBuckets setting lists the buckets that may be read",
        )
    from botocore.exceptions import BotoCoreError, ClientError

    owner = os.environ.get(BUCKET_OWNER_ENV, "").strip()
    try:
        obj = _s3().get_object(Bucket=bucket, Key=key, **({"ExpectedBucketOwner": owner} if owner else {}))
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Error")
        why = {
            "NoSuchKey": "the object does not exist",
            "404": "the object does not exist",
            "AccessDenied": "access was denied",
            "403": "access was denied",
            "NoSuchBucket": "the bucket does not exist",
        }.get(code, code)
        raise ApiError(ErrorCode.URL_FETCH_FAILED, f"s3://{bucket}/{key} could not be read: {why}") from None
    except BotoCoreError as exc:
        raise ApiError(
            ErrorCode.URL_FETCH_FAILED, f"s3://{bucket}/{key} could not be read ({type(exc).__name__})"
        ) from None
    body = obj["Body"]
    try:
        if obj.get("ContentLength", 0) > MAX_IMAGE_BYTES:
            raise ApiError(
                ErrorCode.URL_FETCH_FAILED,
                f"s3://{bucket}/{key} is {obj['ContentLength']} bytes; at most {MAX_IMAGE_BYTES} bytes (10 MiB) are accepted",
            )
        data = body.read(MAX_IMAGE_BYTES + 1)
        if len(data) > MAX_IMAGE_BYTES:
            raise ApiError(ErrorCode.URL_FETCH_FAILED, f"s3://{bucket}/{key} is over {MAX_IMAGE_BYTES} bytes (10 MiB)")
        return data
    finally:
        body.close()
