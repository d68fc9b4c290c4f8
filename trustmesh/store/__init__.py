"""The record store: one SQLite file in WAL mode, written only through ``ingest``.

``schema`` tables and migrations, ``db`` connections and the locking rule,
``checks`` what a pool job verifies, ``ingest`` writing (``results`` what it says, ``parked``
what waits for key events), ``queries`` reading,
``evidence`` what trust reads, ``backup`` copies; ``store.Store`` joins them.
"""

from trustmesh.store.results import ACCEPTED, DUPLICATE, FORK, REJECTED, IngestResult
from trustmesh.store.queries import Fork, StoredRecord
from trustmesh.store.store import Store

__all__ = ["Store", "StoredRecord", "IngestResult", "Fork", "ACCEPTED", "DUPLICATE", "REJECTED", "FORK"]
