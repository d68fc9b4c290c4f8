"""``/trustmesh/sync/1.0.0``: range-based set reconciliation, as a sans-I/O state machine.

Theory of operation (negentropy-style; ``docs/protocol.md`` (section 17) is normative):

The id space [0, 2^256) is cut into consecutive ranges, each described by
its upper bound (a short id prefix; the last bound is nil = infinity). Sides
take turns. A turn is: RECORDS frames (records the peer showed it lacks),
then at most a few NEED frames (ids we saw in the peer's id lists and lack),
then one RECONCILE frame that ends the turn. For each range of the peer's
RECONCILE we answer:

    peer said     we hold          we answer
    SKIP          -                SKIP
    FINGERPRINT   same fingerprint SKIP
    FINGERPRINT   <= idlist_max    IDLIST of our ids (the peer diffs)
    FINGERPRINT   more             fanout sub-ranges with their FINGERPRINTs
    IDLIST        -                SKIP; NEED the ids we lack; push our ids
                                   in the range that the list lacks

An empty IDLIST means "I hold nothing here": the peer just pushes the whole
range, so a fresh node's catch-up costs no id lists at all. A turn whose
RECONCILE is all SKIP and that NEEDs nothing is final: both sides are done
once it is delivered. Equal sets finish in one round trip; two sets of
1,000,000 ids differing by 10 in four.

Turns make the stream half-duplex, so two pumps that each write everything
before reading can never deadlock on full buffers, and memory stays bounded:
the peer may only push records we told it we lack (ids we NEEDed, or ids in
ranges we sent as IDLIST), every frame is bounded, and pushes are produced
one WantRecords batch at a time.

Who adds received ids to the SyncIndex: the caller, after ``Store.ingest``
accepted them (see ``RecordsReceived``). Records received were stored as they
came, so an interrupted sync leaves nothing half-done: the next session
reconciles again and only what is still missing flows.
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass
from typing import Any, Union

from trustmesh.errors import LocalProtocolError, RemoteProtocolError, UsageError
from trustmesh.protocol.messages import (
    ABORT, MAX_FRAME, RECORDS_PER_FRAME, Finished, RecordsReceived, abort_reason, check_records,
    encode, pack_records,
)
from trustmesh.protocol.session import Session
from trustmesh.protocol.sync.index import ID_SIZE, SyncIndex, pad_bound
from trustmesh.protocol.sync.wire import (  # noqa: F401  (the wire names are part of this module's API)
    FINGERPRINT, IDLIST, NEED, PROTOCOL_ID, RECONCILE, RECORDS, SKIP, ZERO, Ranges, parse_ranges,
    shortest_bound, wire_bound, worst_range_cost,
)


@dataclass(frozen=True, slots=True)
class SyncLimits:
    """Knobs of one session; the defaults are the documented protocol values."""

    max_frame: int = MAX_FRAME            # bytes of body per frame, both ways
    fanout: int = 16                      # sub-ranges a differing range splits into
    idlist_max: int = 32                  # ids listed instead of splitting further
    records_per_frame: int = RECORDS_PER_FRAME
    want_batch: int = 1024                # ids per WantRecords event (one store read for four frames)
    max_rounds: int = 256                 # RECONCILE messages accepted from a peer
    max_buffer: int = 4 * MAX_FRAME       # received bytes held unprocessed, at most

    def __post_init__(self) -> None:
        # a range of idlist_max + 1 ids must split into >= 2 parts, or rounds never end
        if self.fanout < 2 or self.idlist_max < 1 or self.want_batch < 1 or self.max_rounds < 1:
            raise UsageError("sync limits: fanout >= 2, idlist_max >= 1, want_batch >= 1, max_rounds >= 1")
        if self.max_frame < 4 * worst_range_cost(self) + 64 or self.max_buffer < self.max_frame:
            raise UsageError("sync limits: max_frame must hold an id list, max_buffer a frame")


@dataclass(frozen=True, slots=True)
class WantRecords:
    """Answer with ``provide(raws)``: the raw records held for these ids (omit missing ones)."""

    ids: list[bytes]


@dataclass(frozen=True, slots=True)
class SyncFailed:
    """The sync stopped before the end (the peer aborted or went away); retry later."""

    reason: str


@dataclass(frozen=True, slots=True)
class RecordsComplete:
    """The peer pushed every record of its turn: store them all before taking the next event.

    Why: the answer to the peer's RECONCILE, computed at the next event,
    describes the SyncIndex; a record received but not yet stored and
    indexed would be missing from it, and the peer would push it again.
    Until this event the caller may store received records in the
    background (several batches in flight), so verification overlaps the
    network. Only sent after a turn that carried records.
    """


Event = Union[WantRecords, RecordsReceived, RecordsComplete, Finished, SyncFailed]


class SyncSession(Session):
    """One side of one sync conversation with one peer. Feed bytes, take events and bytes.

    Use: ``start()``; then loop: send ``data_to_send()``; ``ev = next_event()``;
    on None read from the stream and ``receive_data(chunk)`` (``b""`` at EOF);
    on WantRecords call ``provide``; on RecordsReceived ingest and
    ``index.add`` the accepted ids; stop after Finished or SyncFailed (send
    ``data_to_send()`` once more first). RemoteProtocolError means the peer
    broke the protocol: send ``data_to_send()`` (an ABORT), then close.
    """

    TRANSITIONS = {"idle": frozenset({"waiting"}), "waiting": frozenset({"sending", "done"}),
                   "sending": frozenset({"waiting", "done"})}

    def __init__(self, index: SyncIndex, *, initiator: bool, limits: SyncLimits = SyncLimits()) -> None:
        super().__init__(limits)
        self.index = index
        self.initiator = initiator
        self._phase = RECORDS                    # where the peer is inside its turn
        self._rounds_in = 0
        self._rounds_out = 0
        # what the peer may do in its next turn, from what we said in ours
        self._listed: set[bytes] = set()         # ids in our IDLISTs: the peer may NEED them
        self._expect_ids: set[bytes] = set()     # ids we NEEDed: the peer may push them
        self._expect_lo: list[bytes] = []        # our IDLIST ranges: the peer may push into them
        self._expect_hi: list[bytes | None] = []
        # what we owe in our turn
        self._peer_needs: list[bytes] = []
        self._push_ranges: list[tuple[bytes, bytes | None, frozenset]] = []
        self._want: set[bytes] | None = None
        self._reply: list[bytes] = []
        self._final = False
        self._unsettled = False                  # records received since the last RecordsComplete
        self._stashed: list[Any] | None = None   # the RECONCILE held back behind RecordsComplete

    # ---- the caller's side ------------------------------------------------

    def start(self) -> None:
        """Begin: the initiator queues its first RECONCILE; the responder waits."""
        if self._state != "idle":
            raise LocalProtocolError("start() called twice")
        self._to("waiting")
        if self.initiator:
            ranges = Ranges()
            self._describe(ZERO, None, ranges)
            self._send_reconcile(ranges, [])
            self._out += b"".join(self._reply)  # the opening turn has nothing to push first
            self._reply = []

    def _receive_while_idle(self) -> None:
        if self.initiator:
            raise LocalProtocolError("the initiator must start() before receiving")
        self._to("waiting")

    def _data_after_done(self) -> bool:
        return True

    def provide(self, raws: list[bytes]) -> None:
        """Answer the last WantRecords with the raw records held for its ids."""
        if self._want is None:
            raise LocalProtocolError("provide() without a pending WantRecords")
        for raw in raws:
            if hashlib.sha256(raw).digest() not in self._want:
                raise LocalProtocolError("provide() given a record that was not asked for")
        self._want = None
        if raws:
            for chunk in pack_records(list(raws), self.limits.max_frame, self.limits.records_per_frame, RECORDS):
                self._out += chunk
            self.stats.records_sent += len(raws)
            self.stats.record_bytes_sent += sum(len(r) for r in raws)

    def _next(self) -> Event | None:
        if self._state == "sending":
            event = self._next_push()
            if event is not None:
                return event
        return self._next_incoming()

    # ---- our turn -----------------------------------------------------------

    def _next_push(self) -> Event | None:
        if self._want is not None:
            raise LocalProtocolError("answer WantRecords with provide() first")
        batch = self._take_push_batch()
        if batch:
            self._want = set(batch)
            return WantRecords(batch)
        for message in self._reply:
            self._out += message
        self._reply = []
        if self._final:
            self._to("done")
            return Finished(self.stats)
        self._to("waiting")
        return None

    def _take_push_batch(self) -> list[bytes]:
        size = self.limits.want_batch
        batch = self._peer_needs[:size]
        del self._peer_needs[:size]
        while len(batch) < size and self._push_ranges:
            lo, hi, exclude = self._push_ranges[0]
            ids = self.index.ids(lo, hi, limit=size - len(batch))
            if len(ids) < size - len(batch):
                self._push_ranges.pop(0)
            else:
                after = int.from_bytes(ids[-1], "big") + 1
                if after >> 256:
                    self._push_ranges.pop(0)
                else:
                    self._push_ranges[0] = (after.to_bytes(ID_SIZE, "big"), hi, exclude)
            batch.extend(i for i in ids if i not in exclude)
        return batch

    def _send_reconcile(self, ranges: list[list[Any]], needs: list[bytes]) -> None:
        """Queue the end of our turn and remember what it entitles the peer to."""
        self._listed, self._expect_ids = set(), set(needs)
        self._expect_lo, self._expect_hi = [], []
        lo: bytes = ZERO
        for item in ranges:
            hi = None if item[0] is None else pad_bound(item[0])
            if item[1] == IDLIST:
                self._expect_lo.append(lo)
                self._expect_hi.append(hi)
                blob = item[2]
                self._listed.update(blob[k:k + ID_SIZE] for k in range(0, len(blob), ID_SIZE))
            lo = hi  # type: ignore[assignment]
        frames = []
        per_need = (self.limits.max_frame - 16) // ID_SIZE
        for start in range(0, len(needs), per_need):
            frames.append(encode([NEED, b"".join(needs[start:start + per_need])]))
        frames.append(encode([RECONCILE, ranges]))
        self._final = not needs and all(item[1] == SKIP for item in ranges)
        self._rounds_out += 1
        self.stats.round_trips = max(self._rounds_in, self._rounds_out)
        self.stats.messages_sent += len(frames)
        self._reply = frames

    def _describe(self, lo: bytes, hi: bytes | None, out: Ranges) -> None:
        """Our side of a range we disagree on: an IDLIST if small, else fanout FINGERPRINTs."""
        i, j = self.index.span(lo, hi)
        count = j - i
        if count <= self.limits.idlist_max:
            out.add([wire_bound(hi), IDLIST, b"".join(self.index.ids_at(i, j))], self.limits.idlist_max)
            return
        parts = min(self.limits.fanout, count)
        cut = [i + (count * k) // parts for k in range(parts + 1)]
        for k in range(parts):
            a, b = cut[k], cut[k + 1]
            bound = wire_bound(hi) if k == parts - 1 else shortest_bound(self.index.id_at(b - 1), self.index.id_at(b))
            out.add([bound, FINGERPRINT, self.index.fingerprint_at(a, b)[1]])

    # ---- the peer's turn ------------------------------------------------------

    def _next_incoming(self) -> Event | None:
        while True:
            message, self._stashed = (self._stashed or self._message()), None
            if message is None:
                if self._reader.eof:
                    self._to("failed")
                    return SyncFailed("peer closed the stream before the sync finished")
                return None
            kind = message[0]
            if kind == RECORDS:
                return self._on_records(message)
            if kind == NEED:
                self._on_need(message)
            elif kind == RECONCILE:
                if self._unsettled:
                    self._unsettled, self._stashed = False, message
                    return RecordsComplete()
                event = self._on_reconcile(message)
                if event is not None:
                    return event
            elif kind == ABORT:
                self._to("failed")
                return SyncFailed(f"peer aborted: {abort_reason(message)}")
            else:
                raise RemoteProtocolError(f"unknown sync message type {kind!r}")

    def _on_records(self, message: list[Any]) -> RecordsReceived:
        if self._phase != RECORDS or len(message) != 2:
            raise RemoteProtocolError("RECORDS out of place")
        raws = check_records(message[1], self.limits.records_per_frame)
        # one IDLIST range over the whole id space (a fresh node: "I hold nothing") admits any
        # id: a catch-up then hashes each record once, in the store, not also here on the loop
        if self._expect_hi != [None] or self._expect_lo != [ZERO]:
            for raw in raws:
                rid = hashlib.sha256(raw).digest()
                if rid in self._expect_ids:
                    continue
                k = bisect.bisect_right(self._expect_lo, rid) - 1
                if k < 0 or (self._expect_hi[k] is not None and rid >= self._expect_hi[k]):  # type: ignore[operator]
                    raise RemoteProtocolError("peer pushed a record we did not say we lack")
        self._unsettled = True
        self.stats.records_received += len(raws)
        self.stats.record_bytes_received += sum(map(len, raws))
        return RecordsReceived(raws)

    def _on_need(self, message: list[Any]) -> None:
        if (len(message) != 2 or not isinstance(message[1], bytes) or not message[1]
                or len(message[1]) % ID_SIZE):
            raise RemoteProtocolError("NEED carries one or more 32-byte ids")
        self._phase = NEED
        blob = message[1]
        for k in range(0, len(blob), ID_SIZE):
            rid = blob[k:k + ID_SIZE]
            if rid not in self._listed:
                raise RemoteProtocolError("peer NEEDs an id we never listed")
            self._listed.discard(rid)  # each once
            self._peer_needs.append(rid)

    def _on_reconcile(self, message: list[Any]) -> Event | None:
        self._rounds_in += 1
        self.stats.round_trips = max(self._rounds_in, self._rounds_out)
        if self._rounds_in > self.limits.max_rounds:
            raise RemoteProtocolError(f"peer still disagrees after {self.limits.max_rounds} rounds")
        ranges = parse_ranges(message, self.limits.max_frame)
        peer_needed = self._phase == NEED
        self._phase = RECORDS
        self._expect_ids, self._expect_lo, self._expect_hi = set(), [], []
        if not peer_needed and all(mode == SKIP for _, _, mode, _ in ranges):
            self._to("done")
            return Finished(self.stats)
        out = Ranges()
        needs: list[bytes] = []
        budget = self.limits.max_frame - 2 * worst_range_cost(self.limits) - 64
        for lo, hi, mode, payload in ranges:
            if out.size > budget:
                # our answer is full: fold the rest into one range for the next round
                i, j = self.index.span(lo, None)
                if j - i <= self.limits.idlist_max:
                    out.add([None, IDLIST, b"".join(self.index.ids_at(i, j))])
                else:
                    out.add([None, FINGERPRINT, self.index.fingerprint_at(i, j)[1]])
                break
            if mode == SKIP:
                out.add([wire_bound(hi), SKIP])
            elif mode == FINGERPRINT:
                if self.index.fingerprint(lo, hi)[1] == payload:
                    out.add([wire_bound(hi), SKIP])
                else:
                    self._describe(lo, hi, out)
            else:
                theirs = [payload[k:k + ID_SIZE] for k in range(0, len(payload), ID_SIZE)]
                needs.extend(self.index.lacking(theirs))
                self._push_ranges.append((lo, hi, frozenset(theirs)))
                out.add([wire_bound(hi), SKIP])
        self._to("sending")
        self._send_reconcile(out, needs)
        return self._next_push()
