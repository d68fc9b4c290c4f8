"""Keep-alive: a connection that stops answering is closed, and a new one replaces a dead one.

Why: a node that dies without its TCP connections closing (a power cut, a
network change) leaves the survivor holding a connection that is dead but
looks open until the kernel gives up (about 15 minutes). py-libp2p keeps it,
prefers it for new streams (it has the most streams open) and keeps its
pubsub stream on it, so when the node comes back on a new connection the
survivor keeps talking into the dead one: gossip stops, and so does sync.

So every connection is pinged (``/ipfs/ping/1.0.0`` on that very
connection) every ``interval_s``; and when a new connection from a peer
comes up while others are open, all of them are pinged at once with a
shorter deadline. A connection that does not answer in time gets one more
ping with a deadline ``retry_factor`` times longer before it is judged dead:
a node whose event loop is seconds behind under load (measured in
``bench/network.py``: 8 to 27 connections closed a minute at 50 records/s
with a single 10 s deadline) answers late, not never, and closing its
connections only adds redials, handshakes and syncs to the load that made
it late. A connection judged dead takes *every*
connection to that peer with it: pubsub keeps one stream and one
subscription list per peer, not per connection, and when only the dead
connection was closed it was left with neither working (observed: no
gossip either way). The peer redials (the restarted node has us as a
bootstrap or known peer, and we have it) and both sides start clean.
"""

from __future__ import annotations

import logging

import trio
from libp2p.network.health.ping_probe import ping_connection

log = logging.getLogger("trustmesh.p2p.keepalive")


async def alive(conn, timeout_s: float) -> bool:
    """True when ``conn`` answers a ping within ``timeout_s``."""
    try:
        result = await ping_connection(conn, ping_timeout=timeout_s)
    except Exception as exc:     # a probe must never fail the caller
        log.debug("ping failed: %s", exc)
        return False
    return result.success


async def close(conn) -> None:
    """Close ``conn`` without waiting long for a dead peer; never raises."""
    with trio.move_on_after(5):
        try:
            await conn.close()
        except Exception as exc:
            log.debug("closing a connection: %s", exc)


class KeepAlive:
    """Pings a host's connections and closes those that stopped answering."""

    def __init__(self, host, interval_s: float, timeout_s: float, replace_timeout_s: float,
                 retry_factor: float = 3.0, probe=alive) -> None:
        self.retry_factor = retry_factor        # the second ping's deadline, in first deadlines
        self.host = host
        self.probe = probe                      # a seam for tests: (conn, timeout_s) -> answered
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.replace_timeout_s = replace_timeout_s
        self._checking: set[int] = set()
        self.closed = 0                         # dead connections closed, for status and tests
        self.late = 0                           # first pings missed (the peer may just be busy)

    async def run(self) -> None:
        """Ping every connection each ``interval_s``, for ever."""
        async with trio.open_nursery() as nursery:
            while True:
                await trio.sleep(self.interval_s)
                for conn in self.host.get_network().get_connections():
                    if id(conn) not in self._checking:
                        nursery.start_soon(self._check, conn, self.timeout_s)

    async def replace_stale(self, peer) -> int:
        """A connection from ``peer`` came up: ping all of its connections, close the dead; how many."""
        conns = self.host.get_network().get_connections(peer)
        if len(conns) < 2:
            return 0
        before = self.closed
        async with trio.open_nursery() as nursery:
            for conn in conns:
                if id(conn) not in self._checking:
                    nursery.start_soon(self._check, conn, self.replace_timeout_s, False)
        return self.closed - before

    async def _check(self, conn, timeout_s: float, retry: bool = True) -> None:
        """Close ``conn``'s peer when it misses a ping (and, with ``retry``, a slower second one).

        When a peer reconnects (``replace_stale``) there is no second ping:
        a new connection beside an old one is the likely sign that the old
        one died (a restart behind a silent link), and every second spent
        on it is gossip the restarted peer does not get.
        """
        self._checking.add(id(conn))
        try:
            if conn.is_closed or await self.probe(conn, timeout_s):
                return
            twice = retry and self.retry_factor > 1
            if twice:
                self.late += 1
                timeout_s *= self.retry_factor
                if conn.is_closed or await self.probe(conn, timeout_s):
                    return
            peer = conn.muxed_conn.peer_id
            when = " (twice)" if twice else "" if retry else " when another connection came"
            log.warning("closing the connections to %s: one gave no answer to a ping within %g s%s",
                        peer, timeout_s, when)
            self.closed += 1
            await close(conn)
            for other in self.host.get_network().get_connections(peer):
                await close(other)
        finally:
            self._checking.discard(id(conn))
