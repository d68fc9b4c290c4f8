"""Pairing a device by a one-time code, on running nodes (``device add --code``, ``device join``).

The member's node opens a code (``open_code``) and answers the one device
that proves it holds it with the offer that ``device add`` would write to a
file (``net/pair``); the device checks the answer proves the same code,
then countersigns and stores the add like ``device accept`` (``join``),
through its intake, so the add is gossiped at once. The proofs and the code
are ``protocol/pairing.py``'s; only the network part needs libp2p.
"""

from __future__ import annotations

import json
from functools import partial

from trustmesh.core import keys
from trustmesh.crypto.ids import parse_id, peer_id
from trustmesh.crypto.sign import verify
from trustmesh.errors import BadLink, NetworkError, UsageError
from trustmesh.protocol import pairing
from trustmesh.protocol.jsonview import iso

CODE_S = 300            # how long a code is good for, by default: long enough to type it on the other device


def _net(node):
    if node.net is None or node.net.pairing is None:
        raise NetworkError("the node is not running")
    return node.net


async def open_code(node, ttl_s: int = CODE_S) -> dict:
    """A fresh code the next device may join with (any code open before is void); where to dial."""
    net = _net(node)
    current = await node.worker.read(keys.state, node.ledger)
    if current.tip is None:
        raise UsageError("this member has no inception: run 'trustmesh key init' first")
    if not current.active(node.ledger.me):
        raise UsageError("this node's key does not act for the member now: it cannot add a device")
    code = pairing.new_code()
    net.pairing.open(code, partial(_offer, node), ttl_s)
    return {"code": pairing.shown(code), "addrs": node.addrs(), "expires": iso(node.clock() + ttl_s * 1000),
            "member": peer_id(current.member)}


def code_state(node) -> dict:
    """Whether a code is open here, and until when (never the code itself)."""
    left = _net(node).pairing.until()
    return {"open": left is not None, "expires": iso(node.clock() + int(left * 1000)) if left else None}


async def _offer(node, device: bytes, code: str) -> tuple[bytes, bytes]:
    """The offer for ``device`` and this node's proof that it holds ``code`` too."""
    offer = await node.worker.run(keys.offer_for, node.ledger, device)
    signer = node.ledger.identity
    member = bytes.fromhex(offer["add"]["member"])
    return json.dumps(offer).encode(), signer.sign(pairing.offer_input(code, signer.public_key, device, member))


async def join(node, code_text: str, addr: str) -> dict:
    """Join the member whose node at ``addr`` shows ``code_text``: the add countersigned and stored here."""
    code = pairing.normal(code_text)
    try:
        dialled = parse_id(addr.rsplit("/p2p/", 1)[1])
    except (IndexError, UsageError):
        raise UsageError("the address ends in /p2p/<the member's node id> (as device add --code prints it)") from None
    me = node.ledger.identity
    message = _pack(pairing.JOIN, me.public_key, me.sign(pairing.join_input(code, dialled, me.public_key)))
    answer = await _net(node).pair(addr, message)
    if isinstance(answer, str):
        raise BadLink(f"the member's node refused: {answer}")
    body, proof = answer
    try:
        offer = json.loads(body)
        signer, member = bytes.fromhex(offer["add"]["author"]), bytes.fromhex(offer["add"]["member"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise BadLink("the member's node answered with something that is not an offer") from None
    if not verify(signer, proof, pairing.offer_input(code, signer, me.public_key, member)):
        raise BadLink("the answer does not prove the code: it is not from the member's node")
    return await keys.on_node(node, keys.accept_for, offer, member)


def _pack(*items) -> bytes:
    from trustmesh.protocol.codec import pack
    return pack(list(items))
