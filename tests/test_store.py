"""The store on real SQLite files: forks, idempotence, rejection, schema, persistence."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest

from tests.conftest import NOW, member
from trustmesh.errors import StoreError
from trustmesh.store import schema as store_schema
from trustmesh.store import ACCEPTED, DUPLICATE, REJECTED, Store
from trustmesh.protocol.records import (
    Attestation, Deal, Reply, Retraction, countersign, encode, record_id, sign,
)

A, B, C = member(1), member(2), member(3)


def chain(author, n, *, start=1, prev=None, facet="payment", note=None, subject=None):
    """``n`` chained attestations by ``author`` from seq ``start``; their encodings."""
    raws = []
    for seq in range(start, start + n):
        rec = sign(Attestation(author.public_key, seq, prev, NOW - 10_000 + seq % 1000, (subject or B).public_key,
                               facet, True, None, None, NOW - 5000, None, note), author)
        raw = encode(rec)
        prev = record_id(raw)
        raws.append(raw)
    return raws


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "store.sqlite")
    yield s
    s.close()


def statuses(results):
    return [r.status for r in results]


def test_two_records_at_one_position_are_both_kept_as_a_fork(store):
    first = chain(A, 3)
    other = chain(A, 1, start=3, prev=record_id(first[1]), note="a different third record")[0]
    assert statuses(store.ingest(first, NOW)) == [ACCEPTED] * 3
    assert store.equivocators() == set()
    assert statuses(store.ingest([other], NOW)) == [ACCEPTED]
    assert store.equivocators() == {A.public_key}
    (fork,) = store.forks(A.public_key)
    assert (fork.seq, {fork.id_a, fork.id_b}) == (3, {record_id(first[2]), record_id(other)})
    assert fork.id_a < fork.id_b
    held = {r.id for r in store.records(author=A.public_key)}
    assert {record_id(first[2]), record_id(other)} <= held


def test_fork_inside_one_batch_and_in_either_order(tmp_path):
    base = chain(A, 2)
    alt = chain(A, 1, start=2, prev=record_id(base[0]), note="rewritten history")[0]
    for n, order in enumerate(([base[0], base[1], alt], [alt, base[1], base[0]])):
        with Store.open(tmp_path / f"s{n}.sqlite") as s:
            assert statuses(s.ingest(order, NOW)) == [ACCEPTED] * 3
            assert [(f.seq, {f.id_a, f.id_b}) for f in s.forks()] == [(2, {record_id(base[1]), record_id(alt)})]


def test_a_prev_link_contradicting_the_held_record_is_a_fork(store):
    honest = chain(A, 2)
    stranger = chain(A, 2, note="another history")           # its seq 1 differs
    liar = stranger[1]                                        # seq 2 pointing at the other seq 1
    assert statuses(store.ingest(honest[:1], NOW)) == [ACCEPTED]
    assert statuses(store.ingest([liar], NOW)) == [ACCEPTED]
    forks = store.forks(A.public_key)
    assert [(f.seq, {f.id_a, f.id_b}) for f in forks] == [(1, {record_id(honest[0]), record_id(liar)})]
    assert store.equivocators() == {A.public_key}


def test_a_held_successor_that_does_not_point_at_a_new_record_is_a_fork(store):
    honest = chain(A, 2)
    other_first = chain(A, 1, note="other first")[0]
    store.ingest([honest[1]], NOW)          # seq 2 arrives first, prev = honest seq 1
    store.ingest([other_first], NOW)        # a seq 1 that seq 2 does not point at
    assert [(f.seq, {f.id_a, f.id_b}) for f in store.forks()] == [(1, {record_id(other_first), record_id(honest[1])})]
    store.ingest([honest[0]], NOW)          # the real seq 1: a fork with other_first, linked to seq 2
    assert {f.seq for f in store.forks()} == {1}
    assert len(store.forks()) == 2


def test_honest_chains_out_of_order_and_across_batches_are_no_fork(store):
    raws = chain(A, 10) + chain(C, 10)
    assert statuses(store.ingest(raws[15:] + raws[:3], NOW)) == [ACCEPTED] * 8
    assert statuses(store.ingest(raws[3:15], NOW)) == [ACCEPTED] * 12
    assert store.forks() == [] and store.equivocators() == set()
    assert store.head(A.public_key) == (10, record_id(raws[9]))


def test_ingest_is_idempotent_across_batches_and_within_one(store):
    raws = chain(A, 5)
    assert statuses(store.ingest(raws[:3], NOW)) == [ACCEPTED] * 3
    assert statuses(store.ingest(raws + raws[4:], NOW)) == [DUPLICATE] * 3 + [ACCEPTED, ACCEPTED, DUPLICATE]
    assert statuses(store.ingest(raws, NOW)) == [DUPLICATE] * 5
    assert store.counts()["attestation"] == 5


def test_rejected_records_are_never_written_and_good_ones_in_the_batch_are(store):
    good = chain(A, 3)
    forged = bytearray(good[2]); forged[-1] ^= 0x40
    future_rec = sign(Attestation(C.public_key, 1, None, NOW + 10 * 60_000, B.public_key, "quality", True,
                                  None, None, NOW, None, None), C)
    not_canonical = b"\xdc\x00\x0f" + good[0][1:]            # array16 header where a fixarray fits
    results = store.ingest([good[0], bytes(forged), b"\xc1", encode(future_rec), not_canonical,
                            "text, not bytes", good[1]], NOW)
    assert statuses(results) == [ACCEPTED, REJECTED, REJECTED, REJECTED, REJECTED, REJECTED, ACCEPTED]
    assert "signature" in results[1].reason
    assert "future" in results[3].reason
    assert "canonical" in results[4].reason
    assert results[5].id is None
    assert {r.id for r in store.records(include_expired=True)} == {record_id(good[0]), record_id(good[1])}
    assert store.forks() == []


def test_link_rules_are_applied_at_ingest_when_the_target_is_known(store):
    claim = chain(A, 1, subject=B)[0]
    cid = record_id(claim)
    bad_retraction = encode(sign(Retraction(C.public_key, 1, None, NOW, cid, None), C))
    bad_reply = encode(sign(Reply(C.public_key, 1, None, NOW, cid, "contest", None), C))
    good_reply = encode(sign(Reply(B.public_key, 1, None, NOW, cid, "contest", "wrong invoice"), B))
    results = store.ingest([claim, bad_retraction, bad_reply, good_reply], NOW)
    assert statuses(results) == [ACCEPTED, REJECTED, REJECTED, ACCEPTED]
    assert "only the author" in results[1].reason and "only the subject" in results[2].reason
    assert store.get(cid).contested
    # a link whose target is not held yet is stored; the rule is applied on reading
    orphan = encode(sign(Retraction(C.public_key, 1, None, NOW, b"\x07" * 32, None), C))
    assert statuses(store.ingest([orphan], NOW)) == [ACCEPTED]


def test_deal_needs_both_signatures(store):
    proposal = sign(Deal(A.public_key, B.public_key, "client", b"\x09" * 32, None, NOW), A)
    assert statuses(store.ingest([encode(proposal)], NOW)) == [REJECTED]
    deal = countersign(proposal, B)
    swapped = encode(Deal(*[getattr(deal, f) for f in ("author", "counterparty", "role", "ref", "due", "issued")],
                          sig=deal.counter_sig, counter_sig=deal.sig))
    assert statuses(store.ingest([swapped, encode(deal)], NOW)) == [REJECTED, ACCEPTED]


def test_store_file_is_private_and_data_persists_after_reopen(tmp_path):
    path = tmp_path / "home" / "store.sqlite"
    raws = chain(A, 4)
    with Store.open(path) as s:
        s.ingest(raws[:2], NOW)
        s.ingest(raws[2:] + chain(A, 1, start=4, prev=record_id(raws[2]), note="fork")[:1], NOW)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with Store.open(path) as s:
        assert s.head(A.public_key)[0] == 4
        assert s.counts()["attestation"] == 5
        assert s.equivocators() == {A.public_key}
        assert s.integrity_check() == "ok"
        assert statuses(s.ingest(raws, NOW)) == [DUPLICATE] * 4


def test_schema_is_versioned_migrated_on_open_and_a_newer_one_refused(tmp_path, monkeypatch):
    path = tmp_path / "store.sqlite"
    with Store.open(path) as s:
        s.ingest(chain(A, 2), NOW)
    version = len(store_schema.MIGRATIONS)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == version
    # a later trustmesh adds a migration: it runs once on open and keeps the data
    monkeypatch.setattr(store_schema, "MIGRATIONS",
                        [*store_schema.MIGRATIONS, "CREATE TABLE later_feature (x INTEGER);"])
    with Store.open(path) as s:
        assert s.counts()["attestation"] == 2
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == version + 1
    assert conn.execute("SELECT count(*) FROM later_feature").fetchone() == (0,)
    conn.close()
    monkeypatch.undo()
    with pytest.raises(StoreError, match="newer"):
        Store.open(path)


def test_a_file_that_is_not_a_store_is_a_store_error(tmp_path):
    path = tmp_path / "store.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        Store.open(path)


def test_ingest_stream_matches_ingest_and_commits_every_batch(tmp_path):
    raws = chain(A, 30) + chain(C, 30)
    raws = raws + raws[:5] + [b"junk"]
    with Store.open(tmp_path / "a.sqlite") as a, Store.open(tmp_path / "b.sqlite") as b:
        expected = a.ingest(raws, NOW)
        streamed = list(b.ingest_stream(iter(raws), NOW, batch=7))
        assert [(r.id, r.status) for r in streamed] == [(r.id, r.status) for r in expected]
        assert statuses(streamed).count(DUPLICATE) == 5
        assert a.counts() == b.counts()
    with Store.open(tmp_path / "b.sqlite") as b:
        assert b.counts()["attestation"] == 60


def test_large_batch_is_verified_in_the_pool_and_bad_signatures_are_found(store):
    raws = chain(A, 300)
    broken = {7, 150, 299}
    offered = []
    for n, raw in enumerate(raws):
        if n in broken:
            raw = raw[:-1] + bytes([raw[-1] ^ 1])
        offered.append(raw)
    results = store.ingest(offered, NOW)
    assert [n for n, r in enumerate(results) if r.status == REJECTED] == sorted(broken)
    assert store.counts()["attestation"] == 297


@pytest.mark.parametrize("seq", [127, 128, 255, 256, 65_536, 2**32 + 5])
def test_forks_are_found_at_positions_of_every_integer_width(store, seq):
    # the fork query reads prev out of the canonical bytes; seq's width moves it
    before = chain(A, 1, start=seq - 1, prev=b"\x05" * 32)[0]
    honest = chain(A, 2, start=seq, prev=record_id(before))
    liar = chain(A, 1, start=seq + 1, prev=b"\x06" * 32)[0]          # contradicts honest[0]
    assert statuses(store.ingest([before, *honest], NOW)) == [ACCEPTED] * 3
    assert store.forks() == []
    assert statuses(store.ingest([liar], NOW)) == [ACCEPTED]
    found = {(f.seq, frozenset((f.id_a, f.id_b))) for f in store.forks()}
    assert found == {(seq, frozenset((record_id(honest[0]), record_id(liar)))),
                     (seq + 1, frozenset((record_id(honest[1]), record_id(liar))))}


CRASH_WRITER = r"""
import sys
from tests.test_store import chain, A, C, NOW
from trustmesh.store import Store
raws = chain(A, 2000) + chain(C, 2000)
store = Store.open(sys.argv[1])
for n, result in enumerate(store.ingest_stream(raws, NOW, batch=200)):
    print(result.id.hex(), result.status, flush=True)
"""


def test_records_reported_stored_survive_kill_9(tmp_path):
    import signal
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    path = tmp_path / "store.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", CRASH_WRITER, str(path)], stdout=subprocess.PIPE,
                            text=True, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    reported = []
    try:
        for line in proc.stdout:
            reported.append(line.split())
            if len(reported) >= 900:        # mid-stream: later batches are being verified and written
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert len(reported) >= 900 and all(status == ACCEPTED for _, status in reported)
    with Store.open(path) as s:
        assert s.integrity_check() == "ok"
        held = {r.id.hex() for r in s.records(include_expired=True)}
        assert {rid for rid, _ in reported} <= held
        assert s.forks() == []


def test_a_record_the_precheck_refuses_costs_no_signature_check(store):
    """A flood of strangers' records past the quota is dropped after a decode, before verifying."""
    good = chain(A, 1)[0]
    forged = good[:-1] + bytes([good[-1] ^ 1])
    (res,) = store.ingest([forged], NOW, precheck=lambda author: False)
    assert (res.status, res.fault) == ("rejected", "quota")           # not "signature": never checked
    (res,) = store.ingest([forged], NOW, precheck=lambda author: True)
    assert (res.status, res.fault) == ("rejected", "signature")
    assert store.counts()["attestation"] == 0


def test_a_retraction_is_never_itself_retracted_even_when_stored_before_its_target(store):
    first = chain(A, 1)[0]
    retraction = encode(sign(Retraction(A.public_key, 2, record_id(first), NOW - 100, record_id(first), None), A))
    undo = encode(sign(Retraction(A.public_key, 3, record_id(retraction), NOW - 50, record_id(retraction), None), A))
    assert statuses(store.ingest([undo], NOW)) == [ACCEPTED]            # its target not held yet
    assert statuses(store.ingest([first, retraction], NOW)) == [ACCEPTED, ACCEPTED]
    held = {r.id: r for r in store.records(author=A.public_key, include_retracted=True)}
    assert held[record_id(first)].retracted                             # the first retraction counts
    assert not held[record_id(retraction)].retracted                    # rule L1, applied when reading
    assert record_id(retraction) in {r.id for r in store.records(author=A.public_key)}


def test_a_row_the_insert_skips_for_another_constraint_fails_the_whole_batch(store, monkeypatch):
    """Rows go in with INSERT OR IGNORE (no statement journal); one skipped for any reason
    but a held id must not be reported stored: the batch is refused and rolled back."""
    import trustmesh.store.checks as checks
    raws = chain(A, 40)
    real_row = checks.row

    def broken_row(rid, record, raw, now):
        row = real_row(rid, record, raw, now)
        return row[:-1] + (None,) if record.seq == 7 else row     # raw is NOT NULL

    monkeypatch.setattr(checks, "row", broken_row)
    with pytest.raises(StoreError, match="not written"):
        store.ingest(raws, NOW)
    monkeypatch.setattr(checks, "row", real_row)
    assert sum(store.counts().values()) == 0
    assert statuses(store.ingest(raws, NOW)) == [ACCEPTED] * 40
