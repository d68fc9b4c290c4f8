"""Importing a bundle the owner brings: streamed, in batches, with a bounded report.

Memory stays flat whatever the bundle's size: bytes are read as they come
(``BundleReader`` holds one unfinished record at most), records are
stored in batches of ``BATCH``, and the report keeps counts and only the
first ``MAX_LISTED`` refusals. A bundle is made by ``export``, so records
that do not decode mean damage: after ``MAX_MALFORMED`` of them the import
stops, as it does at the first frame that cannot be read.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from dataclasses import dataclass, field

import trio

from trustmesh.errors import DecodeError
from trustmesh.protocol.bundle import BundleReader
from trustmesh.protocol.validate import MALFORMED

BATCH = 2000
MAX_LISTED = 1000
MAX_MALFORMED = 1000


@dataclass
class ImportReport:
    """What became of a bundle's records."""

    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    refused: list[dict] = field(default_factory=list)   # the first MAX_LISTED: position, id, type, reason
    damaged: str | None = None
    forks: int = 0

    @property
    def total(self) -> int:
        return self.accepted + self.duplicate + self.rejected

    def add(self, results) -> None:
        for res in results:
            if res.status == "accepted":
                self.accepted += 1
            elif res.status == "duplicate":
                self.duplicate += 1
            else:
                self.rejected += 1
                if len(self.refused) < MAX_LISTED:
                    self.refused.append({"position": self.total, "id": res.id.hex() if res.id else None,
                                         "type": res.record.NAME if res.record is not None else None,
                                         "reason": res.reason, "fault": res.fault})

    def to_dict(self) -> dict:
        return {"accepted": self.accepted, "duplicate": self.duplicate, "rejected": self.rejected,
                "total": self.total, "refused": self.refused, "damaged": self.damaged, "forks": self.forks}


class ImportJob:
    """The bookkeeping of one import, whoever stores the batches (the node, or a ledger)."""

    def __init__(self) -> None:
        self.report = ImportReport()
        self._reader = BundleReader()
        self._batch: list[bytes] = []
        self._malformed = 0

    def feed(self, chunk: bytes) -> list[bytes] | None:
        """Take bytes; a batch to store when one is full (DecodeError at damage)."""
        self._batch.extend(self._reader.feed(chunk))
        return self.take() if len(self._batch) >= BATCH else None

    def take(self) -> list[bytes]:
        """The records waiting (the last batch, at the end or at damage)."""
        batch, self._batch = self._batch, []
        return batch

    def stored(self, results) -> None:
        """Count a batch's results; DecodeError once too many records did not decode."""
        self.report.add(results)
        self._malformed += sum(1 for r in results if r.fault == MALFORMED)
        if self._malformed >= MAX_MALFORMED:
            raise DecodeError(f"{self._malformed} records that do not decode: not a bundle export wrote")

    def finish(self) -> None:
        self._reader.finish()


async def import_bundle(node, chunks: AsyncIterable[bytes]) -> ImportReport:
    """Store a bundle's records through the node's intake; the report.

    However it ends (done, damaged, or the caller gone: Ctrl-C on the CLI),
    one "import" event sums it up (the daemon logs it as one line; the
    records themselves are logged at debug level only).
    """
    job = ImportJob()
    forks_before = len(await node.worker.read(node.store.forks))
    interrupted = True
    try:
        try:
            async for chunk in chunks:
                batch = job.feed(chunk)
                if batch:
                    job.stored(await node.import_records(batch))
            job.finish()
        except DecodeError as exc:
            job.report.damaged = str(exc)
        finally:
            last = job.take()
            if last:
                with trio.CancelScope(shield=True):       # what was read whole is kept
                    job.report.add(await node.import_records(last))
        interrupted = False
        job.report.forks = len(await node.worker.read(node.store.forks)) - forks_before
    finally:
        report = job.report
        node.notify("import", accepted=report.accepted, duplicate=report.duplicate, rejected=report.rejected,
                    damaged=report.damaged or "", interrupted=interrupted)
    return report


def import_into_ledger(ledger, chunks, progress=None) -> ImportReport:
    """The same import on a ledger, when no node runs (blocking; ``chunks`` a plain iterable)."""
    job = ImportJob()
    forks_before = len(ledger.store.forks())
    try:
        for chunk in chunks:
            if progress is not None:
                progress(len(chunk))
            batch = job.feed(chunk)
            if batch:
                job.stored(ledger.ingest(batch))
        job.finish()
    except DecodeError as exc:
        job.report.damaged = str(exc)
    finally:
        last = job.take()
        if last:
            job.report.add(ledger.ingest(last))
    job.report.forks = len(ledger.store.forks()) - forks_before
    return job.report
