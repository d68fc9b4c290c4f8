"""Sync and query over libp2p streams.

INTERIM wire protocol (until the pure, negentropy-style state machines of
protocol/sync.py land and are pumped here instead): whole-set comparison by
digest, then the smaller side lists its ids and the larger side decides.

    both    -> ["hello", 1, count, sha256(sorted ids)]      equal digests: done
    lister  -> ["ids", ids…]* ["ids-end"]                   (side with fewer ids;
                                                             the initiator on a tie)
    decider -> ["want", ids…]* ["want-end"] ["recs", [raw…]]* ["recs-end"]
    lister  -> ["recs", [raw…]]* ["recs-end"]               (answers the wants)

Ids are 32-byte values concatenated in one bin. A fresh node therefore
receives the records and little else (≈ 1.0x the records' size on the
wire); two equal stores exchange one frame each. Cost: the whole id list
of the smaller side crosses when the sets differ, so two large, nearly
equal stores pay 32 bytes per record: the state machine fixes that.

Each side reads and writes in separate tasks so that yamux flow control
can never deadlock two writers. Received records go through the node's
intake like gossip does; invalid ones are offences.

Query (``/trustmesh/query/1.0.0``): one request frame ``["query",
"subject"|"author", key, limit]``; answers ``["recs", [raw…]]*
["recs-end"]``.
"""

from __future__ import annotations

import hashlib
import logging
import time

import trio
from libp2p.peer.id import ID

from trustmesh.errors import DecodeError, RemoteProtocolError
from trustmesh.node.p2p.config import QUERY_PROTOCOL, SYNC_PROTOCOL
from trustmesh.node.p2p.host import key_of
from trustmesh.node.p2p.streams import FramedStream, pack_message, unpack_message

log = logging.getLogger("trustmesh.p2p.sync")

IDS_PER_FRAME = 16_384          # 512 KiB of ids
RECS_PER_FRAME = 400
RECS_BYTES = 700 * 1024
QUERY_LIMIT = 5000


def build_index(store):
    """The sync index of everything held (None: the interim protocol reads the store)."""
    return None


def _digest(ids: list[bytes]) -> bytes:
    h = hashlib.sha256()
    for rid in ids:
        h.update(rid)
    return h.digest()


def _split_ids(blob: bytes) -> list[bytes]:
    if len(blob) % 32:
        raise DecodeError("an id list is a multiple of 32 bytes")
    return [blob[i:i + 32] for i in range(0, len(blob), 32)]


async def initiate(service, peer: ID) -> dict | None:
    """Open a sync stream to ``peer`` and reconcile; the session's stats (None on failure)."""
    try:
        with trio.fail_after(10):
            stream = await service.host.new_stream(peer, [SYNC_PROTOCOL])
    except Exception as exc:
        log.debug("cannot open sync stream to %s: %s", peer, exc)
        return None
    return await _session(service, stream, peer, initiator=True)


async def respond(service, stream) -> None:
    """Answer a sync stream opened by a peer."""
    await _session(service, stream, stream.muxed_conn.peer_id, initiator=False)


async def _session(service, stream, peer: ID, initiator: bool) -> dict | None:
    cfg = service.config.sync
    framed = FramedStream(stream, cfg.max_frame)
    node = service.node
    stats = {"peer": peer.to_base58(), "initiator": initiator, "sent": 0, "received": 0,
             "accepted": 0, "bytes_in": 0, "bytes_out": 0, "seconds": 0.0, "result": "failed"}
    started = time.monotonic()
    try:
        with trio.fail_after(cfg.timeout_s):
            mine = await node.worker.run(node.store.all_ids)
            await framed.write_frame(pack_message("hello", 1, len(mine), _digest(mine)))
            hello = await _expect(framed, "hello")
            if len(hello) != 4 or not isinstance(hello[2], int) or not isinstance(hello[3], bytes):
                raise DecodeError("bad hello")
            if hello[3] == _digest(mine):
                stats["result"] = "equal"
                return stats
            lister = len(mine) < hello[2] or (len(mine) == hello[2] and initiator)
            state = _State(service, framed, peer, stats, set(mine) if not lister else None)
            async with trio.open_nursery() as nursery:
                if lister:
                    nursery.start_soon(state.lister_write, mine)
                    nursery.start_soon(state.lister_read)
                else:
                    nursery.start_soon(state.decider_write)
                    nursery.start_soon(state.decider_read)
            stats["result"] = "done"
            return stats
    except trio.TooSlowError:
        stats["result"] = "timeout"
    except (DecodeError, RemoteProtocolError) as exc:
        service.offence(peer, "hard", f"sync: {exc}")
        stats["result"] = f"protocol error: {exc}"
        await framed.reset()
    except Exception as exc:
        stats["result"] = f"failed: {exc}"
        log.debug("sync with %s failed: %s", peer, exc)
    finally:
        stats["bytes_in"], stats["bytes_out"] = framed.bytes_in, framed.bytes_out
        stats["seconds"] = round(time.monotonic() - started, 3)
        await framed.close()
        if stats["received"] or stats["sent"]:
            node.notify("sync", **{k: v for k, v in stats.items() if k != "initiator"})
    return stats


async def _expect(framed: FramedStream, kind: str) -> list:
    data = await framed.read_frame()
    if data is None:
        raise RemoteProtocolError(f"stream ended, expected {kind}")
    items = unpack_message(data, 4)
    if items[0] != kind:
        raise RemoteProtocolError(f"expected {kind}, got {items[0]!r}")
    return items


class _State:
    """One side of a running session."""

    def __init__(self, service, framed, peer, stats, mine_set) -> None:
        self.service, self.framed, self.peer, self.stats = service, framed, peer, stats
        self.node = service.node
        self.mine_set: set[bytes] | None = mine_set
        self.theirs: list[bytes] = []
        self.wanted_by_peer: list[bytes] = []
        self.ids_done = trio.Event()
        self.want_done = trio.Event()

    async def _send_records(self, ids: list[bytes]) -> None:
        for start in range(0, len(ids), RECS_PER_FRAME):
            raws = await self.node.worker.run(self.node.store.raws_for, ids[start:start + RECS_PER_FRAME])
            batch, size = [], 0
            for raw in raws:
                if size + len(raw) > RECS_BYTES:
                    await self.framed.write_frame(pack_message("recs", batch))
                    batch, size = [], 0
                batch.append(raw)
                size += len(raw)
            if batch:
                await self.framed.write_frame(pack_message("recs", batch))
            self.stats["sent"] += len(raws)
        await self.framed.write_frame(pack_message("recs-end"))

    async def _take_records(self, items: list) -> None:
        raws = items[1] if len(items) == 2 and isinstance(items[1], list) else None
        if raws is None or not all(isinstance(r, bytes) for r in raws):
            raise DecodeError("a recs frame holds a list of records")
        self.stats["received"] += len(raws)
        report = await self.node.intake(raws, key_of(self.peer), "sync")
        self.stats["accepted"] += report.accepted
        if report.hard:
            raise RemoteProtocolError(report.hard)
        if report.soft:
            self.service.offence(self.peer, "soft", f"sync: {report.soft}")

    async def _read_frames(self, handle) -> None:
        while True:
            data = await self.framed.read_frame()
            if data is None:
                raise RemoteProtocolError("stream ended mid-session")
            items = unpack_message(data, 4)
            if await handle(items):
                return

    # -- the side with fewer ids --
    async def lister_write(self, mine: list[bytes]) -> None:
        for start in range(0, len(mine), IDS_PER_FRAME):
            await self.framed.write_frame(pack_message("ids", b"".join(mine[start:start + IDS_PER_FRAME])))
        await self.framed.write_frame(pack_message("ids-end"))
        await self.want_done.wait()
        await self._send_records(self.wanted_by_peer)

    async def lister_read(self) -> None:
        async def handle(items) -> bool:
            kind = items[0]
            if kind == "want" and len(items) == 2 and isinstance(items[1], bytes):
                self.wanted_by_peer += _split_ids(items[1])
            elif kind == "want-end":
                self.want_done.set()
            elif kind == "recs":
                await self._take_records(items)
            elif kind == "recs-end":
                return True
            else:
                raise RemoteProtocolError(f"unexpected {kind!r}")
            return False
        await self._read_frames(handle)

    # -- the side with more ids --
    async def decider_read(self) -> None:
        async def handle(items) -> bool:
            kind = items[0]
            if kind == "ids" and len(items) == 2 and isinstance(items[1], bytes):
                self.theirs += _split_ids(items[1])
            elif kind == "ids-end":
                self.ids_done.set()
            elif kind == "recs":
                await self._take_records(items)
            elif kind == "recs-end":
                return True
            else:
                raise RemoteProtocolError(f"unexpected {kind!r}")
            return False
        await self._read_frames(handle)

    async def decider_write(self) -> None:
        await self.ids_done.wait()
        theirs = set(self.theirs)
        want = [rid for rid in theirs if rid not in self.mine_set]
        give = [rid for rid in self.mine_set if rid not in theirs]
        self.theirs = []
        for start in range(0, len(want), IDS_PER_FRAME):
            await self.framed.write_frame(pack_message("want", b"".join(want[start:start + IDS_PER_FRAME])))
        await self.framed.write_frame(pack_message("want-end"))
        await self._send_records(give)


# ---- query ------------------------------------------------------------------

async def query(service, peer: ID, request: dict) -> list[bytes]:
    """Ask ``peer`` for records about a subject or by an author; ingest them; the raws."""
    kind = "subject" if "subject" in request else "author"
    stream = await service.host.new_stream(peer, [QUERY_PROTOCOL])
    framed = FramedStream(stream, service.config.sync.max_frame)
    got: list[bytes] = []
    try:
        with trio.fail_after(service.config.query_timeout_s):
            await framed.write_frame(pack_message("query", kind, request[kind], QUERY_LIMIT))
            while True:
                data = await framed.read_frame()
                if data is None:
                    break
                items = unpack_message(data, 2)
                if items[0] == "recs-end":
                    break
                if items[0] != "recs" or not isinstance(items[1], list):
                    raise RemoteProtocolError("a query answer is recs frames")
                raws = [r for r in items[1] if isinstance(r, bytes)]
                got += raws
                if len(got) > QUERY_LIMIT:
                    raise RemoteProtocolError("more records than asked for")
                report = await service.node.intake(raws, key_of(peer), "query")
                if report.hard:
                    raise RemoteProtocolError(report.hard)
    except (DecodeError, RemoteProtocolError) as exc:
        service.offence(peer, "hard", f"query: {exc}")
    finally:
        await framed.close()
    return got


async def answer_query(service, stream) -> None:
    """Answer one query with the records held about the subject / by the author."""
    peer = stream.muxed_conn.peer_id
    framed = FramedStream(stream, 4096)
    node = service.node
    try:
        with trio.fail_after(service.config.query_timeout_s):
            data = await framed.read_frame()
            if data is None:
                return
            items = unpack_message(data, 4)
            if (len(items) != 4 or items[0] != "query" or items[1] not in ("subject", "author")
                    or not isinstance(items[2], bytes) or len(items[2]) != 32):
                raise DecodeError("not a query")
            limit = min(int(items[3]) if isinstance(items[3], int) else QUERY_LIMIT, QUERY_LIMIT)
            found = await node.worker.run(node.store.records, **{items[1]: items[2]},
                                          include_retracted=True, include_expired=True, limit=limit)
            raws = [s.raw for s in found]
            for start in range(0, len(raws), RECS_PER_FRAME):
                await framed.write_frame(pack_message("recs", raws[start:start + RECS_PER_FRAME]))
            await framed.write_frame(pack_message("recs-end"))
    except DecodeError as exc:
        service.offence(peer, "hard", f"query: {exc}")
        await framed.reset()
    except Exception as exc:
        log.debug("query from %s failed: %s", peer, exc)
    finally:
        await framed.close()
