"""Deal proposals between two nodes: ``/trustmesh/deal/1.0.0``.

One exchange per stream. The proposer sends ``["propose", <deal with
counter_sig = nil>]``; the counterparty answers ``["accepted", <deal
countersigned>]``, ``["declined", <reason>]`` or ``["pending", ""]`` (kept
for its user to decide later; if they accept, the countersigned deal comes
back by gossip and sync like any record).

The stream's remote peer must be the proposer (peer id = member key), so a
node cannot propose deals in someone else's name, and a proposal must be
addressed to the node that receives it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio
from libp2p.abc import IHost, INetStream
from libp2p.peer.id import ID

from trustmesh.errors import DecodeError, NetworkError, RemoteProtocolError
from trustmesh.net.config import DEAL_PROTOCOL
from trustmesh.net.host import key_of
from trustmesh.net.streams import FramedStream, pack_message, serve_one, unpack_message
from trustmesh.protocol.records import Deal, decode, encode

log = logging.getLogger("trustmesh.p2p.deals")

MAX_FRAME = 4096
ACCEPTED, DECLINED, PENDING = "accepted", "declined", "pending"

# (proposal, proposer key) -> (status, countersigned raw or reason)
Decide = Callable[[Deal, bytes], Awaitable[tuple[str, bytes | str]]]
Offence = Callable[[ID, str, str], None]


async def propose(host: IHost, peer: ID, proposal: Deal, timeout_s: float) -> tuple[str, bytes | str]:
    """Send ``proposal`` to ``peer``; its answer as (status, countersigned raw or reason).

    NetworkError if the peer cannot be reached or does not answer in time;
    RemoteProtocolError if it answers nonsense.
    """
    with trio.move_on_after(timeout_s) as scope:
        try:
            stream = await host.new_stream(peer, [DEAL_PROTOCOL])
        except Exception as exc:      # libp2p's words (dial errors, protocol lists) mean nothing to a member
            log.debug("deal stream to %s: %s", peer, exc)
            raise NetworkError(f"{peer} is not reachable now (their node is offline, or not connected to"
                               " mine): connect to it first (trustmesh connect ADDRESS), or send the"
                               " proposal as a file (trustmesh deal propose ... -o FILE)") from None
        framed = FramedStream(stream, MAX_FRAME)
        try:
            await framed.write_frame(pack_message("propose", encode(proposal)))
            reply = await framed.read_frame()
        except DecodeError as exc:
            raise RemoteProtocolError(f"deal answer: {exc}") from None
        finally:
            await framed.close()
    if scope.cancelled_caught:
        raise NetworkError(f"{peer} did not answer the proposal within {timeout_s:.0f} s")
    if reply is None:
        raise NetworkError(f"{peer} closed the deal stream without answering")
    items = unpack_message(reply, 2)
    if len(items) != 2 or items[0] not in (ACCEPTED, DECLINED, PENDING):
        raise RemoteProtocolError("deal answer is not accepted/declined/pending")
    status, payload = items
    if status == ACCEPTED and not isinstance(payload, bytes):
        raise RemoteProtocolError("an accepted deal comes with the countersigned deal")
    if status != ACCEPTED and not isinstance(payload, str):
        raise RemoteProtocolError("a declined or pending answer comes with a reason")
    return status, payload


def handler(decide: Decide, offence: Offence, me: bytes, timeout_s: float):
    """The stream handler answering proposals addressed to ``me``."""

    async def act(peer: ID, proposal) -> bytes:
        return pack_message(*await _answer(proposal, peer, decide, me))

    async def handle(stream: INetStream) -> None:
        await serve_one(stream, MAX_FRAME, timeout_s, read_proposal_frame, act, offence, "hard", "deal")

    return handle


def read_proposal_frame(data: bytes) -> Deal:
    """The proposal in a ``["propose", <deal>]`` frame; DecodeError for anything else.

    Apart from the handler so the fuzz kit (testing/fuzzing.py) feeds it
    exactly what a peer's frame reaches.
    """
    items = unpack_message(data, 2)
    if len(items) != 2 or items[0] != "propose" or not isinstance(items[1], bytes):
        raise DecodeError("not a proposal")
    proposal = decode(items[1], allow_proposal=True)
    if not isinstance(proposal, Deal):
        raise DecodeError("a proposal is a deal")
    return proposal


async def _answer(proposal, peer: ID, decide: Decide, me: bytes) -> tuple[str, bytes | str]:
    if not isinstance(proposal, Deal) or proposal.counter_sig is not None:
        return DECLINED, "not a deal proposal"
    if proposal.counterparty != me:
        return DECLINED, "this proposal is addressed to another member"
    if key_of(peer) != proposal.author:
        return DECLINED, "only the proposer may send its proposal"
    return await decide(proposal, proposal.author)
