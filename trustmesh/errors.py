"""Every error trustmesh raises, in one tree.

    TrustmeshError                 base: catch this to catch anything of ours
    ├── DecodeError                bytes that are not a well-formed record/frame
    │   └── FrameTooLarge          a length prefix over the agreed limit
    ├── InvalidRecord              well-formed, but breaks a rule
    │   ├── BadSignature           a signature does not verify
    │   └── IssuedInFuture         issued later than the receiver's clock allows
    ├── KeyFileError               the identity key file cannot be used
    │   ├── KeyExists              refusing to overwrite an identity
    │   ├── WrongPassphrase        the key file is encrypted with another one
    │   └── DamagedKeyFile         not a key file we can read
    ├── StoreError                 the SQLite store cannot do what was asked
    │   └── NotFound               no record/identity by that name
    ├── UsageError                 a caller passed a bad argument (ids, dates…)
    ├── ConfigError                a configuration value is wrong
    ├── ProtocolError              a wire protocol session broke
    │   ├── LocalProtocolError     we tried to do something the protocol forbids
    │   └── RemoteProtocolError    the peer did
    └── NetworkError               the network could not do what was asked
        └── NodeNotRunning         no daemon answers on this home directory

Why one module: callers (the CLI, apps embedding us, the daemon's request
handlers) need to tell "the input is bad" from "we are broken" at a glance,
and every message here is written to be shown to a person as one line.
"""

from __future__ import annotations


class TrustmeshError(Exception):
    """Base of every error trustmesh raises on purpose."""


class DecodeError(TrustmeshError):
    """Bytes that do not decode to exactly one canonical record or frame."""


class FrameTooLarge(DecodeError):
    """A frame announced a length above the limit; nothing of it was read."""


class InvalidRecord(TrustmeshError):
    """A well-formed record that breaks a validation rule."""


class BadSignature(InvalidRecord):
    """A signature that does not verify for the key it claims."""


class IssuedInFuture(InvalidRecord):
    """A record issued later than the receiver's clock (plus the allowed skew) permits.

    Its own class because it depends on the receiver's clock: a relay whose
    clock is a little ahead accepted it honestly, and the same record is
    valid here a moment later.
    """


class KeyFileError(TrustmeshError):
    """The identity key file cannot be created or read."""


class KeyExists(KeyFileError):
    """An identity already exists; keys are written once and never replaced."""


class WrongPassphrase(KeyFileError):
    """The key file is encrypted and the passphrase given does not open it."""


class DamagedKeyFile(KeyFileError):
    """The key file is not a readable Ed25519 private key."""


class StoreError(TrustmeshError):
    """The record store failed or refused an operation."""


class NotFound(StoreError):
    """Nothing in the store answers to that id."""


class UsageError(TrustmeshError):
    """A caller passed an argument that cannot be right (an id, a date, a facet)."""


class ConfigError(TrustmeshError):
    """A configuration value is missing or wrong."""


class ProtocolError(TrustmeshError):
    """A protocol session (sync, query, deal) cannot go on."""


class LocalProtocolError(ProtocolError):
    """We asked a session to do something its state does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol; the session with it is over."""


class NetworkError(TrustmeshError):
    """A network operation failed (dial, stream, timeout)."""


class NodeNotRunning(NetworkError):
    """No running node answers for this home directory."""


__all__ = [
    "TrustmeshError",
    "DecodeError",
    "FrameTooLarge",
    "InvalidRecord",
    "BadSignature",
    "IssuedInFuture",
    "KeyFileError",
    "KeyExists",
    "WrongPassphrase",
    "DamagedKeyFile",
    "StoreError",
    "NotFound",
    "UsageError",
    "ConfigError",
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "NetworkError",
    "NodeNotRunning",
]
