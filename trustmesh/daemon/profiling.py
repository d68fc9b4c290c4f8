"""An optional CPU profile of a running node, for ``bench/network.py``.

Why here: the network benchmark must say where a node's CPU goes per
record (noise, yamux, protobuf, signatures, our validation, the store),
and only the process itself can profile its own event loop. With
``TRUSTMESH_PROFILE=<file>`` set, the node's event-loop thread is profiled
from the moment the node runs (start-up excluded) until it stops, with the
thread's own CPU clock (``time.thread_time``: waiting in epoll costs
nothing), and the pstats are written to ``<file>`` on a clean stop. Other
threads (the store worker, the verify pool) are not in the profile; their
CPU shows in the per-thread counters of ``/proc``.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager

ENV = "TRUSTMESH_PROFILE"


@contextmanager
def maybe_profile():
    """Profile the calling thread while inside, if ``TRUSTMESH_PROFILE`` names a file."""
    path = os.environ.get(ENV)
    if not path:
        yield
        return
    import cProfile
    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        profiler.dump_stats(path)
