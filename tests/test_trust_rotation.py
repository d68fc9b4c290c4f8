"""A member who rotates keeps its rank and its negatives (issue 15), over real ledgers on real SQLite files.

The world: me, four clients I dealt with (my word gives them weight), and
three suppliers every client dealt with and rated on delivery; supplier M
then rotates to its pre-committed successor, and two clients deal with the
new key: one praise, one complaint.
"""

from __future__ import annotations

from tests.conftest import NOW, member
from trustmesh.core.trustview import TrustEngine
from trustmesh.crypto.ids import peer_id
from trustmesh.protocol import keyevents
from trustmesh.protocol.records import encode

DAY = 86_400_000


def _dealt(me, client, supplier, positive: bool, ref: str):
    """``client`` deals with ``supplier`` and rates the delivery; ``me`` gets both records."""
    deal = supplier.countersign(client.propose_deal(supplier.me, ref, "client"))
    client.ingest([deal.raw])
    said = client.attest(supplier.me, "delivery", positive, deal=deal.id)
    me.ingest([deal.raw, said.raw])


def _world(make_ledger):
    """Everything before the rotation: M's first key countersigned its deals while it was M's."""
    earlier = lambda: NOW - 10 * DAY                       # noqa: E731
    me = make_ledger(1, earlier)
    clients = [make_ledger(10 + i, earlier) for i in range(4)]
    m, s1, s2 = make_ledger(2, earlier), make_ledger(3, earlier), make_ledger(4, earlier)
    for i, client in enumerate(clients):
        deal = client.countersign(me.propose_deal(client.me, f"PO-me-{i}", "client"))
        me.ingest([deal.raw])
        me.attest(client.me, "payment", True, deal=deal.id)
        _dealt(me, client, m, True, f"PO-m-{i}")
        _dealt(me, client, s1, i != 3, f"PO-s1-{i}")
        if i < 2:
            _dealt(me, client, s2, True, f"PO-s2-{i}")
    for ledger in (me, *clients, m, s1, s2):
        ledger.clock = lambda: NOW
    return me, clients, m, (s1, s2)


def _view(engine, subject: bytes) -> dict:
    out = engine.trust(subject, "delivery", NOW).to_dict()
    out.pop("explanation", None)
    return out


def test_a_rotated_member_keeps_its_rank_and_its_negatives(make_ledger):
    me, clients, m, others = _world(make_ledger)
    successor, following = member(40), member(41)
    incept = keyevents.incept(m.identity, successor.public_key, NOW - 5 * DAY)
    m.ingest([encode(incept)])
    rotation = keyevents.rotate(m.store.key_state(m.me), successor, following.public_key, NOW - 4 * DAY)

    engine = TrustEngine.for_ledger(me)
    ranked = [e.subject for e in engine.rank("delivery", 10, NOW)]
    before = _view(engine, m.me)
    assert ranked[0] == peer_id(m.me)

    me.ingest([encode(incept), encode(rotation)])
    # the rotation alone changes nothing: same rank, same answer, by either key
    assert [e.subject for e in engine.rank("delivery", 10, NOW)] == ranked
    assert _view(engine, m.me) == before
    new = make_ledger(40)                                  # the node now runs on the successor key
    assert _view(engine, new.me) == before                 # no fresh start for the new key

    _dealt(me, clients[0], new, True, "PO-new-0")
    praised = _view(engine, m.me)
    assert praised["evidence"] == before["evidence"] + 1   # what is said about the new key is the member's
    _dealt(me, clients[1], new, False, "PO-new-1")
    blamed = _view(engine, m.me)
    assert blamed["evidence"] == praised["evidence"] + 1
    assert blamed["score"] < praised["score"]              # the complaint follows the member
    subjects = [e.subject for e in engine.rank("delivery", 10, NOW)]
    assert peer_id(new.me) not in subjects and subjects.count(peer_id(m.me)) == 1
    # a fresh engine on the same store reads the same
    assert _view(TrustEngine.for_ledger(me), new.me) == blamed == _view(engine, new.me)
