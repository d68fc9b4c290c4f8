"""The record store: one SQLite file in WAL mode, written only through ``ingest``."""

from trustmesh.store.store import (
    ACCEPTED, DUPLICATE, FORK, REJECTED, Fork, IngestResult, Store, StoredRecord,
)

__all__ = ["Store", "StoredRecord", "IngestResult", "Fork", "ACCEPTED", "DUPLICATE", "REJECTED", "FORK"]
