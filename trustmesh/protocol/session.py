"""What every sans-I/O session shares (sync and query): bytes in, events and bytes out.

Theory of operation (h11's ``_connection.py``, for our framed protocols).
A session never does I/O. The caller loops::

    send session.data_to_send()
    event = session.next_event()    # None: read more and session.receive_data(chunk)
    act on the event                # the session may queue bytes meanwhile

until the state is one of ``OVER``. The peer's mistakes (a bad frame, a
message out of place, a flood) raise RemoteProtocolError once, queue an
ABORT for the peer, and leave the session in "error"; the caller's own
mistakes raise LocalProtocolError.

States and the moves allowed between them are data: each session class
gives ``TRANSITIONS`` (state -> the states it may go to), and every change
of state goes through ``_to``, which refuses any other move. Common to all:

    idle ──start()/first bytes──> waiting ──...──> done
      any state not over ──abort()/peer gone/peer's ABORT──> failed
      any state not over ──peer broke the protocol──> error
"""

from __future__ import annotations

from typing import Any

from trustmesh.errors import LocalProtocolError, RemoteProtocolError
from trustmesh.protocol.messages import ABORT, MAX_REASON, MessageReader, Stats, encode

OVER = frozenset(("done", "failed", "error"))


class Session:
    """The base of SyncSession, QueryClient and QueryServer."""

    TRANSITIONS: dict[str, frozenset[str]] = {}

    def __init__(self, limits: Any) -> None:
        self.limits = limits
        self.stats = Stats()
        self._reader = MessageReader(limits.max_frame)
        self._out = bytearray()
        self._state = "idle"

    @property
    def state(self) -> str:
        """Where the session is (see the class's ``TRANSITIONS``)."""
        return self._state

    @property
    def buffered(self) -> int:
        """Bytes received that are not yet a whole message (the caller bounds how long that lasts)."""
        return self._reader.buffered

    def _to(self, state: str) -> None:
        if state not in ("failed", "error") and state not in self.TRANSITIONS.get(self._state, ()):
            raise LocalProtocolError(f"{type(self).__name__}: no move from {self._state} to {state}")
        self._state = state

    # ---- the caller's side ---------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Bytes read from the stream; ``b""`` when the peer closed its side."""
        if self._state == "idle":
            self._receive_while_idle()
        if self._state in ("error", "failed"):
            return
        if self._state == "done":
            if data and self._data_after_done():
                self._error("peer sent data after the session finished")
            return
        self._reader.feed(bytes(data))
        self.stats.bytes_received = self._reader.bytes_received
        if self._reader.buffered > self.limits.max_buffer:
            self._error(f"peer sent over {self.limits.max_buffer} bytes without waiting its turn")

    def data_to_send(self) -> bytes:
        """Bytes to write to the stream now (possibly empty)."""
        out = bytes(self._out)
        self._out.clear()
        self.stats.bytes_sent += len(out)
        return out

    def abort(self, reason: str) -> None:
        """Give up (shutdown, local failure, a refusal): queues an ABORT for the peer."""
        if self._state in OVER:
            return
        self._out += encode([ABORT, reason[:MAX_REASON]])
        self._to("failed")

    def next_event(self) -> Any:
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

    # ---- for the subclasses ------------------------------------------------------

    def _next(self) -> Any:
        raise NotImplementedError

    def _receive_while_idle(self) -> None:
        """Bytes before start(): a responder starts on them; others refuse (LocalProtocolError)."""
        raise LocalProtocolError("call start() first")

    def _data_after_done(self) -> bool:
        """True if bytes after the end are the peer's mistake (else they are ignored)."""
        return False

    def _message(self) -> list[Any] | None:
        """The next message from the peer (counted), or None until more bytes arrive."""
        message = self._reader.next()
        if message is not None:
            self.stats.messages_received += 1
        return message

    def _error(self, reason: str) -> None:
        self._to("error")
        self._out += encode([ABORT, reason[:MAX_REASON]])
        raise RemoteProtocolError(reason)
