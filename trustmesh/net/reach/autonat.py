"""AutoNAT (``/libp2p/autonat/1.0.0``): am I reachable from outside, or behind NAT?

Peers we are connected to directly are asked to dial us back; their
answers decide. Two changes to py-libp2p's ``AutoNATService`` server side,
each for a reason seen here:

- Its dial-back is ``host.connect``, which returns at once when the asker
  is already connected - and it always is, it asked over a connection - so
  every asker was told "reachable", NAT or not. Ours opens a *new* TCP
  connection to the address and closes it (a reachability check; no libp2p
  session, so no second connection appears in either swarm).
- It dials only advertised addresses whose IP is the one it observed, so a
  node that listens on ``0.0.0.0`` or behind a port-forwarding router (it
  advertises its LAN address) was never dialled. Ours dials the observed
  IP at each advertised TCP port: still only the asker's own IP (no
  amplification), and a forwarded port counts as reachable, as it is.

The client side is upstream's ``query_server``; the verdict is ours (see
``decide``), since upstream's needs four servers and a trust network may
have one.
"""

from __future__ import annotations

import logging

import trio
from libp2p.host.autonat.autonat import AUTONAT_PROTOCOL_ID, AutoNATService
from libp2p.host.autonat.pb.autonat_pb2 import Message
from libp2p.peer.id import ID
from multiaddr import Multiaddr

log = logging.getLogger("trustmesh.p2p.nat")

UNKNOWN, PUBLIC, PRIVATE = "unknown", "public", "private"
DIAL_BACK_S = 2.0           # a server's TCP dial back; a NAT drops it, so this is the cost of a "no"
QUERY_S = 10.0
MAX_ADVERTISED = 16         # ports tried per request (a bound on the work one asker causes)


def tcp_port(addr: Multiaddr) -> int | None:
    try:
        return int(addr.value_for_protocol("tcp"))
    except Exception:
        return None


class ProbeServer(AutoNATService):
    """The AutoNAT server with a fresh dial back (see the module docstring)."""

    @staticmethod
    def _filter_by_observed_ip(addrs: list[bytes], observed_ip: str | None) -> list[bytes]:
        if observed_ip is None or ":" in observed_ip:
            return []
        ports: list[int] = []
        for raw in addrs[:MAX_ADVERTISED]:
            try:
                addr = Multiaddr(raw)
            except Exception:
                continue
            port = tcp_port(addr)
            if port and "/p2p-circuit" not in str(addr) and port not in ports:
                ports.append(port)
        return [Multiaddr(f"/ip4/{observed_ip}/tcp/{p}").to_bytes() for p in ports]

    async def _try_dial(self, peer_id: ID, addrs: list[bytes]) -> bytes | None:
        for raw in addrs:
            addr = Multiaddr(raw)
            try:
                with trio.fail_after(DIAL_BACK_S):
                    stream = await trio.open_tcp_stream(addr.value_for_protocol("ip4"), tcp_port(addr))
                await stream.aclose()
                return bytes(raw)
            except (OSError, trio.TooSlowError):
                continue
        return None


def decide(verdicts: dict, confirmations: int, current: str) -> str:
    """The status the servers' last answers support: the majority, with at least
    ``confirmations`` agreeing; otherwise ``current`` stays."""
    yes = sum(1 for ok in verdicts.values() if ok)
    no = len(verdicts) - yes
    if yes >= confirmations and yes > no:
        return PUBLIC
    if no >= confirmations and no > yes:
        return PRIVATE
    return current


class Reachability:
    """Asks peers to dial us back, now and then, and keeps the verdict."""

    def __init__(self, host, config, direct_peers, on_change) -> None:
        self.host = host
        self.config = config
        self._direct_peers = direct_peers          # () -> peers we hold a direct connection to
        self._on_change = on_change                # (status) -> None
        self.service = ProbeServer(host, serve=True)
        self.verdicts: dict[ID, bool] = {}
        self.status = UNKNOWN
        self.reached_at: str | None = None         # where a server reached us (when public)

    def _servers(self) -> list[ID]:
        store = self.host.get_peerstore()
        out = []
        for peer in self._direct_peers():
            try:
                if store.supports_protocols(peer, [AUTONAT_PROTOCOL_ID]):
                    out.append(peer)
            except Exception:
                continue
        return out

    def _our_addrs(self) -> list[bytes]:
        return [a.to_bytes() for a in self.host.get_addrs() if "/p2p-circuit" not in str(a)]

    async def check(self) -> str:
        """Ask up to ``autonat_servers`` peers once; the status after their answers."""
        for server in self._servers()[: self.config.autonat_servers]:
            try:
                status, addr = await self.service.query_server(server, self._our_addrs(), timeout=QUERY_S)
            except Exception as exc:           # no answer says nothing about us
                log.debug("AutoNAT query to %s failed: %s", server, exc)
                continue
            if status in (Message.OK, Message.E_DIAL_ERROR):
                self.verdicts[server] = status == Message.OK
                if addr and status == Message.OK:
                    self.reached_at = str(Multiaddr(addr))
        for gone in [p for p in self.verdicts if p not in set(self.host.get_connected_peers())]:
            if len(self.verdicts) > self.config.autonat_servers:
                del self.verdicts[gone]
        new = decide(self.verdicts, self.config.autonat_confirmations, self.status)
        if new != self.status:
            log.info("reachability: %s -> %s", self.status, new)
            self.status = new
            self._on_change(new)
        return self.status
