"""Store calls from trio run in a worker thread: the event loop keeps ticking."""

import threading

import trio

from tests.conftest import NOW
from trustmesh.node.aio import InThread


async def test_store_calls_do_not_block_the_event_loop(make_ledger):
    a, b = make_ledger(1), make_ledger(2)
    raws = [a.attest(b.me, "quality", True, note=f"n{i}").raw for i in range(300)]
    store = InThread(b.store)
    ticks, main_thread = 0, threading.get_ident()
    seen_threads = set()

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await trio.sleep(0)

    def ingest_slowly(target, batch):
        seen_threads.add(threading.get_ident())
        return target.ingest(batch, NOW)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        for start in range(0, 300, 30):
            results = await store.call(ingest_slowly, raws[start:start + 30])
            assert all(r.status == "accepted" for r in results)
        nursery.cancel_scope.cancel()
    assert main_thread not in seen_threads
    assert ticks > 10
    assert sum((await store.call("counts")).values()) == 300
