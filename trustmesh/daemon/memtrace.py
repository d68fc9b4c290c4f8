"""An optional memory trace of a running node, to tell what grows in a soak.

Why: a node's RSS that grows while it takes records can be Python objects
(an index per record, a cache without a bound), SQLite's page caches, or
free space glibc keeps; only the process can tell them apart. With
``TRUSTMESH_MEMTRACE=<file>`` set, the daemon starts ``tracemalloc`` (one
frame: cheap enough for a soak) and a thread appends one JSON line to
``<file>`` (``{pid}`` in it is replaced by the process id) every ``TRUSTMESH_MEMTRACE_EVERY`` seconds (default 30): RSS,
the Python heap that tracemalloc sees, glibc's ``mallinfo2`` (in use and
free in the heap), SQLite's own allocator total, the thread count, and the
top growth by file:line since the first line. Off (the default) it costs
nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import threading
import time

ENV = "TRUSTMESH_MEMTRACE"
EVERY_ENV = "TRUSTMESH_MEMTRACE_EVERY"


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                 "uordblks", "fordblks", "keepcost")]


def _rss() -> dict[str, int]:
    """Resident bytes: all, anonymous (heap, mmapped blocks, stacks), file-backed (code, libraries)."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key = line.split(":")[0]
            if key in ("VmRSS", "RssAnon", "RssFile"):
                out[key] = int(line.split()[1]) * 1024
    return out


def _mallinfo() -> dict:
    """glibc's heap: bytes in use, free inside the heap, and in mmapped blocks ({} off glibc)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.mallinfo2
    except (OSError, AttributeError):
        return {}
    fn.restype = _MallInfo2
    m = fn()
    return {"heap": m.arena, "used": m.uordblks, "free": m.fordblks, "mmapped": m.hblkhd}


def _sqlite_bytes() -> int | None:
    """Bytes SQLite's allocator holds now (all connections: page caches, statements)."""
    try:
        import _sqlite3
        lib = ctypes.CDLL(_sqlite3.__file__)
        fn = lib.sqlite3_memory_used
    except (OSError, AttributeError, ImportError):
        return None
    fn.restype = ctypes.c_int64
    return int(fn())


def _live_trustmesh_objects(top: int = 12) -> dict[str, int]:
    """The node's own classes with most live instances (garbage in cycles included: no collection)."""
    import gc
    from collections import Counter
    counts = Counter(type(o).__qualname__ for o in gc.get_objects()
                     if str(type(o).__dict__.get("__module__", "")).startswith("trustmesh."))
    return dict(counts.most_common(top))


def sample(first=None, top: int = 15) -> tuple[dict, object]:
    """One line of the trace (and the snapshot it was taken from)."""
    import tracemalloc
    rss = _rss()
    line = {"t": round(time.time(), 1), "rss": rss.get("VmRSS", 0), "anon": rss.get("RssAnon"), "file": rss.get("RssFile"), "malloc": _mallinfo(),
            "sqlite": _sqlite_bytes(), "threads": threading.active_count()}
    line["live"] = _live_trustmesh_objects()
    if tracemalloc.is_tracing():
        snap = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)])
        line["python"] = tracemalloc.get_traced_memory()[0]
        if first is not None:
            line["growth"] = [(f"{s.traceback[0].filename.rsplit('site-packages/', 1)[-1]}:"
                               f"{s.traceback[0].lineno}", s.size_diff, s.count_diff)
                              for s in snap.compare_to(first, "lineno")[:top]]
        return line, snap
    return line, None


def maybe_trace() -> bool:
    """Start the trace thread if ``TRUSTMESH_MEMTRACE`` names a file; True if started."""
    path = os.environ.get(ENV)
    if not path:
        return False
    path = path.replace("{pid}", str(os.getpid()))     # one file per node when many share the setting
    import tracemalloc
    tracemalloc.start(1)
    every = float(os.environ.get(EVERY_ENV, "30"))

    def loop() -> None:
        first = None
        while True:
            line, snap = sample(first)
            first = first or snap
            with open(path, "a") as f:
                f.write(json.dumps(line) + "\n")
            time.sleep(every)
    threading.Thread(target=loop, name="memtrace", daemon=True).start()
    return True
