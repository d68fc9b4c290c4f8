"""Records as JSON-ready dicts: ids as PeerIDs, record ids and hashes as hex,
times as ISO-8601 UTC. One view for the CLI, the control API and apps."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from trustmesh.crypto.ids import peer_id
from trustmesh.protocol.records import Record

_KEYS = {"author", "subject", "counterparty"}
_TIMES = {"issued", "occurred", "expires", "due"}


def iso(ms: int | None) -> str | None:
    """ISO-8601 UTC for milliseconds since the epoch."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def record_view(record: Record, record_id: bytes | None = None, **extra: Any) -> dict[str, Any]:
    """A JSON-ready description of ``record``, with its id and any ``extra`` keys."""
    out: dict[str, Any] = {"type": record.NAME}
    if record_id is not None:
        out["id"] = record_id.hex()
    for name, _ in record.FIELDS:
        value = getattr(record, name)
        if name in _KEYS:
            value = peer_id(value)
        elif name in _TIMES:
            value = iso(value)
        elif isinstance(value, bytes):
            value = value.hex()
        out[name] = value
    out.update(extra)
    return out


def stored_view(item: Any, now_ms: int, **extra: Any) -> dict[str, Any]:
    """The JSON shape of a held record (a ``StoredRecord``): ``record_view`` plus its status flags."""
    expires = getattr(item.record, "expires", None)
    return record_view(item.record, item.id, retracted=item.retracted, contested=item.contested,
                       expired=expires is not None and expires <= now_ms, received=iso(item.received), **extra)
