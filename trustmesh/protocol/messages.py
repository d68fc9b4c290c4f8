"""What the sync and query sessions share: frames of canonical msgpack, events, limits.

Every message on ``/trustmesh/sync/1.0.0`` and ``/trustmesh/query/1.1.0`` is
one frame (``framing.py``: unsigned varint length, then the body) whose body
is one canonical msgpack array ``[type, ...]``. Anything else (a length over
the limit, bytes that are not msgpack, a non-canonical encoding, a map, a
float) is the peer's fault and ends the session with RemoteProtocolError:
the peer gets no chance to make us buffer, allocate or loop without bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from trustmesh.errors import DecodeError, FrameTooLarge, RemoteProtocolError
from trustmesh.protocol.codec import MAX_RECORD_SIZE, pack
from trustmesh.protocol.framing import FrameDecoder, frame

MAX_FRAME = 256 * 1024          # bytes of body per frame, both directions
RECORDS_PER_FRAME = 256         # records pushed per frame, at most
ABORT = 0                       # frame type shared by both protocols: [0, reason]
MAX_REASON = 200                # characters of an abort reason
# Arrays in a message nest at most this deep (the message itself is level 1; the
# deepest real message, RECONCILE, uses 3). Checked without recursion: a frame
# nested ~500 deep made the canonical check raise RecursionError, which is no
# protocol error, so the peer went unpunished and could send it again.
MAX_DEPTH = 8


def encode(message: list[Any]) -> bytes:
    """One message as a frame: varint length, canonical msgpack body."""
    return frame(pack(message))


def pack_records(raws: list[bytes], max_frame: int, per_frame: int, kind: int) -> list[bytes]:
    """``raws`` as ``[kind, [raw, ...]]`` frames, each within both limits."""
    frames, batch, size = [], [], 8
    for raw in raws:
        if batch and (len(batch) >= per_frame or size + len(raw) + 5 > max_frame):
            frames.append(encode([kind, batch]))
            batch, size = [], 8
        batch.append(raw)
        size += len(raw) + 5
    if batch:
        frames.append(encode([kind, batch]))
    return frames


def check_records(value: Any, per_frame: int) -> list[bytes]:
    """The records of a records frame, or RemoteProtocolError if they cannot be records."""
    if not isinstance(value, list) or not 0 < len(value) <= per_frame:
        raise RemoteProtocolError(f"a records frame holds 1 to {per_frame} records")
    # whole-list checks in C (map, min, max): a catch-up checks 100,000 records on the event loop
    if set(map(type, value)) != {bytes} or not 0 < min(map(len, value)) <= max(map(len, value)) <= MAX_RECORD_SIZE:
        raise RemoteProtocolError("a record is 1 to 2048 bytes")
    return value


class MessageReader:
    """Bytes in, decoded messages out; the peer's mistakes become RemoteProtocolError."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self._frames = FrameDecoder(max_frame)
        self._max_frame = max_frame
        self.eof = False
        self.bytes_received = 0

    def feed(self, data: bytes) -> None:
        """Add received bytes; ``b""`` means the peer closed its side."""
        if data:
            self.bytes_received += len(data)
            self._frames.feed(data)
        else:
            self.eof = True

    @property
    def buffered(self) -> int:
        """Bytes received and not yet taken as messages."""
        return self._frames.pending

    def next(self) -> list[Any] | None:
        """The next whole message, or None until more bytes arrive."""
        try:
            body = self._frames._next()
        except FrameTooLarge as exc:
            raise RemoteProtocolError(f"peer sent an oversized frame: {exc}") from None
        except DecodeError as exc:
            raise RemoteProtocolError(f"peer sent a malformed frame: {exc}") from None
        if body is None:
            if self.eof and self._frames.pending:
                raise RemoteProtocolError("peer closed the stream inside a frame")
            return None
        return decode_body(body, self._max_frame)


def decode_body(body: bytes, max_frame: int = MAX_FRAME) -> list[Any]:
    """A frame body as a message ``[type:int, ...]``, or RemoteProtocolError."""
    try:
        value = msgpack.unpackb(
            body, raw=False, use_list=True, max_bin_len=max_frame, max_str_len=max_frame,
            max_array_len=max_frame, max_map_len=0, max_ext_len=0)
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError,
            msgpack.StackError, UnicodeDecodeError) as exc:
        raise RemoteProtocolError(f"peer sent a frame that is not msgpack ({type(exc).__name__})") from None
    if not isinstance(value, list) or not value or type(value[0]) is not int:
        raise RemoteProtocolError("a message is a msgpack array starting with its type")
    problem = _shape_problem(value)
    if problem:
        raise RemoteProtocolError(f"peer sent {problem}")
    if pack(value) != body:
        raise RemoteProtocolError("peer sent a non-canonical message")
    return value


def _shape_problem(value: list[Any]) -> str | None:
    """Why ``value`` cannot be a message (nesting over MAX_DEPTH, a float), or None; no recursion."""
    todo = [(value, 1)]
    while todo:
        items, depth = todo.pop()
        if depth > MAX_DEPTH:
            return f"a message nested deeper than {MAX_DEPTH} arrays"
        kinds = set(map(type, items))      # in C: a records frame holds hundreds of items
        if float in kinds:
            return "a non-canonical message (a float)"
        if list in kinds:
            todo.extend((item, depth + 1) for item in items if type(item) is list)
    return None


def abort_reason(message: list[Any]) -> str:
    """The reason carried by an ABORT message, made safe to show."""
    reason = message[1] if len(message) > 1 and isinstance(message[1], str) else "no reason given"
    return "".join(ch if ch.isprintable() else "?" for ch in reason[:MAX_REASON])


@dataclass(frozen=True, slots=True)
class RecordsReceived:
    """Records the peer sent. Verify and store them (``Store.ingest``) before anything else.

    The session does NOT add their ids to the SyncIndex: only the caller
    knows which of them the store accepted, and an id in the index promises
    we hold the record.
    """

    raws: list[bytes]


@dataclass(slots=True)
class Stats:
    """What one session cost; ``round_trips`` counts our message plus the peer's answer."""

    round_trips: int = 0
    messages_sent: int = 0
    messages_received: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    records_sent: int = 0
    records_received: int = 0
    record_bytes_sent: int = 0
    record_bytes_received: int = 0

    @property
    def overhead_bytes(self) -> int:
        """Bytes exchanged that were not record bytes (fingerprints, id lists, framing)."""
        return (self.bytes_sent + self.bytes_received
                - self.record_bytes_sent - self.record_bytes_received)


@dataclass(frozen=True, slots=True)
class Finished:
    """The session ended well; nothing more will be sent or expected."""

    stats: Stats
