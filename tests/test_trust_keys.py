"""The trust engine sees members, not keys (issue 15), over real ledgers on real SQLite files."""

from __future__ import annotations

from tests.conftest import NOW
from trustmesh.core.trustview import TrustEngine
from trustmesh.crypto.ids import peer_id
from trustmesh.crypto.keys import Identity
from trustmesh.protocol import keyevents
from trustmesh.protocol.records import Attestation, encode, sign

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


def _recommended_member(make_ledger, clock):
    """me(1) dealt twice with M(2) and with three friends (10-12), who each dealt with M: M
    reads recommended from my point of view. M has a key chain: an inception."""
    me, m = make_ledger(1, clock), make_ledger(2, clock)
    friends = [make_ledger(10 + i, clock) for i in range(3)]

    def dealt(a, b, ref):
        deal = b.countersign(a.propose_deal(b.me, ref, "client"))
        a.ingest([deal.raw])
        return [deal.raw, a.attest(b.me, "delivery", True, deal=deal.id).raw]
    for k in range(2):
        dealt(me, m, f"PO-m{k}")
    for i, friend in enumerate(friends):
        dealt(me, friend, f"PO-f{i}")
        me.ingest(dealt(friend, m, f"PO-fm{i}"))
    incept = keyevents.incept(m.identity, Identity.generate().public_key, clock() - DAY)
    m.ingest([encode(incept)])
    me.ingest([encode(incept)])
    return me, m


def _two_adds(m, clock) -> list[bytes]:
    """Two different device adds at one position of M's chain: a fork (M reads disputed)."""
    state = m.store.key_state(m.me)
    adds = []
    for n in (20, 21):
        device = Identity.from_seed(bytes([n]) * 32)
        adds.append(encode(keyevents.consent(
            keyevents.add_device(state, m.identity, device.public_key, clock() - DAY // 2), device)))
    return adds


def test_a_member_with_a_forked_key_chain_reads_disputed_and_never_recommended(make_ledger):
    me, m = _recommended_member(make_ledger, lambda: NOW)
    engine = TrustEngine.for_ledger(me)
    plain = engine.trust(m.me, "delivery", NOW)
    assert (plain.verdict, plain.disputed) == ("recommended", False)
    (ranked,) = [e for e in engine.rank("delivery", 10, NOW) if e.subject == peer_id(m.me)]
    assert (ranked.verdict, ranked.disputed) == ("recommended", False)

    one_add = _two_adds(m, lambda: NOW)[:1]           # an unforked chain: nothing changes
    me.ingest(one_add)
    assert engine.trust(m.me, "delivery", NOW).to_dict() == plain.to_dict()

    forked = _two_adds(m, lambda: NOW)
    me.ingest(forked)
    assert me.store.key_state(m.me).disputed and me.store.disputed_members() == {m.me}
    found = engine.trust(m.me, "delivery", NOW)
    assert found.disputed and found.verdict == "no objection"        # the evidence stands, the praise is capped
    assert (found.score, found.evidence) == (plain.score, plain.evidence)
    assert found.to_dict()["disputed"] is True
    assert all(s.disputed and s.verdict != "recommended" for s in engine.trust(m.me, None, NOW))
    (ranked,) = [e for e in engine.rank("delivery", 10, NOW) if e.subject == peer_id(m.me)]
    assert (ranked.verdict, ranked.disputed) == ("no objection", True)
    assert ranked.to_dict()["disputed"] is True
    opinions = engine.load(NOW).opinions("delivery", NOW)
    assert opinions.verdict[engine.load(NOW).evidence.index[m.me]] != 0    # 0: recommended
    # a fresh engine (and its cached columns) reads the same
    assert TrustEngine.for_ledger(me).trust(m.me, "delivery", NOW).to_dict() == found.to_dict()


def test_the_key_tables_are_read_again_only_after_a_key_event(make_ledger):
    me, m = _recommended_member(make_ledger, lambda: NOW)
    engine = TrustEngine.for_ledger(me)
    engine.trust(m.me, "delivery", NOW)
    reads, loads = engine.key_reads, engine.loads
    me.attest(m.me, "quality", True)                  # a record, no key event
    engine.trust(m.me, "delivery", NOW)
    assert (engine.key_reads, engine.loads) == (reads, loads + 1)
    me.ingest(_two_adds(m, lambda: NOW))              # key events: read again, and M is disputed
    assert engine.trust(m.me, "delivery", NOW).disputed
    assert engine.key_reads == reads + 1


def test_trust_and_rank_commands_say_disputed(make_ledger):
    import json
    import time

    from trustmesh.testing import invoke_cli
    now = int(time.time() * 1000)
    me, m = _recommended_member(make_ledger, lambda: now)
    home = me.home.root
    before = json.loads(invoke_cli(home, "trust", peer_id(m.me), "--facet", "delivery", "--json").stdout)
    assert (before["verdict"], before["disputed"]) == ("recommended", False)
    me.ingest(_two_adds(m, lambda: now))
    out = invoke_cli(home, "trust", peer_id(m.me), "--facet", "delivery", "--json")
    assert out.returncode == 0, out.stderr
    after = json.loads(out.stdout)
    assert (after["verdict"], after["disputed"]) == ("no objection", True)
    ranked = json.loads(invoke_cli(home, "rank", "--facet", "delivery", "--json").stdout)
    (row,) = [r for r in ranked if r["subject"] == peer_id(m.me)]
    assert (row["verdict"], row["disputed"]) == ("no objection", True)
    table = invoke_cli(home, "rank", "--facet", "delivery").stdout.splitlines()
    (line,) = [t for t in table if peer_id(m.me) in t]
    assert line.startswith("no objection (disputed)")
    words = invoke_cli(home, "trust", peer_id(m.me), "--facet", "delivery").stdout
    assert "no objection (disputed)" in words



def _client_and_member(make_ledger):
    """client C(1), member M(2) with a device D(3) and a committed successor S(4); C holds
    M's key events."""
    c, m, d, s = make_ledger(1), make_ledger(2), make_ledger(3), make_ledger(4)
    incept = keyevents.incept(m.identity, s.me, NOW - 10 * DAY)
    m.ingest([encode(incept)])
    add = keyevents.consent(keyevents.add_device(m.store.key_state(m.me), m.identity, d.me, NOW - 9 * DAY),
                            d.identity)
    m.ingest([encode(add)])
    c.ingest([encode(incept), encode(add)])
    return c, m, d, s


def _item(engine, subject, record_id):
    score = engine.explain(subject, "delivery", NOW)
    (item,) = [i for i in score.explanation if i.record == record_id.hex()]
    return score, item


def _words(c, item) -> str:
    from trustmesh.cli.explain import lines
    from trustmesh.cli.view import Names
    return " ".join(lines(item, Names(c.store, c.me), c.store, c.me, {}))


def test_a_deal_with_a_device_backs_an_attestation_about_the_first_key(make_ledger):
    c, m, d, _ = _client_and_member(make_ledger)
    deal = d.countersign(c.propose_deal(d.me, "PO-dev", "client"))
    c.ingest([deal.raw])
    backed = c.attest(m.me, "delivery", True, deal=deal.id)           # about M's first key, D's deal
    plain = c.attest(m.me, "delivery", True)
    engine = TrustEngine.for_ledger(c)
    score, item = _item(engine, m.me, backed.id)
    _, other = _item(engine, m.me, plain.id)
    assert item.deal and not other.deal
    assert item.weight == 2 * other.weight                             # full weight against undealt_weight 0.5
    assert f"backed by deal {deal.id.hex()[:12]}" in _words(c, item)
    # the member's other key attests about the client, naming the same deal: backed too
    m.ingest([deal.raw])
    back = m.attest(c.me, "delivery", True, deal=deal.id)
    c.ingest([back.raw])
    _, answer = _item(engine, c.me, back.id)
    assert answer.deal
    assert TrustEngine(c.store, c.me).explain(m.me, "delivery", NOW).to_dict() == \
        engine.explain(m.me, "delivery", NOW).to_dict()


def test_a_deal_with_the_successor_backs_an_attestation_about_the_first_key(make_ledger):
    c, m, d, s = _client_and_member(make_ledger)
    rotate = keyevents.rotate(m.store.key_state(m.me), s.identity, Identity.generate().public_key, NOW - 5 * DAY)
    c.ingest([encode(rotate)])
    engine = TrustEngine.for_ledger(c)
    deal = s.countersign(c.propose_deal(s.me, "PO-next", "client"))
    c.ingest([deal.raw])
    backed = c.attest(m.me, "delivery", True, deal=deal.id)
    score, item = _item(engine, m.me, backed.id)
    assert item.deal and f"backed by deal {deal.id.hex()[:12]}" in _words(c, item)
    assert TrustEngine(c.store, c.me).explain(m.me, "delivery", NOW).to_dict() == score.to_dict()


def test_a_deal_signed_by_a_device_after_its_revocation_backs_nothing(make_ledger):
    c, m, d, _ = _client_and_member(make_ledger)
    d.clock = c.clock = lambda: NOW - DAY
    deal = d.countersign(c.propose_deal(d.me, "PO-late", "client"))
    c.ingest([deal.raw])
    backed = c.attest(m.me, "delivery", True, deal=deal.id)
    engine = TrustEngine.for_ledger(c)
    assert _item(engine, m.me, backed.id)[1].deal                      # before the revocation is known
    c.clock = lambda: NOW
    revoke = keyevents.revoke(c.store.key_state(m.me), m.identity, d.me, NOW - 2 * DAY, NOW)
    assert c.ingest([encode(revoke)])[0].status == "accepted"
    assert deal.id in {v[0] for v in c.store.voided()}                 # the store voided the deal
    score, item = _item(engine, m.me, backed.id)                       # incremental: re-read
    assert not item.deal
    words = _words(c, item)
    assert "backed by deal" not in words and "no deal behind it" in words
    fresh = TrustEngine(c.store, c.me)
    assert fresh.explain(m.me, "delivery", NOW).to_dict() == score.to_dict()
    # a deal D signs after the revocation is refused on arrival: it backs nothing anywhere
    d.clock = c.clock = lambda: NOW - DAY // 2
    later = d.countersign(c.propose_deal(d.me, "PO-later", "client"))
    assert c.ingest([later.raw])[0].status == "rejected"


def test_a_fresh_engine_agrees_with_the_incremental_one_when_the_device_is_added_late(make_ledger):
    """The deal and the attestation came before the key event that makes D the member's:
    the incremental load maps them when the add arrives, as a fresh read does."""
    c, m, d = make_ledger(1), make_ledger(2), make_ledger(3)
    deal = d.countersign(c.propose_deal(d.me, "PO-early", "client"))
    raw = encode(sign(Attestation(c.me, 1, None, NOW, m.me, "delivery", True, None, deal.id, NOW, None, None),
                      c.identity))
    assert c.ingest([raw])[0].status == "accepted"                      # deal not held yet: stored
    engine = TrustEngine.for_ledger(c)
    engine.trust(m.me, "delivery", NOW)
    c.ingest([deal.raw])
    attestation = c.store.records(author=c.me, kind="attestation")[0].id
    assert not _item(engine, m.me, attestation)[1].deal                # D is nobody's device yet
    incept = keyevents.incept(m.identity, Identity.generate().public_key, NOW - 10 * DAY)
    m.ingest([encode(incept)])
    add = keyevents.consent(keyevents.add_device(m.store.key_state(m.me), m.identity, d.me, NOW - 9 * DAY),
                            d.identity)
    c.ingest([encode(incept), encode(add)])
    score, item = _item(engine, m.me, attestation)
    assert item.deal and engine.full_loads == 1
    assert TrustEngine(c.store, c.me).explain(m.me, "delivery", NOW).to_dict() == score.to_dict()
    assert TrustEngine.for_ledger(c).explain(m.me, "delivery", NOW).to_dict() == score.to_dict()
