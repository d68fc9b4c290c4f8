"""Sync and query over libp2p streams: the sans-I/O sessions, pumped.

``protocol/sync.py`` (range-based reconciliation) and ``protocol/query.py``
decide every byte; this module only moves bytes between a session and a
libp2p stream and answers the session's events with the store:

- ``WantRecords``: read the raw records from the store and ``provide`` them;
- ``RecordsReceived``: hand them to the node's single intake (verify, store,
  index), exactly as gossip does; invalid records are offences and end the
  session;
- ``QueryAsked``: look the records up and ``provide`` them.

Why an interrupted sync resumes without resending: records are stored as
they arrive, and each stored id goes into the node's SyncIndex at once
(``Node._stored``); the next session's fingerprints already cover them, so
only what is still missing flows.

The peer gets bounded patience: ``idle_timeout_s`` without a byte ends the
session, and so does a frame not complete ``idle_timeout_s`` after its first
byte (a peer feeding one byte a second never goes idle, and used to hold a
session for the whole ``timeout_s``); ``timeout_s`` bounds a whole one.
Neither is an offence: a slow link looks the same.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from libp2p.peer.id import ID

from trustmesh.errors import RemoteProtocolError
from trustmesh.node.p2p.config import QUERY_PROTOCOL, SYNC_PROTOCOL
from trustmesh.node.p2p.host import key_of
from trustmesh.protocol.messages import Finished, RecordsReceived
from trustmesh.protocol.query import QueryAsked, QueryClient, QueryFailed, QueryRequest, QueryServer
from trustmesh.protocol.sync import SyncFailed, SyncLimits, SyncSession, WantRecords
from trustmesh.protocol.syncindex import SyncIndex

log = logging.getLogger("trustmesh.p2p.sync")

QUERY_LIMIT = 1000
_OVER = ("done", "failed", "error")


def build_index(store) -> SyncIndex:
    """The sync index of every record the store holds (built once at start)."""
    return SyncIndex(store.all_ids())


class _Silent(Exception):
    """The peer sent nothing for too long."""


class _Lost(Exception):
    """The stream ended early: a dropped connection or a stopped node, not an offence."""


async def _pump(stream, session, on_event: Callable[[Any], Awaitable[None]], idle_s: float,
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
                raise _Lost(str(exc)) from None
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
                    raise _Silent(f"a frame still incomplete after {idle_s:g} s")
                raise _Silent(f"no data for {idle_s:g} s")
            ended = ended or not data
            session.receive_data(data or b"")
            continue
        last = event
        partial_since = None        # a message came whole: what is buffered now is a new frame
        await on_event(event)


async def _close(stream, reset: bool = False) -> None:
    try:
        await (stream.reset() if reset else stream.close())
    except Exception:
        pass


# ---- sync ---------------------------------------------------------------------

async def initiate(service, peer: ID) -> dict | None:
    """Open a sync stream to ``peer`` and reconcile; the session's stats (None if no stream)."""
    try:
        with trio.fail_after(10):
            stream = await service.host.new_stream(peer, [SYNC_PROTOCOL])
    except Exception as exc:
        log.debug("cannot open sync stream to %s: %s", peer, exc)
        return None
    return await _sync(service, stream, peer, initiator=True)


async def respond(service, stream) -> dict:
    """Answer a sync stream opened by a peer; the session's stats."""
    return await _sync(service, stream, stream.muxed_conn.peer_id, initiator=False)


def _limits(service) -> SyncLimits:
    return SyncLimits()


async def _sync(service, stream, peer: ID, initiator: bool) -> dict:
    node, cfg = service.node, service.config.sync
    session = SyncSession(node.sync_index, initiator=initiator, limits=_limits(service))
    stats: dict[str, Any] = {"peer": peer.to_base58(), "initiator": initiator, "result": "failed",
                             "accepted": 0}
    started = time.monotonic()

    received: list[bytes] = []

    async def store_received() -> None:
        if not received:
            return
        raws = received[:]
        received.clear()
        report = await node.intake(raws, key_of(peer), "sync")
        stats["accepted"] += report.accepted
        if report.hard:
            raise RemoteProtocolError(report.hard)
        if report.soft:
            service.offence(peer, "soft", f"sync: {report.soft}")

    async def on_event(event) -> None:
        if isinstance(event, WantRecords):
            session.provide(await node.worker.run(node.store.raws_for, event.ids))
        elif isinstance(event, RecordsReceived):
            received.extend(event.raws)
            if len(received) >= cfg.ingest_batch:
                await store_received()
        elif isinstance(event, SyncFailed):
            stats["result"] = f"peer gave up: {event.reason}"
        elif isinstance(event, Finished):
            stats["result"] = "done"

    reset = False
    try:
        with trio.fail_after(cfg.timeout_s):
            session.start()
            await _pump(stream, session, on_event, cfg.idle_timeout_s, store_received)
    except RemoteProtocolError as exc:
        service.offence(peer, "hard", f"sync: {exc}")
        stats["result"] = f"protocol error: {exc}"
        await _send_abort(stream, session, str(exc))
        reset = True
    except (trio.TooSlowError, _Silent) as exc:
        stats["result"] = f"timeout: {exc}" if str(exc) else "timeout"
        await _send_abort(stream, session, "timeout")
    except _Lost as exc:
        stats["result"] = f"connection lost: {exc}"
    except trio.Cancelled:
        session.abort("shutting down")
        raise
    except Exception as exc:      # the node never crashes on a sync
        stats["result"] = f"failed: {exc}"
        log.debug("sync with %s failed: %s", peer, exc)
        reset = True
    finally:
        if received and not reset:      # what arrived before a timeout or a shutdown is kept
            with trio.CancelScope(shield=True):
                try:
                    await store_received()
                except Exception as exc:
                    log.debug("storing the last records from %s failed: %s", peer, exc)
        await _close(stream, reset)
        s = session.stats
        stats.update(sent=s.records_sent, received=s.records_received, bytes_in=s.bytes_received,
                     bytes_out=s.bytes_sent, overhead=s.overhead_bytes, round_trips=s.round_trips,
                     seconds=round(time.monotonic() - started, 3), finished=round(time.time(), 3))
        totals = service.sync_totals
        totals["sessions"] += 1
        totals["rounds"] += s.round_trips
        totals["bytes_in"] += s.bytes_received
        totals["bytes_out"] += s.bytes_sent
        if s.records_received or s.records_sent or stats["result"] != "done":
            node.notify("sync", **{k: v for k, v in stats.items() if k != "initiator"})
    return stats


async def _send_abort(stream, session, reason: str) -> None:
    session.abort(reason)
    with trio.move_on_after(1):
        try:
            out = session.data_to_send()
            if out:
                await stream.write(out)
        except Exception:
            pass


# ---- query ---------------------------------------------------------------------

async def query(service, peer: ID, request: dict) -> list[bytes]:
    """Ask ``peer`` for records about a subject or by an author; ingest them; the raws received."""
    node = service.node
    ask = QueryRequest(subject=request.get("subject"), author=request.get("author"),
                       facet=request.get("facet"), since=request.get("since"),
                       limit=request.get("limit", QUERY_LIMIT))
    client = QueryClient(ask)
    got: list[bytes] = []

    async def on_event(event) -> None:
        if isinstance(event, RecordsReceived):
            got.extend(event.raws)
            report = await node.intake(event.raws, key_of(peer), "query")
            if report.hard:
                raise RemoteProtocolError(report.hard)
        elif isinstance(event, QueryFailed):
            log.debug("query to %s: %s", peer, event.reason)

    stream = await service.host.new_stream(peer, [QUERY_PROTOCOL])
    await _query_session(service, stream, peer, client, on_event)
    return got


async def answer_query(service, stream) -> None:
    """Answer one query with the records held about the subject / by the author."""
    peer = stream.muxed_conn.peer_id
    node = service.node
    server = QueryServer()

    async def on_event(event) -> None:
        if isinstance(event, QueryAsked):
            req = event.request
            found = await node.worker.run(
                node.store.records, subject=req.subject, author=req.author, facet=req.facet,
                since=req.since, include_retracted=True, include_expired=True, limit=event.limit)
            raws = [s.raw for s in found]
            # what answers them (retractions, replies), so the asker sees them as we do
            raws += await node.worker.run(node.store.linked_to, [s.id for s in found])
            server.provide(raws, done=True)

    await _query_session(service, stream, peer, server, on_event)


async def _query_session(service, stream, peer: ID, session, on_event) -> None:
    """Run one query session (either side) to its end; a broken protocol is an offence."""
    reset = False
    try:
        with trio.fail_after(service.config.query_timeout_s):
            session.start()
            await _pump(stream, session, on_event, service.config.query_timeout_s)
    except RemoteProtocolError as exc:
        service.offence(peer, "hard", f"query: {exc}")
        reset = True
    except Exception as exc:      # a timeout, a dropped link, a peer gone: not an offence
        log.debug("query with %s ended early: %s", peer, exc or type(exc).__name__)
    finally:
        await _close(stream, reset)
