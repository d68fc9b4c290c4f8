"""The record store: one SQLite file in WAL mode, written only through ``ingest``.

Every record, made here or received, enters through ``ingest``: decode,
check, verify signatures (bulk batches on worker processes, see verifier.py), link
and chain checks, then one transaction. A record reported ``accepted`` is
committed with ``synchronous=FULL`` before the call returns, so it survives
the process being killed a moment later (and a power cut).

Rules that depend on other records (who may retract, who may reply, whether
a deal backs an attestation) are checked at ingest when the target is known,
and applied again when records are read, so a link whose target arrives
later never takes effect wrongly.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from trustmesh.node.verifier import CHUNK as VERIFY_CHUNK, INLINE_BELOW, Verifier
from trustmesh.errors import DecodeError, InvalidRecord, NotFound, StoreError, UsageError
from trustmesh.protocol.records import (
    CHAINED, Attestation, Deal, Profile, Record, Reply, Retraction, TYPE_NAMES, decode,
    signing_input_from_raw,
)
from trustmesh.protocol.validate import check_link, check_record, link_target

ACCEPTED, DUPLICATE, REJECTED = "accepted", "duplicate", "rejected"

_MIGRATIONS: list[str] = [
    # v1
    """
    CREATE TABLE records (
        rid       INTEGER PRIMARY KEY,
        id        BLOB NOT NULL UNIQUE,
        type      INTEGER NOT NULL,
        author    BLOB NOT NULL,
        seq       INTEGER,
        prev      BLOB,
        subject   BLOB,
        facet     TEXT,
        positive  INTEGER,
        target    BLOB,
        issued    INTEGER NOT NULL,
        occurred  INTEGER,
        expires   INTEGER,
        received  INTEGER NOT NULL,
        raw       BLOB NOT NULL
    );
    CREATE INDEX records_author ON records(author, seq);
    CREATE INDEX records_subject ON records(subject, facet);
    CREATE INDEX records_target ON records(target) WHERE target IS NOT NULL;
    CREATE TABLE forks (
        author  BLOB NOT NULL,
        seq     INTEGER NOT NULL,
        id_a    BLOB NOT NULL,
        id_b    BLOB NOT NULL,
        found   INTEGER NOT NULL,
        PRIMARY KEY (author, seq, id_a, id_b)
    );
    """,
]

# Fork proofs completed by the rows inserted after :mark: another record at the
# same (author, seq); a held record at seq-1 that is not our prev; a held
# record at seq+1 whose prev is not us. Each pair is stored once, ids sorted.
_FORKS_SQL = """
INSERT OR IGNORE INTO forks (author, seq, id_a, id_b, found)
SELECT author, seq, a, b, :now FROM (
    SELECT n.author, n.seq, MIN(n.id, o.id) AS a, MAX(n.id, o.id) AS b
      FROM records n JOIN records o ON o.author = n.author AND o.seq = n.seq AND o.id != n.id
     WHERE n.rid > :mark AND n.seq IS NOT NULL
    UNION
    SELECT n.author, n.seq - 1, MIN(n.id, o.id), MAX(n.id, o.id)
      FROM records n JOIN records o ON o.author = n.author AND o.seq = n.seq - 1 AND o.id != n.prev
     WHERE n.rid > :mark AND n.prev IS NOT NULL
    UNION
    SELECT n.author, n.seq, MIN(n.id, o.id), MAX(n.id, o.id)
      FROM records n JOIN records o ON o.author = n.author AND o.seq = n.seq + 1 AND o.prev != n.id
     WHERE n.rid > :mark AND n.seq IS NOT NULL
)
"""

# A record is retracted when a retraction by one of its parties targets it.
_RETRACTED = """EXISTS (SELECT 1 FROM records x WHERE x.type = 3 AND x.target = r.id
    AND (x.author = r.author OR (r.type = 2 AND x.author = r.subject)))"""
# An attestation is contested when its subject replied "contest" (positive = 0).
_CONTESTED = """(r.type = 1 AND EXISTS (SELECT 1 FROM records x WHERE x.type = 4
    AND x.target = r.id AND x.author = r.subject AND x.positive = 0))"""


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What happened to one record offered to ``ingest``."""

    id: bytes | None        # None when the bytes did not even decode
    status: str             # "accepted", "duplicate" or "rejected"
    reason: str | None = None
    record: Record | None = None


@dataclass(slots=True)
class _Batch:
    """A batch between ``_prepare`` and ``_finish``: decoded, being verified."""

    raws: list[bytes]
    now_ms: int
    ids: list[bytes | None] = field(default_factory=list)
    decoded: dict[int, Record] = field(default_factory=dict)
    verifying: list = field(default_factory=list)
    results: list[IngestResult | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.results = [None] * len(self.raws)


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record as held here, with what other records say about it."""

    id: bytes
    record: Record
    raw: bytes
    received: int
    retracted: bool = False
    contested: bool = False


@dataclass(frozen=True, slots=True)
class Fork:
    """Proof that ``author`` signed two different records for one chain position."""

    author: bytes
    seq: int
    id_a: bytes
    id_b: bytes
    found: int


class Store:
    """A trustmesh record store in one SQLite file."""

    def __init__(self, conn: sqlite3.Connection, path: Path, verify_workers: int | None = None) -> None:
        self._conn = conn
        self.path = path
        self._lock = threading.RLock()
        self._verifier = Verifier(verify_workers)

    @classmethod
    def open(cls, path: str | os.PathLike, *, verify_workers: int | None = None) -> "Store":
        """Open (creating and migrating if needed) the store at ``path``."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))  # private from the start
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("PRAGMA cache_size=-65536")        # 64 MiB: index pages stay hot
            conn.execute("PRAGMA wal_autocheckpoint=8192")  # fewer checkpoints under load
            _migrate(conn)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the store at {path}: {exc}") from None
        return cls(conn, path, verify_workers)

    def close(self) -> None:
        """Close the file; the store cannot be used afterwards."""
        with self._lock:
            self._verifier.close()
            self._conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- writing ---------------------------------------------------------

    def ingest(self, raws: Iterable[bytes], now_ms: int) -> list[IngestResult]:
        """Verify and store a batch; one result per input, in order.

        Idempotent: a record already held is reported ``duplicate`` (its bytes
        were verified when it was stored). Nothing that fails a check is
        written, and the good records of a batch are stored even when others
        in it are bad. Every ``accepted`` record is committed on return.
        """
        with self._lock:
            return self._finish(self._prepare(list(raws), now_ms, set()))

    def ingest_stream(self, batches: Iterable[Iterable[bytes]], now_ms: int) -> Iterator[list[IngestResult]]:
        """``ingest`` over many batches, pipelined: the signatures of the next
        batch are verified on the pool while this one is written. Yields each
        batch's results once it is committed."""
        with self._lock:
            inflight: set[bytes] = set()
            pending = None
            for raws in batches:
                ready = self._prepare(list(raws), now_ms, inflight)
                if pending is not None:
                    yield self._finish(pending, inflight)
                pending = ready
            if pending is not None:
                yield self._finish(pending, inflight)

    def _prepare(self, raws: list[bytes], now_ms: int, inflight: set[bytes]) -> "_Batch":
        """Hash, skip what is held, decode and check, and start verifying signatures."""
        batch = _Batch(raws, now_ms)
        ids = batch.ids = [hashlib.sha256(raw).digest() if type(raw) is bytes else None for raw in raws]
        held = self.held([rid for rid in ids if rid is not None])
        chunk: list[tuple[int, bytes, bytes]] = []
        bulk = len(raws) - len(held) >= INLINE_BELOW
        for i, raw in enumerate(raws):
            rid = ids[i]
            if rid in held or rid in inflight:
                batch.results[i] = IngestResult(rid, DUPLICATE)
                continue
            try:
                if rid is None:
                    raise DecodeError("a record is bytes")
                record = decode(raw)
                check_record(record, now_ms, verify=False)
            except (DecodeError, InvalidRecord) as exc:
                batch.results[i] = IngestResult(rid, REJECTED, str(exc))
                continue
            inflight.add(rid)
            batch.decoded[i] = record
            message = signing_input_from_raw(raw, record)
            chunk.append((i, record.sig + message, record.author))
            if isinstance(record, Deal):
                chunk.append((i, record.counter_sig + message, record.counterparty))
            if len(chunk) >= VERIFY_CHUNK:
                batch.verifying.append(self._verifier.submit(chunk, bulk))
                chunk = []
        if chunk:
            batch.verifying.append(self._verifier.submit(chunk, bulk))
        return batch

    def _finish(self, batch: "_Batch", inflight: set[bytes] | None = None) -> list[IngestResult]:
        """Collect signature verdicts, apply link rules, write, and report."""
        ids, results = batch.ids, batch.results
        bad_sigs: set[int] = set()
        for job in batch.verifying:
            bad_sigs.update(job.result() if hasattr(job, "result") else job)
        known = {ids[i]: record for i, record in batch.decoded.items() if i not in bad_sigs}
        rows = []
        for i, record in batch.decoded.items():
            if i in bad_sigs:
                reason = f"{record.NAME}: signature does not verify"
            else:
                reason = self._link_problem(record, known)
            if reason:
                results[i] = IngestResult(ids[i], REJECTED, reason, record)
                known.pop(ids[i], None)
                continue
            rows.append(_row(ids[i], record, batch.raws[i], batch.now_ms))
            results[i] = IngestResult(ids[i], ACCEPTED, None, record)
        if rows:
            self._write(rows, batch.now_ms)
        if inflight is not None:
            inflight.difference_update(ids[i] for i in batch.decoded)
        return results  # type: ignore[return-value]

    def _write(self, rows: list[tuple], now_ms: int) -> None:
        """Insert the rows and record the fork proofs they complete, in one transaction."""
        try:
            with self._conn:
                self._conn.execute("BEGIN IMMEDIATE")
                mark = self._conn.execute("SELECT COALESCE(MAX(rid), 0) FROM records").fetchone()[0]
                self._conn.executemany(
                    "INSERT INTO records (id, type, author, seq, prev, subject, facet, positive,"
                    " target, issued, occurred, expires, received, raw)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
                self._conn.execute(_FORKS_SQL, {"mark": mark, "now": now_ms})
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"store write failed, nothing of this batch was stored: {exc}") from None

    def held(self, ids: Sequence[bytes]) -> set[bytes]:
        """Which of ``ids`` are stored here."""
        held: set[bytes] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            held.update(r[0] for r in self._conn.execute(f"SELECT id FROM records WHERE id IN ({marks})", chunk))
        return held

    def _link_problem(self, record: Record, batch: dict[bytes, Record]) -> str | None:
        target_id = link_target(record)
        if target_id is None:
            return None
        target = batch.get(target_id)
        if target is None:
            row = self._conn.execute("SELECT raw FROM records WHERE id = ?", (target_id,)).fetchone()
            if row is None:
                return None     # not here yet: the rule is applied when reading
            target = decode(row[0], allow_proposal=False)
        try:
            check_link(record, target)
        except InvalidRecord as exc:
            return str(exc)
        return None

    # ---- reading ---------------------------------------------------------

    def get(self, record_id: bytes) -> StoredRecord:
        """The record with this id; NotFound if it is not held here."""
        rows = self._select("r.id = ?", [record_id], limit=1)
        if not rows:
            raise NotFound(f"no record {record_id.hex()} in this store")
        return rows[0]

    def resolve(self, text: str) -> bytes:
        """The full id of a record named by its hex id or a unique hex prefix (8+ digits)."""
        text = text.strip().lower()
        if len(text) < 8 or any(c not in "0123456789abcdef" for c in text):
            raise UsageError(f"not a record id: {text[:80]!r} (give 8 or more hex digits)")
        if len(text) == 64:
            return bytes.fromhex(text)
        lo = bytes.fromhex(text + "0" * (len(text) % 2))
        hi = bytes.fromhex(text + "f" * (len(text) % 2)) + b"\xff" * (32 - (len(text) + 1) // 2)
        ids = [r[0] for r in self._conn.execute(
            "SELECT id FROM records WHERE id >= ? AND id <= ? LIMIT 2", (lo, hi))]
        if not ids:
            raise NotFound(f"no record starts with {text}")
        if len(ids) > 1:
            raise UsageError(f"{text} names more than one record: give more digits")
        return ids[0]

    def records(self, *, author: bytes | None = None, subject: bytes | None = None,
                facet: str | None = None, kind: str | None = None,
                since: int | None = None, until: int | None = None,
                now_ms: int | None = None, include_retracted: bool = False,
                include_expired: bool = False, limit: int | None = None) -> list[StoredRecord]:
        """Records matching every filter given, oldest first.

        Retracted records and records expired at ``now_ms`` are left out
        unless asked for; ``subject`` also matches a deal's counterparty.
        """
        where, args = [], []
        if author is not None:
            where.append("r.author = ?"); args.append(author)
        if subject is not None:
            where.append("r.subject = ?"); args.append(subject)
        if facet is not None:
            where.append("r.facet = ?"); args.append(facet)
        if kind is not None:
            if kind not in TYPE_NAMES:
                raise UsageError(f"unknown record type {kind!r}: one of {', '.join(TYPE_NAMES)}")
            where.append("r.type = ?"); args.append(TYPE_NAMES[kind].TYPE)
        if since is not None:
            where.append("r.issued >= ?"); args.append(since)
        if until is not None:
            where.append("r.issued < ?"); args.append(until)
        if not include_expired and now_ms is not None:
            where.append("(r.expires IS NULL OR r.expires > ?)"); args.append(now_ms)
        if not include_retracted:
            where.append(f"NOT {_RETRACTED}")
        return self._select(" AND ".join(where) or "1", args, limit=limit)

    def iter_raw(self, batch: int = 1000) -> Iterator[bytes]:
        """Every record's bytes, in arrival order, read in batches (for export)."""
        last = 0
        while True:
            rows = self._conn.execute(
                "SELECT rid, raw FROM records WHERE rid > ? ORDER BY rid LIMIT ?", (last, batch)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            for _, raw in rows:
                yield raw

    def head(self, author: bytes) -> tuple[int, bytes | None]:
        """The last chain position of ``author`` held here: (seq, id), or (0, None)."""
        row = self._conn.execute(
            "SELECT seq, id FROM records WHERE author = ? AND seq IS NOT NULL"
            " ORDER BY seq DESC LIMIT 1", (author,)).fetchone()
        return (row[0], row[1]) if row else (0, None)

    def profile(self, author: bytes) -> Profile | None:
        """The newest unretracted profile of ``author``."""
        rows = self._select(f"r.author = ? AND r.type = 5 AND NOT {_RETRACTED}", [author],
                            order="r.seq DESC", limit=1)
        return rows[0].record if rows else None  # type: ignore[return-value]

    def forks(self, author: bytes | None = None) -> list[Fork]:
        """Every fork proof held, or those of one author."""
        sql, args = "SELECT author, seq, id_a, id_b, found FROM forks", []
        if author is not None:
            sql += " WHERE author = ?"; args.append(author)
        return [Fork(*row) for row in self._conn.execute(sql + " ORDER BY found", args)]

    def equivocators(self) -> set[bytes]:
        """Authors caught signing two histories."""
        return {r[0] for r in self._conn.execute("SELECT DISTINCT author FROM forks")}

    def counts(self) -> dict[str, int]:
        """How many records of each type are held."""
        names = {cls.TYPE: name for name, cls in TYPE_NAMES.items()}
        out = {name: 0 for name in TYPE_NAMES}
        for type_code, n in self._conn.execute("SELECT type, COUNT(*) FROM records GROUP BY type"):
            out[names[type_code]] = n
        return out

    def integrity_check(self) -> str:
        """SQLite's own verdict on the file ("ok" when sound)."""
        return self._conn.execute("PRAGMA integrity_check").fetchone()[0]

    def _select(self, where: str, args: list, *, order: str = "r.rid", limit: int | None = None) -> list[StoredRecord]:
        sql = (f"SELECT r.id, r.raw, r.received, {_RETRACTED}, {_CONTESTED} FROM records r"
               f" WHERE {where} ORDER BY {order}")
        if limit is not None:
            sql += " LIMIT ?"; args = [*args, int(limit)]
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [StoredRecord(rid, decode(raw), raw, received, bool(ret), bool(con))
                for rid, raw, received, ret, con in rows]


def _row(rid: bytes, record: Record, raw: bytes, now: int) -> tuple:
    seq = prev = None
    if isinstance(record, CHAINED):
        seq, prev = record.seq, record.prev
    subject = facet = positive = occurred = expires = None
    if isinstance(record, Attestation):
        subject, facet, positive = record.subject, record.facet, int(record.positive)
        occurred, expires = record.occurred, record.expires
    elif isinstance(record, Deal):
        subject = record.counterparty
    elif isinstance(record, Reply):
        positive = int(record.stance == "acknowledge")
    target = link_target(record)
    return (rid, record.TYPE, record.author, seq, prev, subject, facet, positive, target,
            record.issued, occurred, expires, now, raw)


def _migrate(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(_MIGRATIONS):
        raise StoreError(f"the store has schema v{version}, newer than this trustmesh (v{len(_MIGRATIONS)})")
    for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
        conn.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
