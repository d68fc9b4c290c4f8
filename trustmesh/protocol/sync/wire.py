"""``/trustmesh/sync/1.0.0`` on the wire: message types, range modes, and ranges (pure).

``docs/protocol.md`` is normative; ``session.py`` is the state machine that
speaks it.
"""

from __future__ import annotations

from typing import Any

from trustmesh.errors import RemoteProtocolError

ID_SIZE = 32            # a record id: SHA-256 of the record
FINGERPRINT_SIZE = 16   # bytes of a range fingerprint


def pad_bound(bound: bytes) -> bytes:
    """A bound (an id prefix) as the 32-byte point it stands for: zero-padded."""
    return bound + b"\x00" * (ID_SIZE - len(bound))

PROTOCOL_ID = "/trustmesh/sync/1.0.0"

# message types (first element of every message)
RECONCILE, NEED, RECORDS = 1, 2, 3
# range modes
SKIP, FINGERPRINT, IDLIST = 0, 1, 2

ZERO = b"\x00" * ID_SIZE


def shortest_bound(below: bytes, at: bytes) -> bytes:
    """The shortest prefix of ``at`` that is above ``below`` (``below < at``)."""
    n = 0
    while below[n] == at[n]:
        n += 1
    return at[:n + 1]


def wire_bound(point: bytes | None) -> bytes | None:
    return None if point is None else point.rstrip(b"\x00")


class Ranges(list):
    """The ranges of a RECONCILE being built, with an upper estimate of their encoded size."""

    size = 0

    def add(self, item: list[Any], idlist_max: int = 0) -> None:
        """Add a range, merged into the range before it when that says the same.

        Two SKIPs make one SKIP; two IDLISTs make one IDLIST when the ids still
        fit (always for empty ones: a fresh node says "I hold nothing" once).
        """
        self.size += range_cost(item)
        if self and self[-1][1] == item[1] == SKIP:
            self[-1][0] = item[0]
        elif (self and self[-1][1] == item[1] == IDLIST
              and len(self[-1][2]) + len(item[2]) <= idlist_max * ID_SIZE):
            self[-1][0] = item[0]
            self[-1][2] += item[2]
        else:
            self.append(item)


def range_cost(item: list[Any]) -> int:
    # array header, bin header of the bound, mode, bin32 header of the payload: <= 12 bytes
    return 12 + len(item[0] or b"") + (len(item[2]) if len(item) > 2 else 0)


def worst_range_cost(limits) -> int:
    """The most one answered range can add to a RECONCILE (a split, or a full id list)."""
    return max(limits.fanout * (12 + ID_SIZE + FINGERPRINT_SIZE), 12 + ID_SIZE + limits.idlist_max * ID_SIZE)


def parse_ranges(message: list[Any], max_frame: int) -> list[tuple[bytes, bytes | None, int, bytes]]:
    """The ranges of a RECONCILE as (lo, hi, mode, payload), checked to tile [0, inf) in order."""
    if len(message) != 2 or not isinstance(message[1], list) or not message[1]:
        raise RemoteProtocolError("RECONCILE carries a non-empty list of ranges")
    ranges = []
    lo: bytes | None = ZERO
    for item in message[1]:
        if lo is None:
            raise RemoteProtocolError("a range follows the one ending at infinity")
        if not isinstance(item, list) or len(item) not in (2, 3):
            raise RemoteProtocolError("a range is [bound, mode] or [bound, mode, payload]")
        bound, mode = item[0], item[1]
        if bound is None:
            hi = None
        elif (not isinstance(bound, bytes) or not 0 < len(bound) <= ID_SIZE
              or bound[-1] == 0):
            raise RemoteProtocolError("a bound is 1 to 32 bytes without trailing zeros")
        else:
            hi = pad_bound(bound)
            if hi <= lo:
                raise RemoteProtocolError("range bounds must increase (lo < hi)")
        payload = item[2] if len(item) == 3 else b""
        if mode == SKIP and len(item) == 2:
            pass
        elif mode == FINGERPRINT and len(item) == 3 and isinstance(payload, bytes) \
                and len(payload) == FINGERPRINT_SIZE:
            pass
        elif mode == IDLIST and len(item) == 3 and isinstance(payload, bytes) \
                and len(payload) % ID_SIZE == 0:
            prev = None
            for k in range(0, len(payload), ID_SIZE):
                rid = payload[k:k + ID_SIZE]
                if rid < lo or (hi is not None and rid >= hi) or (prev is not None and rid <= prev):
                    raise RemoteProtocolError("an IDLIST holds ascending ids inside its range")
                prev = rid
        else:
            raise RemoteProtocolError(f"bad range mode {mode!r} or payload")
        ranges.append((lo, hi, mode, payload))
        lo = hi
    if lo is not None:
        raise RemoteProtocolError("the last range must end at infinity (nil bound)")
    return ranges
