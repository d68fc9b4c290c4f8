"""What happened on the node, for whoever listens: the CLI's event stream, the web view, apps.

Bounded by design: each subscriber has its own buffer, and one that falls
behind misses events rather than slowing the node (the store still has
every record). Non-record events are also logged, one line each.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio

log = logging.getLogger("trustmesh.node")

KINDS = ("record", "records", "peer-up", "peer-down", "offence", "ban", "deal-proposal", "deal-answer",
         "fork", "sync", "import")
_NOT_LOGGED = frozenset(("record", "records"))    # the daemon logs records itself (daemon/run.py)


@dataclass(frozen=True)
class NodeEvent:
    """Something that happened on the node: ``kind`` (one of ``KINDS``) and its details.

    A "record" event's data has ``id``, ``record``, ``raw``, ``source``
    ("local", "gossip", "query", "deal", "import", or "parked": kept aside until key
    events linked it, ``core/intake.py``) and ``peer``. Records a sync stored
    come as one "records" event per batch instead: ``source`` ("sync"),
    ``peer``, ``count`` and ``ids`` (``core/node.BATCHED_SOURCES``).
    """

    kind: str
    data: dict = field(default_factory=dict)


class EventHub:
    """Fans events out to subscribers without ever blocking the sender."""

    def __init__(self) -> None:
        self._subscribers: list[tuple[trio.MemorySendChannel, frozenset[str] | None]] = []

    def notify(self, kind: str, /, **data: Any) -> None:
        """Hand an event to every subscriber that wants it (a full subscriber misses it)."""
        if kind not in _NOT_LOGGED:
            log.info("%s %s", kind, " ".join(f"{k}={v}" for k, v in data.items()))
        event = NodeEvent(kind, data)
        for send, kinds in list(self._subscribers):
            if kinds is None or kind in kinds:
                try:
                    send.send_nowait(event)
                except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                    pass

    @asynccontextmanager
    async def subscribe(self, kinds: Iterable[str] | None = None, buffer: int = 10_000):
        """A receive channel of NodeEvents (of ``kinds``, or all) while the block runs."""
        send, recv = trio.open_memory_channel(buffer)
        entry = (send, frozenset(kinds) if kinds is not None else None)
        self._subscribers.append(entry)
        try:
            async with recv:
                yield recv
        finally:
            self._subscribers.remove(entry)
            send.close()


async def batches(events: trio.MemoryReceiveChannel, limit: int):
    """The events of a subscription in lists: each one and whatever waits behind it (up to ``limit``).

    Why: a writer that pays per write (a log line flush, an HTTP chunk) pays
    once per batch; under gossip load that is most of the events' cost.
    """
    async for event in events:
        batch = [event]
        while len(batch) < limit:
            try:
                batch.append(events.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                break
        yield batch
