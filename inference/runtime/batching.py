"""Cross-request micro-batching: work items from every in-flight request, run together.

A GPU is busy only when it gets large batches: one request's few strips leave it mostly idle,
and every new input shape costs it memory. The batcher gathers items submitted by any thread,
groups them by a key (an input shape bucket), and runs a group as one batch when it is full or
when its oldest item has waited `max_wait_s`, so a lone request waits at most that long. Each
caller gets its own item's result back, in its own order.

A batch that fails is run again item by item, so one bad input fails only its own request.
Items whose deadline has passed are failed without running. `close()` runs what is queued,
then stops.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future


class BatcherClosed(RuntimeError):
    """The batcher is shutting down and takes no new work."""


class _Item:
    __slots__ = ("key", "value", "future", "since", "deadline")

    def __init__(self, key: Hashable, value: object, deadline: float | None) -> None:
        self.key, self.value, self.deadline = key, value, deadline
        self.future: Future = Future()
        self.since = time.monotonic()


class MicroBatcher:
    """`run(key, values) -> results` (one result per value, in order) runs one batch."""

    def __init__(
        self,
        run: Callable[[Hashable, Sequence], Sequence],
        max_batch: int,
        max_wait_s: float,
        expired: Callable[[], Exception] = TimeoutError,
        name: str = "batcher",
        workers: int = 1,
    ):
        """`workers` batches may run at once (a CPU's cores; one for a GPU's single stream)."""
        self._run, self.max_batch, self.max_wait_s, self._expired = run, max_batch, max_wait_s, expired
        self._queues: dict[Hashable, deque[_Item]] = {}
        self._lock = threading.Condition()
        self._closed = False
        self._threads = [threading.Thread(target=self._loop, name=f"{name}-{i}", daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, key: Hashable, value, deadline: float | None = None) -> Future:
        item = _Item(key, value, deadline)
        with self._lock:
            if self._closed:
                raise BatcherClosed("the batcher is closed")
            self._queues.setdefault(key, deque()).append(item)
            self._lock.notify()
        return item.future

    def map(self, key_of: Callable, values: Sequence, deadline: float | None = None) -> list:
        """Submit every value and wait for all results, in order (the first failure raises)."""
        futures = [self.submit(key_of(v), v, deadline) for v in values]
        return [f.result() for f in futures]

    def close(self) -> None:
        """Stop taking work, run what is queued, and wait for the worker to finish."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        for thread in self._threads:
            thread.join()

    def _next_batch(self) -> list[_Item] | None:
        """Under the lock: the batch to run now, waiting as long as the rules allow; None once
        closed and drained."""
        while True:
            queues = {k: q for k, q in self._queues.items() if q}
            if not queues:
                if self._closed:
                    return None
                self._lock.wait()
                continue
            # The key whose oldest item has waited longest goes first; it runs when full, when
            # that item has waited max_wait_s, or at once when closing.
            key, queue = min(queues.items(), key=lambda kq: kq[1][0].since)
            wait = queue[0].since + self.max_wait_s - time.monotonic()
            if len(queue) >= self.max_batch or wait <= 0 or self._closed:
                return [queue.popleft() for _ in range(min(self.max_batch, len(queue)))]
            full = next((q for q in queues.values() if len(q) >= self.max_batch), None)
            if full is not None:
                return [full.popleft() for _ in range(self.max_batch)]
            self._lock.wait(wait)

    def _loop(self) -> None:
        while True:
            with self._lock:
                batch = self._next_batch()
            if batch is None:
                return
            now = time.monotonic()
            live = []
            for item in batch:
                if item.future.set_running_or_notify_cancel():
                    if item.deadline is not None and now > item.deadline:
                        item.future.set_exception(self._expired())
                    else:
                        live.append(item)
            if live:
                self._execute(live)

    def _execute(self, items: list[_Item]) -> None:
        try:
            results = list(self._run(items[0].key, [i.value for i in items]))
            if len(results) != len(items):
                raise RuntimeError(f"a batch of {len(items)} gave {len(results)} results")
        except Exception as exc:
            if len(items) == 1:
                items[0].future.set_exception(exc)
            else:  # find the culprit: the others still get their results
                for item in items:
                    self._execute([item])
            return
        for item, result in zip(items, results):
            item.future.set_result(result)
