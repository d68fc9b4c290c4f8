"""The trust engine sees members, not keys (issue 15), over real ledgers on real SQLite files."""

from __future__ import annotations

from tests.conftest import NOW
from trustmesh.core.trustview import TrustEngine
from trustmesh.crypto.ids import peer_id
from trustmesh.crypto.keys import Identity
from trustmesh.protocol import keyevents
from trustmesh.protocol.records import encode

DAY = 86_400_000


def _member_with_a_device(make_ledger):
    """me(1) dealt with the member's device (3) and with the member's first key (2)."""
    me, first, device = make_ledger(1), make_ledger(2), make_ledger(3)
    incept = keyevents.incept(first.identity, Identity.generate().public_key, NOW - 10 * DAY)
    first.ingest([encode(incept)])
    add = keyevents.consent(keyevents.add_device(first.store.key_state(first.me), first.identity,
                                                 device.me, NOW - 9 * DAY), device.identity)
    events = [encode(incept), encode(add)]
    made = []
    for other in (first, device):
        deal = other.countersign(me.propose_deal(other.me, f"PO-{other.me[:2].hex()}", "client"))
        me.ingest([deal.raw])
        made.append(me.attest(other.me, "delivery", True, deal=deal.id))
    return me, first, device, events


def test_a_device_key_is_its_member_for_trust_and_rank(make_ledger):
    me, first, device, events = _member_with_a_device(make_ledger)
    engine = TrustEngine.for_ledger(me)
    apart = {e.subject for e in engine.rank("delivery", 5, NOW)}
    assert apart == {peer_id(first.me), peer_id(device.me)}          # no key events held: two members
    before = engine.trust(first.me, "delivery", NOW)
    me.ingest(events)
    joined = engine.trust(first.me, "delivery", NOW)
    assert joined.evidence == before.evidence + 1                  # the device's deal counts for the member
    assert engine.trust(device.me, "delivery", NOW).to_dict() == joined.to_dict()
    assert [e.subject for e in engine.rank("delivery", 5, NOW)] == [peer_id(first.me)]
    # the incremental load reads what a fresh engine reads
    assert TrustEngine.for_ledger(me).trust(first.me, "delivery", NOW).to_dict() == joined.to_dict()


def test_negatives_by_a_revoked_device_after_the_loss_leave_and_a_fresh_read_agrees(make_ledger):
    me, first, device, events = _member_with_a_device(make_ledger)
    third = make_ledger(4)
    me.ingest(events)
    engine = TrustEngine.for_ledger(me)
    deal = third.countersign(device.propose_deal(third.me, "PO-late", "supplier"))
    device.ingest([deal.raw])
    device.clock = lambda: NOW - DAY
    late = device.attest(third.me, "payment", False, deal=deal.id)
    me.ingest([deal.raw, late.raw])
    assert engine.trust(third.me, "payment", NOW).evidence == 1
    revoke = keyevents.revoke(me.store.key_state(first.me), first.identity, device.me, NOW - 2 * DAY, NOW)
    me.ingest([encode(revoke)])
    after = engine.trust(third.me, "payment", NOW)
    assert after.evidence == 0                                       # voided: signed after the loss
    assert TrustEngine.for_ledger(me).trust(third.me, "payment", NOW).to_dict() == after.to_dict()
