"""Moving bytes between a sans-I/O session (``protocol/``) and a libp2p stream.

One loop for every session (sync, query): send what the session queued,
take its next event, read when it has none. The protocol code decides every
byte; this module only does the I/O, with bounded patience: ``idle_s``
without a byte ends the session, and so does a frame not complete
``idle_s`` after its first byte (a peer feeding one byte a second never
goes idle, and used to hold a session for the whole session timeout).
Neither is an offence: a slow link looks the same.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

from trustmesh.errors import RemoteProtocolError

_OVER = ("done", "failed", "error")


class Silent(Exception):
    """The peer sent nothing for too long."""


class Lost(Exception):
    """The stream ended early: a dropped connection or a stopped node, not an offence."""


async def pump(stream, session, on_event: Callable[[Any], Awaitable[None]], idle_s: float,
               before_read: Callable[[], Awaitable[None]] | None = None) -> Any:
    """Move bytes between ``session`` and ``stream`` until the session stops; its last event.

    ``before_read`` runs whenever the session needs more bytes (and at the
    end): the sync uses it to store the records received so far, so that
    records are ingested in large batches while the connection keeps
    filling its buffers, and the index is up to date before our next turn.
    """
    last, ended = None, False
    partial_since = None            # when the frame now arriving started to arrive
    # the session holds at most max_buffer bytes unparsed; what is left of a frame stays in it
    chunk = session.limits.max_buffer - session.limits.max_frame
    while True:
        try:
            event = None if session.state in _OVER else session.next_event()
        except RemoteProtocolError as exc:
            if ended:               # "closed inside a frame" and the like: the link broke
                raise Lost(str(exc)) from None
            raise
        if event is None and before_read is not None:
            await before_read()
        out = session.data_to_send()      # taking an event may have queued bytes: send first
        if out:
            await stream.write(out)
        if session.state in _OVER and event is None:
            return last
        if event is None:
            wait = idle_s
            if session.buffered:       # inside a frame: it must be whole idle_s after its first byte
                now = trio.current_time()
                partial_since = now if partial_since is None else partial_since
                wait = min(idle_s, partial_since + idle_s - now)
            else:
                partial_since = None
            with trio.move_on_after(max(wait, 0.0)) as idle:
                try:
                    data = await stream.read(chunk)
                except Exception:          # EOF, reset, closed: the session judges
                    data = b""
            if idle.cancelled_caught:
                if partial_since is not None:
                    raise Silent(f"a frame still incomplete after {idle_s:g} s")
                raise Silent(f"no data for {idle_s:g} s")
            ended = ended or not data
            session.receive_data(data or b"")
            continue
        last = event
        partial_since = None        # a message came whole: what is buffered now is a new frame
        await on_event(event)


async def close(stream, reset: bool = False) -> None:
    """Close (or reset) a stream; never raises."""
    try:
        await (stream.reset() if reset else stream.close())
    except Exception:
        pass


async def send_abort(stream, session, reason: str) -> None:
    """Tell the peer why we stop (an ABORT frame), within a second; never raises."""
    session.abort(reason)
    with trio.move_on_after(1):
        try:
            out = session.data_to_send()
            if out:
                await stream.write(out)
        except Exception:
            pass
