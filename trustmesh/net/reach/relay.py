"""Circuit relay v2: serving as a relay, holding reservations, dialling through relays.

Serving (``nat.relay``, off by default) is py-libp2p's ``CircuitV2Protocol``
with our limits (``relay_limits``); it enforces the number of reservations,
circuits per reserved peer, a circuit's duration and its bytes, and
refuses past them with RESOURCE_LIMIT_EXCEEDED. Its STOP side (accepting a
relayed connection) runs on every node.

The client side is ours, on upstream's messages, because upstream's
``CircuitV2Transport`` makes a reservation on the relay before every
circuit it dials (a dialler took one of the relay's slots per dial) and
waits for answers without a deadline:

- ``Reservations`` holds slots on up to ``max_reservations`` relays while
  the node is behind NAT (relays listed in ``nat.relays``, then connected
  peers that speak the HOP protocol), drops one whose relay went away,
  reserves elsewhere, refreshes before expiry, and hands out the
  ``<relay addr>/p2p-circuit`` addresses the host advertises.
- ``dial_circuit`` opens one circuit to a peer through a relay.
"""

from __future__ import annotations

import logging
import time

import trio
from libp2p.connection_types import ConnectionType
from libp2p.network.connection.raw_connection import RawConnection
from libp2p.peer.id import ID
from libp2p.relay.circuit_v2.pb.circuit_pb2 import HopMessage
from libp2p.relay.circuit_v2.pb.circuit_pb2 import PeerId as CircuitPeerId
from libp2p.relay.circuit_v2.protocol import PROTOCOL_ID as HOP_PROTOCOL
from libp2p.relay.circuit_v2.protocol import STOP_PROTOCOL_ID as STOP_PROTOCOL
from libp2p.relay.circuit_v2.protocol import CircuitV2Protocol
from libp2p.relay.circuit_v2.protocol_buffer import StatusCode
from libp2p.relay.circuit_v2.resources import RelayLimits
from libp2p.relay.circuit_v2.utils import read_delimited_msg, write_delimited_msg
from multiaddr import Multiaddr

from trustmesh.errors import NetworkError

log = logging.getLogger("trustmesh.p2p.nat")

__all__ = ["HOP_PROTOCOL", "STOP_PROTOCOL", "relay_protocol", "Reservations", "dial_circuit", "is_relayed"]

ANSWER_S = 10.0          # a relay's answer to RESERVE or CONNECT
REFUSED_RETRY_S = 30.0   # a relay that refused (or failed) is asked again after this
REFRESH_BEFORE_S = 300   # re-reserve when a reservation has less than this left


def relay_limits(config) -> RelayLimits:
    return RelayLimits(duration=config.relay_circuit_duration_s, data=config.relay_circuit_bytes,
                       max_circuit_conns=config.relay_max_circuits,
                       max_reservations=config.relay_max_reservations,
                       reservation_ttl=config.relay_reservation_ttl_s)


class CountingRelay(CircuitV2Protocol):
    """Upstream's relay, counting the bytes its circuits carry (upstream keeps them per circuit only)."""

    carried = 0

    async def _read_stream_with_retry(self, stream, *args, **kwargs):
        data = await super()._read_stream_with_retry(stream, *args, **kwargs)   # only _relay_data reads so
        if data:
            self.carried += len(data)
        return data


def relay_protocol(host, config) -> CircuitV2Protocol:
    """The relay service: HOP only when serving, STOP always."""
    return CountingRelay(host, limits=relay_limits(config), allow_hop=config.relay,
                             read_timeout=int(ANSWER_S), write_timeout=int(ANSWER_S))


def is_relayed(conn) -> bool:
    try:
        return any("/p2p-circuit" in str(a) for a in conn.get_transport_addresses())
    except Exception:
        return False


def circuit_of(text: str) -> tuple[ID, ID] | None:
    """(relay, target) of ``.../p2p/<relay>/p2p-circuit/p2p/<target>``, or None."""
    if "/p2p-circuit" not in text:
        return None
    head, _, tail = text.partition("/p2p-circuit")
    try:
        relay = ID.from_base58(head.rsplit("/p2p/", 1)[1])
        target = ID.from_base58(tail.rsplit("/p2p/", 1)[1])
    except (IndexError, ValueError):
        return None
    return relay, target


async def _hop(host, relay: ID, message: HopMessage):
    """One HOP exchange on a new stream: (the stream, the relay's answer)."""
    stream = await host.new_stream(relay, [HOP_PROTOCOL])
    try:
        with trio.fail_after(ANSWER_S):
            await write_delimited_msg(stream, message)
            answer = await read_delimited_msg(stream, HopMessage)
    except BaseException:
        with trio.CancelScope(shield=True):
            try:
                await stream.reset()
            except Exception:
                pass
        raise
    return stream, answer


def _status(answer) -> StatusCode:
    try:
        return StatusCode(answer.status) if answer.HasField("status") else StatusCode.OK
    except ValueError:
        return StatusCode.UNUSED


async def dial_circuit(host, relay: ID, peer: ID):
    """A connection to ``peer`` through ``relay`` (connected already); NetworkError if refused."""
    message = HopMessage(type=HopMessage.CONNECT, peer=CircuitPeerId(id=peer.to_bytes()))
    try:
        stream, answer = await _hop(host, relay, message)
    except (trio.TooSlowError, Exception) as exc:
        raise NetworkError(f"relay {relay} did not open a circuit to {peer}: {exc}") from None
    code = _status(answer)
    if code != StatusCode.OK:
        await stream.reset()
        raise NetworkError(f"relay {relay} refused a circuit to {peer}: {code.name}")
    addr = Multiaddr(f"/p2p/{relay.to_base58()}/p2p-circuit/p2p/{peer.to_base58()}")
    raw = RawConnection(stream=stream, initiator=True, connection_type=ConnectionType.RELAYED, addresses=[addr])
    conn = await host.upgrade_outbound_connection(raw, peer)
    try:
        conn.set_transport_info([addr], ConnectionType.RELAYED)   # as upstream tags inbound circuits
    except Exception:
        pass
    return conn


class Reservations:
    """Slots held on relays while behind NAT, and the circuit addresses they give."""

    def __init__(self, host, config, wanted, on_change, connect_relay) -> None:
        self.host = host
        self.config = config
        self._wanted = wanted                  # () -> True while we should hold reservations
        self._on_change = on_change            # () -> None: our addresses changed
        self._connect_relay = connect_relay    # async (addr text) -> None
        self.held: dict[ID, dict] = {}         # relay -> {"expire": unix s, "addrs": [Multiaddr]}
        self.refused: dict[ID, tuple[float, str]] = {}   # relay -> (retry at, trio clock; why)

    def circuit_addrs(self) -> list[Multiaddr]:
        """``<relay addr>/p2p-circuit`` for each reservation held (the host appends /p2p/<us>)."""
        out = []
        for relay, item in self.held.items():
            for addr in item["addrs"]:
                text = str(addr)
                if "/p2p/" not in text:
                    text += f"/p2p/{relay.to_base58()}"
                out.append(Multiaddr(text + "/p2p-circuit"))
        return out

    def relays(self) -> list[str]:
        return [r.to_base58() for r in self.held]

    async def reserve(self, relay: ID) -> StatusCode:
        """Ask ``relay`` for a slot (or refresh ours); its answer's status."""
        message = HopMessage(type=HopMessage.RESERVE, peer=CircuitPeerId(id=self.host.get_id().to_bytes()))
        stream, answer = await _hop(self.host, relay, message)
        await stream.close()
        code = _status(answer)
        if code == StatusCode.OK and answer.HasField("reservation"):
            addrs = []
            for raw in answer.reservation.addrs:
                try:
                    addrs.append(Multiaddr(raw))
                except Exception:
                    continue
            if not addrs:      # a relay that sent none: the addresses we reached it at
                addrs = [a for a in self.host.get_peerstore().addrs(relay) if "/p2p-circuit" not in str(a)]
            fresh = relay not in self.held or self.held[relay]["addrs"] != addrs
            self.held[relay] = {"expire": int(answer.reservation.expire), "addrs": addrs[:4]}
            self.refused.pop(relay, None)
            log.info("reserved a slot on relay %s", relay)
            if fresh:
                self._on_change()
        return code

    def _candidates(self, now: float) -> list[ID]:
        store = self.host.get_peerstore()
        connected = self.host.get_connected_peers()
        configured = []
        for text in self.config.relays:
            try:
                configured.append(ID.from_base58(text.rsplit("/p2p/", 1)[1]))
            except (IndexError, ValueError):
                continue
        out = []
        for peer in configured + [p for p in connected if p not in configured]:
            if peer in self.held or peer in out or peer == self.host.get_id():
                continue
            if self.refused.get(peer, (0.0, ""))[0] > now or peer not in connected:
                continue
            try:
                if peer in configured or store.supports_protocols(peer, [HOP_PROTOCOL]):
                    out.append(peer)
            except Exception:
                continue
        return out

    async def tick(self) -> None:
        """One round: drop lost relays, refresh, reserve more if we need them."""
        connected = set(self.host.get_connected_peers())
        lost = [r for r in self.held if r not in connected]
        for relay in lost:
            log.info("relay %s went away", relay)
            del self.held[relay]
        if lost:
            self._on_change()
        if not self._wanted():
            if self.held:
                self.held.clear()
                self._on_change()
            return
        for text in self.config.relays:        # dial listed relays we are not connected to
            if not any(str(r) in text for r in connected):
                try:
                    with trio.move_on_after(ANSWER_S):
                        await self._connect_relay(text)
                except Exception as exc:
                    log.debug("relay %s unreachable: %s", text, exc)
        now = trio.current_time()
        for relay, item in list(self.held.items()):
            if item["expire"] - time.time() < REFRESH_BEFORE_S:
                await self._try(relay, now)
        for relay in self._candidates(now):
            if len(self.held) >= self.config.max_reservations:
                break
            await self._try(relay, now)

    async def _try(self, relay: ID, now: float) -> None:
        try:
            code = await self.reserve(relay)
        except Exception as exc:
            code, why = None, f"{type(exc).__name__}: {exc}"
        else:
            why = code.name
        if code != StatusCode.OK:
            log.info("relay %s gave no reservation: %s", relay, why)
            self.refused[relay] = (now + REFUSED_RETRY_S, why)
            if self.held.pop(relay, None) is not None:
                self._on_change()

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception as exc:      # one bad round must not end reservations for good
                log.warning("relay reservations: %s", exc)
            await trio.sleep(1.0)
