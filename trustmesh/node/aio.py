"""Calling the store and the ledger from trio without blocking the event loop.

SQLite calls and signature checks block; run on the event loop they would
stall every peer's stream. Each call goes to a worker thread instead, one at
a time (a CapacityLimiter of 1), which also keeps writes in order.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import trio

T = TypeVar("T")


class InThread:
    """Wraps an object so that ``await wrapped.call(method, *args)`` runs in a worker thread."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self._limiter = trio.CapacityLimiter(1)

    async def call(self, method: str | Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``target.method(*args, **kwargs)`` (or ``method(target, …)``) off the event loop."""
        fn = getattr(self.target, method) if isinstance(method, str) else functools.partial(method, self.target)
        return await trio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=self._limiter)
