"""The publish queue: what goes into each gossip message, and when.

Why: py-libp2p drops silently when bursts overflow its 32-slot queues, and
rate-limits even our own publishes. So records to announce wait here; the
publisher takes one *message* at a time and pauses between messages. Under
light load a message is one record (message id = record id, which any
libp2p gossipsub client understands); under load the records waiting are
packed into one batch message, so a burst of 10,000 records becomes a few
hundred messages instead of 10,000. Gossip stays best effort: anything lost
is brought over by sync. A relay keeps a second queue for records it took
in from peers (net/tuning.py, 18); each record there is tagged with the
peer it came from, so that a message whose records all came from one peer
is not sent back to it.

The wire form of a message's data is ``protocol/gossip.py``.

Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from trustmesh.protocol.gossip import MAX_BATCH, pack_message

class PublishQueue:
    """Records waiting to be gossiped, taken out as paced messages.

    Bounded: past ``max_waiting`` the oldest are forgotten (sync delivers
    them), so a stalled network cannot grow our memory without limit.
    """

    def __init__(self, batch_records: int, batch_bytes: int, max_waiting: int = 200_000) -> None:
        self.batch_records = min(batch_records, MAX_BATCH)   # receivers refuse larger batches
        self.batch_bytes = batch_bytes
        self.max_waiting = max_waiting
        self._waiting: deque[bytes] = deque()
        self._sources: deque = deque()     # the peer each waiting record came from (None: ours)
        self.sources: set = set()          # the peers the last message's records came from
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._waiting)

    def push(self, raws: Iterable[bytes], source=None) -> None:
        """Queue records for announcement, oldest first (``source``: the peer they came from)."""
        for raw in raws:
            self._waiting.append(raw)
            self._sources.append(source)
        while len(self._waiting) > self.max_waiting:
            self._waiting.popleft()
            self._sources.popleft()
            self.dropped += 1

    def next_message(self) -> tuple[bytes, int] | None:
        """The next message's data and how many records it carries; None when idle."""
        if not self._waiting:
            return None
        taken: list[bytes] = [self._waiting.popleft()]
        self.sources = {self._sources.popleft()}
        size = len(taken[0]) + 3
        while self._waiting and len(taken) < self.batch_records:
            nxt = self._waiting[0]
            if size + len(nxt) + 3 > self.batch_bytes:
                break
            taken.append(self._waiting.popleft())
            self.sources.add(self._sources.popleft())
            size += len(nxt) + 3
        return pack_message(taken), len(taken)
