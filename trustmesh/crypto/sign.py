"""Signature verification, on libsodium.

libsodium (through PyNaCl, already a dependency of libp2p) verifies Ed25519
about twice as fast as OpenSSL here and releases the GIL, so an ingest can
verify on every core. It also rejects non-canonical signatures and small-order
keys, which keeps record ids (hashes over the signed bytes) unique.
"""

from __future__ import annotations

from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError, CryptoError

SIGNATURE_SIZE = 64


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` is ``public_key``'s Ed25519 signature of ``message``."""
    if len(signature) != SIGNATURE_SIZE or len(public_key) != 32:
        return False
    try:
        crypto_sign_open(signature + message, public_key)
    except (BadSignatureError, CryptoError, ValueError, TypeError):
        return False
    return True
