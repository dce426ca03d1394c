"""Blobs on S3: `s3://bucket/key` URIs, bounded reads and downloads, server-side copies, lazy listings,
multipart concatenation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from ocr_contract import ApiError, ErrorCode

# S3's smallest part of a multipart upload (all but the last); and its most parts.
MIN_PART_BYTES = 5 * 1024 * 1024
MAX_PARTS = 10_000
# An upload (a job's output file) goes in parts of this size: at most this much held at once,
# and 10,000 parts reach 80 GB.
UPLOAD_PART_BYTES = 8 * 1024 * 1024
# A download reads this much at a time: what it holds of an object (jobs' documents: 500 MB).
DOWNLOAD_CHUNK_BYTES = 1024 * 1024
# A presigned URL lives at most 7 days (SigV4); and no longer than the credentials that signed it.
MAX_URL_SECONDS = 7 * 24 * 3600


def split_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of s3://bucket/key; ValueError for any other kind of URI."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an S3 URI: {uri[:80]!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {uri[:80]!r}")
    return bucket, key


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _missing(exc: Exception) -> bool:
    return _code(exc) in ("404", "NoSuchKey", "NotFound", "NoSuchBucket")


class _Multipart:
    """One multipart upload to s3://bucket/key, started at its first part: parts are numbered in
    the order they are added, and the upload is completed, or aborted when the block fails (S3
    keeps an unfinished upload's parts, billed, until it is aborted)."""

    def __init__(self, s3: Any, bucket: str, key: str, owner: dict[str, str], **create: Any):
        self.s3, self.bucket, self.key, self.owner, self.create = s3, bucket, key, owner, create
        self.upload_id = ""
        self.parts: list[dict[str, Any]] = []

    def _where(self) -> dict[str, Any]:
        if not self.upload_id:
            answer = self.s3.create_multipart_upload(Bucket=self.bucket, Key=self.key, **self.create, **self.owner)
            self.upload_id = str(answer["UploadId"])
        if len(self.parts) >= MAX_PARTS:
            raise ValueError(f"s3://{self.bucket}/{self.key}: more than {MAX_PARTS} parts")
        return {"Bucket": self.bucket, "Key": self.key, "UploadId": self.upload_id, "PartNumber": len(self.parts) + 1}

    def put(self, data: bytes) -> None:
        where = self._where()
        answer = self.s3.upload_part(Body=data, **where, **self.owner)
        self.parts.append({"PartNumber": where["PartNumber"], "ETag": answer["ETag"]})

    def copy(self, source: dict[str, str], first: int, last: int, **checks: Any) -> None:
        """Bytes first..last of another object, copied by S3 (they never pass through here)."""
        where = self._where()
        answer = self.s3.upload_part_copy(
            CopySource=source, CopySourceRange=f"bytes={first}-{last}", **where, **self.owner, **checks
        )
        self.parts.append({"PartNumber": where["PartNumber"], "ETag": answer["CopyPartResult"]["ETag"]})

    @property
    def started(self) -> bool:
        return bool(self.upload_id)

    def __enter__(self) -> _Multipart:
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        if not self.upload_id:
            return
        try:
            if kind is None:
                self.s3.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=self.key,
                    UploadId=self.upload_id,
                    MultipartUpload={"Parts": self.parts},
                    **self.owner,
                )
                return
        except BaseException:
            self._abort()
            raise
        self._abort()

    def _abort(self) -> None:
        self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, **self.owner)


class S3Blobs:
    """`s3` is a boto3 S3 client. `expected_owner`: the account that must own every bucket read
    or written (ExpectedBucketOwner), so a bucket name that changed hands is refused."""

    def __init__(
        self,
        s3: Any,
        *,
        expected_owner: str = "",
        own_buckets: frozenset[str] = frozenset(),
        min_part_bytes: int = MIN_PART_BYTES,
        page_size: int = 1000,
        results: str = "",
    ):
        self.s3 = s3
        # Where a job without `output` keeps its files (jobs.ports.Blobs.results): s3://<bucket>/jobs/.
        self.results = results
        self.expected_owner = expected_owner
        self.own_buckets = own_buckets  # the stack's own (results) bucket: no owner check
        self.min_part = min_part_bytes
        self.page_size = page_size  # keys per ListObjectsV2 call (S3's most: 1,000)

    def _owner(self, bucket: str) -> dict[str, str]:
        if self.expected_owner and bucket not in self.own_buckets:
            return {"ExpectedBucketOwner": self.expected_owner}
        return {}

    def size(self, uri: str) -> int:
        bucket, key = split_uri(uri)
        try:
            return int(self.s3.head_object(Bucket=bucket, Key=key, **self._owner(bucket))["ContentLength"])
        except Exception as exc:
            if _missing(exc) or _code(exc) in ("403", "AccessDenied"):
                raise ApiError(ErrorCode.URL_FETCH_FAILED, f"{uri} could not be read ({_code(exc)})") from None
            raise

    def _body(self, uri: str, max_bytes: int) -> Any | None:
        """The body of a GetObject of the object's first max_bytes + 1 bytes (None: the object
        is empty); PayloadTooLarge, before a byte is read, when S3 says it is larger."""
        bucket, key = split_uri(uri)
        try:
            # One byte more than allowed: a larger object is refused without reading it all.
            obj = self.s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{max_bytes}", **self._owner(bucket))
        except Exception as exc:
            if _code(exc) == "InvalidRange":  # an empty object
                return None
            if _missing(exc) or _code(exc) in ("403", "AccessDenied"):
                raise ApiError(ErrorCode.URL_FETCH_FAILED, f"{uri} could not be read ({_code(exc)})") from None
            raise
        total = obj.get("ContentRange", "").rpartition("/")[2]
        if (total.isdigit() and int(total) > max_bytes) or obj.get("ContentLength", 0) > max_bytes:
            obj["Body"].close()
            raise ApiError(
                ErrorCode.PAYLOAD_TOO_LARGE, f"{uri} is {total or 'over ' + str(max_bytes)} bytes; at most {max_bytes}"
            )
        return obj["Body"]

    def read(self, uri: str, max_bytes: int) -> bytes:
        body = self._body(uri, max_bytes)
        if body is None:
            return b""
        data = body.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"{uri} is over {max_bytes} bytes")
        return bytes(data)

    def download(self, uri: str, file: BinaryIO, max_bytes: int) -> int:
        """The object streamed into `file` DOWNLOAD_CHUNK_BYTES at a time (botocore checks that
        as many bytes came as S3 announced)."""
        body = self._body(uri, max_bytes)
        if body is None:
            return 0
        written = 0
        try:
            while chunk := body.read(DOWNLOAD_CHUNK_BYTES):
                written += len(chunk)
                if written > max_bytes:
                    raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"{uri} is over {max_bytes} bytes")
                file.write(chunk)
        finally:
            body.close()
        return written

    def copy(self, source: str, target: str) -> None:
        """CopyObject: S3 copies the bytes (up to 5 GB in one request). The copy is a working
        file: it keeps the source's metadata but not its tags (TaggingDirective REPLACE, with
        none), and the target bucket's default encryption applies. Needs what CopyObject
        documents: s3:GetObject on the source, s3:PutObject on the target (and, for SSE-KMS,
        the keys' kms:Decrypt / kms:GenerateDataKey)."""
        source_bucket, source_key = split_uri(source)
        bucket, key = split_uri(target)
        try:
            self.s3.copy_object(
                Bucket=bucket,
                Key=key,
                CopySource={"Bucket": source_bucket, "Key": source_key},
                TaggingDirective="REPLACE",
                **self._owner(bucket),
                **({"ExpectedSourceBucketOwner": self.expected_owner} if self._owner(source_bucket) else {}),
            )
        except Exception as exc:
            if _missing(exc) or _code(exc) in ("403", "AccessDenied"):
                raise ApiError(ErrorCode.URL_FETCH_FAILED, f"{source} could not be copied ({_code(exc)})") from None
            raise

    def listing(self, prefix: str) -> Iterator[tuple[str, int]]:
        """Objects under s3://bucket/prefix in S3's key order (UTF-8 binary), a page of 1,000 at
        a time as the caller consumes them. Folder markers (keys ending in /) are left out."""
        bucket, key_prefix = split_uri(prefix)
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=key_prefix, PaginationConfig={"PageSize": self.page_size}, **self._owner(bucket)
        )
        for page in pages:
            for obj in page.get("Contents", []):
                if not obj["Key"].endswith("/"):
                    yield f"s3://{bucket}/{obj['Key']}", int(obj["Size"])

    def write(self, uri: str, data: bytes) -> None:
        bucket, key = split_uri(uri)
        self.s3.put_object(Bucket=bucket, Key=key, Body=data, **self._owner(bucket))

    def upload(self, uri: str, path: str, content_type: str) -> int:
        """The file as one object: PutObject when it is under UPLOAD_PART_BYTES, else a
        multipart upload of parts of that size read one at a time (aborted on any failure, so
        nothing is left half-written). Needs s3:PutObject (and s3:AbortMultipartUpload)."""
        import os

        bucket, key = split_uri(uri)
        size = os.path.getsize(path)
        with open(path, "rb") as file:
            if size < UPLOAD_PART_BYTES:
                self.s3.put_object(
                    Bucket=bucket, Key=key, Body=file.read(), ContentType=content_type, **self._owner(bucket)
                )
                return size
            with _Multipart(self.s3, bucket, key, self._owner(bucket), ContentType=content_type) as upload:
                while chunk := file.read(UPLOAD_PART_BYTES):
                    upload.put(chunk)
        return size

    def head(self, uri: str, max_bytes: int) -> bytes:
        bucket, key = split_uri(uri)
        try:
            obj = self.s3.get_object(
                Bucket=bucket, Key=key, Range=f"bytes=0-{max(0, max_bytes - 1)}", **self._owner(bucket)
            )
        except Exception as exc:
            if _code(exc) == "InvalidRange":  # an empty object
                return b""
            if _missing(exc) or _code(exc) in ("403", "AccessDenied"):
                raise ApiError(ErrorCode.URL_FETCH_FAILED, f"{uri} could not be read ({_code(exc)})") from None
            raise
        return bytes(obj["Body"].read(max_bytes))

    def exists(self, uri: str) -> bool:
        bucket, key = split_uri(uri)
        try:
            self.s3.head_object(Bucket=bucket, Key=key, **self._owner(bucket))
            return True
        except Exception as exc:
            if _missing(exc):
                return False
            raise

    def concat(self, parts: list[str], uri: str) -> None:
        """One object of the parts' bytes, in order. Parts of at least 5 MB are copied by S3
        (UploadPartCopy: their bytes never pass through here); smaller ones are joined here
        into parts of at least 5 MB, taking the head of a following large part when needed.
        At most about 2 x 5 MB is held at once, whatever the total."""
        bucket, key = split_uri(uri)
        sizes = [(part, self.size(part)) for part in parts]
        buffer = bytearray()
        with _Multipart(self.s3, bucket, key, self._owner(bucket)) as upload:

            def put_buffer() -> None:
                upload.put(bytes(buffer))
                buffer.clear()

            def copy(source: str, first: int, last: int) -> None:
                source_bucket, source_key = split_uri(source)
                owner_check = {"ExpectedSourceBucketOwner": self.expected_owner} if self._owner(source_bucket) else {}
                upload.copy({"Bucket": source_bucket, "Key": source_key}, first, last, **owner_check)

            for part, size in sizes:
                offset = 0
                if size >= self.min_part and buffer:
                    # Fill the buffer to a whole part with the head of this one.
                    need = self.min_part - len(buffer)
                    buffer += self._range(part, 0, need - 1)
                    offset = need
                    put_buffer()
                rest = size - offset
                if rest >= self.min_part:
                    copy(part, offset, size - 1)
                elif rest > 0:
                    buffer += self._range(part, offset, size - 1) if offset else self.read(part, size)
                    if len(buffer) >= self.min_part:
                        put_buffer()
            if not upload.started:
                self.write(uri, bytes(buffer))  # under 5 MB in all: one plain object
            elif buffer:
                put_buffer()  # the last part may be smaller

    def _range(self, uri: str, first: int, last: int) -> bytes:
        bucket, key = split_uri(uri)
        return bytes(
            self.s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={first}-{last}", **self._owner(bucket))[
                "Body"
            ].read()
        )

    def url(self, uri: str, expires_s: int) -> str:
        bucket, key = split_uri(uri)
        return str(
            self.s3.generate_presigned_url(
                "get_object",
                Params={"Bucket": bucket, "Key": key},
                ExpiresIn=max(1, min(int(expires_s), MAX_URL_SECONDS)),
            )
        )
