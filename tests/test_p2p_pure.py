"""The pure pieces of the network side: pacing, backoff, defence, the quota."""

from __future__ import annotations

import pytest

from tests.conftest import NOW, member
from trustmesh.errors import DecodeError
from trustmesh.net.peers.backoff import Backoff
from trustmesh.net.config import DefenceConfig
from trustmesh.core.intake import Quota
from trustmesh.net.defence import HARD, SOFT, Defence, TokenBucket, judge
from trustmesh.net.gossip.pacing import PublishQueue
from trustmesh.protocol.gossip import BATCH_MARK, MAX_BATCH, pack_message, unpack_message
from trustmesh.store import IngestResult
from trustmesh.protocol.records import Profile, encode, sign


def record(n: int, seq: int = 1) -> bytes:
    ident = member(n)
    return encode(sign(Profile(ident.public_key, 1, None, NOW, f"m{n}", None, None), ident))


def test_one_record_travels_as_itself_and_many_as_a_batch():
    a, b = record(1), record(2)
    assert pack_message([a]) == a
    batch = pack_message([a, b])
    assert batch[0] == BATCH_MARK
    assert unpack_message(batch, 10) == [a, b]
    assert unpack_message(a, 10) == [a]


@pytest.mark.parametrize("data", [b"", bytes([BATCH_MARK]), bytes([BATCH_MARK, 5, 1]),
                                  bytes([BATCH_MARK]) + b"\x02ab", bytes([BATCH_MARK, 0xFF, 0xFF, 0x7F])])
def test_malformed_batches_are_refused(data):
    with pytest.raises(DecodeError):
        unpack_message(data, 10)


def test_a_batch_over_the_record_limit_is_refused():
    with pytest.raises(DecodeError):
        unpack_message(pack_message([record(1)] * 5), 4)


def test_the_batch_limit_is_the_protocols_not_a_setting():
    # a receiver once took 4 x its own gossip.batch_records as the limit: a node set to
    # batch 8 would have banned an honest default node for its batches of 64
    raws = [record(n % 100) for n in range(MAX_BATCH + 1)]
    assert MAX_BATCH == 256 and unpack_message(pack_message(raws[:MAX_BATCH])) == raws[:MAX_BATCH]
    oversized = bytes([BATCH_MARK]) + pack_message(raws[:MAX_BATCH])[1:] + pack_message(raws[-2:])[1:]
    with pytest.raises(DecodeError):
        unpack_message(oversized)
    with pytest.raises(ValueError):
        pack_message(raws)
    q = PublishQueue(batch_records=10_000, batch_bytes=10**9)
    q.push(raws * 2)
    assert max(q.next_message()[1] for _ in range(3)) == MAX_BATCH


def test_queue_batches_a_burst_and_sends_singles_when_quiet():
    q = PublishQueue(batch_records=64, batch_bytes=100_000)
    q.push([record(1)])
    data, n = q.next_message()
    assert n == 1 and data == record(1)
    q.push([record(1)] * 1000)
    sizes = []
    while (item := q.next_message()) is not None:
        sizes.append(item[1])
    assert sum(sizes) == 1000 and max(sizes) == 64 and len(sizes) == 16


def test_queue_respects_the_byte_limit_and_its_bound():
    raw = record(1)
    q = PublishQueue(batch_records=1000, batch_bytes=3 * (len(raw) + 3), max_waiting=10)
    q.push([raw] * 25)
    assert len(q) == 10 and q.dropped == 15
    assert q.next_message()[1] == 3


def test_backoff_doubles_to_a_ceiling_and_resets():
    b = Backoff(1.0, 8.0)
    assert b.due("p", 0)
    assert b.failed("p", 0) == 1.0
    assert not b.due("p", 0.5) and b.due("p", 1.0)
    assert [b.failed("p", 0) for _ in range(4)] == [2.0, 4.0, 8.0, 8.0]
    b.succeeded("p")
    assert b.due("p", 0) and b.failures("p") == 0


def test_token_bucket_allows_bursts_then_the_rate():
    bucket = TokenBucket(rate=10, burst=100, now=0)
    assert bucket.take(100, 0)
    assert not bucket.take(1, 0)
    assert bucket.take(10, 1.0)
    assert not bucket.take(1, 1.0)


def test_one_hard_offence_bans_and_bans_grow():
    d = Defence(DefenceConfig(ban_s=10, hard_offences_to_ban=1, soft_offences_to_ban=3))
    assert d.offence("p", HARD, "forged", now=0)
    assert d.is_banned("p", 9.9) and not d.is_banned("p", 10.1)
    assert d.offence("p", HARD, "forged again", now=20)
    assert d.is_banned("p", 20 + 39) and not d.is_banned("p", 20 + 41)


def test_soft_offences_ban_only_when_they_pile_up():
    d = Defence(DefenceConfig(soft_offences_to_ban=3))
    assert not d.offence("p", SOFT, "future", 0)
    assert not d.offence("p", SOFT, "future", 0)
    assert d.offence("p", SOFT, "future", 0)


def test_bans_survive_export_and_restore():
    d = Defence(DefenceConfig(ban_s=100))
    d.offence("p", HARD, "forged", now=5)
    saved = d.export(now=5, wall_now=1000)
    d2 = Defence(DefenceConfig())
    d2.restore(saved, now=50, wall_now=1010)
    assert d2.is_banned("p", 50 + 89) and not d2.is_banned("p", 50 + 91)


def test_flooding_exhausts_the_rate_budget():
    d = Defence(DefenceConfig(records_per_s=100, records_burst=200))
    assert d.allow_records("p", 200, 0)
    assert not d.allow_records("p", 1, 0)
    assert d.allow_records("q", 1, 0)      # budgets are per peer


def test_quota_admits_up_to_its_limit():
    q = Quota(limit=10, held=7)
    assert q.admit(3) and q.room() == 0
    assert not q.admit(1) and q.held == 10


def test_quota_bounds_what_strangers_store_per_hour_too():
    q = Quota(limit=1000, per_hour=100)
    assert q.admit(100, now=0.0) and not q.admit(1, now=0.0)     # the hour's burst is spent
    assert q.room(now=36.0) == 1                                   # 100 an hour: one every 36 s
    assert q.admit(1, now=36.0) and not q.admit(1, now=36.0)
    assert q.room(now=36.0 + 3600) == 100                          # never more than a burst
    assert q.held == 101


def _report(*results):
    from trustmesh.core.intake import report_of
    return report_of(list(results))


def test_judge_blames_a_forwarder_only_for_what_it_could_check():
    ok = IngestResult(b"1", "accepted")
    dup = IngestResult(b"2", "duplicate")
    forged = IngestResult(b"3", "rejected", "profile: signature does not verify", object(), fault="signature")
    garbage = IngestResult(None, "rejected", "malformed msgpack", fault="malformed")
    own_rule = IngestResult(b"4", "rejected", "an attestation about oneself", object(), fault="rule")
    future = IngestResult(b"5", "rejected", "issued in the future", object(), fault="clock")
    link = IngestResult(b"6", "rejected", "only the subject may reply", object(), fault="link")
    quota = IngestResult(b"7", "rejected", "over the quota", object(), fault="quota")
    assert _report(ok, dup).clean and judge(_report(ok, dup)) is None
    assert judge(_report(ok, forged)) == (HARD, forged.reason)
    assert judge(_report(garbage)) == (HARD, garbage.reason)
    assert judge(_report(own_rule)) == (SOFT, own_rule.reason)
    for innocent in (future, link, quota):          # our clock, our records, our quota: not theirs
        report = _report(ok, innocent)
        assert judge(report) is None and not report.clean


def test_a_peer_the_owner_chose_is_held_to_the_total_only():
    q = Quota(limit=1000, per_hour=100)
    assert q.admit(100, now=0.0) and not q.admit(1, now=0.0)       # a stranger peer: the hour is spent
    assert q.admit(500, now=None) and q.held == 600                  # the bootstrap peer: the total only
    assert not q.admit(401, now=None) and q.room(now=None) == 400
