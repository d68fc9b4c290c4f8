"""The SQLite store on real files: forks, idempotence, migrations, privacy."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest

from tests.conftest import NOW, member
from trustmesh.errors import StoreError
from trustmesh.node.store import ACCEPTED, DUPLICATE, REJECTED, Store
from trustmesh.protocol.records import Attestation, Profile, encode, record_id, sign


def attestation(author, seq, prev, subject, facet="quality", note=None, issued=NOW):
    return encode(sign(Attestation(author.public_key, seq, prev, issued, subject.public_key, facet,
                                   True, None, None, issued, None, note), author))


def test_two_records_at_one_position_are_a_fork(tmp_path):
    alice, bob = member(1), member(2)
    with Store.open(tmp_path / "s.sqlite") as store:
        first = attestation(alice, 1, None, bob, note="to peer A")
        other = attestation(alice, 1, None, bob, note="to peer B")
        assert [r.status for r in store.ingest([first], NOW)] == [ACCEPTED]
        assert store.equivocators() == set()
        assert [r.status for r in store.ingest([other], NOW)] == [ACCEPTED]   # kept as evidence
        (fork,) = store.forks()
        assert (fork.author, fork.seq) == (alice.public_key, 1)
        assert {fork.id_a, fork.id_b} == {record_id(first), record_id(other)}
        assert store.equivocators() == {alice.public_key}


def test_a_prev_link_contradicting_the_held_record_is_a_fork(tmp_path):
    alice, bob = member(1), member(2)
    with Store.open(tmp_path / "s.sqlite") as store:
        one = attestation(alice, 1, None, bob)
        two_elsewhere = attestation(alice, 2, b"\x42" * 32, bob)      # claims another seq 1
        store.ingest([one], NOW)
        store.ingest([two_elsewhere], NOW)
        assert store.equivocators() == {alice.public_key}
        # and in the other arrival order, in one batch
    with Store.open(tmp_path / "t.sqlite") as store:
        store.ingest([two_elsewhere, one], NOW)
        assert store.equivocators() == {alice.public_key}


def test_an_honest_chain_arriving_in_any_order_is_no_fork(tmp_path):
    alice, bob = member(1), member(2)
    raws, prev = [], None
    for seq in range(1, 8):
        raw = attestation(alice, seq, prev, bob, note=f"n{seq}")
        raws.append(raw)
        prev = record_id(raw)
    with Store.open(tmp_path / "s.sqlite") as store:
        for raw in reversed(raws):
            assert store.ingest([raw], NOW)[0].status == ACCEPTED
        assert store.equivocators() == set() and store.head(alice.public_key)[0] == 7


def test_batches_mix_good_bad_and_duplicate_and_write_only_the_good(tmp_path):
    alice, bob = member(1), member(2)
    good = [attestation(alice, 1, None, bob)]
    good.append(attestation(alice, 2, record_id(good[0]), bob))
    forged = bytearray(good[1]); forged[-1] ^= 0xFF
    future = attestation(alice, 3, record_id(good[1]), bob, issued=NOW + 3600_000)
    selfie = encode(sign(Attestation(alice.public_key, 3, record_id(good[1]), NOW, alice.public_key, "quality",
                                     True, None, None, NOW, None, None), alice))
    with Store.open(tmp_path / "s.sqlite") as store:
        results = store.ingest([good[0], bytes(forged), good[1], good[0], future, selfie, b"", 42], NOW)
        assert [r.status for r in results] == [ACCEPTED, REJECTED, ACCEPTED, DUPLICATE, REJECTED,
                                               REJECTED, REJECTED, REJECTED]
        assert "future" in results[4].reason and "oneself" in results[5].reason
        assert sum(store.counts().values()) == 2
        assert [r.status for r in store.ingest(good, NOW)] == [DUPLICATE, DUPLICATE]


def test_bulk_batches_verify_on_workers_with_the_same_verdicts(tmp_path):
    alice, bob = member(1), member(2)
    raws, prev = [], None
    for seq in range(1, 701):   # above the inline threshold: verified on worker processes
        raw = attestation(alice, seq, prev, bob)
        raws.append(raw)
        prev = record_id(raw)
    bad = bytearray(raws[500])   # in the bulk batch
    bad[-2] ^= 1
    raws[500] = bytes(bad)
    with Store.open(tmp_path / "s.sqlite", verify_workers=2) as store:
        batches = [raws[:600], raws[600:]]   # the first one goes to the workers
        results = [r for batch in store.ingest_stream(batches, NOW) for r in batch]
    statuses = [r.status for r in results]
    assert statuses.count(ACCEPTED) == 699 and statuses[500] == REJECTED


def test_store_is_private_persistent_and_versioned(tmp_path):
    path = tmp_path / "s.sqlite"
    alice = member(1)
    raw = encode(sign(Profile(alice.public_key, 1, None, NOW, "Alice", None, None), alice))
    with Store.open(path) as store:
        store.ingest([raw], NOW)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with Store.open(path) as store:
        assert store.profile(alice.public_key).name == "Alice"
        assert store.integrity_check() == "ok"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store.open(path)


def test_a_file_that_is_not_a_store_is_a_clear_error(tmp_path):
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        Store.open(path)
