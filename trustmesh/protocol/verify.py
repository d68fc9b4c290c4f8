"""Verifying a set of records without a store: what ``trustmesh verify`` does.

The same checks as ingest (decode, rules, signatures, links between records
of the set), but nothing is kept: a member can inspect a bundle before
importing it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from trustmesh.errors import DecodeError, InvalidRecord
from trustmesh.protocol.records import Record, decode
from trustmesh.protocol.validate import check_link, check_record, link_target


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome for one record of a set."""

    id: bytes
    ok: bool
    reason: str | None = None
    record: Record | None = None


def verify_records(raws: Iterable[bytes], now_ms: int) -> list[Verdict]:
    """A verdict per record, in order; links are checked against the set itself."""
    verdicts: list[Verdict] = []
    good: dict[bytes, Record] = {}
    for raw in raws:
        rid = hashlib.sha256(raw).digest()
        try:
            record = decode(raw)
            check_record(record, now_ms)
        except (DecodeError, InvalidRecord) as exc:
            verdicts.append(Verdict(rid, False, str(exc)))
            continue
        good[rid] = record
        verdicts.append(Verdict(rid, True, None, record))
    for i, verdict in enumerate(verdicts):
        if not verdict.ok:
            continue
        target = good.get(link_target(verdict.record) or b"")
        if target is not None:
            try:
                check_link(verdict.record, target)
            except InvalidRecord as exc:
                verdicts[i] = Verdict(verdict.id, False, str(exc), verdict.record)
    return verdicts
