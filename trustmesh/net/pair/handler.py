"""Pairing by a one-time code: ``/trustmesh/pair/1.0.0`` (wire and proofs: ``protocol/pairing.py``).

One exchange per stream. The new device sends ``["join", device, sig]``;
the member's node answers ``["offer", <offer JSON>, sig]`` or
``["refused", reason]``. The member's node holds one code at a time
(``open``): it is good once, for ``ttl_s`` seconds, and for
``MAX_TRIES`` wrong proofs (each one an offence of the peer), then it is
void. The stream's peer must be the device it names, so the device key
the member adds is the key the connection authenticated.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio
from libp2p.abc import IHost, INetStream
from libp2p.peer.id import ID

from trustmesh.crypto.sign import verify
from trustmesh.errors import DecodeError, NetworkError, RemoteProtocolError, TrustmeshError
from trustmesh.net.host import key_of
from trustmesh.net.streams import FramedStream, pack_message, serve_one, unpack_message
from trustmesh.protocol import pairing
from trustmesh.protocol.pairing import PROTOCOL_ID, REFUSED

log = logging.getLogger("trustmesh.p2p.pair")

MAX_FRAME = 64 * 1024 + 256       # an offer: the add and the member's key events, as JSON
MAX_TRIES = 3

# (device key, code) -> (offer JSON, the offer proof)
MakeOffer = Callable[[bytes, str], Awaitable[tuple[bytes, bytes]]]


@dataclass
class _Open:
    code: str
    node: bytes             # this node's key, as the device dialled it (its libp2p identity)
    make_offer: MakeOffer
    until: float            # trio time
    tries: int = MAX_TRIES


class Pairing:
    """The member's side (one open code) and the device's side (``join``) of the protocol."""

    def __init__(self, host: IHost, node: bytes, offence, timeout_s: float) -> None:
        self.host = host
        self.node = node
        self.offence = offence
        self.timeout_s = timeout_s
        self._open: _Open | None = None

    def open(self, code: str, make_offer: MakeOffer, ttl_s: float) -> None:
        """Wait for a device holding ``code`` (replaces any code open before)."""
        self._open = _Open(code, self.node, make_offer, trio.current_time() + ttl_s)

    def close(self) -> None:
        self._open = None

    def until(self) -> float | None:
        """Seconds the open code has left (None when none is open: used, void or expired)."""
        left = None if self._open is None else self._open.until - trio.current_time()
        return left if left is not None and left > 0 else None

    async def handle(self, stream: INetStream) -> None:
        await serve_one(stream, MAX_FRAME, self.timeout_s, _read_join, self._answer, self.offence, "hard", "pair")

    async def _answer(self, peer: ID, join: tuple[bytes, bytes]) -> bytes:
        device, sig = join
        if key_of(peer) != device:
            self.offence(peer, "soft", "pair: a join for another key than the peer's")
            return pack_message(REFUSED, "the device must ask from its own node")
        pending = self._open
        if pending is None or trio.current_time() > pending.until:
            self._open = None
            return pack_message(REFUSED, "no pairing code is open on this node (or it expired)")
        if not verify(device, sig, pairing.join_input(pending.code, pending.node, device)):
            pending.tries -= 1
            if pending.tries <= 0:
                self._open = None
            self.offence(peer, "soft", "pair: a wrong code")
            return pack_message(REFUSED, "wrong code" + ("" if self._open else ": the code is void now"))
        self._open = None                       # single use, whatever comes next
        try:
            offer, proof = await pending.make_offer(device, pending.code)
        except TrustmeshError as exc:
            return pack_message(REFUSED, str(exc))
        return pack_message(pairing.OFFER, offer, proof)


async def join(host: IHost, peer: ID, message: bytes, timeout_s: float) -> tuple[bytes, bytes] | str:
    """Send a join ``message`` to ``peer``; its answer (``pairing.check_answer``).

    NetworkError if it cannot be reached or does not answer in time;
    RemoteProtocolError if it answers nonsense.
    """
    with trio.move_on_after(timeout_s) as scope:
        try:
            stream = await host.new_stream(peer, [PROTOCOL_ID])
        except Exception as exc:
            log.debug("pair stream to %s: %s", peer, exc)
            raise NetworkError(f"{peer} does not take pairing requests now (is its node running?)") from None
        framed = FramedStream(stream, MAX_FRAME)
        try:
            await framed.write_frame(message)
            reply = await framed.read_frame()
        except DecodeError as exc:
            raise RemoteProtocolError(f"pairing answer: {exc}") from None
        finally:
            await framed.close()
    if scope.cancelled_caught:
        raise NetworkError(f"{peer} did not answer the pairing request within {timeout_s:.0f} s")
    if reply is None:
        raise NetworkError(f"{peer} closed the pairing stream without answering")
    try:
        return pairing.check_answer(unpack_message(reply, 3))
    except DecodeError as exc:
        raise RemoteProtocolError(f"pairing answer: {exc}") from None


def _read_join(data: bytes) -> tuple[bytes, bytes]:
    return pairing.check_join(unpack_message(data, 3))
