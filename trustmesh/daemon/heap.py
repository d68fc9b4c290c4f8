"""Give glibc's free heap space back to the system now and then (glibc only).

Why: the node's heap holds free space between blocks still in use (records
decoded, verified and dropped; trust columns rebuilt after each change), and
glibc returns only the space at the heap's top by itself. In the ten-minute
soak about half of the glibc heap's growth was such free space
(docs/reliability.md, "Soak"). ``malloc_trim(0)`` hands the free pages
inside the heap back too. It takes the heap's lock for a few milliseconds,
so it runs in a worker thread, once a minute.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

import trio

log = logging.getLogger("trustmesh.daemon")

TRIM_EVERY_S = 60.0


def release_free_heap() -> bool:
    """Return free heap pages to the system; True if glibc gave any back (False off glibc)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes = [ctypes.c_size_t]
    return bool(trim(0))


async def trim_heap(every_s: float = TRIM_EVERY_S) -> None:
    """Run ``release_free_heap`` every ``every_s`` seconds, for as long as the node runs."""
    while True:
        await trio.sleep(every_s)
        await trio.to_thread.run_sync(release_free_heap)
