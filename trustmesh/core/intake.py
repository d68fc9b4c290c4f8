"""THE intake: every record, made here or received, enters the node through ``Intake``.

The path of a record (``docs/architecture.md``):

    net/ handler ─┐                      ┌─> sync index (so sync never offers it again)
    API, CLI ─────┼─> Intake.store() ────┼─> events ("record": the CLI, web view, apps)
    Ledger ───────┘   decode+verify once ├─> gossip (records made or imported here; fork proofs)
                      admission, commit  └─> trust (weights marked stale)

A record that needs key events this node does not hold yet (rule L6 against
another key of the member) is kept aside by the store and taken when they
arrive: it is announced then, with the source ``parked``, by the same path.

``store()`` is the blocking half: it runs in the store worker (or right on
the event loop for a few records) and calls ``Store.ingest`` once, which
decodes and verifies each record once and asks ``admit`` about each new
valid one. ``announce()`` is the async half: it hands what was committed to
the index, the listeners and gossip, in commit order. ``take()`` does both.

Admission: records by members without weight from my point of view
(strangers) are stored while the strangers' quota has room, so a sybil
flood of valid records cannot fill the disk; the owner's own records and
imports are never limited. The hourly part of the quota applies to what
comes from peers that neither have weight nor were chosen by the owner
(bootstrap, connect): a newcomer, for whom everyone is a stranger, catches
up from the peer it joined through, while a flood from fresh identities is
held to the hourly rate.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import trio

from trustmesh.crypto.ids import peer_id
from trustmesh.net.ports import IntakeReport
from trustmesh.protocol.records import Attestation, Deal, KeyEvent, Record
from trustmesh.protocol.validate import LINK
from trustmesh.store import ACCEPTED, DUPLICATE, FORK, IngestResult, Store
from trustmesh.store.checks import STRANGERS

SMALL = 8               # records ingested right on the event loop when the worker is idle
OWNER_SOURCES = ("local", "import")     # records the owner brings: no quota, gossiped by us
# A record from a peer that the store kept aside (store/parked.py) and took once key events
# linked it. Gossiped by us: when it came by gossip, the router did not relay it then.
PARKED = "parked"
PUBLISHED = (*OWNER_SOURCES, "deal", PARKED)    # sources whose records this node publishes itself


class Quota:
    """How many records by authors without weight we store: in total, and per hour.

    Why: anyone can mint identities and sign records; without a limit a
    sybil flood of valid records would fill the disk, and verifying it would
    starve honest gossip. Records by authors I trust (weight > 0) are never
    limited. Once the room is spent, an honest stranger's records are
    dropped as well (they cannot be told apart from a flood); it gets room
    when someone with weight vouches for it, and sync brings the dropped
    records then (docs/operating.md). Times are monotonic seconds, passed in.
    """

    def __init__(self, limit: int, per_hour: float = float("inf"), held: int = 0) -> None:
        self.limit = limit
        self.per_hour = per_hour
        self.held = held
        self._tokens = per_hour
        self._stamp: float | None = None

    def room(self, now: float | None = None) -> int:
        """How many more unweighted records may be stored now (``now`` None: the total alone)."""
        if now is None:
            return max(0, self.limit - self.held)
        tokens = self._refill(now)
        return max(0, min(self.limit - self.held, tokens if tokens == float("inf") else int(tokens)))

    def _refill(self, now: float | None) -> float:
        if now is not None and self.per_hour != float("inf"):
            if self._stamp is not None:
                self._tokens = min(self.per_hour, self._tokens + (now - self._stamp) * self.per_hour / 3600)
            self._stamp = now
        return self._tokens

    def admit(self, n: int = 1, now: float | None = None) -> bool:
        """Take room for ``n`` more records if there is; False (and take none) otherwise.

        ``now`` None: the total alone applies (records from a peer the owner chose).
        """
        if now is None:
            if self.held + n > self.limit:
                return False
            self.held += n
            return True
        if self.room(now) < n:
            return False
        self.held += n
        if self.per_hour != float("inf"):
            self._tokens -= n
        return True


@dataclass(frozen=True, slots=True)
class Fresh:
    """A record just committed, waiting to be announced."""

    id: bytes
    record: Record
    raw: bytes
    source: str
    peer: bytes | None
    fork: bool


@dataclass(frozen=True, slots=True)
class _Batch:
    """Records on their way in: hashed and being checked, not yet committed."""

    raws: list[bytes]
    source: str
    peer: bytes | None
    owner: bool             # brought by the owner: no quota
    rated: bool             # from a peer held to the strangers' hourly rate
    now: int
    prepared: object        # the store's handle (Store.prepare)


class Intake:
    """The one way in: store, then announce."""

    def __init__(self, store: Store, clock: Callable[[], int], weight_of: Callable[[bytes], float],
                 quota: Quota) -> None:
        self.store = store
        self.clock = clock
        self.weight_of = weight_of
        self.quota = quota
        self._waiting: deque[Fresh] = deque()
        self._refused_links: list[bytes] = []
        self._over_quota: list[tuple[bytes, bytes]] = []
        self._lock = threading.Lock()
        self._preparing = trio.Lock()
        # set by the node: where announcements go
        self.on_fresh: list[Callable[[list[Fresh]], None]] = []
        # ids of records a peer sent that a link rule refuses (see Node._index_refused), and
        # of those the store kept aside and then let go unrevived (expired: no longer held)
        self.on_link_refused: list[Callable[[list[bytes]], None]] = []
        self.on_unparked: list[Callable[[list[bytes]], None]] = []
        self._unparked: list[bytes] = []
        # (id, author) of records a peer sent that the strangers' quota refused (Node.withheld)
        self.on_over_quota: list[Callable[[list[tuple[bytes, bytes]]], None]] = []
        self.counters = {"accepted": 0, "duplicate": 0, "rejected": 0}   # what peers sent
        # peers the owner chose (bootstrap, connect): what they hand over counts against the
        # strangers' total quota but not its hourly rate, so a newcomer can catch up
        self.chosen: set[bytes] = set()

        self.by_source: dict[tuple[str, str], int] = {}   # (source, outcome or fault) -> records

    # ---- the blocking half -------------------------------------------------

    def store_records(self, raws: list[bytes], source: str, peer: bytes | None = None) -> list[IngestResult]:
        """Verify and commit ``raws`` (blocking); queue what was new for ``announce``."""
        return self._commit(self._prepare(raws, source, peer))

    def _prepare(self, raws: list[bytes], source: str, peer: bytes | None) -> _Batch:
        """Hash ``raws`` and start their checks in the store's pool (any thread, no lock)."""
        owner = source in OWNER_SOURCES
        rated = not owner and self.rated(peer)
        now = self.clock()
        prepared = self.store.prepare(raws, now, precheck=None if owner else partial(self._may_store, rated))
        return _Batch(raws, source, peer, owner, rated, now, prepared)

    def _commit(self, batch: _Batch) -> list[IngestResult]:
        """Admit and commit a prepared batch (the store worker); queue what was new."""
        raws, source, peer = batch.raws, batch.source, batch.peer
        results = self.store.commit(batch.prepared, batch.now,
                                    None if batch.owner else partial(self._admit, batch.rated))
        revived = self.store.pop_revived()      # records kept aside that this batch's key events linked
        fresh = [Fresh(res.id, res.record, raw, source, peer, res.reason == FORK)
                 for res, raw in zip(results, raws) if res.status == ACCEPTED]
        fresh += [Fresh(res.id, res.record, raw, PARKED, None, res.reason == FORK) for res, raw in revived]
        refused = [] if batch.owner else [
            res.id for res in results if res.status == "rejected" and res.fault == LINK and res.id]
        unparked = self.store.pop_unparked()
        over = [] if batch.owner else [
            (res.id, res.record.author) for res in results if res.reason == STRANGERS and res.record]
        with self._lock:
            self._waiting.extend(fresh)
            self._refused_links.extend(refused)
            self._unparked.extend(unparked)
            self._over_quota.extend(over)
            self._count(results, source)
            self._count([res for res, _ in revived], PARKED)
        return results

    def rated(self, peer: bytes | None) -> bool:
        """True when what ``peer`` sends is held to the strangers' hourly rate (neither weight nor chosen)."""
        return not (peer is not None and (self.weight_of(peer) > 0 or peer in self.chosen))

    def _admit(self, rated: bool, record: Record) -> bool:
        if self.weight_of(record.author) > 0:
            return True
        return self.quota.admit(1, time.monotonic() if rated else None)

    def _may_store(self, rated: bool, author: bytes) -> bool:
        """Before the signatures are checked: False when a record by ``author`` would be dropped
        anyway (a stranger, and no room), so a flood costs a decode, not a verification."""
        return self.weight_of(author) > 0 or self.quota.room(time.monotonic() if rated else None) > 0

    def _count(self, results: list[IngestResult], source: str) -> None:
        from_peers = source not in OWNER_SOURCES
        for res in results:
            outcome = res.status if res.status != "rejected" else (res.fault or "rejected")
            if from_peers:
                self.counters[res.status] += 1
            key = (source, outcome)
            self.by_source[key] = self.by_source.get(key, 0) + 1

    # ---- the async half ------------------------------------------------------

    def announce(self) -> list[Fresh]:
        """Hand every committed record not yet announced to the listeners, in commit order."""
        with self._lock:
            fresh = list(self._waiting)
            self._waiting.clear()
            refused, self._refused_links = self._refused_links, []
            unparked, self._unparked = self._unparked, []
            over, self._over_quota = self._over_quota, []
        if fresh:
            for listener in self.on_fresh:
                listener(fresh)
        for ids, listeners in ((refused, self.on_link_refused), (unparked, self.on_unparked),
                               (over, self.on_over_quota)):
            if ids:
                for listener in listeners:
                    listener(ids)
        return fresh

    async def take(self, worker, raws: list[bytes], source: str, peer: bytes | None = None) -> IntakeReport:
        """``store_records`` in the worker, then ``announce``; what became of the records.

        A large batch is prepared (hashed, its checks started in the pool) in
        a reader thread and only committed in the writer, so that a caller
        with several batches in flight (a sync stream) has the next one
        verified while this one commits, the overlap ``ingest_stream`` has.
        """
        if len(raws) <= SMALL:
            results = await worker.run_small(self.store_records, raws, source, peer)
        else:
            # one prepare at a time, each queued for the writer before the next starts: commits
            # keep call order (a link target is held before what points at it is checked)
            async with self._preparing:
                batch = await worker.read(self._prepare, raws, source, peer)
            results = await worker.run(self._commit, batch)
        self.announce()
        return report_of(results)


def report_of(results: list[IngestResult]) -> IntakeReport:
    """The network side's summary of ingest results."""
    report = IntakeReport()
    for res in results:
        if res.status == ACCEPTED:
            report.accepted += 1
        elif res.status == DUPLICATE:
            report.duplicate += 1
        else:
            report.add_rejected(res.fault or "malformed", res.reason or "rejected")
    return report


def changes_weights(record: Record) -> bool:
    """True for records that can change who counts from my point of view."""
    return isinstance(record, (Deal, Attestation, KeyEvent))


def describe(fresh: Fresh) -> dict:
    """The data of a "record" event."""
    return {"id": fresh.id, "record": fresh.record, "raw": fresh.raw, "source": fresh.source,
            "peer": peer_id(fresh.peer) if fresh.peer else None}

