"""What ``ingest`` reports about each record it was offered."""

from __future__ import annotations

from dataclasses import dataclass

from trustmesh.protocol.records import Record

ACCEPTED, DUPLICATE, REJECTED = "accepted", "duplicate", "rejected"
FORK = "fork"   # the reason of an accepted record that proves its author forked


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What happened to one record offered to ``ingest``."""

    id: bytes | None        # None when the input was not even bytes
    status: str             # "accepted", "duplicate" or "rejected"
    reason: str | None = None   # why rejected; FORK on an accepted record completing a fork
    record: Record | None = None
    fault: str | None = None    # the kind of problem of a rejected record (validate.FAULTS)
