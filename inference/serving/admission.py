"""Which request runs next on the server's workers, and which is refused outright.

`workers` requests run at once; up to `queue` more wait. Work comes in two lanes
(ocr_contract.protocol): `interactive` (a request's one image) and `bulk` (the pages and slices
a request fans out). Two rules keep a single image from being starved behind other callers'
documents:
- bulk work may hold at most `workers + queue // 2` places (running or waiting): the rest of
  the queue is kept for interactive work, so a burst of documents gets ServerBusy (which the
  Lambda retries per page) before a single image does;
- a freed worker goes to the interactive request that has waited longest, and to bulk work only
  when no interactive request waits.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ocr_contract import ApiError, ErrorCode
from ocr_contract.protocol import LANES, Lane


class Admission:
    def __init__(self, workers: int, queue: int):
        self.workers = workers
        self.limits: dict[str, int] = {"interactive": workers + queue, "bulk": workers + queue // 2}
        self.held: dict[str, int] = {lane: 0 for lane in LANES}  # running or waiting, per lane
        self.running = 0
        self._waiting: dict[str, deque[asyncio.Future]] = {lane: deque() for lane in LANES}

    @property
    def in_flight(self) -> int:
        return sum(self.held.values())

    def admit(self, lane: Lane) -> None:
        """Take a place in `lane`, or raise ServerBusy when the lane is full."""
        if self.in_flight >= self.limits["interactive"] or self.held[lane] >= self.limits[lane]:
            raise ApiError(
                ErrorCode.SERVER_BUSY, f"the server is busy ({self.in_flight} requests in progress); retry shortly"
            )
        self.held[lane] += 1

    def leave(self, lane: Lane) -> None:
        self.held[lane] -= 1

    async def _acquire(self, lane: Lane) -> None:
        if self.running < self.workers and not any(self._waiting.values()):
            self.running += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting[lane].append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # the worker was handed over as we gave up: pass it on
            else:
                self._waiting[lane].remove(waiter)
            raise

    def _release(self) -> None:
        for lane in LANES:  # interactive first
            queue = self._waiting[lane]
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the worker passes to it; `running` is unchanged
                    return
        self.running -= 1

    @asynccontextmanager
    async def worker(self, lane: Lane) -> AsyncIterator[None]:
        """Wait for a worker (interactive before bulk) and hold it for the block."""
        await self._acquire(lane)
        try:
            yield
        finally:
            self._release()
