"""Asking the network about a subject, and the library facade in-process."""

from __future__ import annotations

import trio

import trustmesh
from tests.conftest import member
from trustmesh.testing import InProcessNode

NO_SYNC = {"TRUSTMESH_NET_SYNC_ON_CONNECT": "false", "TRUSTMESH_NET_SYNC_INTERVAL_S": "3600"}


def test_ask_fetches_what_peers_hold_about_a_subject(tmp_path):
    prospect = member(9).id
    with trustmesh.Ledger.create(tmp_path / "a") as ledger:     # held before the node starts,
        about = [ledger.attest(prospect, "solvency", False).id.hex() for _ in range(3)]
        other = ledger.set_profile("not about the prospect").id.hex()   # so never gossiped
    a = InProcessNode(tmp_path / "a", env=NO_SYNC).start()
    b = None
    try:
        b = InProcessNode(tmp_path / "b", bootstrap=[a.addr], env=NO_SYNC).start()
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


async def _pair(tmp_path):
    """Two in-process nodes on loopback, b connected to a (no sync, so only queries move records)."""
    from contextlib import AsyncExitStack
    from trustmesh.net.config import NetConfig, SyncConfig
    config = NetConfig(sync=SyncConfig(on_connect=False, interval_s=3600))
    stack = AsyncExitStack()
    a = await stack.enter_async_context(trustmesh.open_node(tmp_path / "a", listen=["/ip4/127.0.0.1/tcp/0"],
                                                            config=config))
    b = await stack.enter_async_context(trustmesh.open_node(tmp_path / "b", listen=["/ip4/127.0.0.1/tcp/0"],
                                                            config=config))
    await b.connect(a.addrs()[0])
    return stack, a, b


async def test_a_query_answers_records_in_force_once_and_what_answers_them_beside(tmp_path):
    subject = member(9)
    with trustmesh.Ledger.create(tmp_path / "s", identity=subject) as s_ledger, \
            trustmesh.Ledger.create(tmp_path / "x") as other:
        kept = [other.attest(subject.id, "quality", True, note=f"n{i}") for i in range(3)]
        gone = other.attest(subject.id, "delivery", False)
        retraction = other.retract(gone.id)
        raws = [k.raw for k in kept] + [gone.raw, retraction.raw]
        s_ledger.ingest(raws)
        reply = s_ledger.reply(kept[0].id, "acknowledge")
        raws.append(reply.raw)
    stack, a, b = await _pair(tmp_path)
    async with stack:
        await a.import_records(raws)
        peer = b.net.host.get_connected_peers()[0]
        got = await b.net.query_protocol.ask(peer, {"subject": subject.public_key, "limit": 2})
        ids = [trustmesh.record_id(r) for r in got]
        assert len(ids) == len(set(ids))                                 # each once
        assert gone.id not in ids                                       # retracted: not an answer
        assert retraction.id in ids                                     # its retraction rides along
        assert sum(1 for i in ids if i in {k.id for k in kept}) == 2    # the limit is on the results
        assert len(ids) > 2                                             # linked records beyond it
        assert not [p for p in a.peers() if p["banned"]]


async def test_a_bad_query_is_refused_with_abort_and_costs_no_ban(tmp_path):
    from trustmesh.net.config import QUERY_PROTOCOL
    from trustmesh.protocol.messages import ABORT, MessageReader, encode
    from trustmesh.protocol.query.wire import QUERY
    stack, a, b = await _pair(tmp_path)
    async with stack:
        peer = b.net.host.get_connected_peers()[0]
        stream = await b.net.host.new_stream(peer, [QUERY_PROTOCOL])
        await stream.write(encode([QUERY, None, None, None, None, 10]))     # neither subject nor author
        reader = MessageReader()
        with trio.fail_after(5):
            while (message := reader.next()) is None:
                reader.feed(await stream.read(4096) or b"")
        assert message[0] == ABORT and "subject or an author" in message[1]
        assert a.net.defence.conduct.get(b.id) is None                 # no offence, no ban
        assert [p["id"] for p in a.peers()] == [b.id]
