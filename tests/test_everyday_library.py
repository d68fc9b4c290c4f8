"""The library takes ids as text, times as datetimes, deals as printed hex; wrong types are
UsageError; trust is one call away; node.ask returns what my store knows too (issue 13)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

import trustmesh
from tests.conftest import member

BOB, CAROL = member(2), member(3)


@pytest.fixture
def pair(tmp_path):
    alice = trustmesh.Ledger.create(tmp_path / "a", identity=member(1))
    bob = trustmesh.Ledger.create(tmp_path / "b", identity=BOB)
    yield alice, bob
    alice.close()
    bob.close()


def _deal(alice, bob) -> str:
    made = bob.countersign(alice.propose_deal(BOB.id, "PO-7", "client", due=date(2027, 1, 31)))
    alice.ingest([made.raw])
    return made.id.hex()


def test_text_ids_datetimes_and_printed_deal_ids(pair):
    alice, bob = pair
    deal = _deal(alice, bob)
    when = datetime(2026, 10, 2, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    made = alice.attest(BOB.id, "delivery", False, deal=deal[:8], occurred=when, note="3 weeks late",
                        expires=date(2099, 1, 1))
    assert made.record.occurred == int(when.timestamp() * 1000)
    assert made.record.deal.hex() == deal and made.record.subject == BOB.public_key
    naive = alice.attest(BOB.did, "payment", True, occurred=datetime(2026, 10, 3))
    assert naive.record.occurred == int(datetime(2026, 10, 3, tzinfo=timezone.utc).timestamp() * 1000)
    assert alice.store.get(bytes.fromhex(deal)).record.due == \
        int(datetime(2027, 1, 31, tzinfo=timezone.utc).timestamp() * 1000)


@pytest.mark.parametrize("call", [
    lambda l: l.attest(BOB.public_key.hex().encode(), "payment", True),     # bytes of hex: not a key
    lambda l: l.attest(12345, "payment", True),
    lambda l: l.attest(BOB.id, 7, True),
    lambda l: l.attest(BOB.id, "payment", "yes"),
    lambda l: l.attest(BOB.id, "payment", True, note=b"bytes"),
    lambda l: l.attest(BOB.id, "payment", True, ref=12),
    lambda l: l.attest(BOB.id, "payment", True, occurred="2026-10-02"),
    lambda l: l.attest(BOB.id, "payment", True, occurred=1.5e12),
    lambda l: l.attest(BOB.id, "payment", True, deal=123),
    lambda l: l.attest(BOB.id, "payment", True, deal="not hex!"),
    lambda l: l.set_profile(None),
    lambda l: l.set_profile("Al", org=3),
    lambda l: l.propose_deal(BOB.id, 7, "client"),
    lambda l: l.propose_deal(BOB.id, "PO", "client", due="tomorrow"),
    lambda l: l.rank("payment", limit="10"),
])
def test_wrong_types_are_usage_errors(pair, call):
    alice, _ = pair
    with pytest.raises(trustmesh.UsageError):
        call(alice)
    assert sum(alice.store.counts().values()) == 0


def test_trust_is_one_call_on_the_ledger_with_text_ids(pair):
    alice, bob = pair
    deal = _deal(alice, bob)
    alice.attest(BOB.id, "delivery", True, deal=deal)
    score = alice.trust(BOB.id, "delivery")
    assert isinstance(score, trustmesh.TrustScore) and score.subject == BOB.id and score.known
    again = trustmesh.TrustEngine.for_ledger(alice).trust(BOB.id, "delivery", trustmesh.now_ms())
    assert again.evidence == score.evidence and abs(again.score - score.score) < 1e-6
    (item,) = alice.trust(BOB.id, "delivery", explain=True).explanation
    assert item.author == alice.identity.id and item.record == alice.store.records(kind="attestation")[0].id.hex()
    assert [e.subject for e in alice.rank("delivery")] == [BOB.id]
    assert "TrustEngine" in trustmesh.__all__ and "Ledger" in trustmesh.__all__


async def test_ask_returns_what_my_store_knows_with_no_peer(tmp_path):
    """The bug: ask about a member whose deal I had proposed returned nothing."""
    bob = trustmesh.Ledger.create(tmp_path / "b", identity=BOB)
    async with trustmesh.open_node(tmp_path / "a", listen=["/ip4/127.0.0.1/tcp/0"]) as node:
        proposal = node.ledger.propose_deal(BOB.id, "PO-1", "client")
        deal = bob.countersign(proposal)
        profile = bob.set_profile("Bob Builder")
        await node.import_records([deal.raw, profile.raw])
        found = await node.ask(BOB.id)
        assert {s.id for s in found} == {deal.id, profile.id}
        found = await node.ask(BOB.public_key)
        assert len(found) == 2
    bob.close()


def test_a_stored_record_reads_as_text(pair):
    alice, bob = pair
    made = alice.attest(BOB.id, "payment", True, occurred=date(2026, 10, 2), note="on time")
    view = made.view()
    assert made.hex_id == view["id"] == made.id.hex()
    assert view["author"] == alice.identity.id and view["subject"] == BOB.id
    assert view["occurred"] == "2026-10-02T00:00:00Z" and view["expired"] is False
