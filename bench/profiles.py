"""Where a profiled node's event-loop CPU goes, by part (``bench/network.py``'s profile window).

cProfile's own time per function is charged to the part whose path it is in;
leaf libraries (numpy, nacl, hashing, the standard library...) are charged to
whoever called them, so "our sync" includes the numpy it calls.
"""

from __future__ import annotations

import pstats
from pathlib import Path


# Where a profiled node's event-loop CPU goes: the first part whose path fragment matches.
PARTS = [
    ("noise (encryption)", ("security/noise", "/noise/", "cryptography/hazmat/primitives/ciphers")),
    ("yamux", ("stream_muxer/yamux",)),
    ("protobuf", ("google/protobuf", "_pb2.py")),
    ("message signature", ("pubsub/validators.py", "libp2p/crypto/")),
    ("gossipsub / pubsub", ("libp2p/pubsub/",)),
    ("other libp2p", ("libp2p/",)),
    ("our sync (reconciliation)", ("trustmesh/protocol/sync/", "trustmesh/net/sync/")),
    ("our validation (decode, verify)", ("trustmesh/protocol/", "trustmesh/crypto/", "trustmesh/store/checks")),
    ("the trust engine", ("trustmesh/trust/", "trustmesh/core/trustview")),
    ("the store (SQLite)", ("trustmesh/store/", "sqlite3")),
    ("our network side", ("trustmesh/net/",)),
    ("our core (intake, events)", ("trustmesh/core/",)),
    ("API (HTTP, events stream)", ("trustmesh/api/", "starlette", "hypercorn", "h11", "anyio", "httpx")),
    ("trio (scheduling, sockets)", ("/trio/",)),
]
# Libraries that are leaves: their time goes to whoever called them (nacl: a record's or a message's
# signature; hashlib; a builtin)
LEAVES = ("~", "numpy/", "scipy/", "nacl/", "cffi", "hashlib", "logging/", "msgpack", "multiaddr", "base58", "<",
          "/outcome/")


def stdlib(path: str) -> bool:
    """The standard library's own modules (contextlib, weakref...): leaves too."""
    return "/lib/python3" in path and "site-packages" not in path


def part_of(path: str, name: str) -> str | None:
    if "sqlite3" in name or "sqlite3" in path:
        return "the store (SQLite)"
    if path == "~" or any(leaf in path for leaf in LEAVES) or stdlib(path):
        return None
    for part, fragments in PARTS:
        if any(f in path for f in fragments):
            return part
    return "other"


def summarise_profile(path: Path, records: int, idle_s: float) -> dict | None:
    """The profiled node's event-loop CPU in one window, by part, leaf libraries charged to callers."""
    if not path.exists():
        return None
    stats = pstats.Stats(str(path)).stats            # func -> (cc, nc, tt, ct, callers)
    memo: dict = {}

    def owner(func, depth=0):
        if func in memo:
            return memo[func]
        part = part_of(func[0], func[2])
        if part is None:
            callers = stats.get(func, (0, 0, 0, 0, {}))[4]
            if not callers or depth > 30:
                part = "other"
            else:   # the heaviest caller's part
                caller = max(callers, key=lambda c: callers[c][2] if isinstance(callers[c], tuple) else 0)
                part = owner(caller, depth + 1)
        memo[func] = part
        return part
    totals: dict[str, float] = {}
    calls = 0
    for func, (_cc, nc, tt, _ct, _callers) in stats.items():
        totals[owner(func)] = totals.get(owner(func), 0.0) + tt
        calls += nc
    return {"totals": totals, "records": records, "calls": calls, "idle_s": idle_s}


def print_profile(p: dict) -> None:
    totals, records = p["totals"], max(1, p["records"])
    whole = sum(totals.values())
    print(f"    profiled node 1, event-loop thread, cProfile on its CPU clock: {whole:.2f} s "
          f"= {whole / records * 1000:.2f} ms per record (profiling inflates it; {p['calls'] / records:.0f} "
          f"Python calls per record), by part:")
    for part, t in sorted(totals.items(), key=lambda kv: -kv[1]):
        if t / whole >= 0.01:
            print(f"      {part:34s} {t / whole * 100:5.1f}%")
