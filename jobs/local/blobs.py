"""FolderBlobs: the Blobs of the local stack, files under a folder, named by file:// URIs."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, unquote, urlsplit

from ocr_contract import ApiError, ErrorCode
from ocr_contract.jobs import JOB_ID

RESULT_NAME = "result.jsonl"
# The local stack's stand-in for a presigned S3 URL (url()): a job's result lines, served by the
# local gateway (local/gateway.py) until the epoch second in its `expires` parameter.
RESULT_PATH = "/_local/results/{jobId}/result.jsonl"
# A job's output files (jobs/outputs/) and their list, served the same way.
OUTPUT_PATH = "/_local/results/{jobId}/{file}"
OUTPUT_NAMES = ("outputs.jsonl", "outputs/")
# A download copies this much at a time.
DOWNLOAD_CHUNK_BYTES = 1024 * 1024


def output_of(path: Path, results: Path) -> tuple[str, str] | None:
    """(job id, file) when `path` is a job's output under `results` (<jobId>/outputs/... or
    <jobId>/outputs.jsonl), else None."""
    try:
        parts = path.resolve().relative_to(results.resolve()).parts
    except ValueError:
        return None
    if len(parts) < 2 or not JOB_ID.fullmatch(parts[0]):
        return None
    file = "/".join(parts[1:])
    if file == OUTPUT_NAMES[0] or (file.startswith(OUTPUT_NAMES[1]) and len(parts) > 2):
        return parts[0], file
    return None


def file_uri(path: Path | str) -> str:
    """The file:// URI of a path (absolute, percent-encoded); a folder's ends in "/"."""
    path = Path(path)
    uri = path.resolve().as_uri()
    return uri + "/" if path.is_dir() and not uri.endswith("/") else uri


class FolderBlobs:
    """Objects are files under `root` (the stack's data folder: results, fetched inputs);
    `readable` folders (JOBS_INPUT) may be read and listed too, never written. A URI outside
    them is refused (UrlNotAllowed), whatever `..` or links it holds. url() is a job's result at
    the local gateway (`api_url`), for a while, as a presigned S3 URL is."""

    def __init__(self, root: Path | str, readable: tuple[Path | str, ...] = (), api_url: str = "http://127.0.0.1:8080"):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.readable = tuple(Path(p).resolve() for p in readable)
        self.api_url = api_url.rstrip("/")
        (self.root / "results").mkdir(exist_ok=True)
        self.results = file_uri(self.root / "results")

    def path(self, uri: str, write: bool = False) -> Path:
        """The file a URI names, if it lies under the root (or, to read, a readable folder)."""
        parts = urlsplit(uri)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            raise ApiError(ErrorCode.URL_NOT_ALLOWED, f"{uri[:200]!r} is not a file:// URI of the local stack")
        raw = unquote(parts.path)
        path = Path(raw).resolve()
        allowed = (self.root,) if write else (self.root, *self.readable)
        if not any(path == folder or path.is_relative_to(folder) for folder in allowed):
            raise ApiError(
                ErrorCode.URL_NOT_ALLOWED,
                f"{raw[:200]} is outside the folders the local stack may {'write' if write else 'read'}"
                " (start it with --jobs-input DIR, or `make serve JOBS_INPUT=DIR`)",
            )
        return path

    def size(self, uri: str) -> int:
        path = self.path(uri)
        try:
            if not path.is_file():
                raise FileNotFoundError
            return path.stat().st_size
        except OSError:
            raise ApiError(ErrorCode.URL_FETCH_FAILED, f"{unquote(urlsplit(uri).path)[:200]} does not exist") from None

    def read(self, uri: str, max_bytes: int) -> bytes:
        if self.size(uri) > max_bytes:
            raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"{uri[:200]} is over {max_bytes} bytes")
        with self.path(uri).open("rb") as file:
            data = file.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"{uri[:200]} is over {max_bytes} bytes")
        return data

    def download(self, uri: str, file: BinaryIO, max_bytes: int) -> int:
        if self.size(uri) > max_bytes:
            raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"{uri[:200]} is over {max_bytes} bytes")
        written = 0
        with self.path(uri).open("rb") as source:
            while chunk := source.read(DOWNLOAD_CHUNK_BYTES):
                written += len(chunk)
                if written > max_bytes:  # it grew since its size was read
                    raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"{uri[:200]} is over {max_bytes} bytes")
                file.write(chunk)
        return written

    def copy(self, source: str, target: str) -> None:
        """The source file copied to the target (under the data folder only), whole or not at all."""
        self.size(source)  # UrlFetchFailed when it does not exist
        path = self.path(target, write=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        shutil.copyfile(self.path(source), temporary)
        os.replace(temporary, path)

    def listing(self, prefix: str) -> Iterator[tuple[str, int]]:
        """Files under the prefix in S3's key order (a folder sorts as its name and "/"),
        lazily, one folder at a time. Links are not followed out of the allowed folders."""
        folder = self.path(prefix if prefix.endswith("/") else prefix + "/")
        if folder.is_dir():
            # An input folder that holds the stack's own data folder does not list it: its
            # database and results are not the user's documents.
            own = None if folder.resolve().is_relative_to(self.root) else self.root
            yield from self._walk(folder, own)

    def _walk(self, folder: Path, skip: Path | None = None) -> Iterator[tuple[str, int]]:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return
        keyed = sorted(((e.name + "/" if e.is_dir(follow_symlinks=False) else e.name), e) for e in entries)
        for key, entry in keyed:
            if key.endswith("/"):
                if skip is None or Path(entry.path).resolve() != skip:
                    yield from self._walk(Path(entry.path), skip)
            elif entry.is_file():
                try:
                    path = self.path(Path(entry.path).resolve().as_uri())
                except ApiError:
                    continue
                yield Path(entry.path).absolute().as_uri(), path.stat().st_size

    def write(self, uri: str, data: bytes) -> None:
        path = self.path(uri, write=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, path)

    def exists(self, uri: str) -> bool:
        return self.path(uri).is_file()

    def upload(self, uri: str, path: str, content_type: str) -> int:
        """The file copied under the data folder, whole or not at all (a temporary name, then
        renamed); the content type is the file's suffix's."""
        target = self.path(uri, write=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            shutil.copyfile(path, temporary)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        return target.stat().st_size

    def head(self, uri: str, max_bytes: int) -> bytes:
        self.size(uri)  # UrlFetchFailed when it does not exist
        with self.path(uri).open("rb") as file:
            return file.read(max_bytes)

    def concat(self, parts: list[str], uri: str) -> None:
        path = self.path(uri, write=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with temporary.open("wb") as out:
            for part in parts:
                with self.path(part).open("rb") as source:
                    shutil.copyfileobj(source, out)
        os.replace(temporary, path)

    def url(self, uri: str, expires_s: int) -> str:
        """A job's result (…/<jobId>/result.jsonl) at the local gateway's RESULT_PATH, or one of
        its outputs (…/<jobId>/outputs/<file>, the list …/<jobId>/outputs.jsonl) at OUTPUT_PATH,
        for `expires_s` seconds (where GET /jobs/{jobId}/result redirects to, as in AWS to S3)."""
        path = self.path(uri)
        expires = int(time.time()) + max(1, int(expires_s))
        job_id = path.parent.name
        if path.name == RESULT_NAME and JOB_ID.fullmatch(job_id):
            return f"{self.api_url}{RESULT_PATH.format(jobId=job_id)}?expires={expires}"
        found = output_of(path, self.root / "results")
        if found is None:
            raise ValueError(f"the local stack serves only jobs' results and outputs, not {uri}")
        job_id, file = found
        return f"{self.api_url}{OUTPUT_PATH.format(jobId=job_id, file=quote(file))}?expires={expires}"
