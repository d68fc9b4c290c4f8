"""An identity: the Ed25519 key a member signs with, and its serialized form.

Serialization is pure (bytes in, bytes out); writing the file with the right
mode is core/keyfile.py's job. With a passphrase the key is stored as
encrypted PKCS#8, but PKCS#8 as `cryptography` writes it stretches the
passphrase with only 2,048 PBKDF2 rounds, so we first stretch it with scrypt
(salt and cost in a header line) and use the result as the PKCS#8 password.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from trustmesh.crypto.ids import did_key, peer_id
from trustmesh.errors import DamagedKeyFile, WrongPassphrase

_KDF_HEADER = b"trustmesh-kdf: scrypt"
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1


class Identity:
    """A member's private signing key. Never printed, never logged."""

    __slots__ = ("_key", "public_key")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key: bytes = key.public_key().public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw)

    @classmethod
    def generate(cls) -> "Identity":
        """A fresh random identity."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> "Identity":
        """The identity of a 32-byte Ed25519 seed (test vectors, libp2p key pairs)."""
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def id(self) -> str:
        """The PeerID form of the public key: the member's name everywhere."""
        return peer_id(self.public_key)

    @property
    def did(self) -> str:
        """The did:key form of the public key."""
        return did_key(self.public_key)

    def seed(self) -> bytes:
        """The 32-byte private seed, for handing the same key to libp2p."""
        return self._key.private_bytes(ser.Encoding.Raw, ser.PrivateFormat.Raw, ser.NoEncryption())

    def sign(self, message: bytes) -> bytes:
        """The Ed25519 signature of ``message``."""
        return self._key.sign(message)

    def to_pem(self, passphrase: bytes | None = None) -> bytes:
        """The key as PKCS#8 PEM, encrypted when a passphrase is given."""
        if not passphrase:
            return self._key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())
        salt = os.urandom(16)
        password = _stretch(passphrase, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
        body = self._key.private_bytes(
            ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.BestAvailableEncryption(password)
        )
        header = b"%s n=%d r=%d p=%d salt=%s\n" % (
            _KDF_HEADER, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P, base64.b64encode(salt)
        )
        return header + body

    @classmethod
    def from_pem(cls, data: bytes, passphrase: bytes | None = None) -> "Identity":
        """Read a key written by ``to_pem``; typed errors for every failure."""
        password = None
        if data.startswith(_KDF_HEADER):
            header, _, data = data.partition(b"\n")
            if not passphrase:
                raise WrongPassphrase("the key file is encrypted: give its passphrase")
            password = _stretch(passphrase, *_parse_header(header))
        elif b"ENCRYPTED" in data[:64]:
            if not passphrase:
                raise WrongPassphrase("the key file is encrypted: give its passphrase")
            password = passphrase
        try:
            key = ser.load_pem_private_key(data, password=password)
        except (ValueError, TypeError, InvalidKey) as exc:
            if password is not None and b"ENCRYPTED" in data[:64]:
                raise WrongPassphrase("wrong passphrase for the key file") from None
            raise DamagedKeyFile(f"the key file is damaged: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise DamagedKeyFile("the key file holds a key that is not Ed25519")
        return cls(key)

    def __repr__(self) -> str:
        return f"Identity({self.id})"


def _stretch(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return base64.b64encode(Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase))


def _parse_header(header: bytes) -> tuple[bytes, int, int, int]:
    try:
        fields = dict(part.split(b"=", 1) for part in header[len(_KDF_HEADER):].split())
        return (base64.b64decode(fields[b"salt"], validate=True), int(fields[b"n"]),
                int(fields[b"r"]), int(fields[b"p"]))
    except (ValueError, KeyError):
        raise DamagedKeyFile("the key file's scrypt header is damaged") from None
