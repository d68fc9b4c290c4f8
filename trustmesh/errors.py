"""Every error trustmesh raises, in one tree.

    TrustmeshError                 base: catch this to catch anything of ours
    ├── DecodeError                bytes that are not a well-formed record/frame
    │   └── FrameTooLarge          a length prefix over the agreed limit
    ├── InvalidRecord              well-formed, but breaks a rule
    │   ├── BadSignature           a signature does not verify
    │   ├── FutureRecord           issued later than the receiver's clock allows
    │   └── BadLink                breaks a rule about the record it points to
    ├── KeyFileError               the identity key file cannot be used
    │   ├── KeyExists              refusing to overwrite an identity
    │   ├── WrongPassphrase        the key file is encrypted with another one
    │   └── DamagedKeyFile         not a key file we can read
    ├── StoreError                 the SQLite store cannot do what was asked
    │   └── NotFound               no record/identity by that name
    ├── UsageError                 a caller passed a bad argument (ids, dates…)
    ├── ConfigError                a configuration value is wrong
    ├── HomeLocked                 a running node owns this home directory
    ├── ProtocolError              a wire protocol session broke
    │   ├── LocalProtocolError     we tried to do something the protocol forbids
    │   └── RemoteProtocolError    the peer did
    └── NetworkError               the network could not do what was asked
        └── NodeNotRunning         no daemon answers on this home directory

Each class says how it is reported: ``http_status`` (the control API's
answer) and ``exit_code`` (the CLI's), inherited down the tree, so the API,
its client and the CLI share one mapping (``by_name`` turns an API error
back into its class). Anything else reaching a caller is a bug.

Why one module: callers (the CLI, apps embedding us, the daemon's request
handlers) need to tell "the input is bad" from "we are broken" at a glance,
and every message here is written to be shown to a person as one line.
"""

from __future__ import annotations


class TrustmeshError(Exception):
    """Base of every error trustmesh raises on purpose."""

    http_status = 409
    exit_code = 1


class DecodeError(TrustmeshError):
    """Bytes that do not decode to exactly one canonical record or frame."""

    http_status = 400
    exit_code = 1


class FrameTooLarge(DecodeError):
    """A frame announced a length above the limit; nothing of it was read."""


class InvalidRecord(TrustmeshError):
    """A well-formed record that breaks a validation rule."""

    http_status = 409
    exit_code = 1


class BadSignature(InvalidRecord):
    """A signature that does not verify for the key it claims."""


class FutureRecord(InvalidRecord):
    """Issued after the receiver's clock plus the allowed skew.

    Kept apart because it depends on the receiver's clock: a relay whose
    clock runs a little ahead accepted it honestly.
    """


class BadLink(InvalidRecord):
    """A retraction, reply or deal-backed attestation whose target forbids it.

    Kept apart because it depends on what the receiver holds: a relay that
    did not hold the target could not have seen the problem.
    """


class KeyFileError(TrustmeshError):
    """The identity key file cannot be created or read."""

    http_status = 409
    exit_code = 1


class KeyExists(KeyFileError):
    """An identity already exists; keys are written once and never replaced."""


class WrongPassphrase(KeyFileError):
    """The key file is encrypted and the passphrase given does not open it."""


class DamagedKeyFile(KeyFileError):
    """The key file is not a readable Ed25519 private key."""


class StoreError(TrustmeshError):
    """The record store failed or refused an operation."""

    http_status = 503
    exit_code = 1


class NotFound(StoreError):
    """Nothing in the store answers to that id."""

    http_status = 404
    exit_code = 1


class UsageError(TrustmeshError):
    """A caller passed an argument that cannot be right (an id, a date, a facet)."""

    http_status = 400
    exit_code = 2


class ConfigError(TrustmeshError):
    """A configuration value is missing or wrong."""

    http_status = 400
    exit_code = 1


class HomeLocked(TrustmeshError):
    """A running node owns this home: a second node, or an offline write, is refused."""

    http_status = 409
    exit_code = 1


class ProtocolError(TrustmeshError):
    """A protocol session (sync, query, deal) cannot go on."""

    http_status = 502
    exit_code = 1


class LocalProtocolError(ProtocolError):
    """We asked a session to do something its state does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol; the session with it is over."""


class NetworkError(TrustmeshError):
    """A network operation failed (dial, stream, timeout)."""

    http_status = 503
    exit_code = 1


class NodeNotRunning(NetworkError):
    """No running node answers for this home directory."""


def by_name(name: str) -> type[TrustmeshError]:
    """The error class called ``name`` (TrustmeshError for an unknown name)."""
    found = globals().get(name)
    return found if isinstance(found, type) and issubclass(found, TrustmeshError) else TrustmeshError


__all__ = [
    "TrustmeshError",
    "DecodeError",
    "FrameTooLarge",
    "InvalidRecord",
    "BadSignature",
    "FutureRecord",
    "BadLink",
    "KeyFileError",
    "KeyExists",
    "WrongPassphrase",
    "DamagedKeyFile",
    "StoreError",
    "NotFound",
    "UsageError",
    "ConfigError",
    "HomeLocked",
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "NetworkError",
    "NodeNotRunning",
]
