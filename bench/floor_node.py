"""A node's network side with no node behind it: the floor that ``bench/network.py --floor`` measures.

Why: the CPU a node spends per gossiped record (issue 16's target is 1 ms)
is partly ours (verifying, storing, trust, the API, events) and partly the
network stack's (noise, yamux, pubsub, trio's scheduling). This process runs
the same ``NetService`` with the same settings as a daemon, but its
``NodePort`` keeps nothing: every record is "accepted" the first time it
comes (a duplicate after), nothing is verified, decoded or stored, no API
runs and no event is sent. What it costs per record is what the node's
network side costs, and no change to our code above it can go below it.

Run by ``bench/network.py`` (``FloorNetwork``), one process per node, and
driven over stdin/stdout, one command per line:

    P <hex>      gossip this record (as a node does after storing its own)
    C            print: the number of distinct records seen, and of peers
    T <path>     write {record id hex: monotonic time first seen} as JSON to path
    Q            stop

``time.monotonic()`` is the system's monotonic clock, shared by every
process of the machine, so first-seen times compare across processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class BarePort:
    """``NodePort`` that remembers ids and when it saw them, and nothing else."""

    def __init__(self) -> None:
        from trustmesh.protocol.sync.index import SyncIndex
        self.seen: dict[bytes, float] = {}
        self.index = SyncIndex([])       # holds nothing: a sync with a peer brings nothing to count

    def sync_index_for(self, peer):
        return self.index

    async def intake(self, raws, peer, source):
        from trustmesh.net.ports import IntakeReport
        report, now = IntakeReport(), time.monotonic()
        for raw in raws:
            rid = hashlib.sha256(raw).digest()
            if rid in self.seen:
                report.duplicate += 1
            else:
                self.seen[rid] = now
                report.accepted += 1
        return report

    def weight_of(self, member):
        return 0.0

    async def records_for(self, ids):
        return []

    async def answer_query(self, request, limit):
        return [], []

    async def decide_deal(self, proposal, proposer):
        return "declined", "bench"

    def deal_answered(self, *args) -> None:
        pass

    def notify(self, kind, /, **data) -> None:
        pass


async def _serve(home: Path, bootstrap: list[str]) -> None:
    import trio

    from trustmesh.crypto.keys import Identity
    from trustmesh.daemon.settings import effective, net_config
    from trustmesh.net.peers.known import KnownPeers
    from trustmesh.net.service import NetService

    config = net_config(effective(home, flags={"listen": ["/ip4/127.0.0.1/tcp/0"], "bootstrap": bootstrap}))
    port = BarePort()
    service = NetService(Identity.generate(), config, port, KnownPeers(home / "peers.json"))
    stdin = trio.lowlevel.FdStream(os.dup(0))
    async with service.run():
        print("ADDR", service.addrs()[0], flush=True)
        pending = b""
        while True:
            chunk = await stdin.receive_some(1 << 16)
            if not chunk:
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                verb, _, arg = line.decode().partition(" ")
                if verb == "P":
                    raw = bytes.fromhex(arg)
                    port.seen[hashlib.sha256(raw).digest()] = time.monotonic()
                    service.announce([raw])
                elif verb == "C":
                    print("C", len(port.seen), len(service.peers()), flush=True)
                elif verb == "T":
                    Path(arg).write_text(json.dumps({k.hex(): t for k, t in port.seen.items()}))
                    print("T", flush=True)
                elif verb == "Q":
                    return


class FloorProcess:
    """One ``floor_node.py`` process, driven from the benchmark (``cpu_of`` reads ``proc.pid``)."""

    def __init__(self, home: Path, bootstrap: list[str], env: dict) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        self.proc = subprocess.Popen(
            [sys.executable, __file__, str(home), *bootstrap], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=open(home / "stderr.log", "wb"), env={**os.environ, **env}, text=True, bufsize=1)
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "ADDR":
            raise RuntimeError(f"floor node did not start: {(home / 'stderr.log').read_text()[-2000:]}")
        self.addr = line[1]

    def _ask(self, line: str) -> list[str]:
        self.proc.stdin.write(line + "\n")
        return self.proc.stdout.readline().split()

    def publish(self, raw: bytes) -> None:
        self.proc.stdin.write("P " + raw.hex() + "\n")

    def counts(self) -> tuple[int, int]:
        """(distinct records seen, peers connected)."""
        answer = self._ask("C")
        return int(answer[1]), int(answer[2])

    def times(self) -> dict[str, float]:
        path = self.home / "seen.json"
        self._ask(f"T {path}")
        return json.loads(path.read_text())

    def stop(self) -> None:
        try:
            self.proc.stdin.write("Q\n")
            self.proc.stdin.flush()
            self.proc.wait(10)
        except Exception:
            self.proc.kill()
            self.proc.wait()


if __name__ == "__main__":
    import trio
    trio.run(_serve, Path(sys.argv[1]), sys.argv[2:])
