"""DCUtR hole punching as upstream's ``DCUtRProtocol``, with who starts and what is dialled first decided.

Measured in the NAT lab (bench/nat.py, 10 upgrades between two homes behind
endpoint-independent NATs) with upstream as it is: 5 to 9 of 10 upgraded,
median 2.4-7.6 s, max 16-20 s. The node logs showed why:

- Both sides started a session. Upstream's auto-drive loop runs on every
  node every 2 s, and so did our punch on connect; each side then dialled
  the same 4-tuple once as the DCUtR initiator (noise responder) and once as
  the responder (noise initiator): ``Errno 99`` for one of the two sockets,
  a security handshake that fails on the merged connection, and a round lost
  (2 s, then a 2 s sleep). Here one side drives, the one with the smaller
  peer id, as for sync (docs/protocol.md); the other drives only when a
  relayed-only connection has lasted ``PATIENCE_S`` without a direct one,
  so a peer that never starts (another implementation) is still upgraded.
- Before each session upstream tries a "unilateral" direct dial of every
  address the peer listed (spec step 0), for ``dial_timeout``. A peer we
  reach through a relay is behind NAT: its private addresses answer only on
  its own LAN, and elsewhere the dial waits out its timeout. Here the step
  dials only addresses that can answer: global ones, and private ones in
  one of our own networks (the same LAN).
- A punching round that fails (the first SYN of one side reached the other
  NAT before that NAT had a mapping) was given 5 s, then a 2 s pause, so a
  second round that works came 7 s late. A round that works takes one
  round trip and a handshake: rounds here last ``PUNCH_ROUND_S``, and the
  pause is ``ROUND_GAP_S`` (the NAT mappings the first round made stay).

Pins: ``net/pins.py`` holds the upstream functions this relies on.
"""

from __future__ import annotations

import ipaddress
import logging

import trio
import libp2p.relay.circuit_v2.dcutr as _dcutr_mod
from libp2p.peer.id import ID
from libp2p.relay.circuit_v2.dcutr import MAX_HOLE_PUNCH_ATTEMPTS, DCUtRProtocol

from trustmesh.net.reach.relay import is_relayed

log = logging.getLogger("trustmesh.p2p.nat")

PATIENCE_S = 8.0          # the larger id starts a punch itself after this long relayed only
DRIVE_EVERY_S = 1.0       # how often relayed connections are looked at
_PREFIX = {4: 24, 6: 64}  # "the same LAN": an IPv4 /24, an IPv6 /64
PUNCH_ROUND_S = 2.0       # one punching round (upstream: 5 s)
ROUND_GAP_S = 0.25        # the pause between rounds (upstream: 2 s)
_UPSTREAM_GAP_S = 2.0     # the literal pause in upstream's _perform_hole_punch


class _DcutrTrio:
    """``trio`` as upstream's dcutr module sees it: the same, but its 2 s pause between rounds is shorter."""

    def __getattr__(self, name):
        return getattr(trio, name)

    @staticmethod
    async def sleep(seconds: float) -> None:
        await trio.sleep(ROUND_GAP_S if seconds == _UPSTREAM_GAP_S else seconds)


def install() -> None:
    """Shorter punching rounds for every DCUtRProtocol (idempotent; tuning.install calls it)."""
    _dcutr_mod._HOLE_PUNCH_ROUND_TIMEOUT = PUNCH_ROUND_S
    if not isinstance(_dcutr_mod.trio, _DcutrTrio):
        _dcutr_mod.trio = _DcutrTrio()


class Punch(DCUtRProtocol):
    """Upstream's DCUtR; one side starts, and the unilateral step skips addresses that cannot answer."""

    def __init__(self, host, **kwargs) -> None:
        super().__init__(host, **kwargs)
        self._relayed_since: dict[ID, float] = {}

    def starts(self, peer: ID) -> bool:
        """True when this side starts the punch to ``peer`` at once (the smaller peer id)."""
        return self.host.get_id().to_bytes() < peer.to_bytes()

    async def _auto_drive_loop(self) -> None:
        while True:
            await trio.sleep(DRIVE_EVERY_S)
            try:
                await self._drive_once(trio.current_time())
            except trio.Cancelled:
                raise
            except Exception as exc:                     # a peer that went away mid-look
                log.debug("DCUtR drive: %s", exc)

    async def _drive_once(self, now: float) -> None:
        network = self.host.get_network()
        relayed_only = set()
        for peer in list(network.connections.keys()):
            conns = network.get_connections(peer)
            if peer == self.host.get_id() or not conns or not all(is_relayed(c) for c in conns):
                continue
            relayed_only.add(peer)
            since = self._relayed_since.setdefault(peer, now)
            if (peer in self._in_progress or peer in self._direct_connections
                    or self._hole_punch_attempts.get(peer, 0) >= MAX_HOLE_PUNCH_ATTEMPTS):
                continue
            if self.starts(peer) or now - since >= PATIENCE_S:
                await self.initiate_hole_punch(peer)
        for gone in set(self._relayed_since) - relayed_only:
            del self._relayed_since[gone]

    async def _try_unilateral_upgrade(self, peer_id: ID) -> bool:
        try:
            addrs = [a for a in self.host.get_peerstore().addrs(peer_id) if "/p2p-circuit" not in str(a)]
        except Exception:
            return False
        ours = _our_networks(self.host)
        reachable = [a for a in addrs if _may_answer(a, ours)]
        if not reachable:
            return False
        with trio.move_on_after(self.dial_timeout):
            async with trio.open_nursery() as nursery:
                for addr in reachable:
                    nursery.start_soon(self._dial_peer, peer_id, addr)
        return await self._verify_direct_connection(peer_id)


def _ip_of(addr) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    for proto in ("ip4", "ip6"):
        try:
            value = addr.value_for_protocol(proto)
        except Exception:
            continue
        if value:
            try:
                return ipaddress.ip_address(value)
            except ValueError:
                return None
    return None


def _our_networks(host) -> list:
    """The networks of our own listen addresses (the LANs we are on)."""
    nets = []
    try:
        addrs = host.get_addrs()
    except Exception:
        return nets
    for addr in addrs:
        if "/p2p-circuit" in str(addr):
            continue
        ip = _ip_of(addr)
        if ip is not None and not ip.is_unspecified:
            nets.append(ipaddress.ip_network(f"{ip}/{_PREFIX[ip.version]}", strict=False))
    return nets


def _may_answer(addr, ours: list) -> bool:
    """A direct dial of ``addr`` can succeed from here: a global address, or one on a LAN we are on."""
    ip = _ip_of(addr)
    if ip is None:
        return False
    return ip.is_global or any(n.version == ip.version and ip in n for n in ours)
