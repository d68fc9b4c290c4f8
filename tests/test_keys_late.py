"""Key events that arrive after the records that need them (issue 15): nothing is lost.

An attestation about member M backed by a deal the client made with M's
device D is valid only once the key event that makes D M's device is
held. Here the key events come later: in the same batch, in a later batch
(a real store file, a ledger), and through the node's one intake, where a
record kept aside is announced once it is accepted, and given up (so a
later sync may bring it again) when it expires.
"""

from __future__ import annotations

import pytest
import trio

from tests.conftest import NOW, member
from trustmesh.core.trustview import TrustEngine
from trustmesh.protocol import keyevents
from trustmesh.protocol.keystate import resolve
from trustmesh.protocol.records import Attestation, Deal, countersign, encode, record_id, sign
from trustmesh.protocol.validate import LINK
from trustmesh.store import ACCEPTED, REJECTED, Store
from trustmesh.store.parked import PARK_TTL_MS

DAY = 86_400_000


def _world(client=1, first=2, device=3, ref=b"\x07" * 32):
    """M's key events (incept, add D), a deal client-D and the client's attestation about M naming it."""
    c, m, d = member(client), member(first), member(device)
    incept = keyevents.incept(m, member(40 + first).public_key, NOW - 10 * DAY)
    state = resolve(m.public_key, [(record_id(encode(incept)), incept)])
    add = keyevents.consent(keyevents.add_device(state, m, d.public_key, NOW - 9 * DAY), d)
    deal = countersign(sign(Deal(c.public_key, d.public_key, "client", ref, None, NOW - 8 * DAY), c), d)
    said = sign(Attestation(c.public_key, 1, None, NOW - 7 * DAY, m.public_key, "delivery", True, None,
                            record_id(encode(deal)), NOW - 8 * DAY, None, None), c)
    return [encode(incept), encode(add)], encode(deal), encode(said)


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "store.db", verify_threads=1) as s:
        yield s


@pytest.mark.parametrize("order", ["events after", "events first"])
def test_key_events_in_the_same_batch_back_the_attestation_whatever_their_place(store, order):
    events, deal, said = _world()
    batch = [deal, said] + events if order == "events after" else events + [deal, said]
    results = store.ingest(batch, NOW)
    assert [r.status for r in results] == [ACCEPTED] * 4, [r.reason for r in results]
    assert record_id(said) in set(store.all_ids())
    assert store.parked() == [] and store.pop_revived() == []


def test_key_events_in_a_later_batch_bring_the_kept_attestation_in(make_ledger):
    viewer = make_ledger(5)
    events, deal, said = _world()
    first = viewer.ingest([deal, said])
    assert first[0].status == ACCEPTED
    assert (first[1].status, first[1].fault) == (REJECTED, LINK)
    assert record_id(said) not in set(viewer.store.all_ids())         # not held: never counted, never offered
    assert [p[0] for p in viewer.store.parked()] == [record_id(said)]
    engine = TrustEngine.for_ledger(viewer)
    assert engine.trust(member(2).public_key, "delivery", NOW).evidence == 0

    assert viewer.ingest(events[:1])[0].status == ACCEPTED             # the inception alone links nothing
    assert record_id(said) not in set(viewer.store.all_ids()) and viewer.store.pop_revived() == []
    assert viewer.ingest(events[1:])[0].status == ACCEPTED             # the add: D is M's device
    (revived,) = viewer.store.pop_revived()
    assert (revived[0].id, revived[0].status, revived[1]) == (record_id(said), ACCEPTED, said)
    assert viewer.store.get(record_id(said)).record.subject == member(2).public_key
    assert viewer.store.parked() == [] and viewer.store.pop_unparked() == []
    score = engine.explain(member(2).public_key, "delivery", NOW)     # the incremental load sees it, backed
    (item,) = score.explanation
    assert item.record == record_id(said).hex() and item.deal
    # the same bytes again are a duplicate now, and the parked table is empty
    assert viewer.ingest([said])[0].status == "duplicate"


def test_a_kept_record_that_never_becomes_valid_expires_and_may_come_again(store):
    _, deal, said = _world()                                        # no key events will ever come
    store.ingest([deal, said], NOW)
    assert [p[0] for p in store.parked()] == [record_id(said)]
    store.ingest([], NOW + PARK_TTL_MS - 1)
    assert store.pop_unparked() == [] and len(store.parked()) == 1
    store.ingest([], NOW + PARK_TTL_MS + 1)                          # any later write lets it go
    assert store.pop_unparked() == [record_id(said)] and store.parked() == []
    # the key events, after the expiry, revive nothing: the record is not held anywhere here
    events, _, _ = _world()
    store.ingest(events, NOW + PARK_TTL_MS + 2)
    assert store.pop_revived() == [] and record_id(said) not in set(store.all_ids())
    # and when a peer brings it again, it is checked again: valid now
    assert store.ingest([said], NOW + PARK_TTL_MS + 3)[0].status == ACCEPTED


def test_the_side_table_is_bounded_the_oldest_leaves_first(store, monkeypatch):
    import trustmesh.store.parked as parked
    monkeypatch.setattr(parked, "PARK_CAP", 2)
    kept = []
    for k in range(3):
        _, deal, said = _world(client=10 + k, ref=bytes([k + 1]) * 32)
        store.ingest([deal, said], NOW + k)
        kept.append(record_id(said))
    assert sorted(p[0] for p in store.parked()) == sorted(kept[1:])
    assert store.pop_unparked() == [kept[0]]


async def test_the_intake_announces_a_revived_record_and_gives_up_an_expired_one(tmp_path):
    from trustmesh.core.intake import Intake, Quota
    from trustmesh.core.worker import StoreWorker

    clock = [NOW]
    events, deal, said = _world()
    _, other_deal, never = _world(client=11, first=12, device=13, ref=b"\x09" * 32)
    with Store.open(tmp_path / "store.db", verify_threads=1) as store:
        intake = Intake(store, lambda: clock[0], lambda key: 1.0, Quota(10**6))
        fresh, refused, unparked = [], [], []
        intake.on_fresh.append(fresh.extend)
        intake.on_link_refused.append(refused.extend)
        intake.on_unparked.append(unparked.extend)
        worker = StoreWorker()
        report = await intake.take(worker, [deal, said, other_deal, never], "gossip", member(9).public_key)
        assert report.accepted == 2 and report.count(LINK) == 2
        assert set(refused) == {record_id(said), record_id(never)}     # counted as held while kept aside
        fresh.clear()
        await intake.take(worker, events, "sync", member(9).public_key)
        assert [(f.id, f.source) for f in fresh if f.id == record_id(said)] == [(record_id(said), "parked")]
        assert {f.id for f in fresh} == {record_id(e) for e in events} | {record_id(said)}
        assert unparked == []
        clock[0] = NOW + PARK_TTL_MS + 1
        await intake.take(worker, [], "sync")
        assert unparked == [record_id(never)]
        await trio.sleep(0)


def test_the_node_gossips_a_revived_record_and_lets_an_expired_one_leave_its_sync_index(make_ledger):
    from trustmesh.core.node import Node
    from trustmesh.protocol.sync.index import SyncIndex

    class Net:                      # what the node hands to the network side, kept
        def __init__(self):
            self.published = []

        def announce(self, raws):
            self.published += raws

    events, deal, said = _world()
    _, other_deal, never = _world(client=11, first=12, device=13, ref=b"\x09" * 32)
    node = Node(make_ledger(5))
    node.net, node.sync_index = Net(), SyncIndex([])
    clock = [NOW]
    node.intake.clock = lambda: clock[0]
    peer = member(9).public_key
    node.intake.store_records([deal, said, other_deal, never], "gossip", peer)
    node.intake.announce()
    assert record_id(said) in node.sync_index and record_id(never) in node.sync_index   # refused: held for sync
    assert node.net.published == []                                 # records from peers: the router relays
    node.intake.store_records(events, "sync", peer)
    node.intake.announce()
    assert node.net.published == [said]                             # the router refused it: we publish it
    clock[0] = NOW + PARK_TTL_MS + 1
    node.intake.store_records([], "sync", peer)
    node.intake.announce()
    assert record_id(never) not in node.sync_index and record_id(said) in node.sync_index
    assert node._refused_indexed == 0
