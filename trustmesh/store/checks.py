"""What an ingest pool job does: decode, check and verify records, and build their rows.

Why a job does all of it: Ed25519 verification is most of an ingest's CPU,
and libsodium releases the GIL, so it spreads over every core, but only if
the Python work around it does not hold the GIL while the verifiers wait to
retake it after each signature. So a job does its Python in one stretch
(decode, rules, row) and then the signatures.

Each refused record gets a *fault* (``protocol.validate.FAULTS``): what kind
of problem it is, so that the network side can tell a forger from an honest relay.
"""

from __future__ import annotations

from nacl.bindings import crypto_sign_open

from trustmesh.errors import DecodeError, InvalidRecord
from trustmesh.protocol.codec import MAX_RECORD_SIZE
from trustmesh.protocol.records import (
    CHAINED, Attestation, Deal, KeyEvent, Record, Reply, decode, second_signer, signing_input_from_raw,
)
from trustmesh.protocol.validate import QUOTA, SIGNATURE, check_link, check_record, fault_of, link_target

try:    # PyNaCl's own cffi module: the same libsodium, without the per-call allocations
    from nacl._sodium import ffi as _ffi, lib as _sodium
except ImportError:     # pragma: no cover - another PyNaCl layout: use its public binding
    _ffi = _sodium = None

HELD = "already held"       # the reason a job gives for a record it did not check again
STRANGERS = "over the quota for records by strangers"   # the reason of a refusal by the strangers' quota
_TWO_SIGNERS = (Deal.TYPE, KeyEvent.TYPE)
JOB = 256                   # records per pool job: small enough to start early, large enough to amortize


def check_job(raws: list[bytes], ids: list[bytes], held: set[bytes], now_ms: int,
              precheck=None) -> list[tuple]:
    """Decode, check and verify one job's records (runs in a pool thread).

    Per record: (record or None, fault or None, reason or None, row or
    None); a record in ``held`` is only decoded, with ``HELD`` as its
    reason. The Python work comes first and the signatures last, so this
    thread holds the GIL in one stretch and then mostly releases it.
    """
    out: list[tuple] = []
    for raw, rid in zip(raws, ids):
        if rid in held:
            try:
                out.append((decode(raw, allow_proposal=True, stored=True), None, HELD, None))
            except DecodeError:     # held bytes decoded once; a stricter reader may refuse them now
                out.append((None, None, HELD, None))
            continue
        try:
            record = decode(raw)
            check_record(record, now_ms, verify=False)
        except (DecodeError, InvalidRecord) as exc:
            out.append((None if isinstance(exc, DecodeError) else record, fault_of(exc), str(exc), None))
            continue
        if precheck is not None and not precheck(record.author):
            out.append((record, QUOTA, STRANGERS, None))
            continue
        out.append((record, None, None, row(rid, record, raw, now_ms)))
    opened = _Opener()
    for k, (raw, (record, fault, reason, _)) in enumerate(zip(raws, out)):
        if reason is not None:
            continue
        message = signing_input_from_raw(raw, record)
        second = second_signer(record) if record.TYPE in _TWO_SIGNERS else None
        if not (opened(record.author, record.sig, message)
                and (second is None or opened(second[0], second[1], message))):
            out[k] = (record, SIGNATURE, f"{record.NAME}: signature does not verify", None)
    return out


def link_problem(record: Record, targets: dict[bytes, Record], member_of=None) -> str | None:
    """Why ``record`` may not point where it points, or None (also when the target is unknown).

    ``member_of`` (key -> member, the store's key windows) is asked only
    when a deal's signers are not the attestation's two keys: most links
    need no lookup.
    """
    target_id = link_target(record)
    target = targets.get(target_id) if target_id is not None else None
    if target is None:
        return None     # not here yet: the rule is applied when reading
    try:
        check_link(record, target, member_of)
    except InvalidRecord as exc:
        return str(exc)
    return None


def row(rid: bytes, record: Record, raw: bytes, now: int) -> tuple:
    """The record's row, in ``schema.COLUMNS`` order."""
    chained = isinstance(record, CHAINED)
    seq = record.seq if chained else None
    prev = record.prev if chained else None
    subject = facet = positive = occurred = expires = None
    if isinstance(record, Attestation):
        subject, facet, positive = record.subject, record.facet, int(record.positive)
        occurred, expires = record.occurred, record.expires
    elif isinstance(record, Deal):
        subject = record.counterparty
    elif isinstance(record, Reply):
        positive = int(record.stance == "acknowledge")
    elif isinstance(record, KeyEvent):
        subject = record.member     # a member's key events, found by the subject index
    return (rid, record.TYPE, record.author, seq, prev, subject, facet, positive, link_target(record),
            record.issued, occurred, expires, now, raw)


class _Opener:
    """libsodium's crypto_sign_open with one output buffer per job.

    PyNaCl's wrapper allocates two buffers and copies the message out on
    every call, all under the GIL; between two signatures each verifier
    must retake the GIL, so every microsecond held there is taken from the
    other threads. Keys and signatures have the sizes the decoder checked.
    """

    __slots__ = ("_buf", "_len")

    def __init__(self) -> None:
        if _sodium is not None:
            self._buf = _ffi.new("unsigned char[]", MAX_RECORD_SIZE + 128)
            self._len = _ffi.new("unsigned long long *")

    def __call__(self, key: bytes, sig: bytes, message: bytes) -> bool:
        signed = sig + message
        if _sodium is None or len(signed) > MAX_RECORD_SIZE + 128 or len(key) != 32:
            try:
                crypto_sign_open(signed, key)
            except Exception:   # BadSignatureError, or a malformed key
                return False
            return True
        return _sodium.crypto_sign_open(self._buf, self._len, signed, len(signed), key) == 0
