"""The node core in-process: the one intake, the home lock, the one weight, the store worker."""

from __future__ import annotations

import threading

import pytest
import trio

import trustmesh
from tests.conftest import NOW, member
from trustmesh.core.worker import StoreWorker
from trustmesh.errors import HomeLocked

LOOPBACK = ["/ip4/127.0.0.1/tcp/0"]


async def test_store_calls_do_not_block_the_event_loop(make_ledger):
    a, b = make_ledger(1), make_ledger(2)
    raws = [a.attest(b.me, "quality", True, note=f"n{i}").raw for i in range(300)]
    worker = StoreWorker()
    ticks, main_thread = 0, threading.get_ident()
    seen_threads = set()

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await trio.sleep(0)

    def ingest_slowly(batch):
        seen_threads.add(threading.get_ident())
        return b.store.ingest(batch, NOW)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        for start in range(0, 300, 30):
            results = await worker.run(ingest_slowly, raws[start:start + 30])
            assert all(r.status == "accepted" for r in results)
        nursery.cancel_scope.cancel()
    assert main_thread not in seen_threads
    assert ticks > 10
    assert sum((await worker.read(b.store.counts)).values()) == 300


async def test_reads_run_beside_a_long_write():
    worker = StoreWorker()
    write_started, release = threading.Event(), threading.Event()
    order = []

    def long_write():
        write_started.set()
        release.wait(5)
        order.append("write")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(worker.run, long_write)
        await trio.to_thread.run_sync(write_started.wait)
        await worker.read(lambda: order.append("read"))     # does not queue behind the write
        release.set()
    assert order == ["read", "write"]


async def test_every_record_made_here_takes_the_one_intake(tmp_path):
    async with trustmesh.open_node(tmp_path / "a", listen=LOOPBACK) as node:
        async with node.subscribe(["record"]) as events:
            made = await node.attest(member(9).id, "payment", True, ref="INV-1")
            with trio.fail_after(5):
                event = await events.receive()
        assert (event.data["id"], event.data["source"]) == (made.id, "local")
        assert made.id in node.sync_index                    # offered to every sync from now on
        assert node.intake.by_source[("local", "accepted")] == 1
        report = await node.import_bundle(_chunks([made.raw]))
        assert (report.accepted, report.duplicate) == (0, 1)


async def _chunks(raws):
    from trustmesh.protocol.bundle import bundle_chunks
    for chunk in bundle_chunks(raws):
        yield chunk


async def test_a_home_has_one_node_and_no_second_writer(tmp_path):
    async with trustmesh.open_node(tmp_path / "a", listen=LOOPBACK) as node:
        with pytest.raises(HomeLocked):
            async with trustmesh.open_node(tmp_path / "a", listen=LOOPBACK):
                pass
        with trustmesh.Ledger.open(tmp_path / "a") as beside:      # reading beside the node is fine
            assert beside.store.counts()["attestation"] == 0
            with pytest.raises(HomeLocked):                       # writing is not: the node would not know
                beside.attest(member(9).id, "payment", True)
        assert node.id
    with trustmesh.Ledger.open(tmp_path / "a") as after:          # released when the node stops
        after.attest(member(9).id, "payment", True)


async def test_the_weight_is_the_trust_engines_with_a_stand_in_until_it_is_computed(tmp_path):
    far, near, stranger = member(7), member(8), member(9)
    with trustmesh.Ledger.create(tmp_path / "a") as ledger:
        ledger.attest(near.id, "delivery", True)
        me, ledger_id = ledger.me, ledger.identity.id
    with trustmesh.Ledger.create(tmp_path / "n", identity=near) as other:      # near and far vouch
        raws = [other.attest(far.id, "quality", True).raw,                     # for each other, and
                other.attest(ledger_id, "payment", True).raw]                  # near for me
    with trustmesh.Ledger.create(tmp_path / "f", identity=far) as other:
        raws.append(other.attest(near.id, "quality", True).raw)
    async with trustmesh.open_node(tmp_path / "a", listen=LOOPBACK) as node:
        await node.import_records(raws)
        assert node.weights.refreshes == 0
        assert node.weight_of(me) == 1.0 and node.weight_of(near.public_key) == 1.0   # my own relation
        assert node.weight_of(far.public_key) == 0.0          # the stand-in knows only my relations
        await node.refresh_weights()
        assert node.weight_of(near.public_key) > 0 and node.weight_of(far.public_key) > 0
        assert node.weight_of(stranger.public_key) == 0.0


async def test_concurrent_intake_batches_commit_in_call_order(tmp_path):
    """A sync has two batches in flight: the second is prepared while the first commits, but
    never committed before it, so a link whose target came first is checked at ingest."""
    from trustmesh.core.intake import Intake, Quota
    from trustmesh.protocol.records import Attestation, Reply, encode, record_id, sign
    from trustmesh.protocol.validate import LINK
    from trustmesh.store import Store
    from trustmesh.testing.records import attestation_chain

    alice, bob, carol = member(1), member(2), member(3)
    first = attestation_chain(alice, [bob.public_key], 1500, issued=NOW - 60_000)
    target = encode(sign(Attestation(bob.public_key, 1, None, NOW - 1000, alice.public_key, "payment", True,
                                     None, None, NOW - 2000, None, None), bob))
    # carol may not reply: the attestation is about alice (a link rule, checkable once the target is held)
    reply = encode(sign(Reply(carol.public_key, 1, None, NOW - 500, record_id(target), "contest", None), carol))
    second = [reply] + attestation_chain(carol, [bob.public_key], 20, issued=NOW - 60_000)[1:]
    store = Store.open(tmp_path / "store.sqlite")
    try:
        intake = Intake(store, lambda: NOW, lambda key: 1.0, Quota(10**6))
        worker, reports = StoreWorker(), {}

        async def take(name, raws):
            reports[name] = await intake.take(worker, raws, "sync")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(take, "first", first + [target])
            await trio.sleep(0)                 # the first call starts first...
            nursery.start_soon(take, "second", second)  # ...and the second is far quicker to prepare
        assert reports["first"].accepted == 1501
        assert reports["second"].count(LINK) == 1 and reports["second"].accepted == 19
        assert record_id(reply) not in set(store.all_ids())
    finally:
        store.close()
