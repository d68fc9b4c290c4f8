"""Store calls from trio without blocking the event loop.

SQLite calls and signature checks take milliseconds to seconds; run on the
trio thread they would stall every connection of the node. Writes run in a
worker thread one at a time, in call order (``run``: one writer is what
SQLite wants, and a chain append must not interleave with another). Reads
(listing records, sync and query answers, trust) run beside them
(``read``): the store reads from its own reader connections, so a long
trust computation never holds up gossip.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import trio

T = TypeVar("T")


class StoreWorker:
    """Runs blocking store/ledger calls in threads: writes one at a time, reads beside them."""

    def __init__(self, readers: int = 4) -> None:
        self._limiter = trio.CapacityLimiter(1)
        self._readers = trio.CapacityLimiter(readers)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in the worker thread; its result or its exception.

        Not abandoned on cancellation: a write that has started finishes, so
        a shutdown never leaves half a batch behind.
        """
        call = functools.partial(fn, *args, **kwargs) if kwargs else (
            functools.partial(fn, *args) if args else fn)
        return await trio.to_thread.run_sync(call, limiter=self._limiter, abandon_on_cancel=False)

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in a reader thread (several may run at once, beside writes)."""
        call = functools.partial(fn, *args, **kwargs)
        return await trio.to_thread.run_sync(call, limiter=self._readers, abandon_on_cancel=False)

    async def run_small(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Like ``run``, but a call known to be short runs right here when the worker is idle.

        Why: handing a one-record ingest (about 0.5 ms with its fsync) to a
        thread cost more than the work itself (the GIL hand-off between the
        event loop and the thread, measured under gossip load). When the
        worker is busy with a long job we queue behind it as usual, so the
        event loop never waits on the store's lock.
        """
        try:
            self._limiter.acquire_nowait()
        except trio.WouldBlock:
            return await self.run(fn, *args, **kwargs)
        try:
            return fn(*args, **kwargs)
        finally:
            self._limiter.release()
