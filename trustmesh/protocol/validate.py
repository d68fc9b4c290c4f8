"""Validation rules a record must pass before it is stored or relayed.

Two levels. ``check_record`` needs only the record and the current time
(passed in: this layer never reads the clock). ``check_link`` needs the
record a retraction, reply or deal-backed attestation points to; the store
runs it when both are present, and the rules are also applied when records
are read, so a link whose target arrives later can never take effect
wrongly.
"""

from __future__ import annotations

from collections.abc import Callable

from trustmesh.errors import BadLink, BadSignature, FutureRecord, InvalidRecord
from trustmesh.protocol.keystate import MAX_KEY_SEQ
from trustmesh.protocol.records import (
    CHAINED, Attestation, Deal, KeyEvent, Record, Reply, Retraction, signatures_valid,
)

MAX_CLOCK_SKEW_MS = 5 * 60 * 1000

# Why a record was refused, as a receiving node's defence reads it (``fault_of``):
MALFORMED = "malformed"     # not a canonical record: no honest node sends it
SIGNATURE = "signature"     # a signature does not verify: no honest node sends it
RULE = "rule"               # breaks a rule of its own, checkable by anyone who decodes it
CLOCK = "clock"             # issued after the receiver's clock allows: the sender's clock may differ
LINK = "link"               # breaks a rule about a record the receiver holds: the sender may not hold it
QUOTA = "quota"             # valid, but the receiver keeps no more records by strangers
FAULTS = (MALFORMED, SIGNATURE, RULE, CLOCK, LINK, QUOTA)


def fault_of(exc: Exception) -> str:
    """The fault class of a decode or validation error."""
    if isinstance(exc, BadSignature):
        return SIGNATURE
    if isinstance(exc, FutureRecord):
        return CLOCK
    if isinstance(exc, BadLink):
        return LINK
    if isinstance(exc, InvalidRecord):
        return RULE
    return MALFORMED


def check_record(record: Record, now_ms: int, *, verify: bool = True,
                 max_skew_ms: int = MAX_CLOCK_SKEW_MS) -> None:
    """Raise InvalidRecord (or BadSignature) if ``record`` breaks a rule of its own."""
    if isinstance(record, CHAINED):
        if record.seq < 1:
            raise InvalidRecord("seq starts at 1")
        if (record.seq == 1) != (record.prev is None):
            raise InvalidRecord("prev is nil exactly when seq is 1")
    if record.issued > now_ms + max_skew_ms:
        raise FutureRecord("issued in the future")
    if isinstance(record, Attestation):
        if record.subject == record.author:
            raise InvalidRecord("an attestation about oneself is not evidence")
        if record.occurred > record.issued + max_skew_ms:
            raise InvalidRecord("occurred after it was issued")
        if record.expires is not None and record.expires <= record.issued:
            raise InvalidRecord("expires before it was issued")
    elif isinstance(record, Deal):
        if record.counterparty == record.author:
            raise InvalidRecord("a deal needs two different members")
        if record.due is not None and record.due < record.issued - 366 * 86_400_000:
            raise InvalidRecord("due date long before the deal was made")
    elif isinstance(record, KeyEvent):
        _check_key_event(record)
    if verify and not signatures_valid(record):
        raise BadSignature(f"{record.NAME}: signature does not verify")


def _check_key_event(e: KeyEvent) -> None:
    """The rules a key event breaks on its own; the chain's are in ``protocol.keystate``."""
    if e.seq > MAX_KEY_SEQ:
        raise InvalidRecord(f"a key chain ends at seq {MAX_KEY_SEQ}")
    if (e.seq == 0) != (e.prev is None) or (e.seq == 0) != (e.kind == "incept"):
        raise InvalidRecord("a key chain starts with its inception (seq 0, prev nil) and only there")
    if e.kind == "incept" and not (e.author == e.member == e.key):
        raise InvalidRecord("an inception is made and signed by the member's first key")
    if e.kind == "rotate" and e.author != e.key:
        raise InvalidRecord("a rotation is signed by the successor it reveals")
    if e.kind in ("incept", "rotate") and e.next is None:
        raise InvalidRecord(f"a {e.kind} commits to the next key (next)")
    if e.kind in ("add", "revoke") and e.next is not None:
        raise InvalidRecord(f"a device {e.kind} commits to no next key")
    if e.kind == "add" and e.key in (e.author, e.member):
        raise InvalidRecord("a device add names a new key, not the member's own or its signer's")
    if e.since is not None and e.kind not in ("rotate", "revoke"):
        raise InvalidRecord("only a rotation or a revocation has a since date")
    if e.kind == "revoke" and e.since is None:
        raise InvalidRecord("a revocation says from when (since)")
    if e.since is not None and e.since > e.issued:
        raise InvalidRecord("since is after the event was issued")


def parties(record: Record) -> frozenset[bytes]:
    """Who may retract ``record``: its author, and for a deal both signers."""
    if isinstance(record, Deal):
        return frozenset((record.author, record.counterparty))
    return frozenset((record.author,))


def check_link(record: Record, target: Record, member_of: Callable[[bytes], bytes] | None = None) -> None:
    """Raise InvalidRecord if ``record`` may not point at ``target``.

    ``member_of``: who a key stands for, as the viewer's key events say
    (§9.2; itself when none). With it, a deal between the same two
    *members* backs an attestation (the deal signed by a device or a
    successor, the attestation about the first key): what L6 protects is
    that both sides of the deal are the two sides of the attestation.
    """
    if isinstance(record, Retraction):
        if isinstance(target, Retraction):
            raise BadLink("a retraction cannot be retracted")
        if record.author not in parties(target):
            raise BadLink("only the author may retract a record")
    elif isinstance(record, Reply):
        if not isinstance(target, Attestation):
            raise BadLink("a reply answers an attestation")
        if target.subject != record.author:
            raise BadLink("only the subject of an attestation may reply to it")
    elif isinstance(record, Attestation) and record.deal is not None:
        if not isinstance(target, Deal):
            raise BadLink("an attestation's deal must be a deal")
        if not deal_between(target, record.author, record.subject, member_of):
            raise BadLink("the deal is not between the author and the subject")


def deal_between(deal: Deal, a: bytes, b: bytes, member_of: Callable[[bytes], bytes] | None = None) -> bool:
    """Whether ``deal``'s two signers are ``a`` and ``b`` (in either role), or with
    ``member_of`` the same two members."""
    if parties(deal) == {a, b}:
        return True
    if member_of is None:
        return False
    mapped = {member_of(deal.author), member_of(deal.counterparty)}
    return len(mapped) == 2 and mapped == {member_of(a), member_of(b)}


def link_target(record: Record) -> bytes | None:
    """The id of the record ``record`` points to, if any."""
    if isinstance(record, (Retraction, Reply)):
        return record.target
    if isinstance(record, Attestation):
        return record.deal
    return None
