"""``Store``: one SQLite file in WAL mode, written only through ``ingest``.

The class is assembled from one module per job: ``ingest`` (writing),
``queries`` (reading records), ``evidence`` (what trust reads), ``keys``
(who acts for whom), ``parked`` (records waiting for key events), ``backup``;
``db`` holds the connections and the locking rule they all follow, and
``schema`` the tables and migrations.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from trustmesh.store.backup import Backup
from trustmesh.store.evidence import Evidence
from trustmesh.store.ingest import Ingest
from trustmesh.store.keys import Keys
from trustmesh.store.queries import Queries
from trustmesh.store.schema import open_writer


class Store(Ingest, Keys, Queries, Evidence, Backup):
    """A trustmesh record store in one SQLite file."""

    def __init__(self, conn, path: Path, verify_threads: int) -> None:
        super().__init__(conn, path)
        self._pool = ThreadPoolExecutor(verify_threads, thread_name_prefix="verify") if verify_threads > 1 else None
        self._voided_ids: list[bytes] = []      # voided by ingests since the last pop_voided (keys.py)
        self._init_parked()
        self._load_ended()

    @classmethod
    def open(cls, path: str | os.PathLike, *, verify_threads: int | None = None) -> "Store":
        """Open (creating and migrating if needed) the store at ``path``."""
        path = Path(path)
        # One more verifier than cores: while one waits to retake the GIL, another computes.
        return cls(open_writer(path), path, verify_threads or min(4, (os.cpu_count() or 1) + 1))

    def close(self) -> None:
        """Close the file; the store cannot be used afterwards."""
        if self._pool:
            self._pool.shutdown()
        self._close_connections()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
