"""Records kept aside until the key events they need arrive (issue 15).

An attestation may name a deal the client made with another key of the
subject member (a device, a successor): rule L6 holds only once the key
events that link that key to the member are held. Key events and records
travel separately (gossip, sync batches), so the attestation often comes
first. Refusing it for good would lose it on this node for ever: its id is
counted as held for sync (so peers stop offering it), and a link verdict
was taken never to change. So such a record, verified in full (decode,
rules, signatures) and refused only by L6 against a deal held here, is kept
in the ``parked`` table instead, under the keys whose key events could
satisfy it (the attestation's author and subject, the deal's two signers).

- When a key event about a member is stored, the parked records under any
  key of that member are checked again in the same transaction; those that
  now pass every rule are stored as if they had just arrived (the store's
  caller announces them: ``pop_revived``).
- The table is bounded: at most ``PARK_CAP`` records (the oldest leave
  first), each for at most ``PARK_TTL_MS`` (by the receiver's clock, passed
  in). A record that leaves without becoming valid stays refused and is
  reported by ``pop_unparked``, so the node stops counting it as held and
  a later sync may bring it again (it is then checked again from scratch).

Nothing here is trusted: a parked record is never counted, listed or
offered to peers, and it enters ``records`` only through the same rules as
any other record, with the key windows of the transaction that revives it.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Iterable

from trustmesh.protocol.records import Attestation, Deal, Record, decode
from trustmesh.protocol.validate import LINK, QUOTA
from trustmesh.store.checks import link_problem, row as row_of
from trustmesh.store.db import Database
from trustmesh.store.keys import VOID_REASON, ended_in, member_of_key
from trustmesh.store.results import ACCEPTED, DUPLICATE, REJECTED, IngestResult

PARK_CAP = 10_000               # records kept aside at most (2 KiB each at most: 20 MiB of disk)
PARK_TTL_MS = 7 * 86_400_000    # how long one is kept: key events normally follow within a sync
PARKED_NOTE = " (kept aside until key events link the two members)"


def waits_on_keys(record: Record, targets: dict[bytes, Record]) -> bool:
    """Whether a link refusal of ``record`` may be lifted by key events: it is an attestation
    whose deal is held and is a deal (L6, not L5), between other keys than its own."""
    return (isinstance(record, Attestation) and record.deal is not None
            and isinstance(targets.get(record.deal), Deal))


def keys_of(record: Attestation, deal: Deal) -> set[bytes]:
    """The keys whose key events could link ``record`` to ``deal``."""
    return {record.author, record.subject, deal.author, deal.counterparty}


class Parked(Database):
    """The side table of records waiting for key events."""

    _revived: deque         # (IngestResult, raw) revived by ingests since the last pop_revived
    _unparked: deque        # ids that left the table unrevived since the last pop_unparked

    def _init_parked(self) -> None:
        self._revived = deque(maxlen=PARK_CAP)     # a ledger without a node never pops: bounded
        self._unparked = deque(maxlen=PARK_CAP)
        self._txn: tuple[list, list] = ([], [])    # (revived, unparked) of the open transaction

    def _end_parked(self, committed: bool) -> None:
        """Called once an ingest transaction ended: what it revived and let go is reported
        only if it was committed."""
        revived, unparked = self._txn
        if committed:
            self._revived.extend(revived)
            self._unparked.extend(unparked)
        self._txn = ([], [])

    def parked(self) -> list[tuple[bytes, int]]:
        """(id, kept since) of every record kept aside, oldest first."""
        with self._reading() as conn:
            return [tuple(r) for r in conn.execute("SELECT id, parked FROM parked ORDER BY parked, id")]

    def pop_revived(self) -> list[tuple]:
        """(IngestResult, raw) of the parked records that ingests since the last call stored:
        held now, to be announced like any new record."""
        out = list(self._revived)
        self._revived.clear()
        return out

    def pop_unparked(self) -> list[bytes]:
        """Ids of the records that left the table since the last call without becoming valid
        (expired, or pushed out by newer ones): not held, and no longer kept aside."""
        out = list(self._unparked)
        self._unparked.clear()
        return out

    def _settle(self, conn: sqlite3.Connection, raws: list, waiting: list[tuple], keyed: set[bytes],
                now_ms: int, admit, results: list) -> tuple[list[tuple], list[IngestResult], list[bytes]]:
        """After a batch's key events are applied: check again the records L6 refused.

        ``waiting``: this batch's, as (index, record, row, deal); those that pass
        now get ACCEPTED in ``results``, the others are parked. With ``keyed``
        (members whose key events the batch stored), the parked records filed
        under their keys are checked too. Returns the rows to insert, and the
        results and bytes of the parked records revived. Expired records leave.
        """
        any_parked = self._any_parked(conn)
        if not (waiting or any_parked):
            return [], [], []
        held = {rid for (rid,) in self._in_chunks(        # stored by another write since prepare
            "SELECT id FROM records WHERE id IN ({marks})", [results[i].id for i, *_ in waiting], conn)}
        todo = [(i, results[i].id, record, raws[i], row, deal) for i, record, row, deal in waiting]
        if keyed and any_parked:
            again = {rid for _, rid, *_ in todo}        # parked, and in this batch once more
            todo += [t for t in self._filed_under(conn, keyed, now_ms) if t[1] not in again]
        rows, back, back_raws, park = [], [], [], []
        for i, rid, record, raw, row, deal in todo:
            if rid in held:
                results[i] = IngestResult(rid, DUPLICATE, None, record)
                continue
            reason, fault = (results[i].reason, LINK) if not keyed else _verdict(conn, record, deal, admit)
            if reason is None:
                rows.append(row)
                if i is None:
                    back.append(IngestResult(rid, ACCEPTED, None, record))
                    back_raws.append(raw)
                else:
                    results[i] = IngestResult(rid, ACCEPTED, None, record)
            elif i is not None:
                if fault == LINK and reason != VOID_REASON:
                    park.append((rid, raw, keys_of(record, deal)))
                    reason = reason if reason.endswith(PARKED_NOTE) else reason + PARKED_NOTE
                results[i] = IngestResult(rid, REJECTED, reason, record, fault)
            elif reason == VOID_REASON:
                self._unpark(conn, [rid])           # void for good: it can never count here
        _forget(conn, [res.id for res in back])
        if park:
            self._park(conn, park, now_ms)
        if any_parked:
            self._expire(conn, now_ms)
            _forget(conn, [res.id for res in results if res is not None and res.status == ACCEPTED
                           and isinstance(res.record, Attestation) and res.record.deal is not None])
        return rows, back, back_raws

    @staticmethod
    def _filed_under(conn: sqlite3.Connection, members: Iterable[bytes], now_ms: int) -> list[tuple]:
        """The parked records filed under any key of ``members`` (windows as this transaction
        has them), as ``_settle`` takes them: (None, id, record, raw, row, deal or None)."""
        members = list(members)
        marks = ",".join("?" * len(members))
        found = [(rid, decode(raw, stored=True), raw) for rid, raw in conn.execute(
            f"SELECT DISTINCT p.id, p.raw FROM parked p JOIN parked_keys k ON k.id = p.id"
            f" WHERE k.key IN ({marks}) OR k.key IN (SELECT key FROM key_windows WHERE member IN ({marks}))",
            members + members)]
        wanted = list({record.deal for _, record, _ in found})
        deals = {}
        for start in range(0, len(wanted), 400):
            chunk = wanted[start:start + 400]
            deals.update((rid, decode(raw, stored=True)) for rid, raw in conn.execute(
                f"SELECT id, raw FROM records WHERE id IN ({','.join('?' * len(chunk))})", chunk))
        return [(None, rid, record, raw, row_of(rid, record, raw, now_ms), deals.get(record.deal))
                for rid, record, raw in found]

    @staticmethod
    def _any_parked(conn: sqlite3.Connection) -> bool:
        return conn.execute("SELECT EXISTS (SELECT 1 FROM parked)").fetchone()[0] == 1

    def _park(self, conn: sqlite3.Connection, waiting: list[tuple[bytes, bytes, set[bytes]]], now_ms: int) -> None:
        """Keep ``waiting`` (id, raw, keys) aside from ``now_ms``; push the oldest out past the cap."""
        conn.executemany("INSERT OR IGNORE INTO parked (id, raw, parked) VALUES (?,?,?)",
                         [(rid, raw, now_ms) for rid, raw, _ in waiting])
        conn.executemany("INSERT OR IGNORE INTO parked_keys (key, id) VALUES (?,?)",
                         [(key, rid) for rid, _, keys in waiting for key in keys])
        over = conn.execute("SELECT COUNT(*) FROM parked").fetchone()[0] - PARK_CAP
        if over > 0:
            oldest = [rid for (rid,) in conn.execute(
                "SELECT id FROM parked ORDER BY parked, id LIMIT ?", (over,))]
            self._unpark(conn, oldest)

    def _expire(self, conn: sqlite3.Connection, now_ms: int) -> None:
        """Let go of the records kept aside for longer than ``PARK_TTL_MS``."""
        old = [rid for (rid,) in conn.execute("SELECT id FROM parked WHERE parked < ?", (now_ms - PARK_TTL_MS,))]
        if old:
            self._unpark(conn, old)

    def _unpark(self, conn: sqlite3.Connection, ids: list[bytes]) -> None:
        """Drop ``ids`` from the table unrevived (reported by ``pop_unparked`` once committed)."""
        _forget(conn, ids)
        self._txn[1].extend(ids)


def _verdict(conn: sqlite3.Connection, record: Attestation, deal: Deal | None, admit) -> tuple:
    """(reason, fault) for a record L6 refused, checked again with the windows as they are now;
    (None, None) when it may be stored. A deal no longer held (voided) is as one never seen:
    the link is then checked when the records are read, as for any record."""
    reason = link_problem(record, {record.deal: deal} if deal else {}, lambda key: member_of_key(conn, key))
    if reason is not None:
        return reason, LINK
    if ended_in(conn, record.author, record.issued):
        return VOID_REASON, LINK
    if admit is not None and not admit(record):
        return "over the quota for records by strangers", QUOTA
    return None, None


def _forget(conn: sqlite3.Connection, ids: list[bytes]) -> None:
    for start in range(0, len(ids), 400):
        chunk = ids[start:start + 400]
        marks = ",".join("?" * len(chunk))
        conn.execute(f"DELETE FROM parked WHERE id IN ({marks})", chunk)
        conn.execute(f"DELETE FROM parked_keys WHERE id IN ({marks})", chunk)
