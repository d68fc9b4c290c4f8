"""Finding peers and staying connected: bootstrap, peer exchange, redial, mDNS.

- Bootstrap addresses (config and flags) are dialled at start and whenever
  we are below the target number of peers.
- Peer exchange (``/trustmesh/peers/1.0.0``): after connecting we ask the
  peer for the addresses of peers it is connected to, one frame holding a
  msgpack array of ``.../p2p/<id>`` multiaddr strings. Gossipsub's own PX
  only fires on prune, so it cannot be relied on.
- Reconnect with backoff (backoff.py); py-libp2p's 60 s negative dial cache
  is cleared before each of our dials.
- Known peers are saved in the home directory (``known.py``: peers.json) and dialled
  again after a restart.
"""

from __future__ import annotations

import logging
import random
import time

import trio
from libp2p.abc import IHost, INetStream
from libp2p.peer.id import ID

from trustmesh.errors import DecodeError, UsageError
from trustmesh.net.peers.backoff import Backoff
from trustmesh.net.config import PEERS_PROTOCOL, DiscoveryConfig
from trustmesh.net.host import peer_info
from trustmesh.net.streams import FramedStream, pack_message, unpack_message
from trustmesh.net.peers.known import KnownPeers

log = logging.getLogger("trustmesh.p2p.discovery")

MAX_FRAME = 64 * 1024


def peer_addrs(host: IHost, peer: ID) -> list[str]:
    """Addresses of ``peer`` we could dial, each ending in /p2p/<id>."""
    out = []
    try:
        known = host.get_peerstore().addrs(peer)
    except Exception:      # PeerStoreError: a peer connected a moment ago has no entry yet
        return []
    for addr in known:
        text = str(addr)
        if "/tcp/" not in text or "/ip4/0.0.0.0/" in text:
            continue
        out.append(text if "/p2p/" in text else f"{text}/p2p/{peer.to_base58()}")
    return sorted(set(out))


class Discovery:
    """Keeps a host connected to enough peers."""

    def __init__(self, host: IHost, config: DiscoveryConfig, known: KnownPeers,
                 is_banned, on_event=None, dial_circuit=None) -> None:
        self.host = host
        self.config = config
        self.known = known
        self._is_banned = is_banned
        self._on_event = on_event or (lambda *a: None)
        self._dial_circuit = dial_circuit       # async (circuit addr) -> ID: the swarm cannot dial those
        self.backoff = Backoff(config.redial_min_s, config.redial_max_s)
        self.candidates: dict[str, list[str]] = {}   # learnt this run: id -> addrs
        self.bootstrap: dict[str, list[str]] = {}
        for text in config.bootstrap:
            self.add_bootstrap(text)
        self._dialing: set[str] = set()
        self._held: dict[str, float] = {}          # pid -> trio time until which we do not dial it

    def hold(self, pid: str, now: float) -> None:
        """Do not dial ``pid`` for ``disconnect_hold_s`` (the owner disconnected it)."""
        self._held[pid] = now + self.config.disconnect_hold_s

    def release(self, pid: str) -> None:
        """End a hold (the owner connected to the peer again)."""
        self._held.pop(pid, None)

    def is_held(self, pid: str, now: float) -> bool:
        until = self._held.get(pid)
        if until is not None and now >= until:
            del self._held[pid]
            return False
        return until is not None

    def add_bootstrap(self, text: str) -> None:
        """Add a bootstrap address (UsageError if it lacks /p2p/<id>)."""
        info = peer_info(text)
        self.bootstrap.setdefault(info.peer_id.to_base58(), []).append(text)

    def learn(self, addrs: list[str]) -> None:
        """Remember addresses heard from a peer, to dial when we need peers."""
        me = self.host.get_id().to_base58()
        for text in addrs[: self.config.exchange_peers]:
            try:
                info = peer_info(text)
            except UsageError:
                continue
            pid = info.peer_id.to_base58()
            if pid != me:
                got = self.candidates.setdefault(pid, [])
                if text not in got and len(got) < 8:
                    got.append(text)

    async def dial(self, addr: str) -> ID:
        """Connect to ``addr`` now (clearing py-libp2p's negative cache first)."""
        info = peer_info(addr)
        if info.peer_id in self.host.get_connected_peers():
            # py-libp2p would add the address to the peerstore first, unchecked, and
            # we would save it as the peer's: a typo'd port would be kept for ever.
            return info.peer_id
        self.host.get_network().unblock_peer(info.peer_id)
        if "/p2p-circuit" in addr and self._dial_circuit is not None:
            return await self._dial_circuit(addr)
        await self.host.connect(info)
        return info.peer_id

    async def run(self) -> None:
        """Dial candidates for ever whenever we are below the target."""
        mdns = self._start_mdns() if self.config.mdns else None
        try:
            async with trio.open_nursery() as nursery:
                while True:
                    if mdns is not None:
                        self._learn_from_peerstore()
                    self._maintain(nursery)
                    await trio.sleep(self.config.maintain_interval_s)
        finally:
            if mdns is not None:
                try:
                    mdns.stop()
                except Exception:
                    pass

    def _start_mdns(self):
        """py-libp2p's mDNS announcer/listener; it fills the peerstore, we dial.

        It binds every interface (zeroconf's default) and reports peers on its
        own thread into the peerstore, which we read each maintenance tick.
        """
        try:
            from libp2p.discovery.mdns.mdns import MDNSDiscovery
            addrs = [str(a) for a in self.host.get_addrs()]
            port = next((int(a.value_for_protocol("tcp")) for a in self.host.get_addrs()), 0)
            mdns = MDNSDiscovery(self.host.get_network(), port=port, listen_addrs=addrs, host=self.host)
            mdns.start()
            return mdns
        except Exception as exc:   # no multicast here: run without it
            log.warning("mDNS unavailable: %s", exc)
            return None

    def _learn_from_peerstore(self) -> None:
        me = self.host.get_id()
        for peer in self.host.get_peerstore().peers_with_addrs():
            if peer != me:
                self.learn(peer_addrs(self.host, peer))

    def _maintain(self, nursery: trio.Nursery) -> None:
        connected = {p.to_base58() for p in self.host.get_connected_peers()}
        now = trio.current_time()
        wanted = self.config.target_peers - len(connected) - len(self._dialing)
        # bootstrap peers are always redialled (with backoff) until reached
        pool: dict[str, list[str]] = {}
        for source in (self.known.peers, self.candidates):
            for pid, item in source.items():
                addrs = item["addrs"] if isinstance(item, dict) else item
                pool.setdefault(pid, [])
                pool[pid] += [a for a in addrs if a not in pool[pid]]
        order = list(self.bootstrap.items())
        rest = list(pool.items())
        random.shuffle(rest)
        me = self.host.get_id().to_base58()
        for pid, addrs in order + rest:
            is_bootstrap = pid in self.bootstrap
            if wanted <= 0 and not is_bootstrap:
                continue
            if pid == me or pid in connected or pid in self._dialing:
                continue
            if self._is_banned(pid) or self.is_held(pid, now) or not self.backoff.due(pid, now):
                continue
            self._dialing.add(pid)
            nursery.start_soon(self._try_dial, pid, addrs)
            wanted -= 1

    async def _try_dial(self, pid: str, addrs: list[str]) -> None:
        try:
            for addr in addrs:
                try:
                    with trio.fail_after(10):
                        await self.dial(addr)
                except Exception as exc:
                    log.debug("dial %s failed: %s", addr, exc)
                    continue
                self.backoff.succeeded(pid)
                return
            self.backoff.failed(pid, trio.current_time())
        finally:
            self._dialing.discard(pid)

    def connected(self, peer: ID) -> None:
        """A connection to ``peer`` is up: remember how to reach it."""
        self.backoff.succeeded(peer.to_base58())
        addrs = peer_addrs(self.host, peer)
        if addrs:
            self.known.remember(peer.to_base58(), addrs, time.time())

    # ---- peer exchange ---------------------------------------------------

    def exchange_handler(self):
        """The stream handler giving our connected peers' addresses."""

        async def handle(stream: INetStream) -> None:
            framed = FramedStream(stream, MAX_FRAME)
            try:
                asker = stream.muxed_conn.peer_id
                peers = [p for p in self.host.get_connected_peers() if p != asker]
                random.shuffle(peers)
                addrs: list[str] = []
                for p in peers:
                    addrs += peer_addrs(self.host, p)[:2]
                    if len(addrs) >= self.config.exchange_peers:
                        break
                with trio.move_on_after(10):
                    await framed.write_frame(pack_message("peers", *addrs[: self.config.exchange_peers]))
            except Exception as exc:
                log.debug("peer exchange answer failed: %s", exc)
            finally:
                await framed.close()

        return handle

    async def exchange(self, peer: ID) -> int:
        """Ask ``peer`` for its peers; how many addresses it gave (0 on any failure)."""
        try:
            with trio.fail_after(10):
                stream = await self.host.new_stream(peer, [PEERS_PROTOCOL])
                framed = FramedStream(stream, MAX_FRAME)
                try:
                    data = await framed.read_frame()
                finally:
                    await framed.close()
        except Exception as exc:
            log.debug("peer exchange with %s failed: %s", peer, exc)
            return 0
        if not data:
            return 0
        try:
            addrs = read_peers_frame(data, self.config.exchange_peers)
        except DecodeError:
            return 0
        self.learn(addrs)
        return len(addrs)


def read_peers_frame(data: bytes, most: int) -> list[str]:
    """The addresses in a ``["peers", addr...]`` answer (odd items dropped); DecodeError if it is none."""
    items = unpack_message(data, most + 1)
    return [a for a in items[1:] if isinstance(a, str) and len(a) < 300]
