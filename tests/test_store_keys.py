"""Key events in a real store file: windows, voided records, refusals after the end."""

from __future__ import annotations

import pytest

from trustmesh.crypto.keys import Identity
from trustmesh.protocol import keyevents
from trustmesh.protocol.records import Attestation, encode, record_id, sign
from trustmesh.protocol.sync.index import SyncIndex
from trustmesh.store import ACCEPTED, REJECTED, Store

T0 = 1_780_000_000_000
DAY = 86_400_000


def attest(author: Identity, seq: int, prev: bytes | None, issued: int) -> bytes:
    other = Identity.generate().public_key
    return encode(sign(Attestation(author=author.public_key, seq=seq, prev=prev, issued=issued, subject=other,
                                   facet="quality", positive=True, ref=None, deal=None, occurred=issued,
                                   expires=None, note=None), author))


def chain(author: Identity, times: list[int]) -> list[bytes]:
    raws, prev = [], None
    for seq, t in enumerate(times, start=1):
        raws.append(attest(author, seq, prev, t))
        prev = record_id(raws[-1])
    return raws


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "store.db", verify_threads=1) as s:
        yield s


def test_a_revoked_device_loses_what_it_signed_after_the_date_and_nothing_before(store, tmp_path):
    first, successor, laptop = Identity.generate(), Identity.generate(), Identity.generate()
    incept = keyevents.incept(first, successor.public_key, T0)
    assert store.ingest([encode(incept)], T0)[0].status == ACCEPTED
    state = store.key_state(first.public_key)
    add = keyevents.consent(keyevents.add_device(state, first, laptop.public_key, T0 + 1), laptop)
    assert store.ingest([encode(add)], T0 + 1)[0].status == ACCEPTED
    assert store.key_members() == {laptop.public_key: first.public_key}

    signed = chain(laptop, [T0 + k * DAY for k in range(1, 6)])      # days 1..5
    assert {r.status for r in store.ingest(signed, T0 + 6 * DAY)} == {ACCEPTED}
    revoke = keyevents.revoke(store.key_state(first.public_key), first, laptop.public_key,
                              since=T0 + 3 * DAY, now_ms=T0 + 6 * DAY)
    assert store.ingest([encode(revoke)], T0 + 6 * DAY)[0].status == ACCEPTED

    held = {r.id for r in store.records(author=laptop.public_key)}
    assert held == {record_id(raw) for raw in signed[:2]}           # days 1 and 2 stay
    gone = {record_id(raw) for raw in signed[2:]}
    assert {v[0] for v in store.voided(laptop.public_key)} == gone
    assert set(store.pop_voided()) == gone and store.pop_voided() == []
    # a copy offered again (by a peer without the revocation) is refused, also after a reopen
    again = store.ingest([signed[3]], T0 + 7 * DAY)[0]
    assert (again.status, again.fault) == (REJECTED, "link")
    store.close()
    with Store.open(tmp_path / "store.db", verify_threads=1) as reopened:
        assert reopened.ingest([signed[4]], T0 + 7 * DAY)[0].status == REJECTED
        backdated = attest(laptop, 3, record_id(signed[1]), T0 + 3 * DAY - 1)   # before since: the member's
        assert reopened.ingest([backdated], T0 + 7 * DAY)[0].status == ACCEPTED


def test_after_a_rotation_the_first_key_signs_nothing_new_for_the_member(store):
    first, successor, following = Identity.generate(), Identity.generate(), Identity.generate()
    store.ingest([encode(keyevents.incept(first, successor.public_key, T0))], T0)
    before = chain(first, [T0 + 1])
    store.ingest(before, T0 + 1)
    rotation = keyevents.rotate(store.key_state(first.public_key), successor, following.public_key, T0 + DAY)
    late = attest(first, 2, record_id(before[0]), T0 + 2 * DAY)
    # the rotation and a late record in one batch: the record is refused by that same ingest
    results = store.ingest([encode(rotation), late], T0 + 2 * DAY)
    assert [r.status for r in results] == [ACCEPTED, REJECTED] and results[1].fault == "link"
    assert store.pop_voided() == []
    state = store.key_state(first.public_key)
    assert state.controller == successor.public_key
    assert store.key_members() == {successor.public_key: first.public_key}
    assert [r.id for r in store.records(author=first.public_key) if r.record.TYPE == 1] == [record_id(before[0])]


def test_a_forked_key_chain_is_kept_whole_and_reads_disputed(store):
    first = Identity.generate()
    store.ingest([encode(keyevents.incept(first, Identity.generate().public_key, T0))], T0)
    base = store.key_state(first.public_key)
    adds = [keyevents.consent(keyevents.add_device(base, first, d.public_key, T0 + 1), d)
            for d in (Identity.generate(), Identity.generate())]
    assert {r.status for r in store.ingest([encode(a) for a in adds], T0 + 1)} == {ACCEPTED}
    assert len(store.key_events(first.public_key)) == 3
    state = store.key_state(first.public_key)
    assert state.disputed and state.active_devices() == []
    assert store.key_members() == {}


def test_the_sync_index_lets_go_of_voided_ids():
    ids = [bytes([i]) * 32 for i in range(1, 50)]
    index = SyncIndex(ids)
    before = index.fingerprint()
    index.discard([ids[3], ids[10], b"\xff" * 32])
    assert len(index) == 47 and ids[3] not in index and ids[4] in index
    assert index.fingerprint() == SyncIndex(ids[:3] + ids[4:10] + ids[11:]).fingerprint() != before


def test_a_member_flooding_its_own_key_chain_is_held_to_a_bound(store, monkeypatch):
    import trustmesh.store.keys as keys
    monkeypatch.setattr(keys, "MAX_KEY_EVENTS", 5)
    first = Identity.generate()
    store.ingest([encode(keyevents.incept(first, Identity.generate().public_key, T0))], T0)
    base = store.key_state(first.public_key)
    forks = [encode(keyevents.consent(keyevents.add_device(base, first, d.public_key, T0 + 1), d))
             for d in (Identity.generate() for _ in range(8))]
    results = store.ingest(forks, T0 + 1)
    assert [r.status for r in results].count(ACCEPTED) == 4
    assert {r.fault for r in results if r.status == REJECTED} == {"quota"}
    assert len(store.key_events(first.public_key)) == 5


def test_a_forked_chain_is_kept_as_disputed_and_a_v3_store_learns_it_on_migration(tmp_path):
    import sqlite3
    path = tmp_path / "forked.db"
    first, one, two = Identity.generate(), Identity.generate(), Identity.generate()
    incept = keyevents.incept(first, Identity.generate().public_key, T0)
    with Store.open(path, verify_threads=1) as store:
        store.ingest([encode(incept)], T0)
        state = store.key_state(first.public_key)
        adds = [encode(keyevents.consent(keyevents.add_device(state, first, d.public_key, T0 + 1), d))
                for d in (one, two)]
        assert store.disputed_members() == frozenset()
        assert store.key_events_since(0) and not store.key_events_since(store.change_counter()[0])
        store.ingest(adds, T0 + 1)
        assert store.disputed_members() == {first.public_key}
    conn = sqlite3.connect(path)          # as a store of schema v3 held it: no key_disputes
    conn.execute("DROP TABLE key_disputes")
    conn.execute("PRAGMA user_version = 3")
    conn.close()
    with Store.open(path, verify_threads=1) as store:
        assert store.disputed_members() == {first.public_key}
