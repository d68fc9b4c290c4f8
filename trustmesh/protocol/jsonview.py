"""Records as JSON-ready dicts: ids as PeerIDs, record ids and hashes as hex,
times as ISO-8601 UTC. One view for the CLI, the control API and apps."""

from __future__ import annotations

from typing import Any

from trustmesh.crypto.ids import peer_id
from trustmesh.protocol.records import Record



def iso(ms: int | None) -> str | None:
    """ISO-8601 UTC (to the second) for milliseconds since the epoch; never raises.

    Total on purpose: a view must show any record that is stored, and
    ``datetime`` stops at year 9999 (a stored record with expires = 2^63 - 1
    made every view fail). Years outside 0000-9999 are written in ISO's
    expanded form (``+292278994-08-17T07:12:55Z``).
    """
    if ms is None:
        return None
    days, secs = divmod(int(ms) // 1000, 86_400)
    year, month, day = _civil_from_days(days)
    text = f"{year:04d}" if 0 <= year <= 9999 else f"{year:+05d}"
    return f"{text}-{month:02d}-{day:02d}T{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}Z"


def _civil_from_days(z: int) -> tuple[int, int, int]:
    """(year, month, day) of the proleptic Gregorian calendar, ``z`` days after 1970-01-01.

    H. Hinnant's days-to-civil algorithm, in integers, valid for any ``z``.
    """
    z += 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def record_view(record: Record, record_id: bytes | None = None, **extra: Any) -> dict[str, Any]:
    """A JSON-ready description of ``record``, with its id and any ``extra`` keys."""
    out: dict[str, Any] = {"type": record.NAME}
    if record_id is not None:
        out["id"] = record_id.hex()
    for name, kind in record.FIELDS:      # by the field's kind: a new layout needs no new case
        value = getattr(record, name)
        if kind == "key":
            value = peer_id(value)
        elif kind in ("time", "time?"):
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
