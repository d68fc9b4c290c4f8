"""``/trustmesh/query/1.1.0``: "what do you hold about this member?", sans-I/O.

One stream carries one query. The client sends QUERY; the server answers
with RESULTS frames (the records in force that match), LINKED frames (what
answers them: replies, retractions) and one END frame counting the RESULTS
records; or with ABORT (refused, a bad query, busy).

    client                         server
    QUERY  ------------------->    QueryAsked(request, limit) -> provide(raws, linked, done=...)
           <-------------------    RESULTS [raw, ...]   (zero or more)
           <-------------------    LINKED [raw, ...]    (zero or more)
           <-------------------    END count
    RecordsReceived ..., Finished

The client caps what it accepts at the limit it asked for (``limit``
RESULTS records and ``limit`` LINKED ones), so a server cannot flood it;
each record is still verified and stored by the caller, exactly like a
gossiped one. The server caps the limit at ``QueryLimits.max_results`` so a
query cannot make it read its whole store. A query whose fields are wrong
(a bad facet, no subject nor author) is refused with ABORT, not treated as
an attack: the frame itself was well formed.
The wire format is ``wire.py``; ``docs/protocol.md`` is normative. States
(``protocol/session.py``): client idle -> waiting -> done; server idle ->
waiting -> answering -> ending -> done; either may end failed or error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from trustmesh.errors import LocalProtocolError, RemoteProtocolError
from trustmesh.protocol.messages import (
    ABORT, MAX_FRAME, RECORDS_PER_FRAME, Finished, RecordsReceived, abort_reason, check_records, encode,
    pack_records,
)
from trustmesh.protocol.query.wire import (  # noqa: F401  (the request is part of this module's API)
    DEFAULT_LIMIT, END, LINKED, PROTOCOL_ID, QUERY, RESULTS, QueryRequest,
)
from trustmesh.protocol.session import Session


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


class QueryClient(Session):
    """The asking side: sends one request, yields the records that come back."""

    TRANSITIONS = {"idle": frozenset({"waiting"}), "waiting": frozenset({"done"})}

    def __init__(self, request: QueryRequest, limits: QueryLimits = QueryLimits()) -> None:
        super().__init__(limits)
        self.request = request
        self._results = self._linked = 0

    def start(self) -> None:
        """Queue the QUERY message."""
        if self._state != "idle":
            raise LocalProtocolError("start() called twice")
        self._out += encode(self.request.to_message())
        self.stats.messages_sent += 1
        self.stats.round_trips = 1
        self._to("waiting")

    def _next(self) -> QueryEvent | None:
        message = self._message()
        if message is None:
            if self._reader.eof:
                self._to("failed")
                return QueryFailed("peer closed the stream before the end of the results")
            return None
        kind = message[0]
        if kind in (RESULTS, LINKED) and len(message) == 2:
            raws = check_records(message[1], self.limits.records_per_frame)
            if kind == RESULTS:
                self._results += len(raws)
            else:
                self._linked += len(raws)
            if max(self._results, self._linked) > self.request.limit:
                raise RemoteProtocolError(f"peer sent more than the {self.request.limit} records asked for")
            self.stats.records_received += len(raws)
            self.stats.record_bytes_received += sum(len(r) for r in raws)
            return RecordsReceived(raws)
        if kind == END and len(message) == 2:
            if message[1] != self._results or type(message[1]) is not int:
                raise RemoteProtocolError("END counts records we did not receive")
            self._to("done")
            return Finished(self.stats)
        if kind == ABORT:
            self._to("failed")
            return QueryFailed(f"peer refused: {abort_reason(message)}")
        raise RemoteProtocolError(f"unexpected query message type {kind!r}")


class QueryServer(Session):
    """The answering side: reads one request, streams the caller's records back."""

    TRANSITIONS = {"idle": frozenset({"waiting"}), "waiting": frozenset({"answering"}),
                   "answering": frozenset({"ending"}), "ending": frozenset({"done"})}

    def __init__(self, limits: QueryLimits = QueryLimits()) -> None:
        super().__init__(limits)
        self.request: QueryRequest | None = None
        self._limit = self._results = self._linked = 0

    def start(self) -> None:
        """Begin waiting for the QUERY (optional: receive_data starts a server too)."""
        if self._state != "idle":
            raise LocalProtocolError("start() called twice")
        self._to("waiting")

    def _receive_while_idle(self) -> None:
        self._to("waiting")

    def provide(self, raws: list[bytes], linked: list[bytes] = (), *, done: bool = True) -> None:
        """Send matching records (``raws``) and what answers them (``linked``); call again
        with more while ``done`` is False.

        Each list is cut at the limit of the QueryAsked, so the client's cap
        is never exceeded. ``done=True`` sends END and finishes.
        """
        if self._state != "answering":
            raise LocalProtocolError("provide() without a pending QueryAsked")
        raws = list(raws)[:max(self._limit - self._results, 0)]
        linked = list(linked)[:max(self._limit - self._linked, 0)]
        for kind, batch in ((RESULTS, raws), (LINKED, linked)):
            if not batch:
                continue
            frames = pack_records(batch, self.limits.max_frame, self.limits.records_per_frame, kind)
            for chunk in frames:
                self._out += chunk
            self.stats.messages_sent += len(frames)
            self.stats.records_sent += len(batch)
            self.stats.record_bytes_sent += sum(len(r) for r in batch)
        self._results += len(raws)
        self._linked += len(linked)
        if done:
            self._out += encode([END, self._results])
            self.stats.messages_sent += 1
            self._to("ending")

    def _next(self) -> QueryEvent | None:
        if self._state == "answering":
            return None
        if self._state == "ending":
            self._to("done")
            return Finished(self.stats)
        message = self._message()
        if message is None:
            if self._reader.eof:
                self._to("failed")
                return QueryFailed("client closed the stream without asking")
            return None
        if message[0] == ABORT:         # either side may give up at any time, without fault
            self._to("failed")
            return QueryFailed(f"client gave up: {abort_reason(message)}")
        if message[0] != QUERY:
            raise RemoteProtocolError(f"expected QUERY, got message type {message[0]!r}")
        if len(message) != 6:
            raise RemoteProtocolError("QUERY is [1, subject, author, facet, since, limit]")
        try:
            self.request = QueryRequest.from_message(message)
        except RemoteProtocolError as exc:      # the right shape, but not a question we answer
            self.abort(str(exc))
            return QueryFailed(str(exc))
        self._limit = min(self.request.limit, self.limits.max_results)
        self.stats.round_trips = 1
        self._to("answering")
        return QueryAsked(self.request, self._limit)
