"""Who acts for whom: the store's reading of the members' key events.

Key events are stored as records (so gossip and sync carry them like any
other); ``key_windows`` holds what they resolve to, one row per (key,
member) with the time the key's authority ended, rebuilt for a member in
the same transaction as any of its key events. Two things follow from it:

- a record by a key whose authority has ended, issued at or after the end,
  is refused at ingest (fault LINK: the sender may not hold the key event);
- when a key event ends a key's authority, the records by that key issued
  from then on leave ``records`` for ``voided`` (kept as evidence, never
  offered to peers, never counted), in the transaction that stores the event.

``key_disputes`` names the members whose chain is forked, rebuilt with the
windows, so that trust can show them *disputed* without resolving chains.

The keys whose authority ended are few (one per rotation or revocation), so
they are kept in memory too: the ingest check is a dict lookup per record.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from trustmesh.protocol.keystate import MAX_KEY_EVENTS, KeyState, resolve
from trustmesh.protocol.records import Deal, KeyEvent, Record, decode
from trustmesh.store.db import Database
from trustmesh.store.schema import DEAL, KEYEVENT


VOID_REASON = "signed by a key that no longer acts for its member (rotated or revoked before it was issued)"


class Keys(Database):
    """The key-event half of the store."""

    _ended: dict[bytes, int]
    _voided_ids: list[bytes]        # set up by Store.__init__, filled by ingest

    def _load_ended(self) -> None:
        with self._reading() as conn:
            self._ended = dict(conn.execute(
                "SELECT key, MIN(until) FROM key_windows WHERE until IS NOT NULL GROUP BY key"))

    def void_reason(self, record: Record) -> str | None:
        """Why ``record`` is void: a signer's authority ended before it was issued (None: it is not)."""
        if not self._ended or record.TYPE == KEYEVENT:
            return None
        signers = (record.author, record.counterparty) if isinstance(record, Deal) else (record.author,)
        for key in signers:
            until = self._ended.get(key)
            if until is not None and record.issued >= until:
                return VOID_REASON
        return None

    def key_state(self, member: bytes) -> KeyState:
        """``member``'s key state as this store's events resolve it."""
        with self._reading() as conn:
            return member_state(conn, member)

    def key_events(self, member: bytes) -> list[tuple[bytes, KeyEvent]]:
        """Every key event held about ``member`` (followed or not: forks are evidence)."""
        with self._reading() as conn:
            return _events(conn, member)

    def key_members(self) -> dict[bytes, bytes]:
        """Key -> member for every key that acts (or acted) for a member other than itself.

        A key claimed by two members maps to neither (``keystate.members_of``).
        """
        with self._reading() as conn:
            return dict(conn.execute(
                "SELECT key, MIN(member) FROM key_windows GROUP BY key"
                " HAVING COUNT(*) = 1 AND key != MIN(member)"))

    def disputed_members(self) -> frozenset[bytes]:
        """Members whose key chain is forked as this store reads it (``KeyState.disputed``)."""
        with self._reading() as conn:
            return frozenset(m for (m,) in conn.execute("SELECT member FROM key_disputes"))

    def key_events_since(self, after: int) -> bool:
        """True when a key event was stored after row ``after`` (who a key stands for may have changed)."""
        with self._reading() as conn:
            return conn.execute(f"SELECT EXISTS (SELECT 1 FROM records WHERE rid > ? AND type = {KEYEVENT})",
                                (after,)).fetchone()[0] == 1

    def keyed_members(self) -> list[bytes]:
        """Members that have key events."""
        with self._reading() as conn:
            return [m for (m,) in conn.execute(f"SELECT DISTINCT subject FROM records WHERE type = {KEYEVENT}")]

    def voided(self, author: bytes | None = None) -> list[tuple[bytes, bytes, int]]:
        """(id, author, voided at) of records taken out because their signer's authority ended."""
        sql, args = "SELECT id, author, voided FROM voided", []
        if author is not None:
            sql, args = sql + " WHERE author = ?", [author]
        with self._reading() as conn:
            return [tuple(r) for r in conn.execute(sql + " ORDER BY voided, id", args)]

    @staticmethod
    def _key_events_full(conn: sqlite3.Connection, member: bytes, pending: dict[bytes, int]) -> bool:
        """True when no more key events about ``member`` are kept (each one re-reads them all);
        ``pending``: those accepted in this job and not inserted yet, per member."""
        held = conn.execute(f"SELECT COUNT(*) FROM records WHERE type = {KEYEVENT} AND subject = ?",
                            (member,)).fetchone()[0]
        return held + pending.get(member, 0) >= MAX_KEY_EVENTS

    def _rekey(self, conn: sqlite3.Connection, members: Iterable[bytes], now_ms: int) -> list[bytes]:
        """Rebuild the windows of ``members`` (inside the write transaction); the ids voided."""
        voided: list[bytes] = []
        for member in members:
            state = member_state(conn, member)
            conn.execute("DELETE FROM key_windows WHERE member = ?", (member,))
            conn.executemany("INSERT INTO key_windows (key, member, until) VALUES (?,?,?)",
                             [(w.key, member, w.until) for w in state.windows.values()])
            conn.execute("DELETE FROM key_disputes WHERE member = ?", (member,))
            if state.disputed:
                conn.execute("INSERT INTO key_disputes (member) VALUES (?)", (member,))
            for w in state.windows.values():
                if w.until is not None:
                    voided.extend(_void(conn, w.key, w.until, now_ms))
        return voided

    def _after_rekey(self) -> None:
        """Called once the transaction that rebuilt windows ended (committed or not)."""
        self._load_ended()

    def pop_voided(self) -> list[bytes]:
        """Ids voided by the ingests since the last call, held before them (the node drops them
        from what it offers peers); records voided in the batch that brought the key event are
        reported rejected by that ingest instead."""
        out, self._voided_ids = self._voided_ids, []
        return out


def _events(conn: sqlite3.Connection, member: bytes) -> list[tuple[bytes, KeyEvent]]:
    rows = conn.execute(f"SELECT id, raw FROM records WHERE type = {KEYEVENT} AND subject = ?", (member,))
    return [(rid, decode(raw, stored=True)) for rid, raw in rows]


def member_state(conn: sqlite3.Connection, member: bytes) -> KeyState:
    """``member``'s key state from the key events held."""
    return resolve(member, _events(conn, member))


def member_of_key(conn: sqlite3.Connection, key: bytes) -> bytes:
    """The member ``key`` acts (or acted) for, from the windows held: itself when none, or
    when two members claim it (the rule of ``Keys.key_members``, for one key). A primary-key
    lookup, asked by ingest only for a deal link whose signers are not the attestation's keys."""
    rows = conn.execute("SELECT member FROM key_windows WHERE key = ? LIMIT 2", (key,)).fetchall()
    return rows[0][0] if len(rows) == 1 else key


def ended_in(conn: sqlite3.Connection, key: bytes, issued: int) -> bool:
    """Whether a record by ``key`` issued at ``issued`` is void by the windows as ``conn`` sees
    them (``Keys.void_reason``'s rule, inside a write transaction that changed the windows)."""
    (until,) = conn.execute("SELECT MIN(until) FROM key_windows WHERE key = ? AND until IS NOT NULL",
                            (key,)).fetchone()
    return until is not None and issued >= until


def _void(conn: sqlite3.Connection, key: bytes, until: int, now_ms: int) -> list[bytes]:
    """Move the records by ``key`` issued from ``until`` on to ``voided``; their ids."""
    where = f"type != {KEYEVENT} AND issued >= ? AND (author = ? OR (type = {DEAL} AND subject = ?))"
    args = (until, key, key)
    ids = [rid for (rid,) in conn.execute(f"SELECT id FROM records WHERE {where}", args)]
    if ids:
        conn.execute(f"INSERT OR IGNORE INTO voided (id, author, raw, voided)"
                     f" SELECT id, author, raw, ? FROM records WHERE {where}", (now_ms, *args))
        conn.execute(f"DELETE FROM records WHERE {where}", args)
    return ids
