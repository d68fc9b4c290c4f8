"""Catching up: late joiners, healed partitions, a node killed with kill -9.

Nodes run in this process (``InProcessNode``) except those killed with -9,
which need a process to kill.
"""

from __future__ import annotations

import time

from trustmesh.testing import Cluster, InProcessNode, NodeProcess


def test_a_late_joiner_catches_up_by_sync(tmp_path):
    with Cluster(2, root=tmp_path, node=InProcessNode) as net:
        ids = net[0].attest_many([net[1].id] * 50)
        ids.append(net[1].profile("bob"))
        assert net.wait_for(ids, timeout=20)
        late = net.add("late", bootstrap=[net[1].addr])
        assert net.wait_for(ids, nodes=[late], timeout=30), late.log_tail()
        assert set(ids) <= late.ids()


def test_a_partition_heals(tmp_path):
    with Cluster(2, root=tmp_path, node=InProcessNode) as net:
        a, b = net[0], net[1]
        b.stop()                                           # the partition
        made_by_a = a.attest_many([b.id] * 20)
        b.restart()                                        # it keeps its own home and known peers
        made_by_b = b.profile("while apart")  # made right after it is back
        assert net.wait_for(made_by_a + [made_by_b], timeout=30), b.log_tail()


def test_a_node_killed_with_sigkill_restarts_and_catches_up(tmp_path):
    with Cluster(2, root=tmp_path, node=InProcessNode) as net:
        victim = net.add("node2", bootstrap=[net[1].addr], node=NodeProcess)     # the end of the chain
        before = net[0].profile("first")
        assert net.wait_for([before], timeout=15)
        victim.kill()                                      # kill -9: no clean shutdown
        missed = net[0].attest_many([net[1].id] * 30)
        victim.restart()
        assert net.wait_for(missed, nodes=[victim], timeout=30), victim.log_tail()
        assert before in victim.ids()
        assert victim.status()["records"] == net[0].status()["records"]


def _fork_pair():
    """Two records by one outside author at the same chain position: a fork."""
    from trustmesh.crypto.keys import Identity
    from trustmesh.core.ledger import now_ms
    from trustmesh.protocol.records import Attestation, encode, sign
    cheat, t = Identity.generate(), now_ms() - 1000
    one, two = (encode(sign(Attestation(cheat.public_key, 1, None, t, Identity.generate().public_key,
                                        facet, True, None, None, t, None, None), cheat))
                for facet in ("payment", "quality"))
    return cheat.id, one, two


def _seed(home, raws):
    from trustmesh.core.ledger import Ledger, now_ms
    ledger = Ledger.create(home)
    assert all(r.status == "accepted" for r in ledger.store.ingest(raws, now_ms()))
    ledger.close()


def test_a_fork_found_by_sync_is_announced_to_the_rest_of_the_network(tmp_path):
    cheat, one, two = _fork_pair()
    _seed(tmp_path / "a", [one])
    _seed(tmp_path / "c", [two])
    lonely = {"TRUSTMESH_NET_DISCOVERY_TARGET_PEERS": "1"}   # a and c must not meet
    a = InProcessNode(tmp_path / "a", env=lonely).start()
    b = c = None
    try:
        b = InProcessNode(tmp_path / "b", bootstrap=[a.addr], env=lonely).start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and b.status()["records"] < 1:
            time.sleep(0.05)
        c = InProcessNode(tmp_path / "c", bootstrap=[b.addr], env=lonely).start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not a.events_of("fork"):
            time.sleep(0.05)
        assert any(e["author"] == cheat for e in b.events_of("fork")), b.log_tail()
        assert any(e["author"] == cheat for e in a.events_of("fork")), a.log_tail()
        assert c.id not in {p["id"] for p in a.peers()}       # a learnt it through b's gossip
        assert a.status()["records"] == 2
    finally:
        for n in (c, b, a):
            if n is not None:
                n.stop()


def _free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_interrupted_catch_up_resumes_without_resending(tmp_path):
    from trustmesh.testing.records import fill_store
    total = 30_000
    fill_store(tmp_path / "full", total, authors=100)
    # a fixed port, so the restarted node is where the fresh one keeps redialling it
    full = NodeProcess(tmp_path / "full", listen=f"/ip4/127.0.0.1/tcp/{_free_port()}").start(60)
    fresh = InProcessNode(tmp_path / "fresh", bootstrap=[full.addr]).start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and fresh.status()["records"] < total // 4:
            time.sleep(0.05)
        full.kill()                                  # the connection drops mid-sync
        held = fresh.status()["records"]
        assert 0 < held < total, "the sync was not interrupted; raise total"
        full.restart(60)
        restarted = time.monotonic()
        deadline = restarted + 60
        while time.monotonic() < deadline and fresh.status()["records"] < total:
            time.sleep(0.1)
        assert fresh.status()["records"] == total, fresh.log_tail()
        # by the reconnect's own sync, which waits for the old session to wind down,
        # not by the periodic one (before: ~30 s, the old session refused the new)
        from trustmesh.net.config import SyncConfig
        assert time.monotonic() - restarted < SyncConfig().interval_s - 5
        resumed = fresh.status()["sync"]["peers"][full.id]
        assert resumed["result"] == "done", resumed
        assert not fresh.events_of("ban")                # a dropped link is no offence
        # only what was missing crossed the second time (some slack for the
        # records in flight when the link dropped)
        assert resumed["received"] <= total - held + 1000, (resumed, held)
    finally:
        fresh.stop()
        full.stop()


async def test_a_catch_up_is_announced_as_one_records_event_per_intake_batch(tmp_path):
    """A sync's records come as "records" events (ids by batch), never one "record" event each."""
    import trio

    import trustmesh
    from trustmesh.net.config import NetConfig, SyncConfig
    from trustmesh.testing.records import fill_store
    total, batch = 1_000, 256
    fill_store(tmp_path / "full", total, authors=10)
    quiet = NetConfig(sync=SyncConfig(on_connect=False, interval_s=3600, ingest_batch=batch))
    loopback = ["/ip4/127.0.0.1/tcp/0"]
    async with trustmesh.open_node(tmp_path / "full", listen=loopback, config=quiet) as full, \
            trustmesh.open_node(tmp_path / "fresh", listen=loopback, config=quiet) as fresh:
        async with fresh.subscribe(["record", "records"]) as events:
            await fresh.connect(full.addrs()[0])
            stats = await fresh.sync_now()
            assert [s["result"] for s in stats] == ["done"], stats
            got = []
            with trio.fail_after(5):
                while sum(e.data["count"] for e in got) < total:
                    got.append(await events.receive())
            with trio.move_on_after(0.2):
                got.append(await events.receive())      # nothing more may come
        assert {e.kind for e in got} == {"records"}
        assert all(e.data["source"] == "sync" and e.data["peer"] == full.id for e in got)
        assert all(e.data["count"] == len(e.data["ids"]) <= batch for e in got)
        announced = [rid for e in got for rid in e.data["ids"]]
        assert len(announced) == total and set(announced) == set(await fresh.worker.read(fresh.store.all_ids))
