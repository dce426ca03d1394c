"""LocalRunner: the local stack's orchestration of jobs, a small thread pool in the
`python -m local` process (in AWS: Step Functions and SageMaker Asynchronous Inference).

    plan -> manifest -> per document: ranges -> read each range (POST /invocations,
    task=document, lane=bulk) -> record_range -> [outputs of each document] -> finish

At most `max_in_flight` ranges are read at once, over all jobs. On start it resumes every
unfinished job: the manifest, each document's ranges and each range's part are files, so a
stack killed (even `kill -9`) mid-job reads on restart only the ranges whose part is missing;
no page is lost or read twice. A range answered 503 (ServerBusy, ModelNotReady) or 504, or not
answered, is retried with backoff (RETRY_DELAYS_S), then recorded as failed alone.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

from ocr_contract import ApiError, ErrorCode
from ocr_contract.jobs import JobRequest
from ocr_contract.protocol import DocumentPage

from .. import finish, steps
from ..model import Job, Range
from ..ports import Blobs, JobStore

log = logging.getLogger("jobs.local")

RETRY_DELAYS_S = (2.0, 5.0, 10.0)
RETRIED = frozenset({ErrorCode.SERVER_BUSY, ErrorCode.MODEL_NOT_READY, ErrorCode.TIMEOUT})
# A range of RANGE_PAGES pages on a laptop's CPU: minutes; the container's own budget is 900 s.
INVOKE_TIMEOUT_S = 960.0
COUNT_TIMEOUT_S = 60.0
JOB_WORKERS = 2


class Stopped(Exception):
    """The stack is stopping: leave the job as it is, to be resumed."""


def http_invoker(
    inference_url: str, job_id: str, stopping: threading.Event, job: JobRequest | None = None
) -> steps.Invoke:
    """invoke(data, pages) for one job: POST /invocations of the inference server, as SageMaker
    calls the container, with retries; the `job`'s request says what to read besides lines
    (its features, its lang)."""
    asked = job or JobRequest("")

    def once(data: bytes, pages: tuple[int, int]) -> list[DocumentPage]:
        options = asked.range_options(job_id, pages)
        request = urllib.request.Request(
            inference_url.rstrip("/") + "/invocations",
            data=data,
            method="POST",
            headers={
                "Content-Type": "application/octet-stream",
                "X-Amzn-SageMaker-Custom-Attributes": options.header(),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=INVOKE_TIMEOUT_S) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            try:
                error = json.loads(exc.read())["error"]
                raise ApiError(error["code"], error["message"]) from None
            except (ValueError, KeyError, TypeError):
                raise ApiError(ErrorCode.INTERNAL_ERROR, f"the inference server answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ApiError(ErrorCode.TIMEOUT, f"the inference server did not answer ({type(exc).__name__})") from None

    def invoke(data: bytes, pages: tuple[int, int]) -> list[DocumentPage]:
        for delay in (*RETRY_DELAYS_S, None):
            if stopping.is_set():
                raise Stopped
            try:
                return once(data, pages)
            except ApiError as error:
                if stopping.is_set():
                    raise Stopped from None
                if delay is None or error.code not in RETRIED:
                    raise
                log.info("job %s pages %s: %s, retried in %.0f s", job_id, pages, error.code.value, delay)
                if stopping.wait(delay):
                    raise Stopped from None
        raise AssertionError("unreachable")

    return invoke


class LocalRunner:
    def __init__(
        self,
        store: JobStore,
        blobs: Blobs,
        inference_url: str = "",
        max_in_flight: int = 2,
        fetch_url: steps.FetchUrl = steps.fetch_input_url,
        invoker: Callable[[str, threading.Event, JobRequest], steps.Invoke] | None = None,
        ready: Callable[[], bool] | None = None,
    ):
        self.store = store
        self.blobs = blobs
        self.fetch_url = fetch_url
        self.stopping = threading.Event()
        # invoker(job id, stopping, the job's request) -> the job's invoke(data, pages)
        self._invoker = invoker or partial(http_invoker, inference_url)
        self._ready = ready or (lambda: _ping(inference_url))
        self._slots = threading.BoundedSemaphore(max(1, max_in_flight))
        self._ranges = ThreadPoolExecutor(max(1, max_in_flight), thread_name_prefix="job-range")
        self._jobs = ThreadPoolExecutor(JOB_WORKERS, thread_name_prefix="job")
        self._queue: queue.Queue[str] = queue.Queue()
        self._active: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Wait (on a thread) for the inference server, resume unfinished jobs, then run what
        is submitted."""
        self._thread = threading.Thread(target=self._loop, name="job-runner", daemon=True)
        self._thread.start()

    def submit(self, job_id: str) -> None:
        self._queue.put(job_id)

    def stop(self) -> None:
        """Stop taking work; ranges in flight are abandoned unrecorded (resumed next start)."""
        self.stopping.set()
        self._queue.put("")
        self._jobs.shutdown(wait=False, cancel_futures=True)
        self._ranges.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:
        while not self.stopping.is_set() and not self._ready():
            self.stopping.wait(1.0)
        for job in self.store.unfinished():
            log.info("resuming job %s", job.job_id)
            self.submit(job.job_id)
        while not self.stopping.is_set():
            job_id = self._queue.get()
            if not job_id or self.stopping.is_set():
                return
            with self._lock:
                if job_id in self._active:
                    continue
                self._active.add(job_id)
            self._jobs.submit(self._run_and_forget, job_id)

    def _run_and_forget(self, job_id: str) -> None:
        try:
            self.run_job(job_id)
        finally:
            with self._lock:
                self._active.discard(job_id)

    def run_job(self, job_id: str) -> Job | None:
        """Run (or resume) one job to its end; None when it was left to be resumed."""
        job = self.store.get(job_id)
        if job is None or job.finished:
            return job
        try:
            self.store.set_status(job_id, "RUNNING")
            if not steps.manifest_written(job, self.blobs):
                try:
                    steps.write_manifest(job, steps.plan(job, self.blobs, self.fetch_url), self.blobs, self.store)
                except ApiError as error:
                    return finish.fail(job_id, error, self.blobs, self.store)
            invoke = self._invoker(job_id, self.stopping, job.request)
            pending: list[Future] = []
            for document in steps.read_manifest(job, self.blobs):
                self._check()
                units = steps.document_ranges(job, document, self.blobs, self.store, time.monotonic() + COUNT_TIMEOUT_S)
                for unit in units:
                    if steps.part_done(job, unit, self.blobs):
                        continue
                    while not self._slots.acquire(timeout=0.5):
                        self._check()
                    pending.append(self._ranges.submit(self._range, job, unit, invoke))
                    if len(pending) > 256:
                        pending = [f for f in pending if not f.done() or f.exception() is not None]
                        self._raise_failed(pending)
            for future in pending:
                future.result()
            self._check()
            if job.request.outputs:  # searchable PDFs, Markdown: each document once (jobs/outputs/)
                from ..outputs.write import write_index, write_outputs

                for document in steps.read_manifest(job, self.blobs):
                    self._check()
                    write_outputs(job, document, self.blobs)
                write_index(job, self.blobs)
            return finish.finish(job_id, self.blobs, self.store)
        except Stopped:
            log.info("job %s left to resume", job_id)
            return None
        except RuntimeError:  # the pools were shut down: the stack is stopping
            if self.stopping.is_set():
                return None
            raise
        except Exception:
            log.exception("job %s failed", job_id)
            self.store.set_status(
                job_id,
                "FAILED",
                error={"code": ErrorCode.INTERNAL_ERROR.value, "message": f"internal error; quote jobId {job_id}"},
            )
            return self.store.get(job_id)

    def _range(self, job: Job, unit: Range, invoke: steps.Invoke) -> None:
        try:
            pages = steps.read_range(unit, self.blobs, invoke)
            self._check()
            steps.record_range(job, unit, pages, self.blobs, self.store)
        finally:
            self._slots.release()

    @staticmethod
    def _raise_failed(pending: list[Future]) -> None:
        for future in pending:
            if future.done():
                future.result()

    def _check(self) -> None:
        if self.stopping.is_set():
            raise Stopped


def _ping(inference_url: str) -> bool:
    if not inference_url.startswith(("http://", "https://")):
        raise RuntimeError(
            f"the jobs runner has no inference server to call ({inference_url!r}); set OCR_INFERENCE_URL"
        )
    try:
        with urllib.request.urlopen(inference_url.rstrip("/") + "/ping", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False
