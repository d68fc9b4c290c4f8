"""The parts of ``Store.ingest`` that run outside the class: pool jobs and bulk SQL.

Why a pipeline at all: Ed25519 verification is most of an ingest's CPU, and
libsodium releases the GIL, so it spreads over every core, but only if the
Python work around it does not hold the GIL while the verifiers wait to
retake it after each signature. So a pool job does its Python in one stretch
(decode, rules, row) and then the signatures; the writer inserts whole jobs
in multi-row statements; and the fork check is one SQL query per batch.
"""

from __future__ import annotations

import sqlite3
from concurrent.futures import Future
from dataclasses import dataclass
from typing import NamedTuple

from nacl.bindings import crypto_sign_open

from trustmesh.errors import BadSignature, DecodeError, InvalidRecord, IssuedInFuture
from trustmesh.protocol.codec import MAX_RECORD_SIZE
from trustmesh.protocol.records import (
    CHAINED, Attestation, Deal, Record, Reply, Retraction, decode, signing_input_from_raw,
)
from trustmesh.protocol.validate import check_link, check_record, link_target

try:    # PyNaCl's own cffi module: the same libsodium, without the per-call allocations
    from nacl._sodium import ffi as _ffi, lib as _sodium
except ImportError:     # pragma: no cover - another PyNaCl layout: use its public binding
    _ffi = _sodium = None

# Which kind of rule a refused record broke (IngestResult.rule). A relay can
# check the first three itself; "clock" depends on the receiver's clock and
# "link" on whether the receiver holds the target (docs/protocol.md, section 7).
DECODE, RULE, SIGNATURE, CLOCK, LINK = "decode", "rule", "signature", "clock", "link"


class Refusal(NamedTuple):
    """Why a record is refused: the kind of rule (above) and a one-line reason."""

    rule: str
    text: str


def refusal(exc: Exception) -> Refusal:
    """The Refusal for an error raised by decode or the record checks."""
    if isinstance(exc, IssuedInFuture):
        return Refusal(CLOCK, str(exc))
    if isinstance(exc, BadSignature):
        return Refusal(SIGNATURE, str(exc))
    return Refusal(RULE if isinstance(exc, InvalidRecord) else DECODE, str(exc))


_JOB = 256      # records per pool job: small enough to start early, large enough to amortize
_INSERT = ("INSERT INTO records (id, type, author, seq, subject, facet, positive,"
           " target, issued, occurred, expires, received, raw) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
           " ON CONFLICT(id) DO NOTHING")
_BULK = 256     # rows per INSERT statement: one GIL release per statement, not per row


def _insert_sql(n: int) -> str:
    return _INSERT.replace("(?,?,?,?,?,?,?,?,?,?,?,?,?)", ",".join(["(?,?,?,?,?,?,?,?,?,?,?,?,?)"] * n), 1)


def _insert_rows(conn: sqlite3.Connection, rows: list[tuple]) -> int:
    """Insert ``rows`` unless their id is held; how many were new.

    Multi-row statements: executemany releases and retakes the GIL around
    every row, and each retake waits for whichever thread holds it (the
    decoder), a convoy that halved ingest speed. A statement of 256 rows
    retakes it once.
    """
    before = conn.total_changes
    for start in range(0, len(rows), _BULK):
        part = rows[start:start + _BULK]
        conn.execute(_insert_sql(len(part)), [v for row in part for v in row])
    return conn.total_changes - before


@dataclass(slots=True)
class _Prepared:
    """A batch hashed and handed to the pool, job by job."""

    raws: list
    ids: list                       # record id per input (None: not bytes)
    results: list                   # IngestResult already known (not bytes, held), else None
    jobs: list[tuple[list[int], "Future[list[tuple]]"]]   # input indexes, and per index (record, reason, row)


def _check_job(raws: list[bytes], ids: list[bytes], held: set[bytes], now_ms: int) -> list[tuple]:
    """Decode, check and verify one job's records (runs in a pool thread).

    Per record: (record or None, a Refusal or None, its row); a record in
    ``held`` is only decoded, with ``_HELD`` as its reason. The
    Python work comes first and the signatures last, so this thread holds
    the GIL in one stretch and then mostly releases it.
    """
    out: list[tuple] = []
    for raw, rid in zip(raws, ids):
        if rid in held:
            try:
                out.append((decode(raw, allow_proposal=True, stored=True), _HELD, None))
            except DecodeError:     # held bytes decoded once; a stricter reader may refuse them now
                out.append((None, _HELD, None))
            continue
        try:
            record = decode(raw)
            check_record(record, now_ms, verify=False)
        except (DecodeError, InvalidRecord) as exc:
            out.append((None, refusal(exc), None))
            continue
        out.append((record, None, _row(rid, record, raw, now_ms)))
    messages = [signing_input_from_raw(raw, rec) if why is None else None
                for raw, (rec, why, _) in zip(raws, out)]
    opened = _Opener()
    for k, message in enumerate(messages):
        if message is None:
            continue
        record = out[k][0]
        if not (opened(record.author, record.sig, message)
                and (record.TYPE != Deal.TYPE or opened(record.counterparty, record.counter_sig, message))):
            out[k] = (record, Refusal(SIGNATURE, f"{record.NAME}: signature does not verify"), None)
    return out


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


_HELD = "already held"       # the reason a job gives for a record it did not check again
_LINKED = frozenset((Attestation.TYPE, Retraction.TYPE, Reply.TYPE))   # types that may point at a record


def _prev_sql(row: str) -> str:
    """SQL for the prev field of a chained record, cut out of its canonical bytes.

    Lets the fork query skip the (usual) neighbours that link up, so that it
    returns no row at all for a healthy chain. The layout is fixed by the
    canonical encoding: fixarray, version, type, bin8 author (34 bytes), seq
    as the shortest msgpack uint, then prev as bin8 (2 + 32 bytes). Rows it
    returns are checked again on decoded records.
    """
    width = (f"CASE WHEN {row}.seq < 128 THEN 1 WHEN {row}.seq < 256 THEN 2"
             f" WHEN {row}.seq < 65536 THEN 3 WHEN {row}.seq < 4294967296 THEN 5 ELSE 9 END")
    return f"substr({row}.raw, 40 + {width}, 32)"


def _link_problem(record: Record, targets: dict[bytes, Record]) -> Refusal | None:
    """Why ``record`` may not point where it points, or None (also when the target is unknown)."""
    target_id = link_target(record)
    target = targets.get(target_id) if target_id is not None else None
    if target is None:
        return None     # not here yet: the rule is applied when reading
    try:
        check_link(record, target)
    except InvalidRecord as exc:
        return Refusal(LINK, str(exc))
    return None


def _row(rid: bytes, record: Record, raw: bytes, now: int) -> tuple:
    seq = getattr(record, "seq", None) if isinstance(record, CHAINED) else None
    subject = facet = positive = occurred = expires = None
    if isinstance(record, Attestation):
        subject, facet, positive = record.subject, record.facet, int(record.positive)
        occurred, expires = record.occurred, record.expires
    elif isinstance(record, Deal):
        subject = record.counterparty
    elif isinstance(record, Reply):
        positive = int(record.stance == "acknowledge")
    target = link_target(record)
    return (rid, record.TYPE, record.author, seq, subject, facet, positive, target,
            record.issued, occurred, expires, now, raw)
