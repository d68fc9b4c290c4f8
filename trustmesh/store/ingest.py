"""Writing: every record, made here or received, enters the store through ``ingest``.

Decode, check and verify in a thread pool (``checks.check_job``; libsodium
releases the GIL), then link and chain checks and one transaction on the
writer connection. A record reported ``accepted`` is committed with
``synchronous=FULL`` before the call returns, so it survives the process
being killed a moment later (and a power cut).

Rules that depend on other records (who may retract, who may reply, whether
a deal backs an attestation) are checked here when the target is known,
and applied again when records are read, so a link whose target arrives
later never takes effect wrongly. A deal link that key events may yet
satisfy is checked again after the batch's key events are applied, and
kept aside (``parked.py``) if it still fails.
"""

from __future__ import annotations

import hashlib
import itertools
import sqlite3
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from trustmesh.errors import StoreError, UsageError
from trustmesh.protocol.records import Attestation, Record, Reply, Retraction, decode
from trustmesh.protocol.validate import link_target
from trustmesh.protocol.validate import LINK, MALFORMED, QUOTA
from trustmesh.store.checks import HELD, JOB, STRANGERS, check_job, link_problem
from trustmesh.store.keys import VOID_REASON, member_of_key
from trustmesh.store.parked import PARKED_NOTE, Parked, waits_on_keys
from trustmesh.store.results import ACCEPTED, DUPLICATE, FORK, REJECTED, IngestResult
from trustmesh.store.schema import COLUMNS, KEYEVENT


_LINKED = frozenset((Attestation.TYPE, Retraction.TYPE, Reply.TYPE))   # types that may point at a record
_SHAPES = (256, 64, 16, 4, 1)   # rows per INSERT statement: one GIL release per statement, not per row
_ROW = "(" + ",".join("?" * len(COLUMNS)) + ")"
# OR IGNORE, not ON CONFLICT(id) DO NOTHING: a statement that may abort half-way (on any
# other constraint) keeps a statement journal, a copy of every page it touches, and a
# 256-row statement touches hundreds of random index pages: 80% of the bytes an ingest
# wrote, and a third of its SQLite time. A row skipped for another reason than its id is
# caught after the insert (``_held_before``), so nothing is reported stored that is not.
_INSERT = f"INSERT OR IGNORE INTO records ({', '.join(COLUMNS)}) VALUES {{rows}}"
_END = object()     # marks the end of an ingest stream

# Decides, per valid new record, whether it may be stored (the strangers' quota); None: all may.
Admit = Callable[[Record], bool]
# Asked per new record before its signatures are checked: False drops it (fault QUOTA) at the
# cost of a decode; the cheap side of ``Admit`` (it must never say False where Admit says True).
Precheck = Callable[[bytes], bool]


@dataclass(slots=True)
class _Prepared:
    """A batch hashed and handed to the pool, job by job."""

    raws: list
    ids: list                       # record id per input (None: not bytes)
    results: list                   # IngestResult already known (not bytes), else None
    jobs: list[tuple[list[int], "Future[list[tuple]]"]]   # input indexes, and their check_job output


class Ingest(Parked):
    """The writing half of the store."""

    _pool: ThreadPoolExecutor | None

    def ingest(self, raws: Iterable[bytes], now_ms: int, admit: Admit | None = None,
               precheck: Precheck | None = None) -> list[IngestResult]:
        """Verify and store a batch; one result per input, in order.

        Idempotent: a record already held is reported ``duplicate``. Nothing
        that fails a check is written, and the good records of a batch are
        stored even when others in it are bad. ``admit`` is asked about each
        valid new record; one it refuses is rejected with the fault QUOTA.
        Every record reported ``accepted`` is committed before this returns.
        """
        return self._commit(self._prepare(list(raws), now_ms, precheck), now_ms, admit)

    def prepare(self, raws: Iterable[bytes], now_ms: int, precheck: Precheck | None = None) -> "_Prepared":
        """The first half of ``ingest``, in any thread: hash, skip held, start the pool's checks.

        Why apart: a caller that has the next batch while this one commits
        (the intake, fed by a sync stream) prepares it beside the commit,
        as ``ingest_stream`` does, so the verifiers never wait for a fsync.
        Hand the result to ``commit`` exactly once.
        """
        return self._prepare(list(raws), now_ms, precheck)

    def commit(self, prepared: "_Prepared", now_ms: int, admit: Admit | None = None) -> list[IngestResult]:
        """The second half of ``ingest`` (the writer's part): ``ingest``'s results, in order."""
        return self._commit(prepared, now_ms, admit)

    def ingest_stream(self, raws: Iterable[bytes], now_ms: int, *, batch: int = 4096,
                      admit: Admit | None = None) -> Iterator[IngestResult]:
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
                        in_flight.append(writer.submit(self._commit, self._prepare(chunk, now_ms), now_ms, admit))
                        chunk = []
                    while in_flight and (in_flight[0].done() or len(in_flight) > 2 or raw is _END):
                        yield from in_flight.popleft().result()
            finally:
                for fut in in_flight:
                    fut.cancel()

    def _prepare(self, raws: list, now_ms: int, precheck: Precheck | None = None) -> _Prepared:
        """Start checking ``raws``: hash them, skip those held, hand the rest to the pool.

        Records already held are not verified again (the commit checks
        again, under the write lock).
        """
        n = len(raws)
        prep = _Prepared(raws, [None] * n, [None] * n, [])
        waiting: list[int] = []
        for i, raw in enumerate(raws):
            if type(raw) is not bytes:
                prep.results[i] = IngestResult(None, REJECTED, "a record is bytes", fault=MALFORMED)
                continue
            prep.ids[i] = hashlib.sha256(raw).digest()
            waiting.append(i)
            if len(waiting) >= JOB:
                self._submit(prep, waiting, now_ms, precheck)
                waiting = []
        if waiting:
            self._submit(prep, waiting, now_ms, precheck)
        return prep

    def _submit(self, prep: _Prepared, indexes: list[int], now_ms: int, precheck: Precheck | None) -> None:
        ids = [prep.ids[i] for i in indexes]
        held = set(row[0] for row in self._in_chunks("SELECT id FROM records WHERE id IN ({marks})", ids))
        raws = [prep.raws[i] for i in indexes]
        if self._pool is None or len(indexes) < 16:   # a thread hop costs more than a few checks
            done: Future[list[tuple]] = Future()
            done.set_result(check_job(raws, ids, held, now_ms, precheck))
            prep.jobs.append((indexes, done))
        else:
            prep.jobs.append((indexes, self._pool.submit(check_job, raws, ids, held, now_ms, precheck)))

    def _commit(self, prep: _Prepared, now_ms: int, admit: Admit | None) -> list[IngestResult]:
        """Write the records of ``prep`` that passed, in one transaction; the results, in order.

        Jobs are written as they come back from the pool, so the inserts of
        one overlap the verification of the next. Duplicates are found by the
        insert itself (ON CONFLICT), so a batch of new records costs no
        lookup; link targets are looked up once per job that has links.
        """
        results, ids = prep.results, prep.ids
        with self._writing() as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
                committed = False
                try:
                    first_rid = conn.execute("SELECT coalesce(max(rid), 0) + 1 FROM records").fetchone()[0]
                    chained: dict[bytes, Record] = {}
                    keyed: set[bytes] = set()       # members whose key events this transaction stores
                    seen: set[bytes] = set()
                    waiting: list[tuple] = []       # refused by L6 for now: (index, record, row, deal)
                    for indexes, job in prep.jobs:
                        checked = job.result()
                        targets = self._link_targets(conn, checked)
                        job_keyed: Counter[bytes] = Counter()
                        rows, written = [], []
                        for i, (record, fault, reason, row) in zip(indexes, checked):
                            rid = ids[i]
                            if reason is HELD or (reason is None and rid in seen):
                                results[i] = IngestResult(rid, DUPLICATE, None, record)
                                continue
                            if reason is None and targets and record.TYPE in _LINKED:   # none known: nothing to judge yet
                                reason = link_problem(record, targets, lambda key: member_of_key(conn, key))
                                fault = LINK if reason else None
                                if reason is not None and waits_on_keys(record, targets):
                                    # key events later in this batch, or to come, may link it
                                    waiting.append((i, record, row, targets[record.deal]))
                                    seen.add(rid)
                                    results[i] = IngestResult(rid, REJECTED, reason + PARKED_NOTE, record, LINK)
                                    continue
                            if reason is None:
                                reason = self.void_reason(record)
                                fault = LINK if reason else None
                            if reason is None and record.TYPE == KEYEVENT and self._key_events_full(conn, record.member, job_keyed):
                                reason, fault = "this node holds as many key events about this member as it keeps", QUOTA
                            if reason is None and admit is not None and not admit(record):
                                reason, fault = STRANGERS, QUOTA
                            if reason is not None:
                                results[i] = IngestResult(rid, REJECTED, reason, record, fault)
                                continue
                            seen.add(rid)
                            rows.append(row)
                            written.append(i)
                            results[i] = IngestResult(rid, ACCEPTED, None, record)
                            if row[3] is not None:
                                chained[rid] = record
                            elif record.TYPE == KEYEVENT:
                                keyed.add(record.member)
                                job_keyed[record.member] += 1
                        inserted = _insert_rows(conn, rows) if rows else 0
                        if inserted < len(rows):
                            self._held_before(conn, first_rid, rows, inserted, written, results, chained)
                    if keyed:
                        self._voided_ids.extend(_void_results(results, self._rekey(conn, keyed, now_ms)))
                    rows, revived, raws = self._settle(conn, prep.raws, waiting, keyed, now_ms, admit, results)
                    if rows and _insert_rows(conn, rows) < len(rows):
                        raise StoreError("a record kept aside was stored by another write meanwhile")
                    chained.update((res.id, res.record) for res in revived)
                    chained.update((results[i].id, results[i].record) for i, *_ in waiting
                                   if results[i].status == ACCEPTED)
                    forks = self._chain_conflicts(conn, chained, first_rid, now_ms)
                    if forks:
                        conn.executemany("INSERT OR IGNORE INTO forks VALUES (?,?,?,?,?)", forks)
                        _mark_forks(results, forks)
                        _mark_forks(revived, forks)
                    self._txn[0].extend(zip(revived, raws))
                    conn.execute("COMMIT")
                    committed = True
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                finally:
                    if keyed:
                        self._after_rekey()
                    self._end_parked(committed)
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"store write failed, nothing of this batch was stored: {exc}") from None
        return results  # type: ignore[return-value]

    @staticmethod
    def _held_before(conn, first_rid: int, rows: list, inserted: int, written: list[int], results: list,
                     chained: dict) -> None:
        """Some rows were stored since _prepare looked (by another ingest, or the previous
        batch of a stream): they were held before this transaction began."""
        marks = ",".join("?" * len(rows))
        held = 0
        for (rid,) in conn.execute(f"SELECT id FROM records WHERE rid < ? AND id IN ({marks})",
                                   [first_rid, *(row[0] for row in rows)]):
            held += 1
            chained.pop(rid, None)
            for i in written:
                if results[i].id == rid:
                    results[i] = IngestResult(rid, DUPLICATE, None, results[i].record)
        if inserted + held < len(rows):     # OR IGNORE skipped a row for another constraint
            raise StoreError(f"{len(rows) - inserted - held} rows were not written")

    def _link_targets(self, conn, checked: list[tuple]) -> dict[bytes, Record]:
        """The known targets of the links in one job: in the job, or held (this transaction included).

        A target later in the same batch counts as not known yet: the link
        is stored, and the rule is applied when the records are read.
        """
        wanted = {link_target(rec) for rec, _, reason, _ in checked if reason is None and rec.TYPE in _LINKED}
        wanted.discard(None)
        if not wanted:
            return {}
        found = {row[0]: rec for rec, _, reason, row in checked if reason is None and row[0] in wanted}
        missing = list(wanted - found.keys())
        for rid, raw in self._in_chunks("SELECT id, raw FROM records WHERE id IN ({marks})", missing, conn):
            found[rid] = decode(raw, stored=True)
        return found

    @staticmethod
    def _chain_conflicts(conn, chained: dict[bytes, Record], first_rid: int, now: int) -> list[tuple]:
        """Fork proofs completed by the ``chained`` records just written (rowids from ``first_rid``).

        A fork is two different records at one (author, seq), or a record
        whose prev is not the id of the record held at seq - 1. One query
        joins every new row to its held neighbours at seq - 1, seq and
        seq + 1 (the new rows included, so a fork inside one batch is caught
        too), skipping the neighbours that link up, so a healthy chain
        returns no row at all.
        """
        if not chained:
            return []
        found = set()
        for new_id, seq, other, other_prev in conn.execute(
                "SELECT n.id, o.seq, o.id, o.prev"
                " FROM records n JOIN records o ON o.author = n.author"
                " AND o.seq BETWEEN n.seq - 1 AND n.seq + 1"
                " WHERE n.rid >= ? AND n.seq IS NOT NULL AND o.id != n.id"
                " AND NOT (o.seq = n.seq - 1 AND o.id = n.prev)"
                " AND NOT (o.seq = n.seq + 1 AND o.prev = n.id)", (first_rid,)):
            rec = chained[new_id]
            if seq == rec.seq:                              # two records at one position
                found.add((rec.author, seq, *sorted((new_id, other)), now))
            elif seq < rec.seq:                             # the held predecessor is not our prev
                found.add((rec.author, seq, *sorted((other, new_id)), now))
            else:                                           # a held successor does not point at us
                found.add((rec.author, rec.seq, *sorted((new_id, other)), now))
        return sorted(found)


def _insert_rows(conn: sqlite3.Connection, rows: list[tuple]) -> int:
    """Insert ``rows`` unless their id is held; how many were new.

    Multi-row statements: executemany releases and retakes the GIL around
    every row, and each retake waits for whichever thread holds it (the
    decoder), a convoy that halved ingest speed. A statement of 256 rows
    retakes it once. Only the row counts of ``_SHAPES`` are used (a batch of
    300 is 256 + 16 + 16 + 4 + 4 + 4): every row count is a statement of
    its own in the connection's statement cache, and a 256-row one holds
    hundreds of KiB, so one per count grew the writer's memory for as long
    as the node ran.
    """
    before = conn.total_changes
    start = 0
    for size in _SHAPES:
        while len(rows) - start >= size:
            part = rows[start:start + size]
            conn.execute(_INSERT.format(rows=",".join([_ROW] * size)), [v for row in part for v in row])
            start += size
    return conn.total_changes - before


def _void_results(results: list, voided: list[bytes]) -> list[bytes]:
    """Say rejected on the results of this batch whose record a key event of the batch voided;
    the voided ids held before this batch."""
    gone = set(voided)
    for i, res in enumerate(results):
        if res is not None and res.status == ACCEPTED and res.id in gone:
            gone.discard(res.id)
            results[i] = IngestResult(res.id, REJECTED, VOID_REASON, res.record, LINK)
    return [rid for rid in voided if rid in gone]


def _mark_forks(results: list, forks: list[tuple]) -> None:
    """Say FORK on the accepted results that completed a fork proof (the caller announces it)."""
    in_fork = {fork[2] for fork in forks} | {fork[3] for fork in forks}
    for i, res in enumerate(results):
        if res is not None and res.status == ACCEPTED and res.id in in_fork:
            results[i] = IngestResult(res.id, ACCEPTED, FORK, res.record)

