"""Soak: ten nodes for ten minutes at 20 new records/s overall plus API queries.

    python bench/soak.py [--nodes 10] [--minutes 10] [--rate 20] [--queries 4]

Real node processes (``trustmesh.testing.Cluster``, chain bootstrap, meshed
by peer exchange). A paced loop makes ``--rate`` attestations a second on
random nodes through their API and ``--queries`` API reads a second
(records pages, trust, rank, status) on random nodes. Every 10 s it samples
each node's RSS. At the end it waits (up to 120 s) for every record to be
on every node, then prints: records made, records missing on some node
(must be 0), propagation to all nodes (p50/p95/max), errors in the node
logs (must be none), and each node's RSS curve with its growth after
warm-up (the first fifth of the run; must stay under 10%).

Reference measured in the same run: the propagation of ten records made one
at a time on the idle cluster before the load starts; the loaded p95 is
printed as a ratio to it (the machine is shared and noisy).
Exit status 1 if a record is lost, a log holds an error, or RSS grew 10% or more.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trustmesh.crypto.keys import Identity  # noqa: E402
from trustmesh.testing import Cluster  # noqa: E402


def spread(net, made: list[tuple[int, str]]) -> list[float]:
    """Seconds from the maker's event to the last node's, per record (records still missing left out)."""
    out = []
    for maker, rid in made:
        times = [n.records.get(rid) for n in net]
        if all(t is not None for t in times):
            out.append(max(times) - net[maker].records[rid])
    return sorted(out)


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * (len(values) - 1)))] if values else float("nan")


def log_errors(node) -> list[str]:
    """Error lines of a node's log; for a traceback, the exception it ended with."""
    lines = (node.home / "node.log").read_text(errors="replace").splitlines()
    out = []
    for i, line in enumerate(lines):
        if '"level": "error"' in line or '"level": "critical"' in line:
            out.append(line[:300])
        elif "Traceback" in line:
            ending = next((x.strip(" |") for x in lines[i + 1:i + 60]
                           if re.match(r"^[\s|]*[\w.]+(Error|Exception|Group|Cancelled|Closed|Reset)\b", x)), "?")
            out.append(f"traceback: {ending[:250]}")
    return out


def diagnose(net, ids: list[str]) -> list[str]:
    """Per node that lacks records: how many by its events, how many its store really lacks, and its intake."""
    out = []
    for k, node in enumerate(net):
        unseen = [rid for rid in ids if not node.has([rid])]
        if not unseen:
            continue
        held = set(node.api("GET", "/v1/records/ids"))
        absent = [rid for rid in unseen if rid not in held]
        sync = node.api("GET", "/v1/sync")
        out.append(f"  node {k}: {len(unseen)} not announced, {len(absent)} not in its store; "
                   f"intake {sync['intake']}; quota {sync['quota_held']}/{sync['quota_limit']}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0, help="new records per second, all nodes together")
    parser.add_argument("--queries", type=float, default=4.0, help="API reads per second")
    parser.add_argument("--strangers", action="store_true",
                        help="the members do not vouch for each other (every record a stranger's: the quota bites)")
    parser.add_argument("--memtrace", metavar="DIR",
                        help="each node appends a memory trace to DIR/<pid>.jsonl (trustmesh/daemon/memtrace.py)")
    args = parser.parse_args()
    env = None
    if args.memtrace:
        Path(args.memtrace).mkdir(parents=True, exist_ok=True)
        env = {"TRUSTMESH_MEMTRACE": str(Path(args.memtrace).resolve() / "{pid}.jsonl")}
    rng = random.Random(1)
    subjects = [Identity.generate().id for _ in range(200)]
    with Cluster(args.nodes, start_timeout=120, env=env) as net:
        net.wait_connected(min_peers=2, timeout=60)
        print(f"soak: {args.nodes} nodes, {args.minutes} min, {args.rate} records/s, {args.queries} queries/s")

        # Every author is a stranger to every node here (no deals, no attestations between the nodes'
        # members), so each node stores strangers' records at the hourly rate (2,000) unless they come
        # from a peer its owner chose (docs/operating.md, the strangers' quota). Nodes 1..N-1 chose their
        # bootstrap peer; node 0, the chain's head, chose nobody and dropped records past the hourly room
        # (found by this bench: 2,548 refused over quota, 38 never held). Its owner connects to node 1,
        # as the owner of a first node does when the others join.
        net[0].connect(net[1].addr)
        # The members know each other, as in the network trustmesh is for: each vouches for the next and
        # the previous one, so every author has weight from every node's point of view. Without it every
        # record is a stranger's, and past 2,000 an hour per node that is what the quota refuses (a flood
        # cannot be told from it): found by the ten-minute run, 7,108 of 11,999 records never reached
        # some node, 375,076 re-offers refused over quota on node 0 (docs/reliability.md).
        if not args.strangers:
            vouches = [net[k].attest(net[(k + d) % len(net)].id, "delivery")
                       for k in range(len(net)) for d in (1, -1)]
            net.wait_for(vouches, timeout=60)
        idle: list[tuple[int, str]] = []
        for i in range(10):                         # the reference: one record at a time, idle cluster
            idle.append((i % args.nodes, net[i % args.nodes].attest(rng.choice(subjects))))
            net.wait_for([idle[-1][1]], timeout=30)
        reference = statistics.median(spread(net, idle)) or 1e-3
        print(f"reference (idle cluster): median propagation to all nodes {reference:.3f} s")

        made: list[tuple[int, str]] = []
        failures: list[str] = []
        rss: list[list[float]] = [[] for _ in net]
        held: list[list[int]] = [[] for _ in net]     # records each node held at each sample
        lock = threading.Lock()
        duration = args.minutes * 60

        def make() -> None:
            i = rng.randrange(args.nodes)
            try:
                rid = net[i].attest(rng.choice(subjects))
                with lock:
                    made.append((i, rid))
            except Exception as exc:
                failures.append(f"attest on node {i}: {exc}"[:300])

        def query() -> None:
            node = net[rng.randrange(args.nodes)]
            kind = rng.randrange(4)
            try:
                if kind == 0:
                    node.api("GET", "/v1/records", limit=20)
                elif kind == 1:
                    node.api("GET", f"/v1/trust/{rng.choice(subjects)}")
                elif kind == 2:
                    node.api("GET", "/v1/rank", facet="payment")
                else:
                    node.status()
            except Exception as exc:
                failures.append(f"query: {exc}"[:300])

        start = time.monotonic()
        next_make = next_query = next_sample = start
        if args.queries <= 0:
            next_query = float("inf")      # --queries 0: records only (to tell what the queries cost)
        with ThreadPoolExecutor(8) as pool:
            while (now := time.monotonic()) - start < duration:
                if now >= next_sample:
                    for k, node in enumerate(net):
                        rss[k].append(node.rss_mb())
                        held[k].append(len(node.records))
                    next_sample += 10
                while next_make <= now:
                    pool.submit(make)
                    next_make += 1 / args.rate
                while next_query <= now:
                    pool.submit(query)
                    next_query += 1 / args.queries
                time.sleep(max(0.0, min(next_make, next_query, next_sample) - time.monotonic()))
        elapsed = time.monotonic() - start
        ids = [rid for _, rid in made]
        settle = time.monotonic()
        delivered = net.wait_for(ids, timeout=120)
        settle_s = time.monotonic() - settle
        missing = sum(1 for rid in ids if not all(n.has([rid]) for n in net))
        lacking = diagnose(net, ids) if missing else []
        delays = spread(net, made)
        errors = [e for n in net for e in log_errors(n)]
        for k, node in enumerate(net):
            rss[k].append(node.rss_mb())
            held[k].append(len(node.records))

    print(f"records made: {len(made)} in {elapsed:.0f} s ({len(made) / elapsed:.1f}/s); API calls failed: "
          f"{len(failures)}; every record on every node: {delivered} (missing {missing}; settled "
          f"{settle_s:.1f} s after the load)")
    print(f"propagation to all {args.nodes} nodes: p50 {pct(delays, .5):.3f} s, p95 {pct(delays, .95):.3f} s, "
          f"max {delays[-1] if delays else float('nan'):.3f} s; p95 / idle reference = "
          f"{pct(delays, .95) / reference:.1f}")
    print(f"errors in node logs: {len(errors)}")
    for line in lacking:
        print(line)
    from collections import Counter
    for line, count in Counter(errors + failures).most_common(12):
        print(f"   {count} x {line}")
    worst = 0.0
    warm = max(1, len(rss[0]) // 5)
    for k, curve in enumerate(rss):
        base = max(curve[:warm + 1])
        growth = (max(curve[warm:]) - base) / base
        worst = max(worst, growth)
        step = max(1, len(curve) // 12)
        taken = held[k][-1] - held[k][warm]
        per = (max(curve[warm:]) - base) * 2**20 / taken if taken > 0 else float("nan")
        print(f"  node {k} RSS MiB (every {10 * step} s): {' '.join(f'{v:.0f}' for v in curve[::step])}"
              f"  growth after warm-up {growth:+.1%} ({per:.0f} bytes per record taken since)")
    print(f"worst RSS growth after warm-up: {worst:+.1%} (limit +10%)")
    ok = missing == 0 and not errors and worst < 0.10
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
