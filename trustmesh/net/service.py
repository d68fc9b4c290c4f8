"""One running host with every trustmesh protocol on it.

``NetService.run()`` is an async context manager: it starts the host on
its listen addresses, gossip, the stream handlers (sync, query, deal, peer
exchange), discovery and the periodic jobs, yields the running service,
and on the way out stops them and *always* closes the host (without
``host.close()`` py-libp2p leaves TCP connections open and a restarted
node with the same id receives nothing).

The node is reached only through its ``NodePort`` (``ports.py``: the
intake, the sync index, a member's weight, records out, deal decisions,
events), so this package knows libp2p and the node knows neither.
"""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager

import trio
from libp2p.peer.id import ID
from libp2p.tools.anyio_service import background_trio_service

from trustmesh.crypto.keys import Identity
from trustmesh.errors import NetworkError, UsageError
from trustmesh.net.deals import answers as deal_answers
from trustmesh.net.deals import handler as deal_proto
from trustmesh.protocol.pairing import PROTOCOL_ID as PAIR_PROTOCOL
from trustmesh.net.config import (
    DEAL_PROTOCOL, PEERS_PROTOCOL, QUERY_PROTOCOL, SYNC_PROTOCOL, NetConfig,
)
from trustmesh.net import tuning
from trustmesh.net.defence import Defence
from trustmesh.net.peers.discovery import Discovery, peer_addrs
from trustmesh.net.gossip.topic import Gossip
from trustmesh.net.host import (
    ConnectionEvents, build_host, busy_listen_addrs, full_addrs, id_of, key_of, parse_multiaddr,
)
from trustmesh.net.keepalive import KeepAlive
from trustmesh.net.peers.known import KnownPeers
from trustmesh.net.policing import Policing
from trustmesh.net.pair.handler import Pairing, join as pair_join
from trustmesh.net.ports import NodePort
from trustmesh.net.query.handler import QueryProtocol
from trustmesh.net.reach import Reach, is_relayed
from trustmesh.net.sync.handler import SyncProtocol

log = logging.getLogger("trustmesh.p2p")


class NetService(Policing):
    """The network side of one node."""

    def __init__(self, identity: Identity, config: NetConfig, port: NodePort, known: KnownPeers) -> None:
        self.identity = identity
        self.config = config
        self.port = port
        self.known = known
        self.defence = Defence(config.defence)
        # ban ends are kept on trio's clock (which has its own offset), so restore on it
        self.defence.restore(known.conduct, trio.current_time(), time.time())
        self.host = None
        self.gossip: Gossip | None = None
        self.discovery: Discovery | None = None
        self._nursery: trio.Nursery | None = None
        self.sync: SyncProtocol | None = None
        self.reach: Reach | None = None
        self.query_protocol: QueryProtocol | None = None
        self.pairing: Pairing | None = None
        self._conn_send, self._conn_recv = trio.open_memory_channel(10_000)

    # ---- lifecycle -------------------------------------------------------

    @asynccontextmanager
    async def run(self):
        """Run the host and every protocol; yields ``self`` while running."""
        listen = usable_listen([parse_multiaddr(a) for a in self.config.listen])
        self.host = host = build_host(self.identity)
        self.reach = Reach(host, self.config.nat, lambda pid: self.known.peers.get(pid, {}).get("addrs", []))
        tuning.advertise_circuits(host, self.reach.circuit_addrs)
        tuning.guard_streams(host, self._stream_failed)
        self.gossip = Gossip(host, self.config.gossip, self._intake, self.offence, self._allow,
                             banned=self.banned, valued=self._valued)
        self.gossip.pubsub.on_failure = self._stream_failed
        self.discovery = Discovery(host, self.config.discovery, self.known,
                                   lambda pid: self.defence.is_banned(pid, trio.current_time()),
                                   dial_circuit=self.reach.dial_circuit_addr)
        self.sync = SyncProtocol(host, self.config.sync, self.port, self.offence)
        self.query_protocol = QueryProtocol(host, self.config.query_timeout_s, self.port, self.offence)
        self.pairing = Pairing(host, self.identity.public_key, self.offence, self.config.deals.timeout_s)
        d = self.config.discovery
        self.keepalive = KeepAlive(host, d.keepalive_interval_s, d.keepalive_timeout_s, d.replace_timeout_s,
                                   d.keepalive_retry_factor)
        try:
            async with host.run(listen_addrs=listen):
                if not host.get_addrs():
                    raise NetworkError("cannot listen on " + ", ".join(str(a) for a in listen))
                try:
                    async with background_trio_service(self.gossip.pubsub), \
                            background_trio_service(self.gossip.router):
                        await self.gossip.start()
                        for pid in self.defence.banned(trio.current_time()):   # restored from peers.json
                            self.gossip.pubsub.add_to_blacklist(ID.from_base58(pid))
                        host.set_stream_handler(DEAL_PROTOCOL, self._unless_banned(deal_proto.handler(
                            self.port.decide_deal, self.offence, self.identity.public_key,
                            self.config.deals.timeout_s)))
                        host.set_stream_handler(deal_answers.DEAL_ANSWER_PROTOCOL,
                                                self._unless_banned(deal_answers.handler(
                                                    self.port.deal_answered, self.offence,
                                                    self.config.deals.timeout_s)))
                        host.set_stream_handler(PEERS_PROTOCOL,
                                                self._unless_banned(self.discovery.exchange_handler()))
                        host.set_stream_handler(SYNC_PROTOCOL, self._unless_banned(self.sync.handle))
                        host.set_stream_handler(QUERY_PROTOCOL, self._unless_banned(self.query_protocol.handle))
                        host.set_stream_handler(PAIR_PROTOCOL, self._unless_banned(self.pairing.handle))
                        host.get_network().register_notifee(ConnectionEvents(
                            lambda p: self._conn_event("up", p), lambda p: self._conn_event("down", p)))
                        async with self.reach.running(), trio.open_nursery() as nursery:
                            self._nursery = nursery
                            nursery.start_soon(self.gossip.run_publisher)
                            nursery.start_soon(self.gossip.run_drain)
                            nursery.start_soon(self.gossip.run_intake)
                            nursery.start_soon(self.discovery.run)
                            nursery.start_soon(self.keepalive.run)
                            nursery.start_soon(self._connection_events)
                            nursery.start_soon(self._periodic)
                            try:
                                yield self
                            finally:
                                self._nursery = None
                                nursery.cancel_scope.cancel()
                finally:
                    with trio.CancelScope(shield=True), trio.move_on_after(5):
                        await host.close()
        finally:
            self.save()

    def save(self) -> None:
        """Write known peers and bans to the home directory."""
        self.known.conduct = self.defence.export(trio.current_time() if _in_trio() else 0.0, time.time())
        self.known.save()

    # ---- what the node asks ---------------------------------------------

    def addrs(self) -> list[str]:
        """Our dialable addresses, each ending in /p2p/<our id>."""
        return full_addrs(self.host) if self.host else []

    def reachability(self) -> dict:
        """Reachable or behind NAT, where, through which relays (``Reach.describe``)."""
        return self.reach.describe() if self.reach and self.host else {"reachability": "unknown"}

    def announce(self, raws: list[bytes]) -> None:
        """Gossip records already stored here."""
        if self.gossip:
            self.gossip.announce(raws)

    async def connect(self, addr: str) -> str:
        """Connect to a peer address, or to a peer id alone (found through known
        addresses and the DHT); its peer id. NetworkError if it cannot be reached."""
        if not addr.startswith("/"):
            return await self.connect_id(addr)
        try:
            with trio.fail_after(15):
                peer = await self.discovery.dial(addr)
                self.discovery.release(peer.to_base58())
        except UsageError:
            raise
        except Exception as exc:
            raise NetworkError(f"cannot connect to {addr}: {exc}") from None
        return peer.to_base58()

    def choose(self, pid: str) -> None:
        """The owner chose ``pid`` (``connect``): remembered as such across restarts (peers.json)."""
        self.known.choose(pid)
        self.known.save()

    async def connect_id(self, pid: str) -> str:
        """Connect to the node of peer id ``pid``; UsageError if it is not one, NetworkError if unreachable."""
        try:
            peer = ID.from_base58(pid)
        except Exception:
            raise UsageError(f"not a peer id: {pid!r}") from None
        if key_of(peer) is None:
            raise UsageError(f"not a member's peer id: {pid!r}")
        try:
            with trio.fail_after(3 * self.config.nat.dial_timeout_s):
                await self.reach.dial_id(peer)
        except trio.TooSlowError:
            raise NetworkError(f"cannot reach {pid}: no answer in time") from None
        return pid

    async def reach_member(self, member: bytes, within_s: float | None = None) -> bool:
        """Be connected to ``member``'s node if it can be found (by id) within ``within_s``; whether we are."""
        peer = id_of(member)
        if peer in self.host.get_connected_peers() or peer == self.host.get_id():
            return peer in self.host.get_connected_peers()
        try:
            with trio.move_on_after(within_s or 3 * self.config.nat.dial_timeout_s):
                await self.reach.dial_id(peer)
        except NetworkError as exc:
            log.debug("cannot reach %s: %s", peer, exc)
        return peer in self.host.get_connected_peers()

    async def disconnect(self, pid: str) -> None:
        """Close every connection to peer ``pid`` (it may come back: this is not a ban)."""
        peer = ID.from_base58(pid)
        if peer not in self.host.get_connected_peers():
            raise NetworkError(f"not connected to {pid}")
        self.discovery.hold(pid, trio.current_time())
        await self._disconnect(peer)

    def add_bootstrap(self, addr: str) -> None:
        """Keep ``addr`` as a bootstrap peer (redialled whenever it is lost)."""
        self.discovery.add_bootstrap(addr)

    def peers(self) -> list[dict]:
        """Connected peers: id, member key, addresses, and our record of their conduct."""
        out = []
        now = trio.current_time()
        for peer in self.host.get_connected_peers():
            pid = peer.to_base58()
            conduct = self.defence.conduct.get(pid)
            conns = self.host.get_network().get_connections(peer)
            out.append({"id": pid, "addrs": peer_addrs(self.host, peer),
                        "connections": len(conns),
                        "dialled": any(_dialled(c) for c in conns),     # we opened one of them
                        "relayed": bool(conns) and all(is_relayed(c) for c in conns),
                        "banned": self.defence.is_banned(pid, now),
                        "offences": (conduct.hard + conduct.soft) if conduct else 0})
        return out

    async def propose_deal(self, counterparty: bytes, proposal) -> tuple[str, bytes | str]:
        """Send a deal proposal to the counterparty's node (found by its id if need be); its answer."""
        await self.reach_member(counterparty)
        return await deal_proto.propose(self.host, id_of(counterparty), proposal,
                                        self.config.deals.timeout_s)

    async def pair(self, addr: str, message: bytes) -> tuple[bytes, bytes] | str:
        """Connect to the member's node at ``addr`` and send it a pairing join; its answer."""
        pid = await self.connect(addr)
        return await pair_join(self.host, ID.from_base58(pid), message, self.config.deals.timeout_s)

    async def tell_declined(self, proposer: bytes, proposal_id: bytes, reason: str) -> bool:
        """Tell a proposer's node its proposal was declined (best effort); True if sent."""
        return await deal_answers.tell(self.host, id_of(proposer), proposal_id, reason,
                                       self.config.deals.timeout_s)

    @property
    def sync_stats(self) -> dict[str, dict]:
        """The last sync session with each peer."""
        return self.sync.stats if self.sync else {}

    @property
    def sync_totals(self) -> dict[str, int]:
        return self.sync.totals if self.sync else {}

    async def sync_with(self, peer: ID) -> dict | None:
        """Reconcile with ``peer`` now (once at a time per peer); the session's stats."""
        return await self.sync.initiate(peer)

    async def sync_all(self) -> list[dict]:
        """Reconcile with every connected peer; the sessions' stats."""
        results = []
        for peer in list(self.host.get_connected_peers()):
            stats = await self.sync_with(peer)
            if stats:
                results.append(stats)
        return results

    async def query(self, request: dict) -> list[bytes]:
        """Ask every connected peer (and the subject's own node, found by its id); the records they answered."""
        if isinstance(request.get("subject"), bytes):
            await self.reach_member(request["subject"], within_s=5.0)    # a subject may run no node
        return await self.query_protocol.ask_all(request)

    def _valued(self, peer: ID) -> bool:
        """A peer whose member has weight for us, or one the owner chose: gossip relays reach it."""
        key = key_of(peer)
        if key is not None and not self.banned(peer) and self.port.weight_of(key) > 0:
            return True
        return bool(self.known.peers.get(peer.to_base58(), {}).get("chosen"))

    async def _intake(self, raws: list[bytes], peer: ID, source: str):
        return await self.port.intake(raws, key_of(peer), source)

    # ---- connection events and periodic jobs ------------------------------

    def _conn_event(self, kind: str, peer: ID) -> None:
        try:
            self._conn_send.send_nowait((kind, peer))
        except trio.WouldBlock:
            pass

    async def _connection_events(self) -> None:
        async with trio.open_nursery() as nursery:
            async for kind, peer in self._conn_recv:
                pid = peer.to_base58()
                if kind == "down":
                    if not self.host.get_network().get_connections(peer):
                        self.defence.forget_peer_budget(pid)
                        self.port.notify("peer-down", peer=pid)
                    continue
                if self.defence.is_banned(pid, trio.current_time()):
                    nursery.start_soon(self._disconnect, peer)
                    continue
                self.port.notify("peer-up", peer=pid)
                nursery.start_soon(self._welcome, peer)

    async def _welcome(self, peer: ID) -> None:
        # A peer that comes back while we still hold a connection to it may have
        # lost that one silently (it restarted after a power cut): find out now,
        # before a sync or pubsub picks the dead one (see keepalive.py).
        if await self.keepalive.replace_stale(peer):
            return                # every connection to it is closed: its redial starts clean
        await trio.sleep(0.3)     # let identify fill in the peer's listen addresses
        # Each step only while still connected: opening a stream dials a peer that is
        # gone, and the owner may have disconnected it meanwhile (discovery.hold).
        if not self._still_connected(peer):
            return
        self.discovery.connected(peer)
        await self.reach.peer_connected(peer)
        if self.config.sync.on_connect and self._initiates(peer):
            await self.sync_with(peer)
        if self._still_connected(peer):
            await self.discovery.exchange(peer)

    def _still_connected(self, peer: ID) -> bool:
        return peer in self.host.get_connected_peers() and \
            not self.discovery.is_held(peer.to_base58(), trio.current_time())

    def _initiates(self, peer: ID) -> bool:
        """One side of a pair starts the sync: the one with the smaller peer id."""
        return self.host.get_id().to_bytes() < peer.to_bytes()

    async def _periodic(self) -> None:
        last_sync = last_save = trio.current_time()
        while True:
            await trio.sleep(1.0)
            now = trio.current_time()
            for peer in list(self.gossip.pubsub.blacklisted_peers):
                if not self.defence.is_banned(peer.to_base58(), now):
                    self.gossip.pubsub.remove_from_blacklist(peer)
            if now - last_sync >= self.config.sync.interval_s:
                last_sync = now
                for peer in list(self.host.get_connected_peers()):
                    if self._initiates(peer):
                        self._nursery.start_soon(self.sync_with, peer)
            if now - last_save >= self.config.discovery.save_interval_s:
                last_save = now
                self.save()

    # ---- stream handlers -------------------------------------------------


def _dialled(conn) -> bool:
    """Whether this node opened ``conn`` (yamux numbers the dialler's side as the initiator)."""
    return bool(getattr(getattr(conn, "muxed_conn", None), "is_initiator_value", False))


def usable_listen(listen: list) -> list:
    """The listen addresses to use: NetworkError when a busy one leaves none, or when only one
    was asked for; with several, the busy ones are skipped with a warning."""
    busy = busy_listen_addrs(listen)
    if busy and (len(listen) == 1 or len(busy) == len(listen)):
        addr, reason = next(iter(busy.items()))
        raise NetworkError(f"cannot listen on {addr}: {reason.lower()} (another node on this port?"
                           " choose another with --listen)")
    for addr, reason in busy.items():
        log.warning("not listening on %s: %s", addr, reason.lower())
    return [a for a in listen if str(a) not in busy]


def _in_trio() -> bool:
    try:
        trio.current_time()
        return True
    except RuntimeError:
        return False
