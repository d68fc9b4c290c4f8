"""Mistakes that cost reputation are refused, or asked about, in one clear line (issue 13)."""

from __future__ import annotations

import pytest

from tests.conftest import member
from tests.everyday_kit import ok, refused, tm
from trustmesh.core.ledger import Ledger
from trustmesh.store import Store

ALICE, BOB, CAROL = member(1), member(2), member(3)


@pytest.fixture
def alice(tmp_path):
    Ledger.create(tmp_path / "alice", identity=ALICE).close()
    return tmp_path / "alice"


def held(home) -> int:
    with Store.open(home / "store.sqlite") as store:
        return sum(store.counts().values())


def test_positive_and_negative_exclude_each_other(alice):
    refused(alice, "attest", BOB.id, "payment", "--positive", "--negative", "--new-member",
            code=2, says="exclude each other")
    refused(alice, "attest", BOB.id, "payment", "--new-member", code=2, says="--positive or --negative")
    assert held(alice) == 0
    made = ok(alice, "attest", BOB.id, "payment", "--negative", "--new-member", "--json").json()
    assert made["positive"] is False


def test_a_member_never_seen_needs_new_member_or_a_yes(alice, monkeypatch):
    typo = CAROL.id                     # a valid id, but nobody this home knows
    refused(alice, "attest", typo, "payment", "--positive", code=1, says="never seen")
    assert held(alice) == 0
    import trustmesh.cli.members as members
    monkeypatch.setattr(members, "interactive", lambda: True)
    done = tm(alice, "attest", typo, "payment", "--positive", input="n\n")
    assert done.code == 1 and "not signed" in done.err and held(alice) == 0
    done = tm(alice, "attest", typo, "payment", "--positive", input="y\n")
    assert done.code == 0 and held(alice) == 1
    monkeypatch.setattr(members, "interactive", lambda: False)
    ok(alice, "attest", typo, "quality", "--positive")   # known now: a record is about them


def test_a_contact_is_known_and_names_the_member(alice):
    ok(alice, "contact", "add", "Bob", BOB.id)
    made = ok(alice, "attest", "bob", "payment", "--positive", "--json").json()
    assert made["subject"] == BOB.id


def test_id_fragments_of_known_members_with_clear_errors(alice):
    ok(alice, "attest", BOB.id, "payment", "--positive", "--new-member")
    ok(alice, "attest", CAROL.id, "payment", "--positive", "--new-member")
    assert ok(alice, "attest", BOB.id[:14], "quality", "--positive", "--json").json()["subject"] == BOB.id
    assert ok(alice, "attest", "…" + CAROL.id[-8:], "quality", "--positive", "--json").json()["subject"] == CAROL.id
    refused(alice, "attest", "12D3KooW", "quality", "--positive", code=2, says="fits 3 members")
    refused(alice, "attest", "zzzzzzzzzz", "quality", "--positive", code=2, says="no member known here")
    refused(alice, "records", "--subject", "12D3Koo", code=2, says="not an Ed25519 identity id")
    rows = ok(alice, "records", "--subject", BOB.id[-8:], "--json").json()
    assert {r["subject"] for r in rows} == {BOB.id}


def test_record_prefixes_unknown_and_too_short(alice):
    made = ok(alice, "attest", BOB.id, "payment", "--positive", "--new-member", "--json").json()
    assert ok(alice, "show", made["id"][:8], "--json").json()["id"] == made["id"]
    refused(alice, "show", made["id"][:7], code=2, says="8 or more hex digits")
    refused(alice, "retract", "0000000000", code=1, says="no record")


def test_an_empty_passphrase_file_is_refused(tmp_path):
    empty = tmp_path / "pass"
    empty.write_text("\n")
    refused(tmp_path / "h", "init", "--passphrase-file", empty, code=1, says="is empty")
    assert not (tmp_path / "h" / "identity.key").exists()


def test_backup_to_a_missing_directory_says_so(alice, tmp_path):
    refused(alice, "backup", tmp_path / "nowhere" / "b.sqlite", code=2, says="is not a directory")
