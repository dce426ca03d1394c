"""A request's deadline, checked between model calls, so that a request whose client has given up
frees its thread soon instead of finishing for nobody."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any


class DeadlineExceeded(Exception):
    """The request's time ran out; raised between model calls, so its thread is freed soon."""


Check = Callable[[], None]
Mapper = Callable[[Callable[[Any], Any], Iterable[Any]], Iterator[Any]]


def guards(deadline: float | None, run_map: Mapper = map) -> tuple[Check, Mapper]:
    """`check()` raises DeadlineExceeded past `deadline` (time.monotonic()); `mapper(fn, items)`
    runs `fn` over the items with `run_map` (the engine's lanes), checking it before each."""

    def check() -> None:
        if deadline is not None and time.monotonic() > deadline:
            raise DeadlineExceeded()

    def mapper(fn, items):
        def checked(item):
            check()
            return fn(item)

        return run_map(checked, items)

    return check, mapper
