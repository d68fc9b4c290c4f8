"""The trust engine over real ledgers on real SQLite files."""

import json

from tests.conftest import NOW
from trustmesh.crypto.ids import peer_id
from trustmesh.core.trustview import TrustEngine
from trustmesh.protocol.records import Attestation, encode, record_id, sign

DAY = 86_400_000


def web(make_ledger):
    """me(1) dealt with and vouches for 2; 2 dealt with 3 and rates its delivery."""
    me, b, c = make_ledger(1), make_ledger(2), make_ledger(3)
    deal_mb = b.countersign(me.propose_deal(b.me, "PO-1", "client"))
    deal_bc = c.countersign(b.propose_deal(c.me, "PO-2", "client"))
    me.ingest([deal_mb.raw])
    me.attest(b.me, "delivery", True, deal=deal_mb.id)
    b.ingest([deal_bc.raw])
    rating = b.attest(c.me, "delivery", True, deal=deal_bc.id)
    me.ingest([deal_bc.raw, rating.raw])
    return me, b, c, rating


def test_evidence_through_a_chain_is_deal_backed_and_explained(make_ledger):
    me, b, c, rating = web(make_ledger)
    engine = TrustEngine.for_ledger(me)
    found = engine.explain(c.me, "delivery", NOW)
    assert found.known and found.evidence == 1 and found.authors == 1 and found.score > 0.5
    (item,) = found.explanation
    assert item.record == rating.id.hex() and item.deal and not item.contested
    assert item.chain == (peer_id(me.me), peer_id(b.me))
    json.dumps(found.to_dict())
    assert [e.subject for e in engine.rank("delivery", 5, NOW)] == [peer_id(b.me), peer_id(c.me)]


def test_reloads_only_when_the_store_changes_and_retraction_removes_evidence(make_ledger):
    me, b, c, rating = web(make_ledger)
    engine = TrustEngine.for_ledger(me)
    for _ in range(3):
        engine.trust(c.me, "delivery", NOW)
    assert engine.loads == 1 and engine.load(NOW).refreshes == 1
    me.ingest([b.retract(rating.id).raw])
    after = engine.trust(c.me, "delivery", NOW)
    assert engine.loads == 2 and not after.known and after.evidence == 0


def test_contested_negatives_are_flagged(make_ledger):
    me, b, c, _ = web(make_ledger)
    claim = b.attest(c.me, "payment", False, note="paid late")
    c.ingest([claim.raw])
    answer = c.reply(claim.id, "contest", note="never invoiced")
    me.ingest([claim.raw, answer.raw])
    found = TrustEngine.for_ledger(me).explain(c.me, "payment", NOW)
    assert found.contested == 1 and found.explanation[0].contested and found.score < 0.5


def test_expired_attestations_stop_counting(make_ledger):
    me, b, c, _ = web(make_ledger)
    me.ingest([b.attest(c.me, "skill:python", True, expires=NOW + DAY).raw])
    engine = TrustEngine.for_ledger(me)
    assert engine.trust(c.me, "skill:python", NOW).known
    assert not engine.trust(c.me, "skill:python", NOW + 2 * DAY).known
    assert "skill:python" in [s.facet for s in engine.trust(c.me, None, NOW)]


def test_an_equivocator_loses_its_weight(make_ledger):
    me, b, c, rating = web(make_ledger)
    engine = TrustEngine.for_ledger(me)
    assert engine.trust(c.me, "delivery", NOW).known
    # b signs a second, different record at the position of its rating: a fork
    twin = Attestation(b.me, rating.record.seq, rating.record.prev, NOW, c.me, "quality",
                       False, None, None, NOW, None, None)
    assert me.ingest([encode(sign(twin, b.identity))])[0].status == "accepted"
    assert b.me in me.store.equivocators()
    after = engine.trust(c.me, "delivery", NOW)
    assert after.evidence == 1 and not after.known


def _same_tables(x, y) -> None:
    import numpy as np
    assert x.members == y.members and x.facets == y.facets
    for name in ("author", "subject", "facet", "positive", "dealt", "contested", "occurred", "expires",
                 "record", "pair_dealt", "key", "deal_a", "deal_b", "deal_time", "equivocators"):
        assert np.array_equal(getattr(x, name), getattr(y, name)), name


def test_new_evidence_is_read_incrementally_and_matches_a_full_read(make_ledger):
    from trustmesh.core.trustview import read_evidence
    me, b, c, rating = web(make_ledger)
    engine = TrustEngine.for_ledger(me)
    engine.trust(c.me, "delivery", NOW)
    assert (engine.loads, engine.full_loads) == (1, 1)
    d = make_ledger(4)
    deal_cd = d.countersign(c.propose_deal(d.me, "PO-3", "client"))
    c.ingest([deal_cd.raw])
    more = [deal_cd.raw, c.attest(d.me, "payment", False, deal=deal_cd.id).raw,
            b.attest(d.me, "quality", True).raw, b.set_profile("Bob").raw]
    me.ingest(more)
    engine.trust(d.me, "payment", NOW)
    assert (engine.loads, engine.full_loads) == (2, 1)              # only the new rows were read
    _same_tables(engine.load(NOW).evidence, read_evidence(me.store))
    c.ingest([rating.raw])
    me.ingest([c.reply(rating.id, "contest", "no").raw])           # changes a row already read...
    engine.trust(c.me, "delivery", NOW)
    assert (engine.loads, engine.full_loads) == (3, 1)              # ...applied without a full read
    table = engine.load(NOW).evidence
    _same_tables(table, read_evidence(me.store))
    assert table.contested.sum() == 1
    late = b.attest(d.me, "delivery", True)
    me.ingest([late.raw])
    assert engine.trust(d.me, "delivery", NOW).evidence == 1
    me.ingest([b.retract(late.id).raw])                              # a retraction: no full read either
    assert engine.trust(d.me, "delivery", NOW).evidence == 0
    assert engine.full_loads == 1
    _same_tables(engine.load(NOW).evidence, read_evidence(me.store))


def test_the_evidence_is_kept_between_runs_and_a_bad_cache_is_ignored(make_ledger):
    from trustmesh.core.trustview import cache_beside, read_evidence
    me, b, c, rating = web(make_ledger)
    first = TrustEngine.for_ledger(me)
    first.trust(c.me, "delivery", NOW)
    assert first.full_loads == 1 and cache_beside(me.store).exists()
    assert oct(cache_beside(me.store).stat().st_mode & 0o777) == "0o600"
    me.ingest([b.attest(c.me, "quality", True).raw])                # arrives while nobody runs
    again = TrustEngine.for_ledger(me)
    again.trust(c.me, "quality", NOW)
    assert again.full_loads == 0                                    # the kept columns, plus one row
    _same_tables(again.load(NOW).evidence, read_evidence(me.store))
    cache_beside(me.store).write_bytes(b"not a cache")
    damaged = TrustEngine.for_ledger(me)
    assert damaged.trust(c.me, "quality", NOW).evidence == 1 and damaged.full_loads == 1


def test_a_full_read_and_a_read_row_by_row_agree_on_deals_retractions_and_replies(make_ledger):
    """The full read joins against temp tables; later reads look each row up: same answers."""
    me, b, c, rating = web(make_ledger)
    d = make_ledger(4)
    gone = d.countersign(c.propose_deal(d.me, "PO-4", "client"))       # a deal c then retracts
    kept = d.countersign(c.propose_deal(d.me, "PO-5", "supplier"))
    c.ingest([gone.raw, kept.raw])
    on_gone = c.attest(d.me, "delivery", True, deal=gone.id)
    on_kept = c.attest(d.me, "quality", False, deal=kept.id)
    e = make_ledger(5)                  # names a deal it is not in (accepted before the deal came)
    elsewhere = encode(sign(Attestation(e.me, 1, None, NOW, d.me, "delivery", True, None, kept.id, NOW,
                                        None, None), e.identity))
    assert me.ingest([elsewhere])[0].status == "accepted"
    withdrawn = b.attest(c.me, "quality", True)
    d.ingest([on_kept.raw])
    raws = [gone.raw, kept.raw, on_gone.raw, on_kept.raw, withdrawn.raw,
            c.retract(gone.id).raw, b.retract(withdrawn.id).raw,
            d.reply(on_kept.id, "contest", "not so").raw, c.reply(rating.id, "acknowledge").raw]
    me.ingest(raws)
    full, by_row = me.store.evidence_rows(0), me.store.evidence_rows(-1)
    assert full == by_row
    rids, dealt, contested = full["attestations"][0], full["attestations"][5], full["attestations"][6]
    flags = dict(zip(me.store.record_ids(list(rids)), zip(dealt, contested)))
    assert flags[on_gone.id] == (0, 0) and flags[on_kept.id] == (1, 1)
    assert flags[record_id(elsewhere)] == (0, 0)
    assert flags[rating.id] == (1, 0) and withdrawn.id not in flags
    assert len(full["deals"][0]) == 3                                   # me-b, b-c and the kept one
