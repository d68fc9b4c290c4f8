"""Gossip's short memories (net/gossip/recent.py): bounded by time as well as by count.

Why it matters: bounded by a count alone, they grew for minutes to an hour
at an ordinary rate (bench/soak.py); upstream's validation cache also
scanned a list per message. These run without sockets.
"""

from __future__ import annotations

import time

from libp2p.pubsub.pubsub import ValidationResult

from trustmesh.net.gossip.recent import RecentIds, RecentVerdicts


def test_ids_are_forgotten_after_the_horizon_at_any_rate():
    ids = RecentIds(limit=1000, horizon=180.0)
    for i in range(100):                       # one id a second: far under the count
        assert ids.add(bytes([i]), now=float(i))
    assert len(ids) == 100
    assert not ids.add(bytes([5]), now=100.0)  # remembered: not new, and its time is kept
    ids.add(b"late", now=250.0)                # 70 s and older are past the horizon now
    assert bytes([69]) not in ids and bytes([70]) in ids
    assert len(ids) == 31                      # ids 70..99 and the new one


def test_ids_stay_under_the_count_in_a_flood():
    ids = RecentIds(limit=64, horizon=180.0)
    for i in range(1000):
        ids.add(i.to_bytes(2, "big"), now=0.0)
    assert len(ids) == 64
    assert (999).to_bytes(2, "big") in ids and (935).to_bytes(2, "big") not in ids


def verdict(age: float, valid: bool = True) -> ValidationResult:
    return ValidationResult(is_valid=valid, timestamp=time.time() - age)


def test_verdicts_expire_and_stay_under_the_count():
    cache = RecentVerdicts(ttl=120.0, max_size=3)
    cache.put(b"old", verdict(200))
    cache.put(b"bad", verdict(10, valid=False))
    assert cache.get(b"old") is None            # past its time: as if never validated
    assert cache.get(b"bad").is_valid is False  # a refusal is remembered like an acceptance
    for key in (b"a", b"b", b"c"):
        cache.put(key, verdict(0))
    assert list(cache.cache) == [b"a", b"b", b"c"]


def test_clear_expired_drops_only_the_old_front():
    cache = RecentVerdicts(ttl=120.0, max_size=100)
    for age, key in ((300, b"1"), (150, b"2"), (60, b"3"), (0, b"4")):
        cache.put(key, verdict(age))
    cache.clear_expired()
    assert list(cache.cache) == [b"3", b"4"]
