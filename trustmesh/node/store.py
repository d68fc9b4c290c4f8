"""The record store: one SQLite file in WAL mode, written only through ``ingest``.

Every record, made here or received, enters through ``ingest`` (or its
pipelined form ``ingest_stream``): decode, check and verify signatures in a
thread pool (libsodium releases the GIL), link and chain checks, then one
transaction. A record reported ``accepted`` is
committed with ``synchronous=FULL`` before the call returns, so it survives
the process being killed a moment later (and a power cut).

Rules that depend on other records (who may retract, who may reply, whether
a deal backs an attestation) are checked at ingest when the target is known,
and applied again when records are read, so a link whose target arrives
later never takes effect wrongly.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from nacl.bindings import crypto_sign_open  # noqa: F401

from trustmesh.errors import DecodeError, InvalidRecord, NotFound, StoreError, UsageError
from trustmesh.node.ingest_jobs import (
    _HELD, _INSERT, _JOB, _LINKED, _Prepared, _check_job, _insert_rows, _link_problem, _prev_sql, _row,
)
from trustmesh.node.ingest_jobs import CLOCK, DECODE, LINK, RULE, SIGNATURE  # noqa: F401 (IngestResult.rule)
from trustmesh.protocol.records import (
    CHAINED, MAX_TIME_MS, Attestation, Deal, Profile, Record, Reply, Retraction, TYPE_NAMES, decode,
    signing_input_from_raw,
)
from trustmesh.protocol.validate import check_link, check_record, link_target

ACCEPTED, DUPLICATE, REJECTED = "accepted", "duplicate", "rejected"
FORK = "fork"   # the reason of an accepted record that proves its author forked

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
# Records that a version before the time bound kept with a time beyond it (records.py,
# MAX_TIME_MS): still shown here (read with decode(stored=True)), never offered to
# peers, who must refuse them (and would count it against us).
_BEYOND = (f"(issued > {MAX_TIME_MS} OR COALESCE(occurred, 0) > {MAX_TIME_MS}"
           f" OR COALESCE(expires, 0) > {MAX_TIME_MS})")
# An attestation is contested when its subject replied "contest" (positive = 0).
_CONTESTED = """(r.type = 1 AND EXISTS (SELECT 1 FROM records x WHERE x.type = 4
    AND x.target = r.id AND x.author = r.subject AND x.positive = 0))"""


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What happened to one record offered to ``ingest``."""

    id: bytes | None        # None when the bytes did not even decode
    status: str             # "accepted", "duplicate" or "rejected"
    reason: str | None = None   # why rejected; FORK on an accepted record completing a fork
    record: Record | None = None
    # the kind of rule a rejected record broke: DECODE, RULE, SIGNATURE, CLOCK or LINK
    # (ingest_jobs.py), so the network side can tell a relay's fault from what it could not see
    rule: str | None = None


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
        self._reader: sqlite3.Connection | None = None     # for reads that must not wait for a commit
        self._read_lock = threading.Lock()

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
            # Ingest writes B-tree pages at random (ids, authors, subjects): a page cache that
            # holds the indexes and rarer checkpoints halve the kernel time of a bulk ingest.
            conn.execute("PRAGMA cache_size=-32768")            # KiB, allocated as used
            conn.execute("PRAGMA wal_autocheckpoint=8192")      # pages
            conn.execute("PRAGMA journal_size_limit=67108864")  # bytes kept after a checkpoint
            _migrate(conn)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the store at {path}: {exc}") from None
        # One more verifier than cores: while one waits to retake the GIL, another computes.
        return cls(conn, path, verify_threads or min(4, (os.cpu_count() or 1) + 1))

    def close(self) -> None:
        """Close the file; the store cannot be used afterwards."""
        with self._lock:
            if self._pool:
                self._pool.shutdown()
            with self._read_lock:
                if self._reader is not None:
                    self._reader.close()
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
        stored even when others in it are bad. Every record reported
        ``accepted`` is committed (``synchronous=FULL``) before this returns.
        """
        return self._commit(self._prepare(list(raws), now_ms), now_ms)

    def ingest_stream(self, raws: Iterable[bytes], now_ms: int, *, batch: int = 4096) -> Iterator[IngestResult]:
        """``ingest`` over a long stream, one result per input, in order.

        The stream is cut into transactions of ``batch`` records, each
        committed as ``ingest`` would. Three stages overlap: this thread
        hashes the next batch and hands it to the pool, the pool decodes and
        verifies the batches in flight (at most three), and a writer thread
        inserts and commits the oldest (its fsync waits for the disk, not the
        CPU). A result is yielded only once its batch is committed. Larger
        batches write far fewer index pages per record: each commit rewrites
        every index page it touched, and ids, authors and subjects land at
        random places in their indexes.
        """
        if batch < 1:
            raise UsageError("batch size must be at least 1")
        in_flight: deque[Future[list[IngestResult]]] = deque()
        with ThreadPoolExecutor(1, thread_name_prefix="store-writer") as writer:
            try:
                chunk: list[bytes] = []
                for raw in itertools.chain(raws, [_END]):
                    if raw is not _END:
                        chunk.append(raw)
                        if len(chunk) < batch:
                            continue
                    if chunk:
                        in_flight.append(writer.submit(self._commit, self._prepare(chunk, now_ms), now_ms))
                        chunk = []
                    while in_flight and (in_flight[0].done() or len(in_flight) > 2 or raw is _END):
                        yield from in_flight.popleft().result()
            finally:
                for fut in in_flight:
                    fut.cancel()

    def _prepare(self, raws: list, now_ms: int) -> "_Prepared":
        """Start checking ``raws``: hash them, skip those held, hand the rest to the pool.

        Decoding, rule checks and signature checks all run in the pool, in
        jobs of ``_JOB`` records: a thread that runs Python while the
        verifiers wait to retake the GIL after each signature stalls them
        for up to a switch interval each time, so the Python work goes with
        the signatures instead of beside them. Records already held are not
        verified again (the commit checks again, under the write lock).
        """
        n = len(raws)
        prep = _Prepared(raws, [None] * n, [None] * n, [])
        waiting: list[int] = []
        for i, raw in enumerate(raws):
            if type(raw) is not bytes:
                prep.results[i] = IngestResult(None, REJECTED, "a record is bytes", rule=DECODE)
                continue
            prep.ids[i] = _sha256(raw).digest()
            waiting.append(i)
            if len(waiting) >= _JOB:
                self._submit(prep, waiting, now_ms)
                waiting = []
        if waiting:
            self._submit(prep, waiting, now_ms)
        return prep

    def _submit(self, prep: "_Prepared", indexes: list[int], now_ms: int) -> None:
        with self._read_lock:   # a second connection: reads here while the writer commits
            if self._reader is None:
                self._reader = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            held = self._existing([prep.ids[i] for i in indexes], self._reader)
        raws = [prep.raws[i] for i in indexes]
        ids = [prep.ids[i] for i in indexes]
        if self._pool is None or len(indexes) < 16:   # a thread hop costs more than a few checks
            done: Future[list[tuple]] = Future()
            done.set_result(_check_job(raws, ids, held, now_ms))
            prep.jobs.append((indexes, done))
        else:
            prep.jobs.append((indexes, self._pool.submit(_check_job, raws, ids, held, now_ms)))

    def _commit(self, prep: "_Prepared", now_ms: int) -> list[IngestResult]:
        """Write the records of ``prep`` that passed, in one transaction; the results, in order.

        Jobs are written as they come back from the pool, so the inserts of
        one overlap the verification of the next. Duplicates are found by the
        insert itself (ON CONFLICT), so a batch of new records costs no
        lookup; link targets are looked up once per job that has links.
        """
        results, ids = prep.results, prep.ids
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    first_rid = self._conn.execute("SELECT coalesce(max(rid), 0) + 1 FROM records").fetchone()[0]
                    chained: dict[bytes, Record] = {}
                    seen: set[bytes] = set()
                    for indexes, job in prep.jobs:
                        checked = job.result()
                        targets = self._link_targets(checked)
                        rows, written = [], []
                        for i, (record, reason, row) in zip(indexes, checked):
                            rid = ids[i]
                            if reason is _HELD:
                                results[i] = IngestResult(rid, DUPLICATE, None, record)
                                continue
                            if reason is None and rid in seen:
                                results[i] = IngestResult(rid, DUPLICATE, None, record)
                                continue
                            if reason is None and record.TYPE in _LINKED:
                                reason = _link_problem(record, targets)
                            if reason is not None:
                                results[i] = IngestResult(rid, REJECTED, reason.text, record, reason.rule)
                                continue
                            seen.add(rid)
                            rows.append(row)
                            written.append(i)
                            results[i] = IngestResult(rid, ACCEPTED, None, record)
                            if row[3] is not None:
                                chained[rid] = record
                        if rows and _insert_rows(self._conn, rows) < len(rows):
                            # Some were stored since _prepare looked (by another ingest, or the
                            # previous batch of a stream): held before this transaction began.
                            for (rid,) in self._conn.execute(
                                    f"SELECT id FROM records WHERE rid < ? AND id IN ({','.join('?' * len(rows))})",
                                    [first_rid, *(row[0] for row in rows)]):
                                chained.pop(rid, None)
                                for i in written:
                                    if ids[i] == rid:
                                        results[i] = IngestResult(rid, DUPLICATE, None, results[i].record)
                    forks = self._chain_conflicts(chained, first_rid, now_ms)
                    if forks:
                        self._conn.executemany("INSERT OR IGNORE INTO forks VALUES (?,?,?,?,?)", forks)
                        _mark_forks(results, forks)
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"store write failed, nothing of this batch was stored: {exc}") from None
        return results  # type: ignore[return-value]

    def _existing(self, ids: Sequence[bytes], conn: sqlite3.Connection | None = None) -> set[bytes]:
        conn = conn or self._conn
        held: set[bytes] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            held.update(r[0] for r in conn.execute(f"SELECT id FROM records WHERE id IN ({marks})", chunk))
        return held

    def _link_targets(self, checked: list[tuple]) -> dict[bytes, Record]:
        """The known targets of the links in one job: in the job, or held (this transaction included).

        A target later in the same batch counts as not known yet: the link
        is stored, and the rule is applied when the records are read.
        """
        wanted = {link_target(rec) for rec, reason, _ in checked if reason is None and rec.TYPE in _LINKED}
        wanted.discard(None)
        if not wanted:
            return {}
        found = {row[0]: rec for rec, reason, row in checked if reason is None and row[0] in wanted}
        missing = list(wanted - found.keys())
        for start in range(0, len(missing), 500):
            chunk = missing[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for rid, raw in self._conn.execute(f"SELECT id, raw FROM records WHERE id IN ({marks})", chunk):
                found[rid] = decode(raw, stored=True)
        return found

    def _chain_conflicts(self, chained: dict[bytes, Record], first_rid: int, now: int) -> list[tuple]:
        """Fork proofs completed by the ``chained`` records just written (rowids from ``first_rid``).

        A fork is two different records at one (author, seq), or a record
        whose prev is not the id of the record held at seq - 1. One query
        joins every new row to its held neighbours at seq - 1, seq and
        seq + 1 (the new rows included, so a fork inside one batch is caught
        too); only a successor's bytes are fetched, to read its prev.
        """
        if not chained:
            return []
        found = set()
        for new_id, seq, other, raw in self._conn.execute(
                "SELECT n.id, o.seq, o.id, CASE WHEN o.seq > n.seq THEN o.raw END"
                " FROM records n JOIN records o ON o.author = n.author"
                " AND o.seq BETWEEN n.seq - 1 AND n.seq + 1"
                " WHERE n.rid >= ? AND n.seq IS NOT NULL AND o.id != n.id"
                f" AND NOT (o.seq = n.seq - 1 AND o.id = {_prev_sql('n')})"
                f" AND NOT (o.seq = n.seq + 1 AND n.id = {_prev_sql('o')})", (first_rid,)):
            rec = chained[new_id]
            if seq == rec.seq:                              # two records at one position
                found.add((rec.author, seq, *sorted((new_id, other)), now))
            elif seq < rec.seq:                             # the held predecessor is not our prev
                if other != rec.prev:
                    found.add((rec.author, seq, *sorted((other, new_id)), now))
            else:                                           # a held successor does not point at us
                follower = chained.get(other) or decode(raw, stored=True)
                if follower.prev != new_id:
                    found.add((rec.author, rec.seq, *sorted((new_id, other)), now))
        return sorted(found)

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
        return [StoredRecord(rid, decode(raw, stored=True), raw, received, bool(ret), bool(con))
                for rid, raw, received, ret, con in rows]


    # ---- trust evidence (for trustmesh.node.trustview; read-only) ------------

    def change_counter(self) -> tuple[int, int]:
        """A value that changes whenever a record or a fork proof is stored."""
        with self._lock:
            rid = self._conn.execute("SELECT COALESCE(MAX(rid), 0) FROM records").fetchone()[0]
            forks = self._conn.execute("SELECT COUNT(*) FROM forks").fetchone()[0]
        return rid, forks

    def evidence_changes_after(self, rid: int) -> bool:
        """True when records stored after ``rid`` change rows read before (not just add rows).

        That is: a retraction or a reply, or a deal that an attestation held
        before names (its ``dealt`` flag flips). Anything else only adds rows.
        """
        with self._lock:
            return self._conn.execute(
                "SELECT EXISTS (SELECT 1 FROM records WHERE rid > ? AND type IN (3, 4))"
                " OR EXISTS (SELECT 1 FROM records d JOIN records a ON a.target = d.id"
                " WHERE d.rid > ? AND d.type = 2 AND a.rid <= ?)", (rid, rid, rid)).fetchone()[0] == 1

    def evidence_rows(self, after: int = 0) -> dict[str, tuple]:
        """The columns trust reads, straight from SQL, without decoding any record.

        ``attestations``: columns (rid, author, subject, facet, positive,
        dealt, contested, occurred, expires) of every unretracted attestation,
        expired ones included (expiry depends on the time of the question);
        ``dealt`` is 1 when it names an unretracted deal between its author
        and subject that is held here. ``deals``: columns (author,
        counterparty, issued) of unretracted deals. ``equivocators``: authors
        caught forking. Retraction and reply rules are those of ``records``.
        ``after``: only attestations and deals stored after that row id (an
        incremental read; see ``evidence_changes_after`` for when it is enough).
        """
        retracted = ("SELECT r.rid FROM records x JOIN records r ON r.id = x.target WHERE x.type = 3"
                     " AND (x.author = r.author OR (r.type = 2 AND x.author = r.subject))")
        parties = ("((d.author = a.author AND d.subject = a.subject)"
                   " OR (d.author = a.subject AND d.subject = a.author))")
        if after == 0:
            # A full read: one index lookup per attestation into all 1.25M records was most of
            # the time (8.6 s at 1M); into temp tables of the live deals and the contesting
            # replies it is 4.7 s, building them included.
            prepare = [
                "CREATE TEMP TABLE live_deals (id BLOB PRIMARY KEY, author BLOB, subject BLOB) WITHOUT ROWID",
                "INSERT INTO live_deals SELECT id, author, subject FROM records"
                " WHERE type = 2 AND rid NOT IN retracted",
                "CREATE TEMP TABLE contests (target BLOB, author BLOB, PRIMARY KEY (target, author))"
                " WITHOUT ROWID",
                "INSERT OR IGNORE INTO contests SELECT target, author FROM records"
                " WHERE type = 4 AND positive = 0"]
            dealt = f"EXISTS (SELECT 1 FROM live_deals d WHERE d.id = a.target AND {parties})"
            contested = "EXISTS (SELECT 1 FROM contests x WHERE x.target = a.id AND x.author = a.subject)"
        else:
            prepare = []
            dealt = (f"EXISTS (SELECT 1 FROM records d WHERE d.id = a.target AND d.type = 2 AND {parties}"
                     " AND d.rid NOT IN retracted)")
            contested = ("EXISTS (SELECT 1 FROM records x WHERE x.type = 4 AND x.target = a.id"
                         " AND x.author = a.subject AND x.positive = 0)")
        attestations = f"""
            SELECT a.rid, a.author, a.subject, a.facet, a.positive,
              a.target IS NOT NULL AND {dealt}, {contested}, a.occurred, COALESCE(a.expires, -1)
            FROM records a WHERE a.type = 1 AND a.rid > ? AND a.rid NOT IN retracted ORDER BY a.rid"""
        deals = ("SELECT author, subject, issued FROM records WHERE type = 2"
                 " AND rid > ? AND rid NOT IN retracted")
        temps = ("retracted", "live_deals", "contests")
        with self._lock:
            for name in temps:
                self._conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
            try:
                self._conn.execute(f"CREATE TEMP TABLE retracted AS {retracted}")
                for sql in prepare:
                    self._conn.execute(sql)
                att = self._conn.execute(attestations, (after,)).fetchall()
                dl = self._conn.execute(deals, (after,)).fetchall()
            finally:
                for name in temps:
                    self._conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
            cheats = [r[0] for r in self._conn.execute("SELECT DISTINCT author FROM forks")]
        return {"attestations": tuple(zip(*att)) or ((),) * 9, "deals": tuple(zip(*dl)) or ((),) * 3,
                "equivocators": tuple(cheats)}

    def record_ids(self, rids: Sequence[int]) -> list[bytes]:
        """The record ids of the given row ids (``evidence_rows``' first column), in order."""
        found: dict[int, bytes] = {}
        with self._lock:
            for start in range(0, len(rids), 500):
                chunk = list(rids[start:start + 500])
                marks = ",".join("?" * len(chunk))
                found.update(self._conn.execute(f"SELECT rid, id FROM records WHERE rid IN ({marks})", chunk))
        return [found[r] for r in rids]

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
        """Every record id held that may be offered to peers, sorted (for set reconciliation)."""
        with self._lock:
            ids = [r[0] for r in self._conn.execute("SELECT id FROM records ORDER BY id")]
            beyond = {r[0] for r in self._conn.execute(f"SELECT id FROM records WHERE {_BEYOND}")}
        return [i for i in ids if i not in beyond] if beyond else ids

    def backup(self, dest: str | os.PathLike) -> int:
        """Copy the whole store, consistent, into a new SQLite file ``dest``; its record count.

        SQLite's online backup: safe while the node keeps writing; ``dest``
        is written to a temporary name and renamed, so it is never half a file.
        """
        dest = Path(dest)
        if dest.exists():
            raise UsageError(f"{dest} exists: choose a new file")
        tmp = dest.with_name(dest.name + ".partial")
        target = sqlite3.connect(tmp)
        try:
            with self._lock:
                self._conn.backup(target)
            count = target.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        finally:
            target.close()
        os.chmod(tmp, 0o600)
        os.replace(tmp, dest)
        return count

    def linked_to(self, ids: Sequence[bytes]) -> list[bytes]:
        """The bytes of the retractions and replies held that target any of ``ids``."""
        return self._raws_where("target", ids)

    def raws_for(self, ids: Sequence[bytes]) -> list[bytes]:
        """The bytes of the records among ``ids`` that are held (order not kept)."""
        return self._raws_where("id", ids)

    def _raws_where(self, column: str, ids: Sequence[bytes]) -> list[bytes]:
        """The raws peers may be sent: none beyond the time bound (a deal's ``due`` is only in its bytes)."""
        out: list[bytes] = []
        with self._lock:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start:start + 500])
                marks = ",".join("?" * len(chunk))
                out.extend(raw for kind, raw in self._conn.execute(
                    f"SELECT type, raw FROM records WHERE {column} IN ({marks}) AND NOT {_BEYOND}"
                    " ORDER BY rid", chunk) if kind != Deal.TYPE or _within_bound(raw))
        return out


def _within_bound(raw: bytes) -> bool:
    try:
        decode(raw)
    except DecodeError:
        return False
    return True


def _mark_forks(results: list, forks: list[tuple]) -> None:
    """Say FORK on the accepted results that completed a fork proof (the caller announces it)."""
    in_fork = {fork[2] for fork in forks} | {fork[3] for fork in forks}
    for i, res in enumerate(results):
        if res is not None and res.status == ACCEPTED and res.id in in_fork:
            results[i] = IngestResult(res.id, ACCEPTED, FORK, res.record)


_sha256 = hashlib.sha256
_END = object()     # marks the end of an ingest stream


def _migrate(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(_MIGRATIONS):
        raise StoreError(f"the store has schema v{version}, newer than this trustmesh (v{len(_MIGRATIONS)})")
    for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
        conn.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
