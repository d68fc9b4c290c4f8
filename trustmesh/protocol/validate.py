"""Validation rules a record must pass before it is stored or relayed.

Two levels. ``check_record`` needs only the record and the current time
(passed in: this layer never reads the clock). ``check_link`` needs the
record a retraction, reply or deal-backed attestation points to; the store
runs it when both are present, and the rules are also applied when records
are read, so a link whose target arrives later can never take effect
wrongly.
"""

from __future__ import annotations

from trustmesh.errors import BadSignature, InvalidRecord, IssuedInFuture
from trustmesh.protocol.records import (
    CHAINED, Attestation, Deal, Record, Reply, Retraction, signatures_valid,
)

MAX_CLOCK_SKEW_MS = 5 * 60 * 1000


def check_record(record: Record, now_ms: int, *, verify: bool = True,
                 max_skew_ms: int = MAX_CLOCK_SKEW_MS) -> None:
    """Raise InvalidRecord (or BadSignature) if ``record`` breaks a rule of its own."""
    if isinstance(record, CHAINED):
        if record.seq < 1:
            raise InvalidRecord("seq starts at 1")
        if (record.seq == 1) != (record.prev is None):
            raise InvalidRecord("prev is nil exactly when seq is 1")
    if record.issued > now_ms + max_skew_ms:
        raise IssuedInFuture("issued in the future")
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
    if verify and not signatures_valid(record):
        raise BadSignature(f"{record.NAME}: signature does not verify")


def parties(record: Record) -> frozenset[bytes]:
    """Who may retract ``record``: its author, and for a deal both signers."""
    if isinstance(record, Deal):
        return frozenset((record.author, record.counterparty))
    return frozenset((record.author,))


def check_link(record: Record, target: Record) -> None:
    """Raise InvalidRecord if ``record`` may not point at ``target``."""
    if isinstance(record, Retraction):
        if isinstance(target, Retraction):
            raise InvalidRecord("a retraction cannot be retracted")
        if record.author not in parties(target):
            raise InvalidRecord("only the author may retract a record")
    elif isinstance(record, Reply):
        if not isinstance(target, Attestation):
            raise InvalidRecord("a reply answers an attestation")
        if target.subject != record.author:
            raise InvalidRecord("only the subject of an attestation may reply to it")
    elif isinstance(record, Attestation) and record.deal is not None:
        if not isinstance(target, Deal):
            raise InvalidRecord("an attestation's deal must be a deal")
        if parties(target) != {record.author, record.subject}:
            raise InvalidRecord("the deal is not between the author and the subject")


def link_target(record: Record) -> bytes | None:
    """The id of the record ``record`` points to, if any."""
    if isinstance(record, (Retraction, Reply)):
        return record.target
    if isinstance(record, Attestation):
        return record.deal
    return None
