"""The five record types, their wire layout, signing and decoding.

Every record is one canonical msgpack array::

    [version=1, type, <fields of the type, in order>, <signature(s)>]

The signing input is a per-type domain prefix followed by the canonical
encoding of the same array *without* the signatures, so a signature made for
one type can never verify as another. The record id is SHA-256 of the whole
encoded record, signatures included. ``docs/protocol.md`` is the normative
description; the layouts below are data so that the code and the page say
the same thing.

Single-author records (attestation, retraction, reply, profile) carry a chain
position: ``seq`` counts from 1 per author and ``prev`` is the id of the
author's record at ``seq - 1`` (nil for seq 1). A deal is signed by two keys
and so belongs to no single chain.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any, ClassVar, Union

from trustmesh.crypto.keys import Identity
from trustmesh.crypto.sign import verify
from trustmesh.errors import DecodeError, InvalidRecord
from trustmesh.protocol.codec import MAX_RECORD_SIZE, pack, unpack_canonical
from trustmesh.protocol.kinds import (  # noqa: F401 - the field kinds, re-exported
    _CHECKS, _EXPECTED, _INLINE, _STORED_INLINE, _STORED_KINDS, FORBIDDEN_TEXT, MAX_NAME, MAX_NOTE,
    KEY_KINDS, MAX_TIME_MS, MAX_URL, ROLES, STANCES, _validator,
)

VERSION = 1

_CHAIN = (("author", "key"), ("seq", "uint"), ("prev", "id?"), ("issued", "time"))


@dataclass(frozen=True, slots=True)
class Attestation:
    """A signed statement by ``author`` about one facet of ``subject``."""

    TYPE: ClassVar[int] = 1
    NAME: ClassVar[str] = "attestation"
    FIELDS: ClassVar[tuple] = _CHAIN + (
        ("subject", "key"), ("facet", "facet"), ("positive", "bool"), ("ref", "id?"),
        ("deal", "id?"), ("occurred", "time"), ("expires", "time?"), ("note", "note?"),
    )
    SIGNERS: ClassVar[tuple] = ("sig",)

    author: bytes
    seq: int
    prev: bytes | None
    issued: int
    subject: bytes
    facet: str
    positive: bool
    ref: bytes | None
    deal: bytes | None
    occurred: int
    expires: int | None
    note: str | None
    sig: bytes = b""


@dataclass(frozen=True, slots=True)
class Deal:
    """A piece of real work between two members, signed by both.

    ``author`` proposed it and signs first; ``counterparty`` countersigns. A
    deal without ``counter_sig`` is a *proposal*: it travels in a proposal
    file or message but is never stored as a deal.
    """

    TYPE: ClassVar[int] = 2
    NAME: ClassVar[str] = "deal"
    FIELDS: ClassVar[tuple] = (
        ("author", "key"), ("counterparty", "key"), ("role", "role"), ("ref", "id"),
        ("due", "time?"), ("issued", "time"),
    )
    SIGNERS: ClassVar[tuple] = ("sig", "counter_sig")

    author: bytes
    counterparty: bytes
    role: str               # the proposer's role: "client" or "supplier"
    ref: bytes
    due: int | None
    issued: int
    sig: bytes = b""
    counter_sig: bytes | None = None

    @property
    def client(self) -> bytes:
        return self.author if self.role == "client" else self.counterparty

    @property
    def supplier(self) -> bytes:
        return self.counterparty if self.role == "client" else self.author


@dataclass(frozen=True, slots=True)
class Retraction:
    """The author withdraws one of its own records (for a deal: either party)."""

    TYPE: ClassVar[int] = 3
    NAME: ClassVar[str] = "retraction"
    FIELDS: ClassVar[tuple] = _CHAIN + (("target", "id"), ("reason", "note?"))
    SIGNERS: ClassVar[tuple] = ("sig",)

    author: bytes
    seq: int
    prev: bytes | None
    issued: int
    target: bytes
    reason: str | None
    sig: bytes = b""


@dataclass(frozen=True, slots=True)
class Reply:
    """The subject of an attestation answers it: the right of reply."""

    TYPE: ClassVar[int] = 4
    NAME: ClassVar[str] = "reply"
    FIELDS: ClassVar[tuple] = _CHAIN + (("target", "id"), ("stance", "stance"), ("note", "note?"))
    SIGNERS: ClassVar[tuple] = ("sig",)

    author: bytes
    seq: int
    prev: bytes | None
    issued: int
    target: bytes
    stance: str             # "contest" or "acknowledge"
    note: str | None
    sig: bytes = b""


@dataclass(frozen=True, slots=True)
class Profile:
    """A member's self-description; the one with the highest seq wins."""

    TYPE: ClassVar[int] = 5
    NAME: ClassVar[str] = "profile"
    FIELDS: ClassVar[tuple] = _CHAIN + (("name", "name"), ("org", "name?"), ("url", "url?"))
    SIGNERS: ClassVar[tuple] = ("sig",)

    author: bytes
    seq: int
    prev: bytes | None
    issued: int
    name: str
    org: str | None
    url: str | None
    sig: bytes = b""


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """One step of a member's key chain: which keys act for the member from now on.

    ``member`` is the member's first key (its id for ever); ``seq`` and
    ``prev`` place the event in the member's key chain (0 and nil for the
    inception), apart from any author chain. ``author`` signs ``sig``: the
    first key for an inception, the revealed successor for a rotation (its
    hash is the ``next`` the chain committed to before: pre-rotation), the
    current controlling key otherwise. An ``add`` also carries ``key_sig``,
    the added device's own signature of the same bytes: both ends consent.
    The chain rules are in ``protocol.keystate``; docs/protocol.md §9.2.
    """

    TYPE: ClassVar[int] = 6
    NAME: ClassVar[str] = "keyevent"
    FIELDS: ClassVar[tuple] = (
        ("author", "key"), ("member", "key"), ("seq", "uint"), ("prev", "id?"), ("issued", "time"),
        ("kind", "keykind"), ("key", "key"), ("next", "id?"), ("since", "time?"),
    )
    SIGNERS: ClassVar[tuple] = ("sig", "key_sig")

    author: bytes
    member: bytes
    seq: int
    prev: bytes | None
    issued: int
    kind: str               # "incept", "rotate", "add" or "revoke" (KEY_KINDS)
    key: bytes              # the key the event is about: the first, the successor, the device
    next: bytes | None      # incept and rotate: next_commitment(successor)
    since: int | None       # rotate and revoke: the key's records from this time on are void
    sig: bytes = b""
    key_sig: bytes | None = None


def next_commitment(key: bytes) -> bytes:
    """What an establishment event commits to: the hash of the key that may rotate in next."""
    return hashlib.sha256(b"trustmesh/v1/next\x00" + key).digest()


Record = Union[Attestation, Deal, Retraction, Reply, Profile, KeyEvent]
RECORD_TYPES: dict[int, type] = {c.TYPE: c for c in (Attestation, Deal, Retraction, Reply, Profile, KeyEvent)}
TYPE_NAMES: dict[str, type] = {c.NAME: c for c in RECORD_TYPES.values()}
CHAINED = (Attestation, Retraction, Reply, Profile)


def domain(record_type: type) -> bytes:
    """The signature domain prefix of a record type."""
    return b"trustmesh/v1/" + record_type.NAME.encode() + b"\x00"


def body(record: Record) -> list[Any]:
    """The array that is signed: version, type and fields, no signatures."""
    return [VERSION, record.TYPE, *(getattr(record, name) for name, _ in record.FIELDS)]


def signing_input(record: Record) -> bytes:
    """Exactly the bytes every signer of ``record`` signs."""
    return domain(type(record)) + pack(body(record))


def encode(record: Record) -> bytes:
    """The canonical wire form of a signed record."""
    return pack(body(record) + [getattr(record, name) for name in record.SIGNERS])


def signing_input_from_raw(raw: bytes, record: Record) -> bytes:
    """``signing_input(record)`` cut out of its canonical encoding, without re-encoding.

    Valid only for ``raw`` that ``decode`` accepted: canonical records are
    fixarrays (under 16 elements) whose signatures are 64-byte bin8 values
    (66 bytes each) or, for a proposal's missing countersignature, nil.
    """
    n_sigs = len(record.SIGNERS)
    tail = 66 * n_sigs
    if n_sigs == 2 and getattr(record, record.SIGNERS[1]) is None:
        tail = 66 + 1
    return domain(type(record)) + bytes([raw[0] - n_sigs]) + raw[1:len(raw) - tail]


def record_id(raw: bytes) -> bytes:
    """The id of an encoded record: SHA-256 of its bytes."""
    return hashlib.sha256(raw).digest()


def sign(record: Record, identity: Identity) -> Record:
    """``record`` signed by its author; the identity must be the author's."""
    if identity.public_key != record.author:
        raise InvalidRecord("only the author can sign a record")
    return dataclasses.replace(record, sig=identity.sign(signing_input(record)))


def countersign(deal: Deal, identity: Identity) -> Deal:
    """A proposal countersigned by its counterparty: a complete deal."""
    if not isinstance(deal, Deal) or deal.counter_sig is not None:
        raise InvalidRecord("only an unsigned deal proposal can be countersigned")
    if identity.public_key != deal.counterparty:
        raise InvalidRecord("this proposal is addressed to another member")
    if not verify(deal.author, deal.sig, signing_input(deal)):
        raise InvalidRecord("the proposer's signature does not verify")
    return dataclasses.replace(deal, counter_sig=identity.sign(signing_input(deal)))


def second_signer(record: Record) -> tuple[bytes, bytes] | None:
    """(key, signature) of a record's second signature, when it carries one."""
    if isinstance(record, Deal) and record.counter_sig is not None:
        return record.counterparty, record.counter_sig
    if isinstance(record, KeyEvent) and record.key_sig is not None:
        return record.key, record.key_sig
    return None


def signatures_valid(record: Record) -> bool:
    """True when every signature the record carries verifies (a proposal: the proposer's)."""
    message = signing_input(record)
    if not verify(record.author, record.sig, message):
        return False
    second = second_signer(record)
    return second is None or verify(second[0], second[1], message)


def decode(raw: bytes, *, allow_proposal: bool = False, stored: bool = False) -> Record:
    """The record encoded by ``raw``; DecodeError unless it is canonical and well-typed.

    Signatures are *not* checked here (see ``signatures_valid``) so that an
    ingest can verify them in parallel threads. ``stored``: bytes read back
    from our own store, where a version before MAX_TIME_MS may have kept a
    time beyond it; they are read with the old bound (any uint), so that
    every stored record can still be shown. Never for bytes from elsewhere.
    """
    arr = unpack_canonical(raw, MAX_RECORD_SIZE)
    if len(arr) < 2 or arr[0] != VERSION or type(arr[0]) is not int:
        raise DecodeError(f"unknown record version {arr[0] if arr else None!r}")
    cls = RECORD_TYPES.get(arr[1]) if type(arr[1]) is int else None
    if cls is None:
        raise DecodeError(f"unknown record type {arr[1]!r}")
    fields, signers = cls.FIELDS, cls.SIGNERS
    if len(arr) != 2 + len(fields) + len(signers):
        raise DecodeError(f"a {cls.NAME} has {2 + len(fields) + len(signers)} elements, got {len(arr)}")
    values = arr[2:]
    if not (_STORED_VALID if stored else _VALID)[cls](values):
        for (name, kind), v in zip(fields, values):
            if not (_STORED_KINDS if stored else _CHECKS)[kind](v):
                raise DecodeError(f"{cls.NAME}.{name}: {_EXPECTED[kind]}")
    sigs = values[len(fields):]
    if not _is_sig(sigs[0]):
        raise DecodeError(f"{cls.NAME}.sig: not a 64-byte signature")
    if cls is Deal and not (_is_sig(sigs[1]) or (allow_proposal and sigs[1] is None)):
        raise DecodeError("deal.counter_sig: a deal needs the counterparty's signature")
    if cls is KeyEvent and not (_is_sig(sigs[1]) if values[5] == "add" else sigs[1] is None):
        raise DecodeError("keyevent.key_sig: an add carries the device's signature, other kinds nil")
    return cls(*values)


def _is_sig(v: object) -> bool:
    return type(v) is bytes and len(v) == 64


_VALID = {cls: _validator(cls, _INLINE, _CHECKS) for cls in RECORD_TYPES.values()}
_STORED_VALID = {cls: _validator(cls, _STORED_INLINE, _STORED_KINDS) for cls in RECORD_TYPES.values()}


def reference_hash(text: str, party_a: bytes, party_b: bytes) -> bytes:
    """The 32-byte hash standing for an external reference (an invoice number).

    The two parties' keys are mixed in, in a fixed order, so the same invoice
    number between other members gives an unrelated hash and one hash cannot
    be looked up across the whole network. Short references stay guessable
    by anyone who suspects the pair: the hash hides, it does not encrypt.
    """
    low, high = sorted((party_a, party_b))
    return hashlib.sha256(b"trustmesh/v1/ref\x00" + low + high + text.encode("utf-8")).digest()
