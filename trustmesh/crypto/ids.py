"""Identity ids: an Ed25519 public key written as a libp2p PeerID.

The id that names the author of a record is the libp2p PeerID of the same
key, so a peer's network identity *is* its author id: a record received from
peer X and signed by X needs no separate binding. The PeerID of an Ed25519
key is the identity multihash of the protobuf-encoded public key, in base58btc
(``12D3KooW…``); the same key as a ``did:key`` is multibase ``z`` + base58btc
of the multicodec ``ed25519-pub`` (0xed 0x01) followed by the key.
"""

from __future__ import annotations

import functools

import base58

from trustmesh.errors import UsageError

KEY_SIZE = 32
# protobuf PublicKey{Type: Ed25519 (1), Data: 32 bytes}, behind an identity multihash
_PEER_ID_PREFIX = bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])
_DID_PREFIX = bytes([0xED, 0x01])


@functools.lru_cache(maxsize=4096)   # base58 is slow, and a node names the same peers all day
def peer_id(public_key: bytes) -> str:
    """The libp2p PeerID (``12D3KooW…``) of a raw 32-byte Ed25519 public key."""
    _check_key(public_key)
    return base58.b58encode(_PEER_ID_PREFIX + public_key).decode("ascii")


def did_key(public_key: bytes) -> str:
    """The ``did:key:z6Mk…`` form of a raw 32-byte Ed25519 public key."""
    _check_key(public_key)
    return "did:key:z" + base58.b58encode(_DID_PREFIX + public_key).decode("ascii")


def parse_id(text: str) -> bytes:
    """The raw public key behind a PeerID, a did:key, or 64 hex digits.

    Raises UsageError for anything else, so a mistyped id is caught at the
    door instead of becoming a record about nobody.
    """
    text = text.strip()
    try:
        if text.startswith("did:key:z"):
            raw = base58.b58decode(text[len("did:key:z"):])
            if raw[:2] == _DID_PREFIX and len(raw) == 2 + KEY_SIZE:
                return raw[2:]
        elif len(text) == 2 * KEY_SIZE and all(c in "0123456789abcdefABCDEF" for c in text):
            return bytes.fromhex(text)
        else:
            raw = base58.b58decode(text)
            if raw[:6] == _PEER_ID_PREFIX and len(raw) == 6 + KEY_SIZE:
                return raw[6:]
    except ValueError:
        pass
    raise UsageError(f"not an Ed25519 identity id: {text[:80]!r}")


def short_id(public_key: bytes) -> str:
    """A short form for tables and logs: the PeerID's last 8 characters."""
    return "…" + peer_id(public_key)[-8:]


def _check_key(public_key: bytes) -> None:
    if not isinstance(public_key, bytes) or len(public_key) != KEY_SIZE:
        raise UsageError("an Ed25519 public key is 32 bytes")


def member_key(member: bytes | str) -> bytes:
    """The raw key of a member given as 32 raw bytes or any written id form."""
    if isinstance(member, bytes) and len(member) == KEY_SIZE:
        return member
    if isinstance(member, str):
        return parse_id(member)
    raise UsageError("a member is named by its id")
