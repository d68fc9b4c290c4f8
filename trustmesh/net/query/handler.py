"""``/trustmesh/query/1.1.0`` on a host: ask peers about a member, answer their questions.

The sessions are ``protocol/query``'s; answers go through the node's one
intake like any record, and the records we give come from the node's port.
"""

from __future__ import annotations

import logging

import trio
from libp2p.peer.id import ID

from trustmesh.errors import RemoteProtocolError
from trustmesh.net.config import QUERY_PROTOCOL
from trustmesh.net.defence import judge
from trustmesh.net.host import key_of
from trustmesh.net.ports import NodePort
from trustmesh.net.pump import close, pump
from trustmesh.protocol.messages import RecordsReceived
from trustmesh.protocol.query.session import QueryAsked, QueryClient, QueryFailed, QueryRequest, QueryServer

log = logging.getLogger("trustmesh.p2p.query")

QUERY_LIMIT = 1000


class QueryProtocol:
    """Per-node state of the query protocol (just its settings: queries are one-shot)."""

    def __init__(self, host, timeout_s: float, port: NodePort, offence) -> None:
        self.host = host
        self.timeout_s = timeout_s
        self.port = port
        self.offence = offence

    async def ask_all(self, request: dict) -> list[bytes]:
        """Ask every connected peer; the records they answered with (each taken in by the intake)."""
        out: list[bytes] = []

        async def ask(peer):
            try:
                out.extend(await self.ask(peer, request))
            except Exception as exc:
                log.debug("query to %s failed: %s", peer, exc)

        async with trio.open_nursery() as nursery:
            for peer in list(self.host.get_connected_peers()):
                nursery.start_soon(ask, peer)
        return out

    async def ask(self, peer: ID, request: dict) -> list[bytes]:
        """Ask ``peer`` for records about a subject or by an author; ingest them; the raws received."""
        ask = QueryRequest(subject=request.get("subject"), author=request.get("author"),
                           facet=request.get("facet"), since=request.get("since"),
                           limit=request.get("limit", QUERY_LIMIT))
        client = QueryClient(ask)
        got: list[bytes] = []

        async def on_event(event) -> None:
            if isinstance(event, RecordsReceived):
                got.extend(event.raws)
                verdict = judge(await self.port.intake(event.raws, key_of(peer), "query"))
                if verdict is not None and verdict[0] == "hard":
                    raise RemoteProtocolError(verdict[1])
                if verdict is not None:             # as gossip and sync count it
                    self.offence(peer, verdict[0], f"query: {verdict[1]}")
            elif isinstance(event, QueryFailed):
                log.debug("query to %s: %s", peer, event.reason)

        stream = await self.host.new_stream(peer, [QUERY_PROTOCOL])
        await self._session(stream, peer, client, on_event)
        return got

    async def handle(self, stream) -> None:
        """The stream handler: answer one query with the records held."""
        server = QueryServer()

        async def on_event(event) -> None:
            if isinstance(event, QueryAsked):
                results, linked = await self.port.answer_query(event.request, event.limit)
                server.provide(results, linked, done=True)

        await self._session(stream, stream.muxed_conn.peer_id, server, on_event)

    async def _session(self, stream, peer: ID, session, on_event) -> None:
        """Run one query session (either side) to its end; a broken protocol is an offence."""
        reset = False
        try:
            with trio.fail_after(self.timeout_s):
                session.start()
                await pump(stream, session, on_event, self.timeout_s)
        except RemoteProtocolError as exc:
            self.offence(peer, "hard", f"query: {exc}")
            reset = True
        except Exception as exc:      # a timeout, a dropped link, a peer gone: not an offence
            log.debug("query with %s ended early: %s", peer, exc or type(exc).__name__)
        finally:
            await close(stream, reset)
