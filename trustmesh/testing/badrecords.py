"""Records no honest node makes, validly or invalidly signed: what the hostile peer sends.

Apart from ``hostile.py`` (which needs libp2p) so tests can make the same
records, and know their ids, without a network.
"""

from __future__ import annotations

from trustmesh.core.ledger import now_ms
from trustmesh.crypto.keys import Identity
from trustmesh.protocol.records import Attestation, Profile, encode, sign


def forged_record(me: Identity) -> bytes:
    """A profile by ``me`` whose signature's last byte is flipped."""
    raw = encode(sign(Profile(me.public_key, 1, None, now_ms(), "liar", None, None), me))
    return raw[:-1] + bytes([raw[-1] ^ 1])


def poison_record(me: Identity) -> bytes:
    """A validly signed attestation by ``me`` whose ``expires`` is 2^63 - 1 (past year 9999)."""
    t = now_ms()
    return encode(sign(Attestation(me.public_key, 1, None, t, Identity.generate().public_key, "payment",
                                   True, None, None, t, 2**63 - 1, None), me))


def sybil_records(n: int) -> list[bytes]:
    """``n`` valid profiles, each by a fresh identity."""
    now = now_ms()
    out = []
    for i in range(n):
        ident = Identity.generate()
        out.append(encode(sign(Profile(ident.public_key, 1, None, now, f"sybil {i}", None, None), ident)))
    return out


def wrong_author_record(me: Identity) -> bytes:
    """A profile naming a fresh member as its author, signed with ``me``'s key."""
    import dataclasses

    from trustmesh.protocol.records import signing_input
    other = Identity.generate()
    record = Profile(other.public_key, 1, None, now_ms(), "impostor", None, None)
    return encode(dataclasses.replace(record, sig=me.sign(signing_input(record))))


def non_canonical_record(me: Identity) -> bytes:
    """A validly signed profile by ``me``, its array header in the long (array 16) form."""
    raw = encode(sign(Profile(me.public_key, 1, None, now_ms(), "long form", None, None), me))
    assert 0x90 <= raw[0] <= 0x9F
    return bytes([0xDC, 0, raw[0] & 0x0F]) + raw[1:]


def future_record(me: Identity) -> bytes:
    """A validly signed attestation by ``me`` issued a day from now."""
    t = now_ms() + 86_400_000
    return encode(sign(Attestation(me.public_key, 1, None, t, Identity.generate().public_key, "payment",
                                   True, None, None, t, None, None), me))


def fork_records(me: Identity) -> list[bytes]:
    """Two validly signed attestations by ``me``, both at seq 1: a forked chain."""
    t = now_ms() - 1000
    return [encode(sign(Attestation(me.public_key, 1, None, t, Identity.generate().public_key, facet, True,
                                    None, None, t, None, None), me)) for facet in ("payment", "quality")]
