"""``/trustmesh/sync/1.0.0`` on a host: the session of ``protocol/sync``, pumped over streams.

The session decides every byte; here its events are answered through the
node's port: ``WantRecords`` with the records held, ``RecordsReceived``
by the one intake (verify, store, index), exactly as gossip does.

Why an interrupted sync resumes without resending: records are stored as
they arrive, and each stored id goes into the node's SyncIndex at once; the
next session's fingerprints already cover them, so only what is still
missing flows. One session per peer at a time, each way; a session asked
for while the previous one with that peer still winds down (its records
still being stored after the link dropped and came back) waits for it,
one waiter per peer and side at most, for ``WIND_DOWN_S``: refused at
once, the reconnect's sync was lost and the rest of a catch-up waited for
the periodic sync (30 s).

Why received records are stored in the background (``_Storing``): a
catch-up is one long push of records; stored in line, the pump stopped
reading while each batch was verified, and the verifiers idled while the
pump read. Now the pump keeps reading while up to two batches are in the
intake (one verified while the other commits), and the session's
``RecordsComplete`` (the peer's turn is over) waits for them all.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import trio
from libp2p.peer.id import ID

from trustmesh.errors import RemoteProtocolError
from trustmesh.net.config import SYNC_PROTOCOL, SyncConfig
from trustmesh.net.defence import judge
from trustmesh.net.host import key_of
from trustmesh.net.ports import NodePort
from trustmesh.net.pump import Lost, Silent, close, pump, send_abort
from trustmesh.protocol.messages import Finished, RecordsReceived
from trustmesh.protocol.sync.session import RecordsComplete, SyncFailed, SyncLimits, SyncSession, WantRecords

log = logging.getLogger("trustmesh.p2p.sync")

WIND_DOWN_S = 20.0      # how long a new session waits for the previous one with the same peer


class SyncProtocol:
    """Per-node state of the sync protocol: sessions running, stats of the last ones."""

    def __init__(self, host, config: SyncConfig, port: NodePort, offence) -> None:
        self.host = host
        self.config = config
        self.port = port
        self.offence = offence
        self.running: dict[tuple[str, bool], trio.Event] = {}     # (peer, we initiated) -> its end
        self.waiting: set[tuple[str, bool]] = set()
        self.stats: dict[str, dict] = {}
        self.totals = {"sessions": 0, "rounds": 0, "bytes_in": 0, "bytes_out": 0}

    async def initiate(self, peer: ID) -> dict | None:
        """Reconcile with ``peer`` now (once at a time per peer); the session's stats."""
        key = (peer.to_base58(), True)
        if not await self._claim(key):
            return None
        try:
            try:
                with trio.fail_after(10):
                    stream = await self.host.new_stream(peer, [SYNC_PROTOCOL])
            except Exception as exc:
                log.debug("cannot open sync stream to %s: %s", peer, exc)
                return None
            return await self._session(stream, peer, initiator=True)
        finally:
            self.running.pop(key).set()

    async def _claim(self, key: tuple[str, bool]) -> bool:
        """Make ``key``'s session the running one, after the one winding down if need be."""
        if key in self.running:
            if key in self.waiting:
                return False
            self.waiting.add(key)
            try:
                with trio.move_on_after(WIND_DOWN_S):
                    while key in self.running:
                        await self.running[key].wait()
            finally:
                self.waiting.discard(key)
            if key in self.running:
                return False
        self.running[key] = trio.Event()
        return True

    async def handle(self, stream) -> None:
        """The stream handler: answer a sync opened by a peer, one session per peer at a time.

        After a reconnect the old session may still be winding down: one more
        waits for it (``_claim``); further ones are reset, without offence.
        """
        peer = stream.muxed_conn.peer_id
        key = (peer.to_base58(), False)
        if not await self._claim(key):
            await close(stream, reset=True)
            return
        try:
            await self._session(stream, peer, initiator=False)
        finally:
            self.running.pop(key).set()

    async def _session(self, stream, peer: ID, initiator: bool) -> dict:
        port, cfg = self.port, self.config
        session = SyncSession(port.sync_index_for(key_of(peer)), initiator=initiator, limits=SyncLimits())
        stats: dict[str, Any] = {"peer": peer.to_base58(), "initiator": initiator, "result": "failed",
                                 "accepted": 0}
        started = time.monotonic()
        received: list[bytes] = []

        async def store(raws: list[bytes]) -> None:
            report = await port.intake(raws, key_of(peer), "sync")
            stats["accepted"] += report.accepted
            verdict = judge(report)
            if verdict is not None and verdict[0] == "hard":
                raise RemoteProtocolError(verdict[1])
            if verdict is not None:
                self.offence(peer, verdict[0], f"sync: {verdict[1]}")

        async def on_event(event) -> None:
            if isinstance(event, WantRecords):
                session.provide(await port.records_for(event.ids))
            elif isinstance(event, RecordsReceived):
                received.extend(event.raws)
                if len(received) >= cfg.ingest_batch:
                    await storing.submit(received[:])
                    received.clear()
            elif isinstance(event, RecordsComplete):
                await settle()
            elif isinstance(event, SyncFailed):
                stats["result"] = f"peer gave up: {event.reason}"
            elif isinstance(event, Finished):
                stats["result"] = "done"

        async def settle() -> None:
            if received:
                await storing.submit(received[:])
                received.clear()
            await storing.drain()

        reset = False
        failure: BaseException | None = None
        try:
            async with trio.open_nursery() as nursery:
                storing = _Storing(nursery, store)
                try:
                    with trio.fail_after(cfg.timeout_s):
                        session.start()
                        await pump(stream, session, on_event, cfg.idle_timeout_s)
                        await settle()
                except BaseException as exc:
                    # what arrived before a timeout, a loss or a shutdown is kept; after a
                    # protocol error only the batches already being stored finish
                    keep = isinstance(exc, (trio.TooSlowError, Silent, Lost, trio.Cancelled))
                    with trio.CancelScope(shield=True):
                        await self._keep(settle if keep else storing.drain, peer, charge=keep)
                    if isinstance(exc, trio.Cancelled):
                        raise
                    failure = exc       # raised below, outside the nursery: not in a group
            if failure is not None:
                raise failure
        except RemoteProtocolError as exc:
            self.offence(peer, "hard", f"sync: {exc}")
            stats["result"] = f"protocol error: {exc}"
            await send_abort(stream, session, str(exc))
            reset = True
        except (trio.TooSlowError, Silent) as exc:
            stats["result"] = f"timeout: {exc}" if str(exc) else "timeout"
            await send_abort(stream, session, "timeout")
        except Lost as exc:
            stats["result"] = f"connection lost: {exc}"
        except (trio.Cancelled, BaseExceptionGroup):     # a group here holds only Cancelled
            session.abort("shutting down")
            raise
        except Exception as exc:      # the node never crashes on a sync
            stats["result"] = f"failed: {exc}"
            log.debug("sync with %s failed: %s", peer, exc)
            reset = True
        finally:
            await close(stream, reset)
            self._finish(session, stats, started)
        return stats

    async def _keep(self, settle, peer: ID, charge: bool) -> None:
        try:
            await settle()
        except RemoteProtocolError as exc:     # forged records among the last ones
            if charge:      # (else the session already ends with a protocol error of its own)
                self.offence(peer, "hard", f"sync: {exc}")
        except Exception as exc:
            log.debug("storing the last records from %s failed: %s", peer, exc)

    def _finish(self, session: SyncSession, stats: dict, started: float) -> None:
        s = session.stats
        stats.update(sent=s.records_sent, received=s.records_received, bytes_in=s.bytes_received,
                     bytes_out=s.bytes_sent, overhead=s.overhead_bytes, round_trips=s.round_trips,
                     seconds=round(time.monotonic() - started, 3), finished=round(time.time(), 3))
        self.stats[stats["peer"]] = stats
        totals = self.totals
        totals["sessions"] += 1
        totals["rounds"] += s.round_trips
        totals["bytes_in"] += s.bytes_received
        totals["bytes_out"] += s.bytes_sent
        if s.records_received or s.records_sent or stats["result"] != "done":
            self.port.notify("sync", **{k: v for k, v in stats.items() if k != "initiator"})


class _Storing:
    """Received batches on their way into the intake, at most ``IN_FLIGHT`` at once.

    Why in the background: the pump keeps reading (and the peer keeps
    sending) while a batch is verified and committed, and the intake
    prepares the next batch while the writer commits this one. The first
    error (a hard verdict on what the peer sent) is raised to the session
    at the next ``submit`` or ``drain``.
    """

    IN_FLIGHT = 2

    def __init__(self, nursery, store) -> None:
        self._nursery = nursery
        self._store = store
        self._slots = trio.Semaphore(self.IN_FLIGHT)
        self._error: Exception | None = None

    async def submit(self, raws: list[bytes]) -> None:
        await self._slots.acquire()
        if self._error is not None:
            self._slots.release()
            self._raise()
        self._nursery.start_soon(self._run, raws)

    async def drain(self) -> None:
        """Wait until every batch submitted is stored (or refused); the first error, if any."""
        for _ in range(self.IN_FLIGHT):
            await self._slots.acquire()
        for _ in range(self.IN_FLIGHT):
            self._slots.release()
        self._raise()

    def _raise(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    async def _run(self, raws: list[bytes]) -> None:
        try:
            await self._store(raws)
        except Exception as exc:
            if self._error is None:
                self._error = exc
        finally:
            self._slots.release()
