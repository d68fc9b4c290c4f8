"""A poison record (a valid signature, a time beyond year 9999) breaks no node.

Refused on the wire (tests/vectors hold the negative vectors). A store that a
version before the bound filled with one keeps working: every view shows it,
and it is never offered to peers, who must refuse it.
"""

from __future__ import annotations

import json

import pytest

from tests.test_cli import tm
from trustmesh.testing import InProcessNode
from trustmesh.testing.records import store_unchecked
from trustmesh.crypto.keys import Identity
from trustmesh.errors import DecodeError
from trustmesh.core.ledger import Ledger, now_ms
from trustmesh.store import Store
from trustmesh.protocol.jsonview import iso
from trustmesh.protocol.records import MAX_TIME_MS, Attestation, decode, encode, sign

POISON_EXPIRES = 2**63 - 1


def _attestation(expires: int) -> bytes:
    author, subject, t = Identity.generate(), Identity.generate(), now_ms() - 1000
    return encode(sign(Attestation(author.public_key, 1, None, t, subject.public_key, "payment", True,
                                   None, None, t, expires, None), author))


def test_the_poison_record_is_refused_and_the_last_valid_time_is_not(tmp_path):
    with pytest.raises(DecodeError, match="year 9999"):
        decode(_attestation(POISON_EXPIRES))
    last = _attestation(MAX_TIME_MS)
    with Store.open(tmp_path / "s.sqlite") as store:
        assert [r.status for r in store.ingest([_attestation(POISON_EXPIRES), last], now_ms())] == \
            ["rejected", "accepted"]
        assert store.ingest([_attestation(MAX_TIME_MS + 1)], now_ms())[0].fault == "malformed"
    assert iso(MAX_TIME_MS) == "9999-12-31T23:59:59Z"


def test_iso_is_total():
    assert iso(0) == "1970-01-01T00:00:00Z"
    assert iso(1_790_000_000_000) == "2026-09-21T14:13:20Z"
    assert iso(POISON_EXPIRES) == "+292278994-08-17T07:12:55Z"     # Java's Long.MAX_VALUE instant
    assert iso(MAX_TIME_MS + 1) == "+10000-01-01T00:00:00Z"


def _home_with_old_poison(tmp_path):
    """A home whose store a version without the bound filled: the poison row, as it would have written it."""
    home = tmp_path / "old"
    Ledger.create(home).close()
    return home, store_unchecked(home / "store.sqlite", _attestation(POISON_EXPIRES)).hex()


def test_every_view_shows_a_poison_record_already_stored(tmp_path):
    home, rid = _home_with_old_poison(tmp_path)
    listed = json.loads(tm(home, "records", "--all", "--json").stdout)
    assert [r["id"] for r in listed] == [rid] and listed[0]["expires"].startswith("+292278994-")
    assert json.loads(tm(home, "show", rid, "--json").stdout)["id"] == rid
    assert rid[:12] in tm(home, "show", rid).stdout + tm(home, "records", "--all").stdout
    bundle = tmp_path / "old.bundle"
    tm(home, "export", "-o", bundle)
    done = tm(home, "verify", bundle, "--json", ok=False)      # invalid now, and says why
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "year 9999" in done.stdout
    # and it is never offered to a peer (who would refuse it and count it against us)
    with Store.open(home / "store.sqlite") as store:
        assert store.all_ids() == [] and store.raws_for([bytes.fromhex(rid)]) == []
        assert store.get(bytes.fromhex(rid)).record.expires == POISON_EXPIRES


def test_the_api_lists_a_poison_record_already_stored(tmp_path):
    home, rid = _home_with_old_poison(tmp_path)
    node = InProcessNode(home).start()
    try:
        assert rid in [r["id"] for r in node.api("GET", "/v1/records")]
        assert node.api("GET", f"/v1/records/{rid}")["id"] == rid
    finally:
        node.stop()
