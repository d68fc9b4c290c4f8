"""The store's SQLite schema, its migrations, and the SQL every reader shares.

One table holds every record: its bytes (``raw``) and the columns the
queries need, written once at ingest from the decoded record (nothing is
ever cut out of the raw bytes in SQL). Record types appear in SQL by the
names below, which come from ``protocol.records``, so the two cannot drift.

Connections: one writer, used under the store's write lock, and any
number of readers borrowed from a pool (WAL lets them read committed data
while the writer commits). Both are opened here with the same settings.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from trustmesh.errors import StoreError
from trustmesh.protocol.keystate import resolve
from trustmesh.protocol.records import (
    MAX_TIME_MS, Attestation, Deal, KeyEvent, Profile, Reply, Retraction, decode,
)

ATTESTATION, DEAL, RETRACTION, REPLY, PROFILE, KEYEVENT = (
    Attestation.TYPE, Deal.TYPE, Retraction.TYPE, Reply.TYPE, Profile.TYPE, KeyEvent.TYPE)

_V1 = """
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
"""


def _v2(conn: sqlite3.Connection) -> None:
    """The chain's ``prev`` as a column, so the fork check reads it instead of parsing bytes."""
    conn.execute("ALTER TABLE records ADD COLUMN prev BLOB")
    rows = conn.execute("SELECT rid, raw FROM records WHERE seq IS NOT NULL").fetchall()
    conn.executemany("UPDATE records SET prev = ? WHERE rid = ?",
                     [(decode(raw, stored=True).prev, rid) for rid, raw in rows])


# Key events (type 6) are records whose ``subject`` column is the member; ``key_windows`` is
# what they resolve to (store/keys.py), ``voided`` the records a key signed after its end.
_V3 = """
    CREATE TABLE key_windows (
        key     BLOB NOT NULL,
        member  BLOB NOT NULL,
        until   INTEGER,
        PRIMARY KEY (key, member)
    );
    CREATE INDEX key_windows_member ON key_windows(member);
    CREATE TABLE voided (
        id      BLOB PRIMARY KEY,
        author  BLOB NOT NULL,
        raw     BLOB NOT NULL,
        voided  INTEGER NOT NULL
    );
"""


def _v4(conn: sqlite3.Connection) -> None:
    """``key_disputes``: the members whose key chain is forked (trust shows them disputed),
    kept with the windows so a trust load reads one small table instead of every chain."""
    # the chains resolved here, by the pure rule, not by store/keys.py (which imports this
    # module): a migration stays what it was when it was written
    conn.execute("CREATE TABLE key_disputes (member BLOB PRIMARY KEY)")
    chains: dict[bytes, list] = {}
    for member, rid, raw in conn.execute(f"SELECT subject, id, raw FROM records WHERE type = {KEYEVENT}"):
        chains.setdefault(member, []).append((rid, decode(raw, stored=True)))
    for member, events in chains.items():
        if resolve(member, events).disputed:
            conn.execute("INSERT INTO key_disputes (member) VALUES (?)", (member,))


# Records kept aside (store/parked.py): valid on their own, refused by a link rule that key
# events not held yet may satisfy; ``parked_keys`` names the keys whose key events may.
# IF NOT EXISTS: a store taken back to an older version number runs this step again.
_V5 = """
    CREATE TABLE IF NOT EXISTS parked (
        id      BLOB PRIMARY KEY,
        raw     BLOB NOT NULL,
        parked  INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS parked_time ON parked(parked);
    CREATE TABLE IF NOT EXISTS parked_keys (
        key     BLOB NOT NULL,
        id      BLOB NOT NULL,
        PRIMARY KEY (key, id)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS parked_keys_id ON parked_keys(id);
"""

# Each step is SQL or a function of the connection; run in one transaction with its version.
MIGRATIONS: list[str | Callable[[sqlite3.Connection], None]] = [_V1, _v2, _V3, _v4, _V5]

# The columns ingest writes, in this order (see ingest.row).
COLUMNS = ("id", "type", "author", "seq", "prev", "subject", "facet", "positive", "target",
           "issued", "occurred", "expires", "received", "raw")

# A record is retracted when a retraction by one of its parties targets it; a retraction
# itself never is (rule L1: one stored before its target arrived must not take effect).
RETRACTED = f"""(r.type != {RETRACTION} AND EXISTS (SELECT 1 FROM records x WHERE x.type = {RETRACTION}
    AND x.target = r.id AND (x.author = r.author OR (r.type = {DEAL} AND x.author = r.subject))))"""
# Records that a version before the time bound kept with a time beyond it (records.py,
# MAX_TIME_MS): still shown here (read with decode(stored=True)), never offered to
# peers, who must refuse them (and would count it against us).
BEYOND = (f"(issued > {MAX_TIME_MS} OR COALESCE(occurred, 0) > {MAX_TIME_MS}"
          f" OR COALESCE(expires, 0) > {MAX_TIME_MS})")
# An attestation is contested when its subject replied "contest" (positive = 0).
CONTESTED = f"""(r.type = {ATTESTATION} AND EXISTS (SELECT 1 FROM records x WHERE x.type = {REPLY}
    AND x.target = r.id AND x.author = r.subject AND x.positive = 0))"""


# Each connection's page cache, in KiB: what it holds grows with the file up to this, and stays.
# The writer's was 32 MiB, for a bulk ingest's random index pages; measured on 150,000 records
# in batches of 4,096 (the sync's), 2, 4, 8 and 32 MiB cost the same CPU within noise
# (16.1-18.2 s: the kernel's page cache serves the misses), while in the soak the 32 MiB
# filled at ~0.9 KiB per record held, the largest part of the node's RSS growth (docs/reliability.md).
WRITER_CACHE_KIB = 4096
READER_CACHE_KIB = 2048     # SQLite's default (2,000 KiB), stated: readers are one per thread


def connect(path: Path, *, writer: bool) -> sqlite3.Connection:
    """A connection to the store file with the store's settings (readers are query-only)."""
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=5000")
    if writer:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")     # allocated as used, up to this
        # Rarer checkpoints halve the kernel time of a bulk ingest.
        conn.execute("PRAGMA wal_autocheckpoint=8192")      # pages
        conn.execute("PRAGMA journal_size_limit=67108864")  # bytes kept after a checkpoint
    else:
        conn.execute(f"PRAGMA cache_size=-{READER_CACHE_KIB}")
        conn.execute("PRAGMA query_only=1")
    return conn


def open_writer(path: Path) -> sqlite3.Connection:
    """The writer connection of a store file, created private (0600) and migrated."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))  # private from the start
        conn = connect(path, writer=True)
        migrate(conn)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open the store at {path}: {exc}") from None
    return conn


def migrate(conn: sqlite3.Connection, steps=None) -> None:
    """Bring the schema to the newest version; StoreError for a store newer than this code."""
    steps = MIGRATIONS if steps is None else steps
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(steps):
        raise StoreError(f"the store has schema v{version}, newer than this trustmesh (v{len(steps)})")
    for number, step in enumerate(steps[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if callable(step):
                step(conn)
            else:
                for statement in step.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
