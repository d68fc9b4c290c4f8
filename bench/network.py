"""Network benchmark: real node processes on 127.0.0.1, driven over their API. Prints its figures.

    python bench/network.py                  # propagation + CPU + burst + catch-up + idle memory
    python bench/network.py --reference      # also the same network with py-libp2p's duplicate handling
    python bench/network.py --reference signed   # ... or with signed gossip messages
    python bench/network.py --reference relay    # ... or with relays forwarding each message as it came
    python bench/network.py --reference nosync   # ... or with no periodic sync (what it costs under load)
    python bench/network.py --services       # CPU per record with each node service off in turn
    python bench/network.py --floor          # also the network side alone (bench/floor_node.py)
    python bench/network.py --million        # also 1,000,000 records: RSS, reconciliation (slow)

1. Propagation and CPU: 10 nodes in a random sparse mesh; records made
   through each node's API at 50/s and then at 100/s, from random nodes;
   per record, the time from its creation until the last node has it
   (targets: median <= 250 ms, p99 <= 1 s, 100% <= 10 s). CPU time per
   record per node from each process's own counters (/proc: the event-loop
   thread and the other threads apart, idle CPU subtracted), then the same
   with one publisher, so the sending side (API, signing, storing,
   publishing) and the receiving side are apart (target <= 1 ms per record
   per node at 50/s). One receiver runs under cProfile
   (TRUSTMESH_PROFILE): where its event loop's CPU goes, by part.
   ``--reference`` repeats it all with py-libp2p's handling of duplicate
   copies (TRUSTMESH_NET_GOSSIP_EARLY_DEDUP=0), or ``--reference signed``
   with the old signing policy (every gossip message signed), or
   ``--reference relay`` with relays that forward each message as it came
   instead of re-packing (TRUSTMESH_NET_GOSSIP_REPACK_RELAYS=0): the
   same-run reference for the machine's load, CPU and latency side by side. ``--services`` measures the
   CPU per record at 50/s with each node service (DHT, AutoNAT, relay
   client and DCUtR, keep-alive pings, IHAVE gossip) off in turn.
   ``--floor`` runs the same loads on the same topology of processes that
   are a node's network side alone (``bench/floor_node.py``: the same
   settings, records taken without a look, no store, API or trust), and
   prints the node's CPU per record against that floor, same run.
2. Burst: one member's 10,000 records (imported at once on its node) reach
   every node of a chain of 3 (target <= 5 s).
3. Catch-up: a fresh node syncing 100,000 records from one peer (target
   <= 5 s, bytes on the wire <= 1.1x the records' size).
4. Memory: RSS of an idle node, and of a node holding 1,000,000 records
   (target <= 500 MB).
5. Reconciliation (--million): two nodes holding 1,000,000 records that
   differ by 10 connect; round trips and bytes other than the records'
   own (targets <= 5 round trips, <= 20 KB).
The machine is shared (2 cores, other work running): every figure is
printed with the load average, and the latency figures mean little when
the load is above the 2 cores.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from profiles import print_profile, summarise_profile  # noqa: E402
from trustmesh.crypto.keys import Identity  # noqa: E402
from trustmesh.testing.cluster import NodeProcess  # noqa: E402
from trustmesh.testing.records import attestation_chain, fill_store  # noqa: E402
from trustmesh.core.ledger import Ledger, now_ms  # noqa: E402

def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f} (1/5 min) on {os.cpu_count()} cores"


def cpu_of(node: NodeProcess) -> tuple[float, float]:
    """(event-loop thread, all other threads) CPU seconds of a node process so far."""
    tick = os.sysconf("SC_CLK_TCK")
    pid = node.proc.pid

    def ticks(path: str) -> float:
        fields = open(path).read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick
    total = ticks(f"/proc/{pid}/stat")          # includes threads that ended
    main = ticks(f"/proc/{pid}/task/{pid}/stat")
    return main, total - main


class Network:
    """``n`` node processes, each bootstrapping from up to 2 random earlier ones."""

    def __init__(self, root: Path, n: int, env: dict, profile: Path | None = None) -> None:
        self.nodes: list[NodeProcess] = []
        self.profile = profile
        try:
            self._start(root, n, env)
        except BaseException:
            self.stop()
            raise

    def _start(self, root: Path, n: int, env: dict) -> None:
        for i in range(n):
            node_env = dict(env)
            if self.profile is not None and i == 1:      # profiled in a window of its own
                node_env["TRUSTMESH_PROFILE"] = str(self.profile)
            self.nodes.append(NodeProcess(root / f"p{i}", bootstrap=self._boot(), env=node_env).start(120))
        self._settle(lambda node: len(node.peers()))

    def _boot(self) -> list[str]:
        """Up to 2 random earlier processes to bootstrap from."""
        return sorted({random.choice(self.nodes).addr for _ in range(min(2, len(self.nodes)))})

    def _settle(self, peers_of) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not all(peers_of(node) >= 2 for node in self.nodes):
            time.sleep(0.2)
        time.sleep(2)                    # meshes formed (1 s heartbeat)

    def profiling(self, on: bool) -> None:
        """Start (SIGUSR1) or stop and write (SIGUSR2) the profiled node's profile."""
        if self.profile is None:
            return
        if on:
            self.profile.unlink(missing_ok=True)
            os.kill(self.nodes[1].proc.pid, signal.SIGUSR1)
            return
        os.kill(self.nodes[1].proc.pid, signal.SIGUSR2)
        deadline = time.monotonic() + 30
        while not self.profile.exists() and time.monotonic() < deadline:
            time.sleep(0.1)

    def cpu(self) -> list[tuple[float, float]]:
        return [cpu_of(n) for n in self.nodes]

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()


class FloorNetwork(Network):
    """``n`` floor processes (``bench/floor_node.py``: a node's network side alone), joined as the
    nodes are."""

    def _start(self, root: Path, n: int, env: dict) -> None:
        from floor_node import FloorProcess
        for i in range(n):
            self.nodes.append(FloorProcess(root / f"f{i}", self._boot(), env))
        self._settle(lambda process: process.counts()[1])

    def churn(self) -> int:
        """Connections closed by the keep-alive so far (its warnings go to each process's stderr)."""
        return sum((p.home / "stderr.log").read_text(errors="replace").count("gave no answer to a ping")
                   for p in self.nodes)


def received(n) -> float:
    """Gossip messages from peers the node has validated (its metrics), 0 if unreadable."""
    try:
        text = n.http.get("/metrics").text
    except Exception:
        return 0.0
    for line in text.splitlines():
        if line.startswith("trustmesh_gossip_received_total"):
            return float(line.split()[-1])
    return 0.0


def idle_cpu(net: Network, unit: str | None = None, seconds: float = 4.0) -> list[float]:
    """Each node's CPU seconds per second while nothing is published (heartbeats, pings); printed
    per ``unit`` if given."""
    before, t0 = net.cpu(), time.monotonic()
    time.sleep(seconds)
    after, took = net.cpu(), time.monotonic() - t0
    idle = [(sum(a) - sum(b)) / took for a, b in zip(after, before)]
    if unit:
        print(f"  idle CPU per {unit}: {statistics.mean(idle) * 1000:.0f} ms/s (subtracted below)")
    return idle


def load_run(net: Network, idle: list[float], n_records: int, rate: float, one_origin: bool,
             profiled: bool = False) -> dict:
    """Publish ``n_records`` at ``rate``/s through the API; latency and CPU figures.

    ``profiled``: node 1 runs under cProfile meanwhile, for the profile only: it costs that node
    about three times its CPU (a quarter of the machine at 50 records/s), so such a window's CPU
    and latency are not the node's and are not quoted.
    """
    nodes = net.nodes
    pool = ThreadPoolExecutor(16)
    futures = []
    if profiled:
        net.profiling(True)
    before, t0 = net.cpu(), time.monotonic()
    heard = [received(n) for n in nodes]
    for k in range(n_records):
        origin = nodes[0] if one_origin else random.choice(nodes)
        subject = random.choice([n for n in nodes if n is not origin])
        futures.append(pool.submit(origin.attest, subject.id))
        time.sleep(max(0.0, t0 + (k + 1) / rate - time.monotonic()))
    ids, failed = [], 0
    for f in futures:
        try:
            ids.append(f.result(120))
        except Exception:            # a node too loaded to answer its API in time
            failed += 1
    pool.shutdown()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not all(n.has(ids) for n in nodes):
        time.sleep(0.05)
    after, took = net.cpu(), time.monotonic() - t0
    heard = [received(n) - h for n, h in zip(nodes, heard)]
    if profiled:
        net.profiling(False)
    churn = sum(n.log_tail(100_000).count("gave no answer to a ping") for n in nodes)
    figures = window_figures(ids, [n.records for n in nodes], before, after, took, idle)
    profile = summarise_profile(net.profile, n_records, idle[1] * took) if profiled and net.profile else None
    return {**figures, "failed": failed, "profile": profile, "churn": churn,
            "messages_per_record": statistics.mean(heard) / max(1, len(ids))}


def window_figures(ids: list[str], seen: list[dict], before: list, after: list, took: float,
                   idle: list[float]) -> dict:
    """Latency (first to last node), lateness by node and CPU per record per node of one window.

    ``seen``: per node, record id -> when it was first there (the machine's clock, shared).
    """
    delays, late, missing = [], [0] * len(seen), 0
    for rid in ids:
        times = [s.get(rid) for s in seen]
        if None in times:
            missing += 1
            continue
        delays.append(max(times) - min(times))
        for k, t in enumerate(times):
            late[k] += t - min(times) > 10
    per_node = [(sum(a) - sum(b) - i * took) / max(1, len(ids)) * 1000 for a, b, i in zip(after, before, idle)]
    loop_share = sum(a[0] - b[0] for a, b in zip(after, before)) / max(
        1e-9, sum(sum(a) - sum(b) for a, b in zip(after, before)))
    return {"delays": delays, "late": late, "missing": missing, "n": len(ids), "per_node_ms": per_node,
            "loop_share": loop_share, "seconds": took}


def floor_run(net: FloorNetwork, idle: list[float], raws: list[bytes], rate: float, one_origin: bool) -> dict:
    """``raws`` gossiped at ``rate``/s on floor processes: the figures ``load_run`` gives."""
    nodes = net.nodes
    before, t0 = net.cpu(), time.monotonic()
    for k, raw in enumerate(raws):
        (nodes[0] if one_origin else random.choice(nodes)).publish(raw)
        time.sleep(max(0.0, t0 + (k + 1) / rate - time.monotonic()))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not all(p.counts()[0] >= len(raws) for p in nodes):
        time.sleep(0.05)
    after, took = net.cpu(), time.monotonic() - t0
    ids = [hashlib.sha256(raw).hexdigest() for raw in raws]
    figures = window_figures(ids, [p.times() for p in nodes], before, after, took, idle)
    return {**figures, "failed": 0, "profile": None, "churn": net.churn(), "messages_per_record": None}


def latency(r: dict) -> str:
    """Median / p99 time until every node has a record, and the share everywhere within 10 s."""
    d = r["delays"]
    if not d:
        return "no record everywhere"
    within10 = sum(1 for x in d if x <= 10) / r["n"]
    return (f"median {statistics.median(d) * 1000:.0f} ms, p99 {pct(d, 0.99) * 1000:.0f} ms, "
            f"within 10 s {within10 * 100:.1f}%")


def print_run(label: str, r: dict, one_origin: bool) -> None:
    d = r["delays"]
    within10 = sum(1 for x in d if x <= 10) / r["n"]
    per = r["per_node_ms"]
    print(f"  {label}: {r['n']} records ({r['failed']} API calls failed), {load()}; "
          f"connections closed by keep-alive so far: {r['churn']}")
    if d:
        print(f"    time until every node has a record: median {statistics.median(d) * 1000:.0f} ms, "
              f"p99 {pct(d, 0.99) * 1000:.0f} ms, max {max(d) * 1000:.0f} ms; "
              f"everywhere within 10 s: {within10 * 100:.1f}% (missing after 15 s: {r['missing']})")
    if any(r.get("late", ())):   # one node late for most records is a hole in the mesh, not the load
        print(f"    records more than 10 s late, by node: {r['late']}")
    if one_origin:
        rest = per[1:]
        print(f"    CPU per record: publisher {per[0]:.2f} ms, receivers median {statistics.median(rest):.2f} ms "
              f"(min {min(rest):.2f}, max {max(rest):.2f}); mean over all nodes {statistics.mean(per):.2f} ms")
    else:
        print(f"    CPU per record per node: mean {statistics.mean(per):.2f} ms (min {min(per):.2f}, "
              f"max {max(per):.2f}); summed over {len(per)} nodes {sum(per):.1f} ms; "
              f"event-loop thread {r['loop_share'] * 100:.0f}% of it")
    if r["messages_per_record"] is not None:      # the floor does not count them
        print(f"    gossip messages from peers validated per record per node: {r['messages_per_record']:.2f}")
    if r.get("profile"):
        print_profile(r["profile"])


# --reference: the same network as py-libp2p handles duplicates (every copy a task, a copy that
# arrives while the first is being validated is validated and relayed again), or with signed messages
REFERENCES = {
    "dedup": ("copies handled as upstream (gossip.early_dedup = false)", {"TRUSTMESH_NET_GOSSIP_EARLY_DEDUP": "0"}),
    "signed": ("signed messages (old StrictSign)", {"TRUSTMESH_NET_GOSSIP_SIGN_MESSAGES": "1"}),
    "relay": ("relays forward each message as it came (gossip.repack_relays = false)",
              {"TRUSTMESH_NET_GOSSIP_REPACK_RELAYS": "0"}),
    "keepalive": ("a connection closed on its first missed ping (discovery.keepalive_retry_factor = 1)",
                  {"TRUSTMESH_NET_DISCOVERY_KEEPALIVE_RETRY_FACTOR": "1"}),
    "nosync": ("no periodic sync (sync.interval_s = 3600): what the anti-entropy costs under load",
               {"TRUSTMESH_NET_SYNC_INTERVAL_S": "3600"}),
}


def propagation(root: Path, reference: str | None, n_nodes: int = 10, n_records: int = 1000) -> dict:
    policy, extra = REFERENCES[reference] if reference else ("as configured", {})
    env = {"TRUSTMESH_NET_DISCOVERY_TARGET_PEERS": "3", **extra}
    name = reference or "configured"
    profile = Path(tempfile.gettempdir()) / f"trustmesh-network-{name}.pstats"
    net = Network(root / name, n_nodes, env, profile)
    out = {}
    try:
        print(f"propagation, {policy}: {n_nodes} nodes, peers per node "
              f"{[len(n.peers()) for n in net.nodes]}; {load()}")
        idle = idle_cpu(net, "node")
        for rate in (50.0, 100.0):
            r = load_run(net, idle, n_records, rate, one_origin=False)
            print_run(f"{rate:.0f} records/s from random nodes", r, False)
            out[rate] = r
        r = load_run(net, idle, n_records // 2, 50.0, one_origin=True)
        print_run("50 records/s from one node (node 0 publishes)", r, True)
        out["one"] = r
        r = load_run(net, idle, n_records // 2, 50.0, one_origin=False, profiled=True)
        print(f"  profile window (not quoted above: the profiler slows node 1 about 3x): {r['n']} records "
              f"at 50/s from random nodes; {load()}")
        if r["profile"]:
            print_profile(r["profile"])
        print(f"  idle-ish node RSS after the runs: {statistics.median(n.rss_mb() for n in net.nodes):.0f} MiB "
              f"(median)")
    finally:
        net.stop()
    print(f"  (the last window's profile: {profile})")
    return out


def floor(root: Path, n_nodes: int = 10, n_records: int = 1000) -> dict:
    """``propagation``'s loads on processes that are a node's network side alone (floor_node.py)."""
    env = {"TRUSTMESH_NET_DISCOVERY_TARGET_PEERS": "3"}
    authors = [Identity.generate() for _ in range(n_nodes)]
    subjects = [a.public_key for a in authors]
    per_author = 3 * n_records // n_nodes + 1          # the three runs' records, interleaved by author
    chains = [attestation_chain(a, subjects, per_author) for a in authors]
    records = iter([chain[k] for k in range(per_author) for chain in chains])
    net = FloorNetwork(root / "floor", n_nodes, env)
    out = {}
    try:
        print(f"floor (bench/floor_node.py: the network side alone, same settings, no store, API or trust): "
              f"{n_nodes} processes, peers {[p.counts()[1] for p in net.nodes]}; {load()}")
        idle = idle_cpu(net, "process")
        runs = [(50.0, n_records, False), (100.0, n_records, False), ("one", n_records // 2, True)]
        for key, n, one in runs:
            raws = [next(records) for _ in range(n)]
            r = floor_run(net, idle, raws, 50.0 if one else key, one)
            print_run("50 records/s from one process" if one else f"{key:.0f} records/s from random processes",
                      r, one)
            out[key] = r
    finally:
        net.stop()
    return out


# The node's services, each turned off alone (then all at once), against the node as configured in
# the same run: what each costs per record at 50 records/s.
SERVICES = [
    ("as configured", {}),
    ("DHT off", {"TRUSTMESH_NET_NAT_DHT": "0"}),
    ("AutoNAT off", {"TRUSTMESH_NET_NAT_AUTONAT": "0"}),
    ("relay client and DCUtR off", {"TRUSTMESH_NET_NAT_RESERVE": "0", "TRUSTMESH_NET_NAT_DCUTR": "0"}),
    ("keep-alive pings off", {"TRUSTMESH_NET_DISCOVERY_KEEPALIVE_INTERVAL_S": "86400"}),
    ("IHAVE gossip off (D_lazy 0)", {"TRUSTMESH_NET_GOSSIP_DEGREE_LAZY": "0"}),
]


def services(root: Path, n_records: int, n_nodes: int = 10, only: str = "") -> None:
    """CPU per record per node at 50/s with each service off, beside the node as configured."""
    variants = SERVICES + [("all of those off", {k: v for _, e in SERVICES for k, v in e.items()})]
    if only:
        variants = [v for v in variants if v[0] == "as configured" or any(w in v[0] for w in only.split(","))]
    base = None
    for i, (label, extra) in enumerate(variants):
        env = {"TRUSTMESH_NET_DISCOVERY_TARGET_PEERS": "3", **extra}
        net = Network(root / f"svc{i}", n_nodes, env)
        try:
            idle = idle_cpu(net)
            r = load_run(net, idle, n_records, 50.0, one_origin=False)
        finally:
            net.stop()
        mean = statistics.mean(r["per_node_ms"])
        base = base or mean
        d = r["delays"]
        print(f"  services, {label}: CPU per record per node {mean:.2f} ms = {mean / base:.2f}x "
              f"(idle {statistics.mean(idle) * 1000:.0f} ms/s per node); median "
              f"{statistics.median(d) * 1000 if d else float('nan'):.0f} ms, missing {r['missing']}; {load()}")


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
            if fresh.status()["records"] >= n_records:
                break
            time.sleep(0.2)
        took = time.monotonic() - t0
        status = fresh.status()
        stats = next(iter(status["sync"]["peers"].values()), None) or \
            next(iter(full.status()["sync"]["peers"].values()), {})
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
    """One member's burst of new records reaches every node of a chain (gossip, then sync).

    The member made them offline and imports them on its node in one bundle
    (imports are gossiped like records made there), so the burst is as fast
    as it can be: the measure is the network's, not the API's.
    """
    member = Identity.generate()
    raws = attestation_chain(member, [Identity.generate().public_key for _ in range(50)], n_records)
    ids = [hashlib.sha256(r).hexdigest() for r in raws]
    nodes: list[NodeProcess] = []
    # The member is a fresh identity nobody weighs yet: the strangers' hourly rate (2,000 from a
    # peer nobody chose) would hold its records back by design, so it is lifted here.
    env = {"TRUSTMESH_NET_DEFENCE_UNWEIGHTED_PER_HOUR": str(10 * n_records)}
    try:
        for i in range(n_nodes):
            nodes.append(NodeProcess(root / f"b{i}", bootstrap=[nodes[-1].addr] if nodes else [],
                                     env=env).start(120))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not all(n.peers() for n in nodes):
            time.sleep(0.1)
        time.sleep(2)
        origin = nodes[0]
        before = [cpu_of(n) for n in nodes]
        t0 = time.monotonic()
        origin.import_raws(raws)
        made = time.monotonic() - t0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all(n.has(ids) for n in nodes):
            time.sleep(0.05)
        took = time.monotonic() - t0
        cpu = [sum(a) - sum(b) for a, b in zip((cpu_of(n) for n in nodes), before)]
        got = [sum(1 for r in ids if r in n.records) for n in nodes]
        via = sum(n.status()["sync"]["intake"].get("accepted", 0) for n in nodes[1:])
        by_sync = sum(int(e.get("accepted", 0)) for n in nodes[1:] for e in n.events_of("sync"))
        print(f"burst: {n_records:,} records by one member, imported on its node in {made:.1f} s; all "
              f"{n_nodes} nodes hold them {took:.1f} s after the import started (target <= 5 s; held: {got}; "
              f"{via} stored from peers, {by_sync} of them by sync); CPU per record per node "
              f"{statistics.mean(cpu) / n_records * 1000:.2f} ms; {load()}")
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
            peers = a.status()["sync"]["peers"]
            stats = next(iter(peers.values()), None)
            if stats and stats.get("result") == "done":
                break
            time.sleep(0.2)
        counts = (a.status()["records"], b.status()["records"])
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


def compare(title: str, name: str, runs: dict, other_name: str, other: dict) -> None:
    """Two same-run propagations side by side: CPU per record per node and latency, per load."""
    for key, label in ((50.0, "50/s"), (100.0, "100/s"), ("one", "one publisher")):
        a, b = statistics.mean(runs[key]["per_node_ms"]), statistics.mean(other[key]["per_node_ms"])
        print(f"{title}, {label}: CPU per record per node, {name} {a:.2f} ms vs {other_name} {b:.2f} ms "
              f"= {a / b:.2f}x; {latency(runs[key])} vs {latency(other[key])}; {load()}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--million", action="store_true")
    parser.add_argument("--reference", nargs="?", const="dedup", choices=sorted(REFERENCES),
                        help="also run the propagation as a reference: copies handled as upstream "
                             "(dedup, the default) or signed gossip messages (signed)")
    parser.add_argument("--records", type=int, default=1000, help="records per propagation run")
    parser.add_argument("--skip-propagation", action="store_true")
    parser.add_argument("--services", nargs="?", const="all", default=None,
                        help="CPU per record with each node service off in turn (or those named, comma-separated)")
    parser.add_argument("--floor", action="store_true",
                        help="also the same loads on processes that are a node's network side alone")
    parser.add_argument("--skip-catch-up", action="store_true")
    parser.add_argument("--skip-burst", action="store_true")
    args = parser.parse_args()
    random.seed(7)
    print(f"bench/network.py on {os.cpu_count()} cores; {load()} at the start")
    with tempfile.TemporaryDirectory(prefix="trustmesh-bench-") as tmp:
        root = Path(tmp)
        if args.services:
            services(root, args.records // 2, only="" if args.services == "all" else args.services)
        if not args.skip_propagation:
            new = propagation(root, None, n_records=args.records)
            if args.reference:
                old = propagation(root, args.reference, n_records=args.records)
                compare(f"reference ({args.reference})", "as configured", new, "the reference", old)
            if args.floor:
                bare = floor(root, n_records=args.records)
                compare("floor", "the node", new, "its network side alone", bare)
        if not args.skip_burst:
            burst(root)
        if not args.skip_catch_up:
            catch_up(root)
        memory(root)
        if args.million:
            million(root)
    print(f"done; {load()}")


if __name__ == "__main__":
    main()
