"""Benchmark: sync reconciliation cost, in memory (no network), printed.

    python bench/reconcile.py [--n 1000000] [--catchup 100000]

Targets (issue 4): 1,000,000 vs 1,000,000 ids differing by 10 reconcile in
<= 5 round trips and <= 20 KB before the missing records flow; a fresh node
catching up 100,000 records of ~200 bytes puts <= 1.3x their size on the
wire. Times are wall-clock on a shared 2-core machine: noisy.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from trustmesh.testing.memsync import Link, MemoryPeer, handle_sync_event, pump, record_id  # noqa: E402
from trustmesh.protocol.sync.session import SyncSession, WantRecords  # noqa: E402
from trustmesh.protocol.sync.index import SyncIndex  # noqa: E402


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(pa: MemoryPeer, pb: MemoryPeer) -> dict:
    """Sync pa (initiator) with pb; cost until the first record is asked for, and in all."""
    a = SyncSession(pa.index, initiator=True)
    b = SyncSession(pb.index, initiator=False)
    link = Link()
    first: dict = {}

    def on(peer, session):
        def handle(event):
            if isinstance(event, WantRecords) and not first:
                first.update(bytes=link.carried, rounds=max(a.stats.round_trips, b.stats.round_trips))
            handle_sync_event(peer, session, event)
        return handle

    t = time.perf_counter()
    a.start()
    b.start()
    pump(a, b, on(pa, a), on(pb, b), link=link)
    elapsed = time.perf_counter() - t
    assert a.state == b.state == "done", (a.state, b.state)
    return dict(first=first, elapsed=elapsed, a=a.stats, b=b.stats, carried=link.carried)


def near_equal(n: int, only_a: int, only_b: int, rng: random.Random) -> None:
    common = [rng.randbytes(32) for _ in range(n)]  # ids only: these records never travel
    extra_a = [rng.randbytes(200) for _ in range(only_a)]
    extra_b = [rng.randbytes(200) for _ in range(only_b)]
    pa = MemoryPeer({record_id(r): r for r in extra_a}, SyncIndex(common + [record_id(r) for r in extra_a]))
    pb = MemoryPeer({record_id(r): r for r in extra_b}, SyncIndex(common + [record_id(r) for r in extra_b]))
    r = run(pa, pb)
    assert set(pa.records) == set(pb.records)
    s = r["a"]
    print(f"  {n:,} ids, {only_a} only on initiator + {only_b} only on responder:")
    print(f"    before the first record flows: {r['first']['rounds']} round trips, "
          f"{r['first']['bytes']:,} bytes  (targets <= 5, <= 20,000)")
    print(f"    whole sync: {s.round_trips} round trips, {r['carried']:,} bytes on the link "
          f"({s.overhead_bytes:,} not record bytes), records {s.records_sent} out / "
          f"{s.records_received} in, {r['elapsed'] * 1000:.0f} ms")


def catch_up(n: int, rng: random.Random) -> None:
    raws = [rng.randbytes(rng.randint(150, 250)) for _ in range(n)]
    full = MemoryPeer.holding(raws)
    own = sum(len(x) for x in raws)
    for label, (pa, pb) in (("fresh side initiates", (MemoryPeer(), full)),
                            ("full side initiates", (full, MemoryPeer()))):
        fresh = pa if not pa.records else pb
        r = run(pa, pb)
        assert len(fresh.records) == n
        print(f"  {label}: {r['carried']:,} bytes on the wire for {own:,} bytes of records "
              f"= {r['carried'] / own:.3f}x (target <= 1.3x), {max(r['a'].round_trips, r['b'].round_trips)} "
              f"round trips, {r['elapsed']:.2f} s in memory")


def index_build(n: int, rng: random.Random) -> None:
    ids = [rng.randbytes(32) for _ in range(n)]
    tracemalloc.start()
    t = time.perf_counter()
    index = SyncIndex(ids)
    built = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    t = time.perf_counter()
    index.add([rng.randbytes(32) for _ in range(256)])
    len(index)
    merged = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(1000):
        lo = rng.randbytes(3)
        index.fingerprint(lo, None)
    fp = (time.perf_counter() - t) / 1000
    print(f"  build {n:,} ids: {built:.2f} s (target < 1 s); arrays {index.nbytes / 1e6:.0f} MB, "
          f"peak during build {peak / 1e6:.0f} MB (the input list not counted)")
    print(f"  add 256 ids then merge: {merged * 1000:.0f} ms; one range fingerprint: {fp * 1e6:.0f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--catchup", type=int, default=100_000)
    args = parser.parse_args()
    rng = random.Random(42)
    print("SyncIndex:")
    index_build(args.n, rng)
    print("Reconciliation of near-equal sets:")
    near_equal(args.n, 5, 5, rng)
    near_equal(args.n, 10, 0, rng)
    near_equal(args.n, 0, 10, rng)
    print("Catch-up of a fresh node:")
    catch_up(args.catchup, rng)
    print(f"max RSS of this process: {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
