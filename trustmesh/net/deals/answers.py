"""A later answer to a proposal: ``/trustmesh/deal-answer/1.0.0``.

A proposal kept pending is decided later by the counterparty's owner. An
acceptance needs no message (the countersigned deal travels by gossip and
sync); a decline would otherwise never reach the proposer, who would see
the proposal pending for ever. So the counterparty's node opens this
protocol to the proposer and sends one frame,
``["declined", proposal id: bin 32, reason: str]``, and closes.

Why a protocol of its own and not a second message on ``/trustmesh/deal/1.0.0``:
a node of an earlier version treats any first frame there other than a
proposal as a hard offence, and would ban the sender; here it just does
not speak the protocol. The proposer believes the answer only from the
proposal's counterparty (the stream's peer), for a proposal it sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio
from libp2p.abc import IHost, INetStream
from libp2p.peer.id import ID

from trustmesh.errors import DecodeError
from trustmesh.net.host import key_of
from trustmesh.net.streams import FramedStream, pack_message, serve_one, unpack_message

log = logging.getLogger("trustmesh.p2p.deals")

DEAL_ANSWER_PROTOCOL = "/trustmesh/deal-answer/1.0.0"
MAX_FRAME = 1024
MAX_REASON = 280

# (counterparty key, proposal id, status, reason)
OnAnswer = Callable[[bytes, bytes, str, str], None]


async def tell(host: IHost, peer: ID, proposal_id: bytes, reason: str, timeout_s: float) -> bool:
    """Tell the proposer ``peer`` that its proposal was declined; False if it could not be told."""
    with trio.move_on_after(timeout_s):
        try:
            stream = await host.new_stream(peer, [DEAL_ANSWER_PROTOCOL])
        except Exception as exc:
            log.debug("deal answer to %s: %s", peer, exc)
            return False
        framed = FramedStream(stream, MAX_FRAME)
        try:
            await framed.write_frame(pack_message("declined", proposal_id, reason[:MAX_REASON]))
            return True
        except Exception as exc:
            log.debug("deal answer to %s: %s", peer, exc)
            return False
        finally:
            await framed.close()
    return False


def handler(on_answer: OnAnswer, offence, timeout_s: float):
    """The stream handler taking answers to proposals this node sent."""

    def parse(data: bytes) -> list:
        items = unpack_message(data, 3)
        if len(items) != 3 or items[0] != "declined" or not isinstance(items[1], bytes) \
                or len(items[1]) != 32 or not isinstance(items[2], str):
            raise DecodeError("not a deal answer")
        return items

    async def act(peer: ID, items: list) -> None:
        sender = key_of(peer)
        if sender is not None:
            on_answer(sender, items[1], items[0], items[2][:MAX_REASON])

    async def handle(stream: INetStream) -> None:
        await serve_one(stream, MAX_FRAME, timeout_s, parse, act, offence, "soft", "deal answer")

    return handle
