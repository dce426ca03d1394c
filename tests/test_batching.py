"""The cross-request micro-batcher: ordering, partial batches, failure isolation, deadlines, shutdown."""

import threading
import time

import pytest

from inference.runtime.batching import BatcherClosed, MicroBatcher


class Recorder:
    def __init__(self, fail_on=None, delay=0.0):
        self.batches, self.fail_on, self.delay = [], fail_on, delay
        self.lock = threading.Lock()

    def __call__(self, key, values):
        with self.lock:
            self.batches.append((key, list(values)))
        time.sleep(self.delay)
        if self.fail_on is not None and self.fail_on in values:
            raise ValueError(f"bad input {self.fail_on}")
        return [(key, v * 10) for v in values]


def test_results_come_back_to_each_caller_in_its_own_order():
    run = Recorder()
    batcher = MicroBatcher(run, max_batch=4, max_wait_s=0.05)
    out = {}

    def caller(name, values):
        out[name] = batcher.map(lambda v: v % 2, values)

    threads = [threading.Thread(target=caller, args=(n, list(range(n * 10, n * 10 + 7)))) for n in range(5)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    batcher.close()
    for n in range(5):
        assert out[n] == [(v % 2, v * 10) for v in range(n * 10, n * 10 + 7)]
    # Items of several callers shared batches, and no batch mixed keys or passed max_batch.
    assert all(len(values) <= 4 and all(v % 2 == key for v in values) for key, values in run.batches)
    assert len(run.batches) < 35 and any(len({v // 10 for v in values}) > 1 for _, values in run.batches)


def test_a_partial_batch_runs_after_the_wait_not_never():
    run = Recorder()
    batcher = MicroBatcher(run, max_batch=64, max_wait_s=0.02)
    start = time.monotonic()
    assert batcher.submit("k", 3).result(timeout=2) == ("k", 30)
    assert 0.015 <= time.monotonic() - start < 1.0
    batcher.close()


def test_a_full_batch_runs_without_waiting():
    run = Recorder()
    batcher = MicroBatcher(run, max_batch=3, max_wait_s=5.0)
    start = time.monotonic()
    futures = [batcher.submit("k", v) for v in range(3)]
    assert [f.result(timeout=2) for f in futures] == [("k", 0), ("k", 10), ("k", 20)]
    assert time.monotonic() - start < 1.0
    batcher.close()


def test_a_failing_item_fails_only_its_own_request():
    run = Recorder(fail_on=2)
    batcher = MicroBatcher(run, max_batch=8, max_wait_s=0.05)
    futures = [batcher.submit("k", v) for v in range(5)]
    batcher.close()
    assert [f.result() for f in futures if f.exception() is None] == [("k", 0), ("k", 10), ("k", 30), ("k", 40)]
    assert isinstance(futures[2].exception(), ValueError)


def test_items_past_their_deadline_are_not_run():
    run = Recorder(delay=0.2)
    batcher = MicroBatcher(run, max_batch=1, max_wait_s=0.0, expired=lambda: TimeoutError("too late"))
    first = batcher.submit("k", 1)
    late = batcher.submit("k", 2, deadline=time.monotonic() + 0.05)  # expires while the first runs
    assert first.result(timeout=2) == ("k", 10)
    with pytest.raises(TimeoutError):
        late.result(timeout=2)
    batcher.close()
    assert [values for _, values in run.batches] == [[1]]


def test_close_runs_what_is_queued_then_refuses_new_work():
    run = Recorder()
    batcher = MicroBatcher(run, max_batch=100, max_wait_s=60.0)  # would wait a minute for more
    futures = [batcher.submit("k", v) for v in range(5)]
    start = time.monotonic()
    batcher.close()
    assert time.monotonic() - start < 1.0
    assert [f.result(timeout=0) for f in futures] == [("k", v * 10) for v in range(5)]
    with pytest.raises(BatcherClosed):
        batcher.submit("k", 1)
