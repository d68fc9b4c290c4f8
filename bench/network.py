"""Network benchmark: real node processes on 127.0.0.1. Prints its figures.

    python bench/network.py                  # propagation + catch-up + idle memory
    python bench/network.py --million        # also 1,000,000 records: RSS, reconciliation (slow)

1. Propagation: 10 nodes in a random sparse mesh, 1,000 records published
   at 50/s from random nodes; per record, the time from its creation until
   the last node has it (targets: median <= 250 ms, p99 <= 1 s, 100% <= 10 s).
2. Catch-up: a fresh node syncing 100,000 records from one peer (target
   <= 10 s, bytes on the wire <= 1.3x the records' size).
3. Burst: one member makes 10,000 records in a row; every node of a chain
   of 3 gets them all (gossip batches under load, sync repairs the rest).
4. Memory: RSS of an idle node, and of a node holding 1,000,000 records
   (target <= 500 MB).
5. Reconciliation (--million): two nodes holding 1,000,000 records that
   differ by 10 connect; round trips and bytes other than the records'
   own (targets <= 5 round trips, <= 20 KB).
The machine is shared (2 cores, other work running): figures are noisy.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trustmesh.crypto.keys import Identity  # noqa: E402
from trustmesh.testing.cluster import NodeProcess  # noqa: E402
from trustmesh.testing.records import fill_store  # noqa: E402
from trustmesh.core.ledger import Ledger, now_ms  # noqa: E402
from trustmesh.protocol.records import Attestation, encode, record_id, sign  # noqa: E402


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def propagation(root: Path, n_nodes=10, n_records=1000, rate=50.0) -> None:
    env = {"TRUSTMESH_NET_DISCOVERY_TARGET_PEERS": "3"}
    nodes: list[NodeProcess] = []
    try:
        for i in range(n_nodes):
            boot = [random.choice(nodes).addr for _ in range(min(2, len(nodes)))]
            nodes.append(NodeProcess(root / f"p{i}", bootstrap=sorted(set(boot)), env=env).start())
        time.sleep(3)
        degrees = [len(n.call("peers")) for n in nodes]
        print(f"propagation: {n_nodes} nodes, peers per node {degrees}")
        tags = []
        start = time.monotonic()
        for k in range(n_records):
            origin = random.choice(nodes)
            subject = random.choice([n for n in nodes if n is not origin])
            tags.append((origin, origin.send("attest", subject=subject.id, facet="payment", positive=True)))
            time.sleep(max(0.0, start + (k + 1) / rate - time.monotonic()))
        ids = [origin.result(tag, 60) for origin, tag in tags]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not all(n.has(ids) for n in nodes):
            time.sleep(0.1)
        delays, missing = [], 0
        for rid in ids:
            times = [n.records.get(rid) for n in nodes]
            if None in times:
                missing += 1
                continue
            delays.append(max(times) - min(times))
        within10 = sum(1 for d in delays if d <= 10) / len(ids)
        print(f"  published {n_records} records at {rate:.0f}/s from random nodes")
        print(f"  time until every node has a record: median {statistics.median(delays) * 1000:.0f} ms, "
              f"p99 {pct(delays, 0.99) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms")
        print(f"  everywhere within 10 s: {within10 * 100:.1f}% (missing after 15 s: {missing})")
        print(f"  idle-ish node RSS after the run: {statistics.median(n.rss_mb() for n in nodes):.0f} MiB (median)")
    finally:
        for n in nodes:
            n.stop()


def catch_up(root: Path, n_records=100_000) -> None:
    t = time.monotonic()
    size = fill_store(root / "full", n_records)
    print(f"catch-up: made a store of {n_records} records ({size / 1e6:.1f} MB) in {time.monotonic() - t:.0f} s")
    full = NodeProcess(root / "full").start(60)
    fresh = None
    try:
        t0 = time.monotonic()
        fresh = NodeProcess(root / "fresh", bootstrap=[full.addr]).start()
        while time.monotonic() - t0 < 120:
            if fresh.call("status")["records"] >= n_records:
                break
            time.sleep(0.2)
        took = time.monotonic() - t0
        status = fresh.call("status")
        stats = next(iter(status["sync"]["peers"].values()), None) or \
            next(iter(full.call("status")["sync"]["peers"].values()), {})
        wire = stats.get("bytes_in", 0) + stats.get("bytes_out", 0)
        print(f"  fresh node holds {status['records']} records {took:.1f} s after it started "
              f"(sync session {stats.get('seconds')} s)")
        print(f"  bytes on the wire (sync stream payload, both ways): {wire / 1e6:.2f} MB = "
              f"{wire / size:.3f}x the records' size")
        print(f"  RSS: full node {full.rss_mb():.0f} MiB, fresh node {fresh.rss_mb():.0f} MiB")
    finally:
        if fresh:
            fresh.stop()
        full.stop()


def burst(root: Path, n_records: int = 10_000, n_nodes: int = 3) -> None:
    """A burst of new records from one member reaches every node (gossip, then sync)."""
    nodes: list[NodeProcess] = []
    try:
        for i in range(n_nodes):
            nodes.append(NodeProcess(root / f"b{i}", bootstrap=[nodes[-1].addr] if nodes else []).start())
        time.sleep(2)
        origin, others = nodes[0], nodes[1:]
        t0 = time.monotonic()
        ids = []
        for start in range(0, n_records, 1000):
            ids += origin.call("attest-many", subjects=[others[0].id] * min(1000, n_records - start),
                               timeout=120)
        made = time.monotonic() - t0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all(n.has(ids) for n in others):
            time.sleep(0.2)
        took = time.monotonic() - t0
        got = [sum(1 for r in ids if r in n.records) for n in others]
        via = {}
        for n in others:
            for e in n.events_of("sync"):
                via["sync"] = via.get("sync", 0) + int(e.get("received", 0))
        print(f"burst: {n_records:,} records made by one member in {made:.1f} s; all {n_nodes} nodes "
              f"hold them {took:.1f} s after the first (held: {got}; "
              f"{via.get('sync', 0)} came by sync, the rest by gossip)")
    finally:
        for n in nodes:
            n.stop()


def memory(root: Path) -> None:
    idle = NodeProcess(root / "idle").start()
    time.sleep(2)
    print(f"memory: idle node RSS {idle.rss_mb():.0f} MiB")
    idle.stop()


def million(root: Path, n_records: int = 1_000_000, differ: int = 10) -> None:
    """RSS with 1M records held, and two 1M stores differing by ``differ`` reconciling."""
    import shutil
    t = time.monotonic()
    fill_store(root / "m1", n_records, authors=2000)
    (root / "m2").mkdir()
    Ledger.create(root / "m2").close()
    shutil.copyfile(root / "m1" / "store.sqlite", root / "m2" / "store.sqlite")
    for home in ("m1", "m2"):                      # differ/2 records only on each side
        extra = fill_store(root / f"x-{home}", differ // 2, authors=differ // 2)
        src = Ledger.open(root / f"x-{home}")
        dst = Ledger.open(root / home)
        dst.store.ingest(list(src.store.iter_raw()), now_ms())
        src.close(), dst.close()
        del extra
    print(f"million: made two stores of {n_records:,} records differing by {differ} "
          f"in {time.monotonic() - t:.0f} s")
    # the generated authors have no path from these nodes: lift the strangers' quota
    env = {"TRUSTMESH_NET_DEFENCE_UNWEIGHTED_QUOTA": str(2 * n_records)}
    a = NodeProcess(root / "m1", env=env).start(180)
    b = None
    try:
        time.sleep(3)
        print(f"  node holding {n_records:,} records: RSS {a.rss_mb():.0f} MiB (target <= 500 MB)")
        t0 = time.monotonic()
        b = NodeProcess(root / "m2", bootstrap=[a.addr], env=env).start(180)
        started = time.monotonic() - t0
        deadline = time.monotonic() + 120
        stats = None
        while time.monotonic() < deadline:
            peers = a.call("status")["sync"]["peers"]
            stats = next(iter(peers.values()), None)
            if stats and stats.get("result") == "done":
                break
            time.sleep(0.2)
        counts = (a.call("status")["records"], b.call("status")["records"])
        print(f"  reconciliation: {stats['round_trips']} round trips, "
              f"{stats['overhead'] / 1000:.1f} KB of fingerprints/ids/framing "
              f"(targets <= 5 round trips, <= 20 KB), records moved: sent {stats['sent']}, "
              f"received {stats['received']} (accepted {stats['accepted']}); session {stats['seconds']} s "
              f"(second node started in {started:.1f} s)")
        print(f"  both now hold {counts[0]:,} / {counts[1]:,} records; RSS {a.rss_mb():.0f} / "
              f"{b.rss_mb():.0f} MiB")
    finally:
        if b:
            b.stop()
        a.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--million", action="store_true")
    parser.add_argument("--skip-propagation", action="store_true")
    parser.add_argument("--skip-catch-up", action="store_true")
    parser.add_argument("--skip-burst", action="store_true")
    args = parser.parse_args()
    random.seed(7)
    with tempfile.TemporaryDirectory(prefix="trustmesh-bench-") as tmp:
        root = Path(tmp)
        if not args.skip_propagation:
            propagation(root)
        if not args.skip_catch_up:
            catch_up(root)
        if not args.skip_burst:
            burst(root)
        memory(root)
        if args.million:
            million(root)


if __name__ == "__main__":
    main()
