"""Reading the parts of one request (a document's pages, a long image's slices) with the
endpoint, so that each part succeeds or fails alone.

- At most `concurrency` parts are in flight at once per request: a 10-page PDF must not take
  ten of the endpoint's slots and push other callers' single images into ServerBusy.
- A part answered ServerBusy (the endpoint's queue was full for a moment) is tried again after
  a jittered, doubling pause, as long as the request's deadline leaves time for the call.
- A part that still fails comes back as its ApiError, in its place; the caller decides what a
  failed part means in its API's answer.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from ocr_contract import ApiError, ErrorCode

from .endpoint import MIN_INVOKE_S

Part = TypeVar("Part")
Answer = TypeVar("Answer")

# Parts of one request in flight at once (the stack sets it from the endpoint's capacity).
CONCURRENCY_ENV = "OCR_PAGE_CONCURRENCY"
DEFAULT_CONCURRENCY = 2
RETRYABLE = frozenset({ErrorCode.SERVER_BUSY})
FIRST_PAUSE_S = 0.25
LONGEST_PAUSE_S = 4.0


def concurrency() -> int:
    return max(1, int(os.environ.get(CONCURRENCY_ENV) or DEFAULT_CONCURRENCY))


def with_retries(
    read: Callable[[Part, float], Answer],
    part: Part,
    deadline: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Answer:
    """read(part, deadline), tried again while it answers a retryable error and the deadline
    leaves room for another call after the pause."""
    attempt = 0
    while True:
        try:
            return read(part, deadline)
        except ApiError as error:
            if error.code not in RETRYABLE:
                raise
            pause = min(LONGEST_PAUSE_S, FIRST_PAUSE_S * 2**attempt) * random.uniform(0.5, 1.0)
            if clock() + pause + MIN_INVOKE_S > deadline:
                raise
            sleep(pause)
            attempt += 1


def read_parts(
    parts: Iterable[Part],
    read: Callable[[Part, float], Answer],
    deadline: float,
    workers: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[tuple[Part, Answer | ApiError]]:
    """(part, its answer or its ApiError) for each part, in the parts' order. `parts` may be a generator
    that makes them as it goes (pages being rendered): each is read as soon as it comes, while
    the next is made. Errors the generator raises itself (the whole file is unreadable) are
    raised."""
    submitted: list[tuple[Part, Future]] = []
    with ThreadPoolExecutor(workers or concurrency(), thread_name_prefix="part") as pool:
        for part in parts:
            submitted.append((part, pool.submit(with_retries, read, part, deadline, sleep)))
    answers: list[tuple[Part, Answer | ApiError]] = []
    for part, future in submitted:
        error = future.exception()
        if error is None:
            answers.append((part, future.result()))
        elif isinstance(error, ApiError):
            answers.append((part, error))
        else:
            raise error
    return answers
