"""``/trustmesh/query/1.0.0``: "what do you hold about this member?", sans-I/O.

One stream carries one query. The client sends QUERY; the server answers
with RESULTS frames (at most 256 records each) and one END frame that says
how many records it sent, or with ABORT (refused, busy, shutting down).

    client                         server
    QUERY  ------------------->    QueryAsked(request, limit) -> provide(raws, done=...)
           <-------------------    RESULTS [raw, ...]   (zero or more)
           <-------------------    END count
    RecordsReceived ..., Finished

The client caps what it accepts at the limit it asked for, so a server
cannot flood it; each record is still verified and stored by the caller
(``Store.ingest``), exactly like a gossiped one. The server caps the limit at
``QueryLimits.max_results`` so a query cannot make it read its whole store.
``docs/protocol.md`` (section 13) is normative.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from trustmesh.errors import LocalProtocolError, RemoteProtocolError, UsageError
from trustmesh.protocol.facets import is_facet
from trustmesh.protocol.messages import (
    ABORT, MAX_FRAME, MAX_REASON, RECORDS_PER_FRAME, Finished, MessageReader, RecordsReceived,
    Stats, abort_reason, check_records, encode, pack_records,
)

PROTOCOL_ID = "/trustmesh/query/1.0.0"

QUERY, RESULTS, END = 1, 2, 3
DEFAULT_LIMIT = 100


@dataclass(frozen=True, slots=True)
class QueryRequest:
    """Records by ``subject`` and/or by ``author``, optionally one ``facet``, issued at or after ``since``."""

    subject: bytes | None = None
    author: bytes | None = None
    facet: str | None = None
    since: int | None = None
    limit: int = DEFAULT_LIMIT

    def __post_init__(self) -> None:
        problem = _problem(self.subject, self.author, self.facet, self.since, self.limit)
        if problem:
            raise UsageError(f"query: {problem}")

    def to_message(self) -> list[Any]:
        """The QUERY message asking this."""
        return [QUERY, self.subject, self.author, self.facet, self.since, self.limit]

    @classmethod
    def from_message(cls, message: list[Any]) -> "QueryRequest":
        """The request a QUERY message carries, or RemoteProtocolError."""
        if len(message) != 6:
            raise RemoteProtocolError("QUERY is [1, subject, author, facet, since, limit]")
        problem = _problem(*message[1:])
        if problem:
            raise RemoteProtocolError(f"bad query: {problem}")
        return cls(*message[1:])


def _problem(subject: Any, author: Any, facet: Any, since: Any, limit: Any) -> str | None:
    for name, key in (("subject", subject), ("author", author)):
        if key is not None and not (type(key) is bytes and len(key) == 32):
            return f"{name} is a 32-byte public key"
    if subject is None and author is None:
        return "give a subject or an author"
    if facet is not None and not is_facet(facet):
        return f"unknown facet {facet!r}"
    if since is not None and not (type(since) is int and 0 <= since < 2**63):
        return "since is a time in milliseconds"
    if not (type(limit) is int and 0 < limit < 2**32):
        return "limit is a positive integer"
    return None


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """Knobs of one query stream; the defaults are the documented protocol values."""

    max_frame: int = MAX_FRAME
    records_per_frame: int = RECORDS_PER_FRAME
    max_results: int = 1000          # a server never sends more for one query
    max_buffer: int = 4 * MAX_FRAME


@dataclass(frozen=True, slots=True)
class QueryAsked:
    """Server side: look up records matching ``request``, at most ``limit``, and ``provide`` them."""

    request: QueryRequest
    limit: int


@dataclass(frozen=True, slots=True)
class QueryFailed:
    """The query did not complete (refused, or the peer went away)."""

    reason: str


QueryEvent = Union[QueryAsked, RecordsReceived, Finished, QueryFailed]


class _Session:
    def __init__(self, limits: QueryLimits) -> None:
        self.limits = limits
        self.stats = Stats()
        self._reader = MessageReader(limits.max_frame)
        self._out = bytearray()
        self._state = "idle"

    @property
    def state(self) -> str:
        """"idle", "waiting", "answering"/"ending" (server), "done", "failed" or "error"."""
        return self._state

    @property
    def buffered(self) -> int:
        """Bytes received that are not yet a whole message (the caller bounds how long that lasts)."""
        return self._reader.buffered

    def receive_data(self, data: bytes) -> None:
        """Bytes read from the stream; ``b""`` when the peer closed its side."""
        if self._state == "idle":
            raise LocalProtocolError("call start() first")
        if self._state in ("error", "failed", "done"):
            return
        self._reader.feed(bytes(data))
        self.stats.bytes_received = self._reader.bytes_received
        if self._reader.buffered > self.limits.max_buffer:
            self._error(f"peer sent over {self.limits.max_buffer} bytes ahead")

    def data_to_send(self) -> bytes:
        """Bytes to write to the stream now (possibly empty)."""
        out = bytes(self._out)
        self._out.clear()
        self.stats.bytes_sent += len(out)
        return out

    def abort(self, reason: str) -> None:
        """Give up (or, on the server, refuse): queues an ABORT for the peer."""
        if self._state in ("done", "failed", "error"):
            return
        self._out += encode([ABORT, reason[:MAX_REASON]])
        self._state = "failed"

    def next_event(self) -> QueryEvent | None:
        """The next thing to act on, or None: send data_to_send(), then read more."""
        if self._state == "idle":
            raise LocalProtocolError("call start() first")
        if self._state == "error":
            raise LocalProtocolError("the session ended with a protocol error")
        if self._state in ("done", "failed"):
            return None
        try:
            return self._next()
        except RemoteProtocolError as exc:
            self._error(str(exc))
            raise  # pragma: no cover - _error raises

    def _next(self) -> QueryEvent | None:
        raise NotImplementedError

    def _error(self, reason: str) -> None:
        self._state = "error"
        self._out += encode([ABORT, reason[:MAX_REASON]])
        raise RemoteProtocolError(reason)


class QueryClient(_Session):
    """The asking side: sends one request, yields the records that come back."""

    def __init__(self, request: QueryRequest, limits: QueryLimits = QueryLimits()) -> None:
        super().__init__(limits)
        self.request = request

    def start(self) -> None:
        """Queue the QUERY message."""
        if self._state != "idle":
            raise LocalProtocolError("start() called twice")
        self._out += encode(self.request.to_message())
        self.stats.messages_sent += 1
        self.stats.round_trips = 1
        self._state = "waiting"

    def _next(self) -> QueryEvent | None:
        message = self._reader.next()
        if message is None:
            if self._reader.eof:
                self._state = "failed"
                return QueryFailed("peer closed the stream before the end of the results")
            return None
        self.stats.messages_received += 1
        kind = message[0]
        if kind == RESULTS and len(message) == 2:
            raws = check_records(message[1], self.limits.records_per_frame)
            if self.stats.records_received + len(raws) > self.request.limit:
                raise RemoteProtocolError(f"peer sent more than the {self.request.limit} records asked for")
            self.stats.records_received += len(raws)
            self.stats.record_bytes_received += sum(len(r) for r in raws)
            return RecordsReceived(raws)
        if kind == END and len(message) == 2:
            if message[1] != self.stats.records_received or type(message[1]) is not int:
                raise RemoteProtocolError("END counts records we did not receive")
            self._state = "done"
            return Finished(self.stats)
        if kind == ABORT:
            self._state = "failed"
            return QueryFailed(f"peer refused: {abort_reason(message)}")
        raise RemoteProtocolError(f"unexpected query message type {kind!r}")


class QueryServer(_Session):
    """The answering side: reads one request, streams the caller's records back."""

    def __init__(self, limits: QueryLimits = QueryLimits()) -> None:
        super().__init__(limits)
        self.request: QueryRequest | None = None
        self._limit = 0

    def start(self) -> None:
        """Begin waiting for the QUERY (optional: receive_data starts a server too)."""
        if self._state != "idle":
            raise LocalProtocolError("start() called twice")
        self._state = "waiting"

    def receive_data(self, data: bytes) -> None:
        """Bytes read from the stream; ``b""`` when the client closed its side."""
        if self._state == "idle":
            self._state = "waiting"
        super().receive_data(data)

    def provide(self, raws: list[bytes], *, done: bool = True) -> None:
        """Send matching records; call again with more while ``done`` is False.

        Records past the limit of the QueryAsked are dropped, so the client's
        cap is never exceeded. ``done=True`` sends END and finishes.
        """
        if self._state != "answering":
            raise LocalProtocolError("provide() without a pending QueryAsked")
        room = self._limit - self.stats.records_sent
        raws = list(raws)[:max(room, 0)]
        if raws:
            frames = pack_records(raws, self.limits.max_frame, self.limits.records_per_frame, RESULTS)
            for chunk in frames:
                self._out += chunk
            self.stats.messages_sent += len(frames)
            self.stats.records_sent += len(raws)
            self.stats.record_bytes_sent += sum(len(r) for r in raws)
        if done:
            self._out += encode([END, self.stats.records_sent])
            self.stats.messages_sent += 1
            self._state = "ending"

    def _next(self) -> QueryEvent | None:
        if self._state == "answering":
            return None
        if self._state == "ending":
            self._state = "done"
            return Finished(self.stats)
        message = self._reader.next()
        if message is None:
            if self._reader.eof:
                self._state = "failed"
                return QueryFailed("client closed the stream without asking")
            return None
        self.stats.messages_received += 1
        if message[0] != QUERY:
            raise RemoteProtocolError(f"expected QUERY, got message type {message[0]!r}")
        self.request = QueryRequest.from_message(message)
        self._limit = min(self.request.limit, self.limits.max_results)
        self.stats.round_trips = 1
        self._state = "answering"
        return QueryAsked(self.request, self._limit)
