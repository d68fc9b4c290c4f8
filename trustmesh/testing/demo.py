"""``trustmesh demo``: a small network on this machine, from start to convergence.

Starts N node processes on 127.0.0.1 in temporary homes, has each member
publish a profile, propose a deal to the next member (accepted by policy),
attest about the deal, waits until every node holds the same records, prints
each node's view, and stops them all.

Here, in the test kit, because it is a scripted run of the kit's cluster;
``trustmesh demo`` runs this module as a process of its own
(``python -m trustmesh.testing.demo``), so the CLI imports nothing of the kit.
"""

from __future__ import annotations

import argparse
import sys
import time

from trustmesh.errors import NetworkError
from trustmesh.testing.cluster import Cluster, NodeError

NAMES = ["Alice Ltd", "Bob & Co", "Carol SA", "Dan GmbH", "Eve BV", "Frank Inc", "Grace SARL",
         "Heidi AB", "Ivan OOO", "Judy Pty"]


def run_demo(n: int, timeout: float, echo=print) -> None:
    """Run the demo with ``n`` nodes; ``echo`` prints a line."""
    try:
        _run(n, timeout, echo)
    except NodeError as exc:        # a node failed: one line, not a traceback
        raise NetworkError(f"demo failed: {exc}") from None


def _run(n: int, timeout: float, echo) -> None:
    started = time.monotonic()
    echo(f"starting {n} nodes on 127.0.0.1 …")
    with Cluster(n, topology="star", args=["--auto-accept", "always"]) as net:
        net.wait_connected(min_peers=n - 1, timeout=timeout)   # peer exchange meshes the star
        names = {node.id: NAMES[i % len(NAMES)] for i, node in enumerate(net)}
        for node in net:
            echo(f"  {names[node.id]:10} {node.id}  {node.addr}")
        for node in net:
            node.profile(names[node.id])
        for i, node in enumerate(net):
            partner = net[(i + 1) % n]
            outcome = node.deal(partner.id, ref=f"INV-{100 + i}", role="client")
            echo(f"deal {names[node.id]} -> {names[partner.id]}: {outcome['status']}")
            node.attest(partner.id, "payment" if i % 2 else "delivery", i != n - 1, ref=f"INV-{100 + i}",
                        note=None if i != n - 1 else "late, twice")
            partner.attest(node.id, "payment", True, ref=f"INV-{100 + i}")
        deadline = time.monotonic() + timeout
        while True:
            views = [node.ids() for node in net]
            if all(v == views[0] for v in views):
                break
            if time.monotonic() > deadline:
                echo("did not converge in time")
                break
            time.sleep(0.3)
        echo(f"converged: every node holds the same {len(views[0])} records "
             f"({time.monotonic() - started:.1f} s after start)")
        for node in net:
            status = node.status()
            echo(f"{names[node.id]:10} records={status['records']:3} peers={len(status['peers'])}; "
                 "its view of trust (score, lower bound, attestations):")
            for line in _views(node, [m for m in net if m is not node], names):
                echo("    " + line)
    echo("stopped all nodes")


def _views(node, others, names: dict[str, str]) -> list[str]:
    """How ``node``'s member sees the others: its own trust, asked through its API."""
    lines = []
    for other in others:
        scores = [s for s in node.api("GET", f"/v1/trust/{other.id}") if s["evidence"]]
        facets = ", ".join(f"{s['facet']} {s['score']:.2f} (>= {s['lower']:.2f}, {s['evidence']})" for s in scores)
        lines.append(f"{names[other.id]:10} {facets or 'unknown'}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trustmesh demo")
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    try:
        run_demo(args.nodes, args.timeout, lambda line: print(line, flush=True))
    except NetworkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
