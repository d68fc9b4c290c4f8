"""Two sync/query sessions joined by an in-memory link: for tests, benchmarks and demos.

The same loop a libp2p pump runs (send what the session has, take events,
read when it has none), minus the sockets, as h11's tests/helpers.py does.
``MemoryPeer`` stands in for a node: a dict of raw records by id plus a
SyncIndex, answering WantRecords and storing what arrives.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from trustmesh.protocol.messages import Finished, RecordsReceived
from trustmesh.protocol.sync.index import SyncIndex


def record_id(raw: bytes) -> bytes:
    """The id of a raw record: its SHA-256."""
    return hashlib.sha256(raw).digest()


@dataclass
class MemoryPeer:
    """A node's records in memory: ``records`` by id and the matching ``index``."""

    records: dict[bytes, bytes] = field(default_factory=dict)
    index: SyncIndex = field(default_factory=SyncIndex)
    accept: Callable[[bytes], bool] = lambda raw: True

    @classmethod
    def holding(cls, raws: Iterable[bytes]) -> "MemoryPeer":
        """A peer that holds exactly these raw records."""
        records = {record_id(r): r for r in raws}
        return cls(records, SyncIndex(records))

    def ingest(self, raws: list[bytes]) -> list[bytes]:
        """Store the acceptable records (as Store.ingest would), index them, return new ids."""
        new = []
        for raw in raws:
            rid = record_id(raw)
            if rid not in self.records and self.accept(raw):
                self.records[rid] = raw
                new.append(rid)
        self.index.add(new)
        return new

    def lookup(self, ids: list[bytes]) -> list[bytes]:
        """The raw records held for these ids, missing ones left out."""
        return [self.records[i] for i in ids if i in self.records]


@dataclass
class Link:
    """Bytes in flight between two sessions, and what the link has carried so far."""

    a_to_b: bytearray = field(default_factory=bytearray)
    b_to_a: bytearray = field(default_factory=bytearray)
    carried: int = 0
    log: list[tuple[str, int, bytes]] = field(default_factory=list)


def handle_sync_event(peer: MemoryPeer, session: Any, event: Any) -> None:
    """What a node does with a sync event: look records up, or store them."""
    from trustmesh.protocol.sync.session import WantRecords
    if isinstance(event, WantRecords):
        session.provide(peer.lookup(event.ids))
    elif isinstance(event, RecordsReceived):
        peer.ingest(event.raws)


def pump(a: Any, b: Any, on_a: Callable[[Any], None], on_b: Callable[[Any], None], *,
         chunk: int = 65536, max_steps: int = 1_000_000, link: Link | None = None,
         stop: Callable[[Link], bool] | None = None) -> tuple[list[Any], list[Any]]:
    """Run two started sessions against each other until both stop; their events, in order.

    ``chunk`` is the largest read (small values split frames across reads);
    ``stop(link)`` may cut the link early, as a dropped connection would.
    Exceptions from either session propagate.
    """
    link = link or Link()
    events: tuple[list[Any], list[Any]] = ([], [])
    sides = ((a, on_a, link.a_to_b, link.b_to_a, events[0], "a"),
             (b, on_b, link.b_to_a, link.a_to_b, events[1], "b"))
    def flush(session, outbox, name) -> bool:
        out = session.data_to_send()
        if out:
            outbox += out
            link.carried += len(out)
            link.log.append((name, len(out), out[:1]))
        return bool(out)

    for _ in range(max_steps):
        progress = False
        for session, on_event, outbox, inbox, seen, name in sides:
            progress |= flush(session, outbox, name)
            if stop is not None and stop(link):
                return events
            if _over(session):
                continue
            event = session.next_event()
            if event is None and inbox:
                data = bytes(inbox[:chunk])
                del inbox[:chunk]
                session.receive_data(data)
                progress = True
                event = session.next_event()
            if event is not None:
                seen.append(event)
                on_event(event)
                progress = True
            # a next_event() that returned None may still have queued our turn
            progress |= flush(session, outbox, name)
            if stop is not None and stop(link):
                return events
        if not progress:
            return events  # both over, or both waiting: the caller's assertions will say which
    raise RuntimeError("pump did not settle")


def _over(session: Any) -> bool:
    return session.state in ("done", "failed", "error")


def finished(events: list[Any]) -> Finished | None:
    """The Finished event among ``events``, if any."""
    return next((e for e in events if isinstance(e, Finished)), None)
