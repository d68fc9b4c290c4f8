"""Asking the network about a subject, and the library facade in-process."""

from __future__ import annotations

import trio

import trustmesh
from tests.conftest import member
from trustmesh.testing import NodeProcess

NO_SYNC = {"TRUSTMESH_NET_SYNC_ON_CONNECT": "false", "TRUSTMESH_NET_SYNC_INTERVAL_S": "3600"}


def test_ask_fetches_what_peers_hold_about_a_subject(tmp_path):
    prospect = member(9).id
    with trustmesh.Ledger.create(tmp_path / "a") as ledger:     # held before the node starts,
        about = [ledger.attest(prospect, "solvency", False).id.hex() for _ in range(3)]
        other = ledger.set_profile("not about the prospect").id.hex()   # so never gossiped
    a = NodeProcess(tmp_path / "a", env=NO_SYNC).start()
    b = None
    try:
        b = NodeProcess(tmp_path / "b", bootstrap=[a.addr], env=NO_SYNC).start()
        for _ in range(100):
            if b.peers():
                break
            trio.run(trio.sleep, 0.1)
        assert b.status()["records"] == 0            # no sync: b knows nothing yet
        found = b.ask(prospect)
        assert sorted(found) == sorted(about)
        assert other not in b.ids()
    finally:
        for node in (a, b):
            if node:
                node.stop()


async def test_open_node_runs_and_stops_in_process(tmp_path):
    async with trustmesh.open_node(home=tmp_path / "h", listen=["/ip4/127.0.0.1/tcp/0"]) as node:
        assert node.id.startswith("12D3KooW") and node.addrs()
        async with node.subscribe(["record"]) as events:
            made = await node.set_profile("Alice Ltd")
            with trio.fail_after(5):
                event = await events.receive()
        assert event.data["id"] == made.id and event.data["source"] == "local"
    assert (tmp_path / "h" / "peers.json").exists()        # saved on the way out
