"""Names, not ids: the contacts book, names in every listing, --explain in words (issue 13)."""

from __future__ import annotations

import pytest

from tests.conftest import member
from tests.everyday_kit import ok, refused
from trustmesh.core.ledger import Ledger
from trustmesh.protocol.records import encode

ALICE, BOB, CAROL = member(1), member(2), member(3)


@pytest.fixture
def homes(tmp_path):
    """Alice (client) and Bob (supplier, profile "Bob Builder") made deal PO-7; Alice said he was late."""
    with Ledger.create(tmp_path / "alice", identity=ALICE) as alice, \
            Ledger.create(tmp_path / "bob", identity=BOB) as bob:
        bob.set_profile("Bob Builder")
        deal = bob.countersign(alice.propose_deal(BOB.public_key, "PO-7", "client"))
        alice.ingest([deal.raw, *[s.raw for s in bob.store.records(author=BOB.public_key, kind="profile")]])
        alice.set_profile("Alice Martin")
    return tmp_path / "alice", tmp_path / "bob", deal.id.hex()


def test_the_contacts_book(homes):
    alice, _, _ = homes
    assert "no contacts" in ok(alice, "contact", "list").out
    added = ok(alice, "contact", "add", BOB.id, "--json").json()        # the name he publishes
    assert added["name"] == "Bob Builder" and added["id"] == BOB.id
    ok(alice, "contact", "add", "Bobby", BOB.id)                        # mine replaces it
    assert [(c["name"], c["id"]) for c in ok(alice, "contact", "list", "--json").json()] == [("Bobby", BOB.id)]
    refused(alice, "contact", "add", "bobby", CAROL.id, code=2, says="already")
    refused(alice, "contact", "add", "me", CAROL.id, code=2, says="reserved")
    refused(alice, "contact", "add", "Carol", "12D3KooWnope", code=2, says="ID")
    human = ok(alice, "contact", "list").out
    assert "Bobby" in human and BOB.id in human and "Bob Builder" in human
    assert ok(alice, "contact", "remove", "BOBBY", "--json").json()["id"] == BOB.id
    refused(alice, "contact", "remove", "Bobby", code=1, says="no contact")
    assert (alice / "contacts.json").stat().st_mode & 0o777 == 0o600


def test_listings_show_my_name_for_them_and_me(homes):
    alice, _, deal = homes
    before = ok(alice, "records").out
    assert "Bob Builder (…" in before and "Alice Martin (me)" in before
    ok(alice, "contact", "add", "Bobby", BOB.id)
    after = ok(alice, "records", "--subject", "Bobby").out
    assert "Bobby (…" + BOB.id[-8:] + ")" in after and "Bob Builder (…" not in after
    rows = ok(alice, "records", "--subject", "bobby", "--json").json()
    assert rows and all(BOB.id in (r["author"], r.get("subject"), r.get("counterparty")) for r in rows)


def test_trust_explain_in_words(homes):
    alice, _, deal = homes
    ok(alice, "attest", "…" + BOB.id[-8:], "delivery", "--negative", "--deal", deal[:8],
       "--occurred", "2026-10-02", "--note", "delivered 3 weeks late")
    with Ledger.open(homes[1]) as bob:       # Bob's word about Carol, to show how a chain reads
        bob.attest(CAROL.public_key, "quality", True, note="solid work")
    text = ok(alice, "trust", BOB.id, "--facet", "delivery", "--explain").out
    assert f"subject Bob Builder (…{BOB.id[-8:]})" in text
    assert 'You said: "delivered 3 weeks late" (negative), 2026-10-02, backed by deal ' + deal[:12] in text
    ok(alice, "contact", "add", "Bob", BOB.id)
    assert "subject Bob (…" in ok(alice, "trust", "bob", "--facet", "delivery").out
    found = ok(alice, "trust", "bob", "--facet", "delivery", "--explain", "--json").json()
    assert found["subject"] == BOB.id
    (item,) = found["explanation"]
    assert item["author"] == ALICE.id and item["occurred"] == "2026-10-02T00:00:00Z"


def test_a_word_from_my_supplier_reads_with_the_relation(homes, tmp_path):
    alice, bob, deal = homes
    with Ledger.open(bob) as b:
        made = b.attest(CAROL.public_key, "payment", False, note="paid 2 months late")
        raws = [made.raw]
    with Ledger.open(alice) as a:
        a.ingest(raws)
    text = ok(alice, "trust", CAROL.id, "--facet", "payment", "--explain").out
    assert f'Bob Builder (…{BOB.id[-8:]}, your supplier) said: "paid 2 months late" (negative)' in text
    assert "no deal behind it" in text and "via me -> Bob Builder" in text


def test_rank_shows_names(homes):
    alice, _, deal = homes
    ok(alice, "attest", BOB.id, "delivery", "--positive", "--deal", deal)
    ok(alice, "contact", "add", "Bobby", BOB.id)
    out = ok(alice, "rank", "--facet", "delivery").out
    assert f"Bobby (…{BOB.id[-8:]})" in out and BOB.id in out
    assert ok(alice, "rank", "--facet", "delivery", "--json").json()[0]["subject"] == BOB.id
