"""Copies of the store: SQLite's online backup, and its own integrity check."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from trustmesh.errors import StoreError, UsageError
from trustmesh.store.db import Database


class Backup(Database):
    """Consistent copies while the node keeps writing."""

    def backup(self, dest: str | os.PathLike) -> int:
        """Copy the whole store, consistent, into a new SQLite file ``dest``; its record count.

        SQLite's online backup: safe while the node keeps writing; ``dest``
        is written to a temporary name and renamed, so it is never half a file.
        """
        dest = Path(dest)
        if dest.exists():
            raise UsageError(f"{dest} exists: choose a new file")
        if not dest.parent.is_dir():
            raise UsageError(f"{dest.parent} is not a directory")
        tmp = dest.with_name(dest.name + ".partial")
        try:
            target = sqlite3.connect(tmp)
            try:
                with self._reading() as conn:
                    conn.backup(target)
                count = target.execute("SELECT COUNT(*) FROM records").fetchone()[0]
            finally:
                target.close()
            os.chmod(tmp, 0o600)
            os.replace(tmp, dest)
        except (sqlite3.DatabaseError, OSError) as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"backup to {dest} failed: {exc}") from None
        return count

    def integrity_check(self) -> str:
        """SQLite's own verdict on the file ("ok" when sound)."""
        with self._reading() as conn:
            return conn.execute("PRAGMA integrity_check").fetchone()[0]
