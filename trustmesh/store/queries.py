"""Reading records: by id, by filters, in bulk for sync and export.

Every method here reads through ``_reading`` (a pooled reader connection:
committed data, never waiting on a write). What a retraction or a contest
reply changes is computed when reading (``schema.RETRACTED``/``CONTESTED``),
so a link whose target arrived later takes effect exactly then.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from trustmesh.errors import DecodeError, NotFound, UsageError
from trustmesh.protocol.records import TYPE_NAMES, Profile, Record, decode
from trustmesh.store.db import Database
from trustmesh.store.schema import ATTESTATION, BEYOND, CONTESTED, DEAL, PROFILE, RETRACTED


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record as held here, with what other records say about it."""

    id: bytes
    record: Record
    raw: bytes
    received: int
    retracted: bool = False
    contested: bool = False

    @property
    def hex_id(self) -> str:
        """The record's id as printed everywhere (64 hex digits)."""
        return self.id.hex()

    def view(self, now_ms: int | None = None) -> dict:
        """The record as the CLI and the API show it: members as PeerIDs, ids as hex, times as
        ISO 8601 UTC, with its status (``expired`` at ``now_ms``, default now)."""
        import time

        from trustmesh.protocol.jsonview import stored_view
        return stored_view(self, time.time_ns() // 1_000_000 if now_ms is None else now_ms)


@dataclass(frozen=True, slots=True)
class Fork:
    """Proof that ``author`` signed two different records for one chain position."""

    author: bytes
    seq: int
    id_a: bytes
    id_b: bytes
    found: int


class Queries(Database):
    """The reading half of the store."""

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
        with self._reading() as conn:
            ids = [r[0] for r in conn.execute(
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
                include_expired: bool = False, limit: int | None = None,
                offset: int = 0) -> list[StoredRecord]:
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
            where.append(f"NOT {RETRACTED}")
        return self._select(" AND ".join(where) or "1", args, limit=limit, offset=offset)

    def iter_raw(self, batch: int = 1000) -> Iterator[bytes]:
        """Every record's bytes, in arrival order, read in batches (for export)."""
        last = 0
        while True:
            with self._reading() as conn:
                rows = conn.execute(
                    "SELECT rid, raw FROM records WHERE rid > ? ORDER BY rid LIMIT ?", (last, batch)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            for _, raw in rows:
                yield raw

    def head(self, author: bytes) -> tuple[int, bytes | None]:
        """The last chain position of ``author`` held here: (seq, id), or (0, None)."""
        with self._reading() as conn:
            row = conn.execute(
                "SELECT seq, id FROM records WHERE author = ? AND seq IS NOT NULL"
                " ORDER BY seq DESC LIMIT 1", (author,)).fetchone()
        return (row[0], row[1]) if row else (0, None)

    def profile(self, author: bytes) -> Profile | None:
        """The newest unretracted profile of ``author``."""
        rows = self._select(f"r.author = ? AND r.type = {PROFILE} AND NOT {RETRACTED}", [author],
                            order="r.seq DESC", limit=1)
        return rows[0].record if rows else None  # type: ignore[return-value]

    def knows_member(self, member: bytes) -> bool:
        """True when some record held here is by or about ``member`` (a deal's counterparty too)."""
        with self._reading() as conn:
            return conn.execute("SELECT 1 FROM records WHERE author = ? OR subject = ? LIMIT 1",
                                (member, member)).fetchone() is not None

    def members(self) -> set[bytes]:
        """Every member a record held here is by or about."""
        with self._reading() as conn:
            return {row[0] for row in conn.execute(
                "SELECT author FROM records UNION SELECT subject FROM records WHERE subject IS NOT NULL")
                if isinstance(row[0], bytes) and len(row[0]) == 32}

    def forks(self, author: bytes | None = None) -> list[Fork]:
        """Every fork proof held, or those of one author."""
        sql, args = "SELECT author, seq, id_a, id_b, found FROM forks", []
        if author is not None:
            sql += " WHERE author = ?"; args.append(author)
        with self._reading() as conn:
            return [Fork(*row) for row in conn.execute(sql + " ORDER BY found", args)]

    def equivocators(self) -> set[bytes]:
        """Authors caught signing two histories."""
        with self._reading() as conn:
            return {r[0] for r in conn.execute("SELECT DISTINCT author FROM forks")}

    def counts(self) -> dict[str, int]:
        """How many records of each type are held."""
        names = {cls.TYPE: name for name, cls in TYPE_NAMES.items()}
        out = {name: 0 for name in TYPE_NAMES}
        with self._reading() as conn:
            for type_code, n in conn.execute("SELECT type, COUNT(*) FROM records GROUP BY type"):
                out[names[type_code]] = n
        return out

    def held(self, ids: Sequence[bytes]) -> set[bytes]:
        """Which of ``ids`` are held here."""
        return {r[0] for r in self._in_chunks("SELECT id FROM records WHERE id IN ({marks})", list(ids))}

    def all_ids(self) -> list[bytes]:
        """Every record id held that may be offered to peers, sorted (for set reconciliation)."""
        with self._reading() as conn:
            return [r[0] for r in conn.execute(f"SELECT id FROM records WHERE NOT {BEYOND} ORDER BY id")]

    def raws_for(self, ids: Sequence[bytes]) -> list[bytes]:
        """The bytes of the records among ``ids`` held here that peers may be sent (order not kept).

        None beyond the time bound (``schema.BEYOND``; a deal's ``due`` is only in its bytes).
        """
        return [raw for kind, raw in self._in_chunks(
            f"SELECT type, raw FROM records WHERE id IN ({{marks}}) AND NOT {BEYOND} ORDER BY rid", list(ids))
            if kind != DEAL or _within_bound(raw)]

    def linked_to(self, ids: Sequence[bytes]) -> list[bytes]:
        """The bytes of the retractions and replies held that target any of ``ids``."""
        return [r[0] for r in self._in_chunks(
            "SELECT raw FROM records WHERE target IN ({marks}) AND type != " + str(ATTESTATION)
            + f" AND NOT {BEYOND} ORDER BY rid", list(ids))]

    def relations(self, member: bytes | None = None) -> list[tuple[bytes, bytes]]:
        """(from, to) pairs that give weight: deals (both ways) and unretracted positive attestations.

        With ``member``: only the pairs that start at ``member``.
        """
        where, args = "1", []
        if member is not None:
            where, args = "(r.author = ? OR (r.type = %d AND r.subject = ?))" % DEAL, [member, member]
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT r.type, r.author, r.subject FROM records r WHERE (r.type = {DEAL}"
                f" OR (r.type = {ATTESTATION} AND r.positive = 1)) AND NOT {RETRACTED} AND {where}",
                args).fetchall()
        edges = []
        for kind, author, subject in rows:
            edges.append((author, subject))
            if kind == DEAL:
                edges.append((subject, author))
        return edges if member is None else [(a, b) for a, b in edges if a == member]

    def author_counts(self) -> dict[bytes, int]:
        """How many records each author has here."""
        with self._reading() as conn:
            return dict(conn.execute("SELECT author, COUNT(*) FROM records GROUP BY author"))

    def _select(self, where: str, args: list, *, order: str = "r.rid", limit: int | None = None,
                offset: int = 0) -> list[StoredRecord]:
        sql = (f"SELECT r.id, r.raw, r.received, {RETRACTED}, {CONTESTED} FROM records r"
               f" WHERE {where} ORDER BY {order}")
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            args = [*args, -1 if limit is None else int(limit), int(offset)]
        with self._reading() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [StoredRecord(rid, decode(raw, stored=True), raw, received, bool(ret), bool(con))
                for rid, raw, received, ret, con in rows]


def _within_bound(raw: bytes) -> bool:
    try:
        decode(raw)
    except DecodeError:
        return False
    return True
