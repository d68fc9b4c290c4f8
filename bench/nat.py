"""NAT benchmark: node processes in network namespaces behind nftables NAT (root only). Prints its figures.

    sudo python bench/nat.py              # all of it
    sudo python bench/nat.py --attempts 5 --dht-nodes 10

1. Start to records: a relay in the public namespace is up; two home nodes
   behind their own NAT start, each makes a record about the other; the time
   from their start until each holds the other's (target <= 10 s). Reference:
   the same two nodes started in the public namespace, no NAT.
2. Relayed -> direct: home 1 connects to home 2 through the relay; the time
   from that connection until DCUtR made a direct one (target <= 5 s, and
   10/10 attempts with endpoint-independent NAT; the homes reuse TIME_WAIT
   4-tuples, since every punch between two nodes uses the same one).
   Reference: a connect by direct address on the public side.
3. Peer lookup by id in a DHT of N nodes (default 20, loopback), at least
   --lookups (20) samples, p50/p95/max: a newcomer bootstrapped from one of them connects to others it holds no
   address for, by id alone (target <= 2 s).
   Reference: a connect to a known address in the same network.
4. A relay at work: two homes behind symmetric NATs (no punch), 1,000
   records through the circuit; the relay's CPU and circuit bytes per
   record. Reference: the receiving home's CPU per record.
5. RSS of a node with the DHT, AutoNAT, DCUtR and relay service on, against
   one with all of it off (both connected to one peer, idle).
The machine is shared (2 cores, other work running): figures are noisy,
hence each comes with a reference measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trustmesh.crypto.keys import Identity  # noqa: E402
from trustmesh.testing import natlab  # noqa: E402
from trustmesh.testing import cluster  # noqa: E402
from trustmesh.testing.cluster import NodeProcess  # noqa: E402
from trustmesh.testing.records import attestation_chain  # noqa: E402

OFF = {"TRUSTMESH_NAT_DHT": "false", "TRUSTMESH_NAT_AUTONAT": "false", "TRUSTMESH_NAT_DCUTR": "false"}


def wait(condition, timeout: float, step: float = 0.05) -> float | None:
    """Seconds until ``condition()`` held, None on timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(step)
    return None


def steady(condition, hold: float, timeout: float) -> bool:
    """Wait until ``condition()`` has held for ``hold`` seconds in a row; False on timeout."""
    start = time.monotonic()
    since = None
    while time.monotonic() - start < timeout:
        if not condition():
            since = None
        elif since is None:
            since = time.monotonic()
        elif time.monotonic() - since >= hold:
            return True
        time.sleep(0.05)
    return False


def start_all(nodes) -> None:
    cluster.start_all(nodes, timeout=120)


def link(node, other):
    return next((p for p in node.peers() if p["id"] == other.id), None)


def stop_all(nodes) -> None:
    cluster.stop_all(nodes, timeout=5)


def homes_in(lab, root: Path, relay, name: str, args=(), env=None, where=("h1", "h2")):
    nodes = []
    for i, ns in enumerate(where, start=1):
        ip = lab.home_ip(i) if ns.startswith("h") else natlab.PUBLIC_IP
        port = 4001 if ns.startswith("h") else 4100 + i
        nodes.append(NodeProcess(root / f"{name}{i}", listen=f"/ip4/{ip}/tcp/{port}", bootstrap=[relay.addr],
                                 args=["--auto-accept", "always", *args], env=env, wrap=lab.exec_prefix(ns)))
    return nodes


@contextmanager
def relay_lab(root: Path, name: str, nats: tuple[str, str]):
    """A lab of two homes behind ``nats`` and a relay node started on its public side: (lab, relay)."""
    with natlab.NatLab(nats) as lab:
        relay = NodeProcess(root / f"{name}-relay", listen=f"/ip4/{natlab.PUBLIC_IP}/tcp/4001", args=["--relay"],
                            wrap=lab.exec_prefix("pub"))
        start_all([relay])
        try:
            yield lab, relay
        finally:
            relay.stop()


def connect_times(me, targets, dial, most: int) -> tuple[list[float], int]:
    """Seconds taken by up to ``most`` connects from ``me`` to ``dial(target)``, over the
    targets it is not linked to yet, and how many of them failed."""
    took, failed = [], 0
    for target in targets:
        if len(took) + failed >= most:
            break
        if link(me, target):
            continue
        t0 = time.monotonic()
        try:
            me.connect(dial(target))
            took.append(time.monotonic() - t0)
        except Exception:
            failed += 1
    return took, failed


def records_meet(a, b) -> tuple[float | None, float | None]:
    """Start a and b together; seconds until each holds the other's record, from their
    launch and from both answering their API (the launch includes importing libp2p,
    which the machine's load dominates)."""
    t0 = time.monotonic()
    start_all([a, b])
    ready = time.monotonic()
    ra, rb = a.attest(b.id), b.attest(a.id)
    took = wait(lambda: a.has([rb]) and b.has([ra]), 60)
    if took is None:
        return None, None
    return time.monotonic() - t0, time.monotonic() - ready


def fig_start(root: Path) -> None:
    with relay_lab(root, "s", ("eim", "eim")) as (lab, relay):
        env = {"TRUSTMESH_NAT_RELAYS": relay.addr}
        public = homes_in(lab, root, relay, "s-pub", env=env, where=("pub", "pub"))
        ref = records_meet(*public)
        stop_all(public)
        homes = homes_in(lab, root, relay, "s-home", env=env)
        nat = records_meet(*homes)
        stop_all(homes)
    print(f"1. start -> both NATed members hold each other's record: {_s(nat[0])} from launch, "
          f"{_s(nat[1])} from ready (target <= 10 s); public side, no NAT: {_s(ref[0])} / {_s(ref[1])}; "
          f"ratio (from ready) {_ratio(nat[1], ref[1])}")


def fig_upgrade(root: Path, attempts: int) -> None:
    with relay_lab(root, "u", ("eim", "eim")) as (lab, relay):
        h1, h2 = homes_in(lab, root, relay, "u-home", env={"TRUSTMESH_NAT_RELAYS": relay.addr})
        # A punch dials from the listen port to the peer's listen port: the same 4-tuple every attempt,
        # which the kernel keeps in TIME_WAIT for 60 s after the previous one closed. Let the homes reuse
        # it (outgoing only, timestamps protect it), or attempts 2..10 would measure TIME_WAIT.
        for ns in ("h1", "h2"):
            lab.sh(ns, "sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=1")
        other = NodeProcess(root / "u-pub", listen=f"/ip4/{natlab.PUBLIC_IP}/tcp/4102", wrap=lab.exec_prefix("pub"))
        try:
            start_all([h1, h2, other])
            wait(lambda: all(_reach(h)["relayed_addrs"] for h in (h1, h2)), 60)
            circuit = _reach(h2)["relayed_addrs"][0]
            times, direct, errors = [], 0, []
            for _ in range(attempts):
                for a, b in ((h1, h2), (h2, h1)):      # both hold off: no redial racing the next connect
                    if link(a, b):
                        try:
                            a.api("DELETE", f"/v1/peers/{b.id}")
                        except Exception:              # the other side's close got there first
                            pass
                steady(lambda: link(h1, h2) is None and link(h2, h1) is None, 1.0, 20)
                try:
                    h1.connect(circuit)
                except Exception as exc:       # a redial by either side may have raced ours
                    errors.append(str(exc)[-120:])
                t0 = time.monotonic()
                if wait(lambda: link(h1, h2) is not None, 10) is None:
                    continue
                took = wait(lambda: (link(h1, h2) or {}).get("relayed") is False, 20)
                if took is not None:
                    direct += 1
                    times.append(time.monotonic() - t0)
            t0 = time.monotonic()
            relay.connect(other.addr)
            ref = time.monotonic() - t0
        finally:
            stop_all([h1, h2, other])
    med = statistics.median(times) if times else None
    print(f"2. relayed -> direct (EIM NATs): {direct}/{attempts} upgraded; median {_s(med)}, "
          f"max {_s(max(times) if times else None)} (target <= 5 s, 10/10); "
          f"a direct connect on the public side: {_s(ref)}; ratio {_ratio(med, ref)}"
          + (f"; connect errors: {len(errors)} (last: {errors[-1]})" if errors else ""))


def fig_dht(root: Path, n: int, samples: int) -> None:
    env = {"TRUSTMESH_DISCOVERY_TARGET_PEERS": "3", "TRUSTMESH_DISCOVERY_MAX_PEERS": "6"}
    nodes = [NodeProcess(root / f"d{i}", env=env) for i in range(n)]
    try:
        start_all(nodes[:1])
        for batch in range(1, n, 5):          # each node bootstraps from one started a batch before
            for j in range(batch, min(batch + 5, n)):
                nodes[j].bootstrap = [nodes[max(0, j - 5)].addr]
            start_all(nodes[batch:batch + 5])
        wait(lambda: all(_reach(x)["dht"] == "server" for x in nodes), 60, 0.5)
        # A newcomer that dials only its bootstrap peer knows nobody else's address; once it has
        # connected to every node it can by id, the next newcomer (fresh peerstore) goes on, until
        # ``samples`` lookups were made (a 20-node DHT gives one newcomer ~18).
        refs, lookups, failed, k = [], [], 0, 0
        while len(lookups) + failed < samples and k < 10:
            me = NodeProcess(root / f"d-new{k}", bootstrap=[nodes[n - 1 - k % n].addr],
                             env={"TRUSTMESH_DISCOVERY_TARGET_PEERS": "1"})
            nodes.append(me)
            start_all([me])
            wait(lambda: _reach(me)["dht"] == "server", 30, 0.5)
            targets = [x for x in nodes[:n] if x is not nodes[n - 1 - k % n]]
            more, _ = connect_times(me, targets, lambda target: target.addr, 1)   # the reference first
            refs += more
            more, bad = connect_times(me, targets, lambda target: target.id, samples - len(lookups) - failed)
            lookups += more
            failed += bad
            k += 1
    finally:
        stop_all(nodes)
    ref = statistics.median(refs) if refs else None
    p50, p95 = _quantile(lookups, 0.5), _quantile(lookups, 0.95)
    print(f"3. connect by id alone in a {n}-node DHT: {len(lookups)} found, {failed} not; p50 {_s(p50)}, "
          f"p95 {_s(p95)}, max {_s(max(lookups) if lookups else None)} (target <= 2 s); "
          f"connect by address: {_s(ref)}; ratio (p50) {_ratio(p50, ref)}")


def _quantile(xs: list[float], q: float) -> float | None:
    """Nearest-rank quantile (no interpolation: with 20 samples p95 is the 19th)."""
    if not xs:
        return None
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, max(0, -(-int(q * 100) * len(ordered) // 100) - 1))]


def fig_relay(root: Path, records: int) -> None:
    with relay_lab(root, "r", ("symmetric", "symmetric")) as (lab, relay):
        h1, h2 = homes_in(lab, root, relay, "r-home", env={"TRUSTMESH_NAT_RELAYS": relay.addr})
        try:
            start_all([h1, h2])
            wait(lambda: all(_reach(h)["relayed_addrs"] for h in (h1, h2)), 60)
            h2.connect(h1.id)
            author = Identity.generate()
            raws = attestation_chain(author, [Identity.generate().public_key for _ in range(50)], records)
            bytes0 = _reach(relay)["relay_stats"].get("bytes", 0)
            cpu_relay, cpu_h2 = relay.cpu_seconds(), h2.cpu_seconds()
            t0 = time.monotonic()
            h1.import_raws(raws)
            from trustmesh.protocol.records import record_id
            ids = [record_id(r).hex() for r in raws]
            took = wait(lambda: h2.has(ids), 120, 0.2)
            time.sleep(1)
            d_relay, d_h2 = relay.cpu_seconds() - cpu_relay, h2.cpu_seconds() - cpu_h2
            carried = _reach(relay)["relay_stats"].get("bytes", 0) - bytes0
            relayed = (link(h2, h1) or {}).get("relayed")
        finally:
            stop_all([h1, h2])
    print(f"4. relay at work ({records} records, symmetric NATs, link relayed={relayed}, delivered in {_s(took)}): "
          f"relay CPU {1000 * d_relay / records:.2f} ms/record (also stores them: it is a node), "
          f"circuit bytes {carried / records:.0f}/record (a record is ~{len(raws[0])} B); "
          f"receiving home CPU {1000 * d_h2 / records:.2f} ms/record; ratio relay/home {_ratio(d_relay, d_h2)}")


def fig_rss(root: Path) -> None:
    hub = NodeProcess(root / "m-hub", env=OFF)
    on = NodeProcess(root / "m-on", args=["--relay"])
    off = NodeProcess(root / "m-off", env=OFF)
    try:
        start_all([hub])
        on.bootstrap = off.bootstrap = [hub.addr]
        start_all([on, off])
        wait(lambda: link(on, hub) and link(off, hub), 30)
        time.sleep(5)
        rss_on, rss_off = on.rss_mb(), off.rss_mb()
    finally:
        stop_all([hub, on, off])
    print(f"5. RSS with DHT + AutoNAT + DCUtR + relay service: {rss_on:.0f} MiB; with none: {rss_off:.0f} MiB; "
          f"ratio {_ratio(rss_on, rss_off)}")


def _reach(node) -> dict:
    return node.api("GET", "/v1/status")["reach"]


def _s(x) -> str:
    return "n/a" if x is None else f"{x:.2f} s"


def _ratio(a, b) -> str:
    return "n/a" if not a or not b else f"{a / b:.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=10)
    parser.add_argument("--dht-nodes", type=int, default=20)
    parser.add_argument("--lookups", type=int, default=20)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--only", default="1,2,3,4,5")
    args = parser.parse_args()
    why = natlab.missing()
    if why:
        sys.exit(f"bench/nat.py: {why}")
    with tempfile.TemporaryDirectory(prefix="trustmesh-nat-bench-") as tmp:
        root = Path(tmp)
        figures = {"1": lambda: fig_start(root), "2": lambda: fig_upgrade(root, args.attempts),
                   "3": lambda: fig_dht(root, args.dht_nodes, args.lookups), "4": lambda: fig_relay(root, args.records),
                   "5": lambda: fig_rss(root)}
        for key in args.only.split(","):
            try:
                figures[key]()
            except Exception as exc:
                print(f"{key}. failed: {type(exc).__name__}: {exc}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
