"""Pairing a device by a one-time code: the code, the two proofs and the messages (pure).

The member's node shows a short code; the new node sends it back bound
into a signature by its own key over both nodes' keys, and the member's
node answers with the device add bound into a signature over the same
code. So each side proves to the other that it holds the code, over keys
the connection (noise) already authenticates: a node that did not see the
code can neither join nor pose as the member's node. Wire: docs/protocol.md
("Pairing by a code"); vectors in tests/vectors/pairing.json.
"""

from __future__ import annotations

import secrets

from trustmesh.errors import DecodeError, UsageError

PROTOCOL_ID = "/trustmesh/pair/1.0.0"
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"      # Crockford's base 32: no I, L, O, U
CODE_LENGTH = 10                                   # 50 bits: three guesses per code, then it is void
JOIN_DOMAIN = b"trustmesh/v1/pair-join\0"
OFFER_DOMAIN = b"trustmesh/v1/pair-offer\0"
JOIN, OFFER, REFUSED = "join", "offer", "refused"
_READ_AS = {"I": "1", "L": "1", "O": "0"}


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def shown(code: str) -> str:
    """The code as people read it out: two groups of five."""
    return f"{code[:5]}-{code[5:]}"


def normal(text: str) -> str:
    """The code typed by a person (any case, dashes and spaces, O for 0, I or L for 1); UsageError if it is none."""
    code = "".join(_READ_AS.get(c, c) for c in text.upper() if c not in "- ")
    if len(code) != CODE_LENGTH or any(c not in ALPHABET for c in code):
        raise UsageError(f"a pairing code is {CODE_LENGTH} letters and digits (as XXXXX-XXXXX)")
    return code


def join_input(code: str, node: bytes, device: bytes) -> bytes:
    """What the new device signs: the code, the key of the node it dialled, its own key."""
    return JOIN_DOMAIN + code.encode() + node + device


def offer_input(code: str, signer: bytes, device: bytes, member: bytes) -> bytes:
    """What the member's node signs with the add's signer key: the code, itself, the device, the member."""
    return OFFER_DOMAIN + code.encode() + signer + device + member


def check_join(items: list) -> tuple[bytes, bytes]:
    """(device key, signature) of a ``["join", device, sig]`` message; DecodeError for anything else."""
    if len(items) != 3 or items[0] != JOIN or not _bytes(items[1], 32) or not _bytes(items[2], 64):
        raise DecodeError("a join is ['join', <device key: 32 bytes>, <signature: 64 bytes>]")
    return items[1], items[2]


def check_answer(items: list) -> tuple[bytes, bytes] | str:
    """(offer JSON, signature) of ``["offer", json, sig]``, or the reason of ``["refused", reason]``."""
    if len(items) == 2 and items[0] == REFUSED and isinstance(items[1], str):
        return items[1]
    if len(items) == 3 and items[0] == OFFER and isinstance(items[1], bytes) and _bytes(items[2], 64):
        return items[1], items[2]
    raise UsageError("a pairing answer is ['offer', <json>, <signature>] or ['refused', <reason>]")


def _bytes(value, size: int) -> bool:
    return isinstance(value, bytes) and len(value) == size
