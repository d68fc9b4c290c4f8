"""What the trust engine reads: columns straight from SQL, without decoding any record.

Read-only, through the reader pool. ``change_counter`` and
``evidence_updates`` let the engine re-read only what changed:
new attestations and deals only add rows; a retraction, a reply, or a deal
that older evidence names changes rows already read.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

from trustmesh.store.db import Database
from trustmesh.store.schema import ATTESTATION, DEAL, KEYEVENT, REPLY, RETRACTION


class Evidence(Database):
    """The trust engine's view of the store."""

    def change_counter(self) -> tuple[int, int]:
        """A value that changes whenever a record or a fork proof is stored."""
        with self._reading() as conn:
            rid = conn.execute("SELECT COALESCE(MAX(rid), 0) FROM records").fetchone()[0]
            forks = conn.execute("SELECT COUNT(*) FROM forks").fetchone()[0]
        return rid, forks

    def evidence_updates(self, after: int) -> dict[str, list[int]] | None:
        """What records stored after ``after`` change in rows read before, as row ids; None if
        only a full read can tell.

        ``retracted``: attestations (stored up to ``after``) retracted since;
        ``contested``: attestations their subject contested since; ``dealt``:
        attestations naming a deal between their two keys that arrived
        since; ``linked``: (row id, deal author, counterparty) of attestations naming
        a deal that arrived since between other keys (the caller decides, keys
        mapped to members, whether it backs them); ``rekeyed``: the keys whose authority ended by a key event
        stored since (the rows by them may have been voided: the caller drops
        what it holds by or about them and reads those again, ``evidence_rows(keys=)``).
        Who a key stands for is not here: the caller maps keys to members
        (``key_members``) when it builds its table. None when a deal or a reply
        was retracted since (rare: rows far from the retraction change), so
        that the caller reads everything again.
        """
        parties = ("((d.author = a.author AND d.subject = a.subject)"
                   " OR (d.author = a.subject AND d.subject = a.author))")
        # CROSS JOIN keeps SQLite on the new rows first (by rid), then an index lookup each:
        # left to itself it scanned every attestation held for the deals' query
        with self._reading() as conn:
            undone = conn.execute(
                f"SELECT EXISTS (SELECT 1 FROM records x JOIN records r ON r.id = x.target"
                f" WHERE x.rid > ? AND x.type = {RETRACTION} AND r.type IN ({DEAL}, {REPLY}))",
                (after,)).fetchone()[0]
            if undone:
                return None
            rekeyed = [r[0] for r in conn.execute(
                "SELECT DISTINCT w.key FROM key_windows w WHERE w.until IS NOT NULL AND w.member IN"
                f" (SELECT subject FROM records WHERE rid > ? AND type = {KEYEVENT})", (after,))]
            retracted = [r[0] for r in conn.execute(
                f"SELECT r.rid FROM records x JOIN records r ON r.id = x.target WHERE x.rid > ?"
                f" AND x.type = {RETRACTION} AND r.type = {ATTESTATION} AND r.rid <= ? AND x.author = r.author",
                (after, after))]
            contested = [r[0] for r in conn.execute(
                f"SELECT a.rid FROM records x JOIN records a ON a.id = x.target WHERE x.rid > ?"
                f" AND x.type = {REPLY} AND x.positive = 0 AND a.type = {ATTESTATION} AND a.rid <= ?"
                " AND x.author = a.subject", (after, after))]
            named = conn.execute(
                f"SELECT a.rid, {parties}, d.author, d.subject FROM records d CROSS JOIN records a"
                f" ON a.target = d.id WHERE d.rid > ? AND d.type = {DEAL} AND a.type = {ATTESTATION}"
                " AND a.rid <= ?", (after, after)).fetchall()
        dealt = [rid for rid, between, _, _ in named if between]
        linked = [(rid, p, q) for rid, between, p, q in named if not between]
        return {"retracted": retracted, "contested": contested, "dealt": dealt, "linked": linked,
                "rekeyed": rekeyed}

    def evidence_rows(self, after: int = 0, keys: Sequence[bytes] | None = None,
                      upto: int | None = None, rows: Sequence[int] = ()) -> dict[str, tuple]:
        """The columns trust reads.

        ``attestations``: columns (rid, author, subject, facet, positive,
        dealt, contested, occurred, expires, deal_author, deal_party) of every
        unretracted attestation, expired ones included (expiry depends on the
        time of the question); ``dealt`` is 1 when it names an unretracted deal
        between its author and subject that is held here; ``deal_author`` and
        ``deal_party`` are that deal's signers when it names a live deal between
        other keys (else None): whether a device's or a successor's deal backs
        it depends on who the keys stand for, which the caller maps (SQL
        compares keys only, and most attestations need no mapping). ``deals``: columns (author,
        counterparty, issued) of unretracted deals. ``equivocators``: authors
        caught forking. Retraction and reply rules are those of ``records``.
        ``after``: only attestations and deals stored after that row id (an
        incremental read; ``evidence_updates`` says what changed in the rows before).
        ``keys`` (with ``upto``): only the rows up to row ``upto`` by or about
        those keys (deals: with them as a party), and the attestations ``rows``
        (row ids), to read again after a key event.
        """
        retracted = (f"SELECT r.rid FROM records x JOIN records r ON r.id = x.target WHERE x.type = {RETRACTION}"
                     f" AND (x.author = r.author OR (r.type = {DEAL} AND x.author = r.subject))")
        parties = ("((d.author = a.author AND d.subject = a.subject)"
                   " OR (d.author = a.subject AND d.subject = a.author))")
        if keys is not None:
            picked = (" AND (a.author IN picked OR a.subject IN picked OR a.rid IN picked_rows)"
                      " AND a.rid <= ?")
            picked_deals = " AND (author IN picked OR subject IN picked) AND rid <= ?"
            limit = (after, upto)
        else:
            picked = picked_deals = ""
            limit = (after,)
        if after == 0 and keys is None:
            # A full read: one index lookup per attestation into all 1.25M records was most of
            # the time (8.6 s at 1M); into temp tables of the live deals and the contesting
            # replies it is 4.7 s, building them included.
            prepare = [
                "CREATE TEMP TABLE live_deals (id BLOB PRIMARY KEY, author BLOB, subject BLOB) WITHOUT ROWID",
                "INSERT INTO live_deals SELECT id, author, subject FROM records"
                f" WHERE type = {DEAL} AND rid NOT IN retracted",
                "CREATE TEMP TABLE contests (target BLOB, author BLOB, PRIMARY KEY (target, author))"
                " WITHOUT ROWID",
                "INSERT OR IGNORE INTO contests SELECT target, author FROM records"
                f" WHERE type = {REPLY} AND positive = 0"]
            deal_join = "LEFT JOIN live_deals d ON d.id = a.target"
            contested = "EXISTS (SELECT 1 FROM contests x WHERE x.target = a.id AND x.author = a.subject)"
        else:
            prepare = []
            deal_join = (f"LEFT JOIN records d ON d.id = a.target AND d.type = {DEAL}"
                         " AND d.rid NOT IN retracted")
            contested = (f"EXISTS (SELECT 1 FROM records x WHERE x.type = {REPLY} AND x.target = a.id"
                         " AND x.author = a.subject AND x.positive = 0)")
        attestations = f"""
            SELECT a.rid, a.author, a.subject, a.facet, a.positive,
              d.id IS NOT NULL AND {parties}, {contested}, a.occurred, COALESCE(a.expires, -1),
              CASE WHEN NOT {parties} THEN d.author END, CASE WHEN NOT {parties} THEN d.subject END
            FROM records a {deal_join} WHERE a.type = {ATTESTATION} AND a.rid > ? AND a.rid NOT IN retracted{picked}
            ORDER BY a.rid"""
        deals = (f"SELECT author, subject, issued FROM records WHERE type = {DEAL}"
                 f" AND rid > ? AND rid NOT IN retracted{picked_deals}")
        temps = ("retracted", "live_deals", "contests", "picked", "picked_rows")
        with self._reading() as conn:
            conn.execute("PRAGMA query_only=0")     # temp tables only: the file is not written
            try:
                for name in temps:
                    conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
                conn.execute(f"CREATE TEMP TABLE retracted AS {retracted}")
                if keys is not None:
                    conn.execute("CREATE TEMP TABLE picked (key BLOB PRIMARY KEY) WITHOUT ROWID")
                    conn.executemany("INSERT OR IGNORE INTO picked VALUES (?)", [(k,) for k in keys])
                    conn.execute("CREATE TEMP TABLE picked_rows (rid INTEGER PRIMARY KEY)")
                    conn.executemany("INSERT OR IGNORE INTO picked_rows VALUES (?)", [(r,) for r in rows])
                for sql in prepare:
                    conn.execute(sql)
                att = _columns(conn.execute(attestations, limit), "qBBBbbbqqBB", (1, 2, 3, 9, 10))
                dl = _columns(conn.execute(deals, limit), "BBq", (0, 1))
                cheats = [r[0] for r in conn.execute("SELECT DISTINCT author FROM forks")]
            finally:
                for name in temps:
                    conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
                conn.execute("PRAGMA query_only=1")
        return {"attestations": att, "deals": dl, "equivocators": tuple(cheats)}

    def record_ids(self, rids: Sequence[int]) -> list[bytes]:
        """The record ids of the given row ids (``evidence_rows``' first column), in order."""
        found = dict(self._in_chunks("SELECT rid, id FROM records WHERE rid IN ({marks})", list(rids)))
        return [found[r] for r in rids]


def _columns(cursor, kinds: str, keys: tuple[int, ...], size: int = 50_000) -> tuple:
    """A cursor's rows as columns, read ``size`` rows at a time: numbers in compact arrays,
    keys and facet names in lists holding one shared object per distinct value ("B" marks
    them; at 1M rows this keeps the read under half the memory of a ``fetchall``)."""
    cols = [[] if kind == "B" else array(kind) for kind in kinds]
    shared: dict = {}
    one = shared.setdefault
    while True:
        rows = cursor.fetchmany(size)
        if not rows:
            break
        for i, values in enumerate(zip(*rows)):
            if kinds[i] == "B":
                cols[i].extend([one(v, v) for v in values] if i in keys else values)
            else:
                cols[i].extend([int(v) for v in values])
    return tuple(cols)
