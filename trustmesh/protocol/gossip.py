"""The data of a gossip message on ``trustmesh/records/1``: one record, or a batch (pure).

- one record: the record's own bytes (a msgpack array, first byte 0x90-0x9f),
  so the message id (SHA-256 of the data) *is* the record id and any libp2p
  gossipsub client understands it;
- a batch: the byte 0xc1 (never used by msgpack) followed by each record as
  a varint length-prefixed frame (two or more records).

``docs/protocol.md`` is normative.
"""

from __future__ import annotations

from trustmesh.errors import DecodeError
from trustmesh.protocol.codec import MAX_RECORD_SIZE
from trustmesh.protocol.framing import FrameDecoder, frame

BATCH_MARK = 0xC1


def pack_message(raws: list[bytes]) -> bytes:
    """The data of one gossip message carrying ``raws`` (one or more records)."""
    if not raws:
        raise ValueError("a gossip message carries at least one record")
    if len(raws) == 1:
        return raws[0]
    return bytes([BATCH_MARK]) + b"".join(frame(raw) for raw in raws)


def unpack_message(data: bytes, max_records: int) -> list[bytes]:
    """The records in a gossip message; DecodeError if it is not one we could have sent."""
    if not data:
        raise DecodeError("empty gossip message")
    if data[0] != BATCH_MARK:
        return [bytes(data)]
    decoder = FrameDecoder(MAX_RECORD_SIZE)
    decoder.feed(data[1:])
    raws = []
    for raw in decoder.frames():
        raws.append(raw)
        if len(raws) > max_records:
            raise DecodeError(f"batch of more than {max_records} records")
    decoder.close()
    if len(raws) < 2:
        raise DecodeError("a batch holds two or more records")
    return raws
