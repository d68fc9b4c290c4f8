"""The libp2p host of a node, built from the member's own Ed25519 key.

Why the member's key: the peer id is then the author id of the records the
member signs, stable across restarts, and a deal proposal arriving on a
stream from peer X is known to come from X without another handshake.

Security is noise only: py-libp2p's default also accepts plaintext and
secio peers. The muxer is yamux (mplex was 6x slower on large frames).
Identify and ping come with py-libp2p's basic host.
"""

from __future__ import annotations

import logging

import multiaddr
from libp2p import new_host
from libp2p.abc import IHost, INetConn, INetStream, INetwork, INotifee
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.x25519 import create_new_key_pair as create_x25519_key_pair
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport

from trustmesh.crypto.ids import parse_id, peer_id
from trustmesh.crypto.keys import Identity
from trustmesh.errors import UsageError
from trustmesh.net import tuning

log = logging.getLogger("trustmesh.p2p")


def build_host(identity: Identity) -> IHost:
    """A host whose peer id is ``identity.id``, speaking TCP + noise + yamux."""
    tuning.install()
    key_pair = create_new_key_pair(identity.seed())
    noise = NoiseTransport(key_pair, noise_privkey=create_x25519_key_pair().private_key)
    host = new_host(key_pair=key_pair, sec_opt={NOISE_PROTOCOL_ID: noise},
                    muxer_preference="YAMUX")
    tuning.quiet_auto_connector(host)
    if host.get_id().to_base58() != identity.id:   # the whole design rests on this
        raise RuntimeError("libp2p derived another peer id from the member's key")
    return host


def parse_multiaddr(text: str) -> multiaddr.Multiaddr:
    """A multiaddr; UsageError if ``text`` is not one."""
    try:
        return multiaddr.Multiaddr(text)
    except Exception as exc:  # multiaddr raises several unrelated types
        raise UsageError(f"not a multiaddr: {text!r} ({exc})") from None


def busy_listen_addrs(addrs: list[multiaddr.Multiaddr]) -> dict[str, str]:
    """The listen addresses whose TCP port is taken, each with the system's reason.

    Why we look first: py-libp2p binds its listeners with SO_REUSEPORT (for
    hole punching), so a second node on a busy port would share it with the
    first and receive half of its connections, and a bind that does fail is
    only logged while the node runs on without an address. A plain bind
    (no SO_REUSEPORT) fails on a port any socket listens on.
    """
    import socket
    busy = {}
    for addr in addrs:
        protocols = {p.name for p in addr.protocols()}
        if "tcp" not in protocols:
            continue
        port = int(addr.value_for_protocol("tcp"))
        if port == 0:
            continue
        family = socket.AF_INET6 if "ip6" in protocols else socket.AF_INET
        ip = addr.value_for_protocol("ip6" if "ip6" in protocols else "ip4") if protocols & {"ip4", "ip6"} \
            else ("::" if family == socket.AF_INET6 else "0.0.0.0")
        probe = socket.socket(family, socket.SOCK_STREAM)
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # TIME_WAIT is no owner
            probe.bind((ip, port))
            probe.listen(1)
        except OSError as exc:
            busy[str(addr)] = exc.strerror or str(exc)
        finally:
            probe.close()
    return busy


def peer_info(text: str) -> PeerInfo:
    """Peer id and address of a ``.../p2p/<id>`` multiaddr; UsageError otherwise."""
    try:
        return info_from_p2p_addr(parse_multiaddr(text))
    except UsageError:
        raise
    except Exception:
        raise UsageError(f"a peer address ends with /p2p/<peer id>: {text!r}") from None


def key_of(peer: ID) -> bytes | None:
    """The member key behind a peer id (None for a non-Ed25519 peer)."""
    try:
        return parse_id(peer.to_base58())
    except UsageError:
        return None


def id_of(member: bytes) -> ID:
    """The libp2p peer id of a member key."""
    return ID.from_base58(peer_id(member))


def full_addrs(host: IHost) -> list[str]:
    """Our dialable addresses, each ending in /p2p/<our id>."""
    me = host.get_id().to_base58()
    out = []
    for addr in host.get_addrs():
        text = str(addr)
        out.append(text if "/p2p/" in text else f"{text}/p2p/{me}")
    return out


class ConnectionEvents(INotifee):
    """Forwards connects and disconnects to the node without blocking the swarm."""

    def __init__(self, on_connected, on_disconnected) -> None:
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        self._on_connected(conn.muxed_conn.peer_id)

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        self._on_disconnected(conn.muxed_conn.peer_id)

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        return None

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        return None

    async def listen(self, network: INetwork, addr: multiaddr.Multiaddr) -> None:
        return None

    async def listen_close(self, network: INetwork, addr: multiaddr.Multiaddr) -> None:
        return None
