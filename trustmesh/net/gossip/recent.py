"""What gossip remembers for a while: ids relayed, and validation results.

Both are bounded by time as well as by count. Why: a count alone is
reached only under a flood; at an ordinary rate it is minutes or an hour
of traffic, and the node's memory grew for that long (bench/soak.py,
docs/reliability.md). The time is what each is for: as long as copies of a
message still circulate, which pubsub's seen cache bounds (120-180 s).
"""

from __future__ import annotations

import time
from collections import OrderedDict

VERDICTS = 4096         # validation results kept (net/tuning.py 19) ...
VERDICTS_S = 120.0      # ... and for how long: as long as pubsub's seen cache keeps an id


class RecentIds:
    """Ids seen in the last ``horizon`` seconds, at most ``limit`` of them (the oldest go first)."""

    def __init__(self, limit: int, horizon: float) -> None:
        self.limit = limit
        self.horizon = horizon
        self._when: OrderedDict[bytes, float] = OrderedDict()   # id -> when added, oldest first

    def __len__(self) -> int:
        return len(self._when)

    def __contains__(self, key: bytes) -> bool:
        return key in self._when

    def add(self, key: bytes, now: float) -> bool:
        """Remember ``key`` (True), or False if it is remembered already (its time is kept)."""
        when = self._when
        if key in when:
            return False
        when[key] = now
        while len(when) > self.limit or next(iter(when.values())) < now - self.horizon:
            when.popitem(last=False)
        return True


class RecentVerdicts:
    """Pubsub's validation cache with O(1) steps and a short memory (see net/tuning.py 19).

    Upstream's keeps its LRU order in a list: each put scans it (120 us at
    10,000 entries, on the event loop, per message validated) and each
    entry lives 300 s, so a node's memory grew for five minutes of traffic.
    The same interface: ``get``, ``put``, ``clear_expired``.
    """

    def __init__(self, ttl: float, max_size: int) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self.cache: OrderedDict[bytes, object] = OrderedDict()   # msg id -> ValidationResult, oldest first

    def get(self, msg_id: bytes):
        result = self.cache.get(msg_id)
        if result is not None and time.time() - result.timestamp > self.ttl:
            del self.cache[msg_id]
            return None
        return result

    def put(self, msg_id: bytes, result) -> None:
        self.cache[msg_id] = result
        self.cache.move_to_end(msg_id)
        while len(self.cache) > self.max_size:
            self.cache.popitem(last=False)

    def clear_expired(self) -> None:
        horizon = time.time() - self.ttl
        while self.cache and next(iter(self.cache.values())).timestamp < horizon:
            self.cache.popitem(last=False)
