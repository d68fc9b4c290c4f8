"""Reaching and being reached from behind NAT: AutoNAT, circuit relay v2, DCUtR, a Kademlia DHT.

``Reach`` runs them beside the trustmesh protocols (``NetService``):

- AutoNAT (``autonat.py``) says whether we are reachable; the verdict
  drives the rest.
- Behind NAT we hold reservations on relays and advertise their
  ``/p2p-circuit`` addresses (``relay.py``); the host's address factory
  adds them, and an identify push tells connected peers.
- DCUtR (``punch.py``: py-libp2p's ``DCUtRProtocol``, one side driving) upgrades relayed
  connections by hole punching; when the NATs don't allow it the circuit
  stays, within the relay's limits.
- The DHT (``/ipfs/kad/1.0.0``) answers peer routing: server mode once we
  are known to be reachable, client mode otherwise. A node behind NAT is
  not in anyone's routing table (client mode), but the servers it is
  connected to (its relay) hold its addresses and answer a FIND_NODE for
  it, as the spec asks, so ``dial_id`` finds it.

Nothing else is published in the DHT (docs/protocol.md, section 14).
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

import trio
from libp2p.identity.identify_push.identify_push import push_identify_to_peers
from libp2p.kad_dht import DHTMode, KadDHT
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.tools.anyio_service import background_trio_service
from multiaddr import Multiaddr

from trustmesh.errors import NetworkError
from trustmesh.net.host import peer_info
from trustmesh.net.reach.autonat import PRIVATE, PUBLIC, UNKNOWN, Reachability
from trustmesh.net.reach.punch import Punch
from trustmesh.net.reach.relay import Reservations, circuit_of, dial_circuit, is_relayed, relay_protocol

log = logging.getLogger("trustmesh.p2p.nat")

__all__ = ["Reach", "PUBLIC", "PRIVATE", "UNKNOWN", "is_relayed", "circuit_of"]


class Reach:
    """The NAT side of one host (built before ``host.run``; run with ``running()``)."""

    def __init__(self, host, config, known_addrs) -> None:
        self.host = host
        self.config = config
        self._known_addrs = known_addrs             # (peer id text) -> addresses remembered
        self.relay = relay_protocol(host, config)
        self.reachability = (Reachability(host, config, self.direct_peers, self._status_changed)
                             if config.autonat else None)
        self.reservations = Reservations(host, config, lambda: config.reserve and self.status == PRIVATE,
                                         self._addrs_changed, self._connect_relay)
        # dial_timeout: each direct dial of a punch (and of the unilateral step before it) waits this long
        self.dcutr = Punch(host, dial_timeout=2) if config.dcutr else None
        # No per-subnet cap: members' nodes share LANs and, in tests, one address.
        self.dht = KadDHT(host, DHTMode.CLIENT, max_peers_per_subnet=0) if config.dht else None
        self._nursery: trio.Nursery | None = None
        self._poke = trio.Event()

    # ---- what the service and the node read ------------------------------

    @property
    def status(self) -> str:
        return self.reachability.status if self.reachability else UNKNOWN

    def circuit_addrs(self) -> list[Multiaddr]:
        return self.reservations.circuit_addrs()

    def describe(self) -> dict:
        """For ``status``: reachability, where we were reached, relays, circuit addresses, DHT mode."""
        me = self.host.get_id().to_base58()
        return {"reachability": self.status,
                "reached_at": self.reachability.reached_at if self.reachability else None,
                "relays": self.reservations.relays(),
                "refused": {r.to_base58(): why for r, (_, why) in self.reservations.refused.items()},
                "relayed_addrs": [f"{a}/p2p/{me}" for a in self.circuit_addrs()],
                "relay_service": self.config.relay,
                "punches": self._punches(),
                "relay_stats": self._relay_stats(),
                "dht": (self.dht.mode.value.lower() if self.dht else "off")}

    def _relay_stats(self) -> dict:
        """As a relay: slots held by others, circuits open, bytes carried (upstream's counters)."""
        if not self.config.relay:
            return {}
        held = list(self.relay.resource_manager._reservations.values())
        return {"reservations": len(held), "circuits": sum(r.active_connections for r in held),
                "bytes": self.relay.carried}

    def _punches(self) -> dict:
        """Per peer: hole punch attempts made and whether one runs (upstream's DCUtR counters)."""
        if self.dcutr is None:
            return {}
        running = self.dcutr._in_progress
        return {p.to_base58(): {"attempts": n, "running": p in running}
                for p, n in self.dcutr._hole_punch_attempts.items()}

    def direct_peers(self) -> list[ID]:
        network = self.host.get_network()
        return [p for p in self.host.get_connected_peers()
                if any(not is_relayed(c) for c in network.get_connections(p))]

    # ---- running ----------------------------------------------------------

    @asynccontextmanager
    async def running(self):
        async with background_trio_service(self.relay):
            async with _maybe_service(self.dcutr), _maybe_service(self.dht):
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    if self.reachability:
                        nursery.start_soon(self._autonat_loop)
                        nursery.start_soon(self.reservations.run)
                    try:
                        yield self
                    finally:
                        self._nursery = None
                        nursery.cancel_scope.cancel()

    async def _autonat_loop(self) -> None:
        while True:
            await self.reachability.check()
            wait = 2.0 if self.status == UNKNOWN else self.config.autonat_interval_s
            with trio.move_on_after(wait):
                await self._poke.wait()
            self._poke = trio.Event()

    async def peer_connected(self, peer: ID) -> None:
        """A connection is up (identify done): route through it, re-check reachability if unknown."""
        if self.dht is not None and self._nursery is not None:
            self._nursery.start_soon(self._route_through, peer)     # may ping a bucket: never hold up sync
        if self.status == UNKNOWN:
            self._poke.set()
        network = self.host.get_network()
        conns = network.get_connections(peer)
        if (self.dcutr is not None and self._nursery is not None and conns and all(is_relayed(c) for c in conns)
                and self.dcutr.starts(peer)):
            # punch now rather than at the next look (one side starts: punch.py)
            self._nursery.start_soon(self._punch, peer)

    async def _route_through(self, peer: ID) -> None:
        try:
            with trio.move_on_after(10):
                await self.dht.add_peer(peer)
        except Exception as exc:
            log.debug("DHT add %s: %s", peer, exc)

    async def _punch(self, peer: ID) -> None:
        try:
            ok = await self.dcutr.initiate_hole_punch(peer)
            log.info("hole punch to %s: %s", peer, "direct" if ok else "failed, the relay carries on")
        except Exception as exc:
            log.debug("hole punch to %s: %s", peer, exc)

    def _status_changed(self, status: str) -> None:
        if self._nursery is None:
            return
        if self.dht is not None:
            self._nursery.start_soon(self._switch_dht, DHTMode.SERVER if status == PUBLIC else DHTMode.CLIENT)
        self._addrs_changed()

    async def _switch_dht(self, mode) -> None:
        if self.dht.mode != mode:
            await self.dht.switch_mode(mode)
            for peer in self.host.get_connected_peers():      # client mode emptied the table
                try:
                    await self.dht.add_peer(peer)
                except Exception:
                    pass

    def _addrs_changed(self) -> None:
        """Our advertised addresses changed: tell connected peers (identify push)."""
        if self._nursery is not None:
            self._nursery.start_soon(self._push)

    async def _push(self) -> None:
        try:
            with trio.move_on_after(10):
                await push_identify_to_peers(self.host)
        except Exception as exc:
            log.debug("identify push failed: %s", exc)

    async def _connect_relay(self, text: str) -> None:
        info = peer_info(text)
        self.host.get_network().unblock_peer(info.peer_id)
        await self.host.connect(info)

    # ---- dialling by id ------------------------------------------------------

    async def dial(self, peer: ID, addrs: list[str], why: list[str] | None = None) -> bool:
        """Try ``addrs`` of ``peer``; True once connected (``why`` collects what each failure said).

        Circuits first when it has any: a peer holding relay slots is behind
        NAT, its direct addresses are its LAN's, and py-libp2p retries a
        failing dial for seconds while holding up other dials to that peer.
        DCUtR's first step then tries the direct ones (the same LAN works).
        """
        direct = [Multiaddr(a) for a in addrs if "/p2p-circuit" not in a]
        circuits = [a for a in addrs if "/p2p-circuit" in a]
        for attempt, text in enumerate(circuits + circuits):  # twice: a circuit the peer opened to us at
            if attempt >= len(circuits):                       # the same time can spoil ours (seen as a
                await trio.sleep(0.5)                          # failed security negotiation); a moment apart
            try:
                await self.dial_circuit_addr(text)
                return True
            except Exception as exc:
                log.debug("circuit %s failed: %s", text, exc)
                if why is not None:
                    why.append(f"{text}: {exc or type(exc).__name__}")
                if peer in self.host.get_connected_peers():
                    return True
        if direct:
            try:
                with trio.move_on_after(self.config.dial_timeout_s):
                    self.host.get_network().unblock_peer(peer)
                    await self.host.connect(PeerInfo(peer, direct))
            except Exception as exc:
                log.debug("direct dial of %s failed: %s", peer, exc)
                if why is not None:
                    why.append(f"direct: {exc or type(exc).__name__}")
        return peer in self.host.get_connected_peers()

    async def dial_circuit_addr(self, text: str) -> ID:
        """Connect through the relay named in ``text`` (``…/p2p/<relay>/p2p-circuit/p2p/<peer>``)."""
        parts = circuit_of(text)
        if parts is None:
            raise NetworkError(f"not a circuit address: {text}")
        relay, peer = parts
        if relay not in self.host.get_connected_peers():
            relay_part = text.split("/p2p-circuit")[0]
            with trio.fail_after(self.config.dial_timeout_s):
                await self._connect_relay(relay_part)
        with trio.fail_after(self.config.dial_timeout_s):
            await dial_circuit(self.host, relay, peer)
        return peer

    async def find(self, peer: ID) -> list[str]:
        """Addresses of ``peer`` the DHT gives (each ending in /p2p/<id>); [] when none.

        The look-up stops as soon as an answer brought an address of ``peer``
        we did not hold before: a full Kademlia walk goes on until the closest
        20 are all asked, which took up to 2.4 s in a 20-node DHT for an
        address the first or second hop already gave.
        """
        if self.dht is None:
            return []
        before = set(self._addrs_of(peer))

        async def walk(cancel_scope: trio.CancelScope) -> None:
            try:
                await self.dht.peer_routing.find_closest_peers_network(peer.to_bytes())
            except Exception as exc:
                log.debug("DHT look-up of %s failed: %s", peer, exc)
            cancel_scope.cancel()

        with trio.move_on_after(self.config.dial_timeout_s):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(walk, nursery.cancel_scope)
                while not set(self._addrs_of(peer)) - before:
                    await trio.sleep(0.02)
                nursery.cancel_scope.cancel()
        return self._addrs_of(peer)

    def _addrs_of(self, peer: ID) -> list[str]:
        try:
            return _full(self.host.get_peerstore().addrs(peer), peer)
        except Exception:
            return []

    async def dial_id(self, peer: ID) -> None:
        """Connect to ``peer`` by its id: addresses known, then the DHT. NetworkError if it cannot be reached."""
        if peer == self.host.get_id():
            raise NetworkError("that is this node's own id")
        if peer in self.host.get_connected_peers():
            return
        try:
            stored = _full(self.host.get_peerstore().addrs(peer), peer)
        except Exception:
            stored = []
        known = list(dict.fromkeys(stored + list(self._known_addrs(peer.to_base58()))))
        if known and await self.dial(peer, known):
            return
        found = [a for a in await self.find(peer) if a not in known]
        if not found:
            raise NetworkError(f"no address found for {peer.to_base58()} (known peers and the DHT)")
        why: list[str] = []
        if not await self.dial(peer, found, why):
            raise NetworkError(f"cannot reach {peer.to_base58()} at {', '.join(found[:4])}"
                               + (f" ({'; '.join(why[-3:])})" if why else ""))


def _full(addrs, peer: ID) -> list[str]:
    out = []
    for addr in addrs:
        text = str(addr)
        if "/ip4/0.0.0.0/" in text:
            continue
        out.append(text if text.endswith(f"/p2p/{peer.to_base58()}") else f"{text}/p2p/{peer.to_base58()}")
    return out


@asynccontextmanager
async def _maybe_service(service):
    if service is None:
        yield
        return
    async with background_trio_service(service):
        yield
