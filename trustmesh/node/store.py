"""The record store: one SQLite file in WAL mode, written only through ``ingest``.

Every record, made here or received, enters through ``ingest``: decode,
check, verify signatures (on every core, libsodium releases the GIL), link
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from nacl.bindings import crypto_sign_open

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
    CREATE INDEX records_facet ON records(facet, issued) WHERE facet IS NOT NULL;
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

    def __init__(self, conn: sqlite3.Connection, path: Path, verify_threads: int) -> None:
        self._conn = conn
        self.path = path
        self._lock = threading.RLock()
        self._pool = ThreadPoolExecutor(verify_threads, thread_name_prefix="verify") if verify_threads > 1 else None
        self._threads = verify_threads

    @classmethod
    def open(cls, path: str | os.PathLike, *, verify_threads: int | None = None) -> "Store":
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
            _migrate(conn)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the store at {path}: {exc}") from None
        return cls(conn, path, verify_threads or min(4, os.cpu_count() or 1))

    def close(self) -> None:
        """Close the file; the store cannot be used afterwards."""
        with self._lock:
            if self._pool:
                self._pool.shutdown()
            self._conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- writing ---------------------------------------------------------

    def ingest(self, raws: Iterable[bytes], now_ms: int) -> list[IngestResult]:
        """Verify and store a batch; one result per input, in order.

        Idempotent: a record already held is reported ``duplicate``. Nothing
        that fails a check is written, and the good records of a batch are
        stored even when others in it are bad.
        """
        raws = list(raws)
        results: list[IngestResult | None] = [None] * len(raws)
        ids = [hashlib.sha256(raw).digest() if isinstance(raw, bytes) else None for raw in raws]
        decoded: dict[int, Record] = {}
        seen: set[bytes] = set()
        for i, raw in enumerate(raws):
            try:
                if ids[i] is None:
                    raise DecodeError("a record is bytes")
                record = decode(raw)
                check_record(record, now_ms, verify=False)
            except (DecodeError, InvalidRecord) as exc:
                results[i] = IngestResult(ids[i], REJECTED, str(exc))
                continue
            if ids[i] in seen:
                results[i] = IngestResult(ids[i], DUPLICATE, None, record)
                continue
            seen.add(ids[i])
            decoded[i] = record
        with self._lock:
            held = self._existing([ids[i] for i in decoded])
            todo = []
            for i, record in decoded.items():
                if ids[i] in held:
                    results[i] = IngestResult(ids[i], DUPLICATE, None, record)
                else:
                    todo.append(i)
            bad_sigs = self._verify([(raws[i], decoded[i]) for i in todo])
            batch: dict[bytes, Record] = {ids[i]: decoded[i] for i in todo}
            rows, forks = [], []
            for k, i in enumerate(todo):
                record = decoded[i]
                if k in bad_sigs:
                    results[i] = IngestResult(ids[i], REJECTED, f"{record.NAME}: signature does not verify", record)
                    del batch[ids[i]]
                    continue
                reason = self._link_problem(record, batch)
                if reason:
                    results[i] = IngestResult(ids[i], REJECTED, reason, record)
                    del batch[ids[i]]
                    continue
                rows.append(_row(ids[i], record, raws[i], now_ms))
                results[i] = IngestResult(ids[i], ACCEPTED, None, record)
            try:
                with self._conn:
                    self._conn.execute("BEGIN IMMEDIATE")
                    self._conn.executemany(
                        "INSERT INTO records (id, type, author, seq, subject, facet, positive,"
                        " target, issued, occurred, expires, received, raw)"
                        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
                    for row in rows:
                        if row[3] is not None:
                            forks.extend(self._chain_conflicts(row[0], row[2], row[3], row[-1], now_ms))
                    self._conn.executemany(
                        "INSERT OR IGNORE INTO forks VALUES (?,?,?,?,?)", forks)
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"store write failed, nothing of this batch was stored: {exc}") from None
        return results  # type: ignore[return-value]

    def _existing(self, ids: Sequence[bytes]) -> set[bytes]:
        held: set[bytes] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            held.update(r[0] for r in self._conn.execute(f"SELECT id FROM records WHERE id IN ({marks})", chunk))
        return held

    def _verify(self, items: list[tuple[bytes, Record]]) -> set[int]:
        """Indexes of the items whose signatures fail; spread over threads."""
        if not items:
            return set()
        jobs = [(raw, rec, signing_input_from_raw(raw, rec)) for raw, rec in items]
        if self._pool is None or len(jobs) < 64:
            return {k for k in _failing(jobs, 0)}
        size = -(-len(jobs) // self._threads)
        parts = [jobs[s:s + size] for s in range(0, len(jobs), size)]
        futures = [self._pool.submit(_failing, part, n * size) for n, part in enumerate(parts)]
        bad: set[int] = set()
        for fut in futures:
            bad.update(fut.result())
        return bad

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

    def _chain_conflicts(self, rid: bytes, author: bytes, seq: int, raw: bytes, now: int) -> list[tuple]:
        """Fork proofs this record completes: same position, or a broken prev link."""
        found = []
        for (other,) in self._conn.execute(
                "SELECT id FROM records WHERE author = ? AND seq = ? AND id != ?", (author, seq, rid)):
            found.append((author, seq, *sorted((rid, other)), now))
        record = decode(raw)
        if record.prev is not None:
            for (before,) in self._conn.execute(
                    "SELECT id FROM records WHERE author = ? AND seq = ?", (author, seq - 1)):
                if before != record.prev:
                    found.append((author, seq - 1, *sorted((before, rid)), now))
        for (after_id, after_raw) in self._conn.execute(
                "SELECT id, raw FROM records WHERE author = ? AND seq = ?", (author, seq + 1)):
            if decode(after_raw).prev != rid:
                found.append((author, seq, *sorted((rid, after_id)), now))
        return found

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

    # ---- network node helpers (node/p2p, node/node.py) -------------------

    def held(self, ids: Sequence[bytes]) -> set[bytes]:
        """Which of ``ids`` are held here."""
        with self._lock:
            return self._existing(list(ids))

    def trust_edges(self) -> list[tuple[bytes, bytes]]:
        """(from, to) pairs that give weight: deals (both ways) and unretracted positive attestations."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT r.type, r.author, r.subject FROM records r WHERE (r.type = 2"
                f" OR (r.type = 1 AND r.positive = 1)) AND NOT {_RETRACTED}").fetchall()
        edges = []
        for kind, author, subject in rows:
            edges.append((author, subject))
            if kind == 2:
                edges.append((subject, author))
        return edges

    def author_counts(self) -> dict[bytes, int]:
        """How many records each author has here."""
        with self._lock:
            return dict(self._conn.execute("SELECT author, COUNT(*) FROM records GROUP BY author"))

    def last_rowid(self) -> int:
        """The arrival number of the newest record held (0 when empty)."""
        with self._lock:
            return self._conn.execute("SELECT COALESCE(MAX(rid), 0) FROM records").fetchone()[0]

    def arrived_after(self, rowid: int, limit: int = 5000) -> list[tuple[int, bytes, bytes]]:
        """(arrival number, id, raw) of records stored after ``rowid``, oldest first.

        Lets a running node notice records another process (the CLI) wrote
        into the same store, and announce them.
        """
        with self._lock:
            return self._conn.execute(
                "SELECT rid, id, raw FROM records WHERE rid > ? ORDER BY rid LIMIT ?",
                (rowid, limit)).fetchall()

    def all_ids(self) -> list[bytes]:
        """Every record id held, sorted (for set reconciliation)."""
        with self._lock:
            return [r[0] for r in self._conn.execute("SELECT id FROM records ORDER BY id")]

    def raws_for(self, ids: Sequence[bytes]) -> list[bytes]:
        """The bytes of the records among ``ids`` that are held (order not kept)."""
        out: list[bytes] = []
        with self._lock:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start:start + 500])
                marks = ",".join("?" * len(chunk))
                out.extend(r[0] for r in self._conn.execute(
                    f"SELECT raw FROM records WHERE id IN ({marks})", chunk))
        return out


def _failing(jobs: list[tuple[bytes, Record, bytes]], offset: int) -> list[int]:
    """Indexes (plus ``offset``) of jobs whose signatures do not verify."""
    bad = []
    for k, (raw, record, message) in enumerate(jobs):
        try:
            crypto_sign_open(record.sig + message, record.author)
            if isinstance(record, Deal):
                crypto_sign_open(record.counter_sig + message, record.counterparty)
        except Exception:   # libsodium's BadSignatureError, or a malformed key
            bad.append(offset + k)
    return bad


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


def _migrate(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(_MIGRATIONS):
        raise StoreError(f"the store has schema v{version}, newer than this trustmesh (v{len(_MIGRATIONS)})")
    for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
        conn.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
