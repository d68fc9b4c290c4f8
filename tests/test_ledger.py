"""The ledger on a real SQLite file: making, linking and reading records."""

import pytest

from trustmesh.errors import InvalidRecord, UsageError
from trustmesh.store import ACCEPTED, DUPLICATE, REJECTED


def test_chain_links_each_record_to_the_previous(make_ledger):
    a, b = make_ledger(1), make_ledger(2)
    first = a.attest(b.me, "payment", True, ref="INV-12")
    second = a.attest(b.me, "quality", False)
    assert (first.record.seq, first.record.prev) == (1, None)
    assert (second.record.seq, second.record.prev) == (2, first.id)
    assert a.store.head(a.me) == (2, second.id)


def test_deal_needs_both_signatures_and_lands_on_both_sides(make_ledger):
    a, b = make_ledger(1), make_ledger(2)
    proposal = a.propose_deal(b.me, "PO-7", "client")
    deal = b.countersign(proposal)
    assert deal.record.client == a.me and deal.record.supplier == b.me
    assert [r.status for r in a.ingest([deal.raw])] == [ACCEPTED]
    attestation = a.attest(b.me, "delivery", True, deal=deal.id)
    assert attestation.record.ref == deal.record.ref
    with pytest.raises(InvalidRecord):
        a.countersign(proposal)  # addressed to b, not a


def test_only_author_retracts_and_only_subject_replies(make_ledger):
    a, b, c = make_ledger(1), make_ledger(2), make_ledger(3)
    claim = a.attest(b.me, "payment", False, note="paid 60 days late")
    for other in (b, c):
        other.ingest([claim.raw])
    with pytest.raises(InvalidRecord, match="only the author"):
        c.retract(claim.id)
    with pytest.raises(InvalidRecord, match="only the subject"):
        c.reply(claim.id, "contest")
    b.reply(claim.id, "contest", note="the invoice was wrong")
    assert b.store.get(claim.id).contested
    a.retract(claim.id)
    assert a.store.records(subject=b.me) == []
    assert a.store.records(subject=b.me, include_retracted=True)[0].retracted


def test_ingest_is_idempotent_and_reports_each_record(make_ledger):
    a, b = make_ledger(1), make_ledger(2)
    raws = [a.attest(b.me, "quality", True).raw for _ in range(3)]
    forged = bytearray(raws[0]); forged[-1] ^= 1
    results = b.ingest(raws + [raws[0], bytes(forged), b"\x00junk"])
    assert [r.status for r in results] == [ACCEPTED] * 3 + [DUPLICATE, REJECTED, REJECTED]
    assert "signature" in results[4].reason
    assert [r.status for r in b.ingest(raws)] == [DUPLICATE] * 3


def test_expired_records_are_kept_but_hidden_by_default(make_ledger):
    from tests.conftest import NOW
    a, b = make_ledger(1), make_ledger(2)
    a.attest(b.me, "skill:accounting", True, expires=NOW + 1000)
    assert len(a.store.records(now_ms=NOW)) == 1
    assert a.store.records(now_ms=NOW + 5000) == []
    assert len(a.store.records(now_ms=NOW + 5000, include_expired=True)) == 1


def test_bad_arguments_are_usage_errors(make_ledger):
    a, b = make_ledger(1), make_ledger(2)
    with pytest.raises(UsageError):
        a.attest(b.me, "paymnt", True)
    with pytest.raises(UsageError):
        a.attest("not-an-id", "payment", True)
    with pytest.raises(UsageError):
        a.attest(b.me, "payment", True, note="x" * 281)
    assert a.store.head(a.me) == (0, None)
