"""An optional CPU profile of a running node, for ``bench/network.py``.

Why here: the network benchmark must say where a node's CPU goes per
record (noise, yamux, protobuf, signatures, our validation, the store),
and only the process itself can profile its own event loop. With
``TRUSTMESH_PROFILE=<file>`` set, SIGUSR1 starts profiling the node's
event-loop thread and SIGUSR2 stops it and writes the pstats to ``<file>``
(then ``<file>`` is complete: it is written under another name and renamed),
so the benchmark profiles exactly the window it measures. The clock is the
thread's own CPU time (``time.thread_time``: waiting in epoll costs
nothing). Other threads (the store worker, the verify pool) are not in the
profile; their CPU shows in the per-thread counters of ``/proc``.
"""

from __future__ import annotations

import os
import signal
import time
from contextlib import contextmanager

ENV = "TRUSTMESH_PROFILE"


@contextmanager
def maybe_profile():
    """While inside: SIGUSR1/SIGUSR2 start/stop a profile, if ``TRUSTMESH_PROFILE`` names a file."""
    path = os.environ.get(ENV)
    if not path:
        yield
        return
    import cProfile
    profiler = cProfile.Profile(time.thread_time)

    def start(signum, frame) -> None:
        profiler.clear()
        profiler.enable()

    def stop(signum, frame) -> None:
        profiler.disable()
        profiler.dump_stats(path + ".tmp")
        os.replace(path + ".tmp", path)
    previous = signal.signal(signal.SIGUSR1, start), signal.signal(signal.SIGUSR2, stop)
    try:
        yield
    finally:
        profiler.disable()
        signal.signal(signal.SIGUSR1, previous[0])
        signal.signal(signal.SIGUSR2, previous[1])
