"""Records refused over quota are answered for in sync for a while (``IndexUnion``, ``Withheld``).

In memory: the same sessions a node runs, one side holding records the
other refused. Real nodes on loopback are ``test_p2p_withheld.py``.
"""

from __future__ import annotations

import random

from hypothesis import given, settings, strategies as st

from trustmesh.core.withheld import Withheld
from trustmesh.protocol.sync.index import SyncIndex, fingerprint_ids
from trustmesh.protocol.sync.session import SyncLimits, SyncSession
from trustmesh.protocol.sync.union import IndexUnion
from trustmesh.testing.memsync import MemoryPeer, finished, handle_sync_event, pump, record_id


def fake_raws(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(rng.randint(60, 220)) for _ in range(n)]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_the_union_answers_as_one_index_of_both_sets(data):
    rng = random.Random(data.draw(st.integers(0, 10**6)))
    ids = [rng.randbytes(32) for _ in range(data.draw(st.integers(0, 300)))]
    cut = data.draw(st.integers(0, len(ids)))
    union, plain = IndexUnion(SyncIndex(ids[:cut]), SyncIndex(ids[cut:])), SyncIndex(ids)
    assert len(union) == len(plain)
    n = len(plain)
    for _ in range(20):
        i = rng.randint(0, n)
        j = rng.randint(i, n)
        assert union.fingerprint_at(i, j) == plain.fingerprint_at(i, j)
        assert union.ids_at(i, j) == plain.ids_at(i, j)
        if i < n:
            assert union.id_at(i) == plain.id_at(i)
        bound = rng.randbytes(rng.randint(1, 3))
        assert union.position(bound) == plain.position(bound)
        assert union.fingerprint(bound) == plain.fingerprint(bound)
    assert all(rid in union for rid in ids)
    strangers = [rng.randbytes(32) for _ in range(5)]
    assert union.lacking(strangers + ids[::3]) == strangers
    assert union.fingerprint()[1] == fingerprint_ids(ids)
    assert union.ids() == sorted(ids[:cut])       # what it would push: only what it holds


def _sync(pa: MemoryPeer, index_a, pb: MemoryPeer, index_b):
    a = SyncSession(index_a, initiator=True, limits=SyncLimits())
    b = SyncSession(index_b, initiator=False, limits=SyncLimits())
    a.start()
    b.start()
    ev_a, ev_b = pump(a, b, lambda e: handle_sync_event(pa, a, e), lambda e: handle_sync_event(pb, b, e))
    assert finished(ev_a) and finished(ev_b)
    return a, b


def test_withheld_records_are_not_offered_again_and_come_once_let_go():
    common, refused = fake_raws(2000, 1), fake_raws(300, 2)
    peer = MemoryPeer.holding(common + refused)
    me = MemoryPeer.holding(common)
    me.accept = lambda raw: False                    # over quota: nothing of the peer's is stored
    withheld = Withheld(hold_s=600, limit=1000)
    _, b = _sync(peer, peer.index, me, me.index)
    assert b.stats.records_received == 300           # the first round brings them, refused
    withheld.add(((record_id(r), b"author") for r in refused), now=0.0)
    for initiator in (True, False):
        union = IndexUnion(me.index, withheld.index(now=10.0))
        a, b = _sync(peer, peer.index, me, union) if initiator else _sync(me, union, peer, peer.index)
        assert a.stats.records_sent == b.stats.records_sent == 0      # neither pushed nor NEEDed
        assert a.stats.round_trips == 1                                # the sets look equal
    me.accept = lambda raw: True                     # room came; the hold ends
    union = IndexUnion(me.index, withheld.index(now=601.0))
    assert len(withheld) == 0
    _, b = _sync(peer, peer.index, me, union)
    assert b.stats.records_received == 300 and set(me.records) == set(peer.records)


def test_withheld_is_bounded_expires_and_lets_go_of_authors_with_room():
    w = Withheld(hold_s=100, limit=3)
    w.add([(b"a" * 32, b"x"), (b"b" * 32, b"y")], now=0.0)
    w.add([(b"c" * 32, b"x"), (b"d" * 32, b"y")], now=50.0)
    assert len(w) == 3 and b"a" * 32 not in w.index(now=50.0)     # the oldest let go first
    assert len(w.index(now=100.0)) == 2                            # b's hold ended at 100
    assert w.forget_authors(lambda author: author == b"x") == 1
    assert w.index(now=100.0).ids() == [b"d" * 32]
    w.forget([b"d" * 32])
    assert len(w) == 0 and len(w.index(now=100.0)) == 0
    w.add([(b"e" * 32, b"z")], now=0.0)
    w.add([(b"e" * 32, b"z")], now=90.0)                           # refused again: held anew
    assert len(w.index(now=150.0)) == 1
    off = Withheld(hold_s=0, limit=3)
    off.add([(b"a" * 32, b"x")], now=0.0)
    assert len(off) == 0                                           # a hold of 0 turns it off


def test_an_id_both_held_and_withheld_is_listed_once():
    """For a moment a record can be stored before its withheld copy is let go; the union's id
    lists must still ascend strictly (a repeated id failed a sync as a protocol breach)."""
    import os
    ids = sorted(os.urandom(32) for _ in range(10))
    union = IndexUnion(SyncIndex(ids[:6]), SyncIndex(ids[5:]))     # ids[5] in both
    listed = union.ids_at(0, len(union))
    assert listed == ids
