"""The data of a gossip message on ``trustmesh/records/1``: one record, or a batch (pure).

- one record: the record's own bytes (a msgpack array, first byte 0x90-0x9f),
  so the message id (SHA-256 of the data) *is* the record id and any libp2p
  gossipsub client understands it;
- a batch: the byte 0xc1 (never used by msgpack) followed by each record as
  a varint length-prefixed frame (2 to ``MAX_BATCH`` records).

``MAX_BATCH`` is a protocol constant, not a setting: a receiver that took its
limit from its own batch size would punish an honest sender whose setting
is larger.

``docs/protocol.md`` is normative.
"""

from __future__ import annotations

import hashlib

from trustmesh.errors import DecodeError
from trustmesh.protocol.codec import MAX_RECORD_SIZE
from trustmesh.protocol.framing import FrameDecoder, frame

BATCH_MARK = 0xC1
MAX_BATCH = 256         # records in one batch message, at most


def message_id(data: bytes) -> bytes:
    """The gossip message id of a message's data: SHA-256 of it (= the record id for one record)."""
    return hashlib.sha256(data).digest()


def pack_message(raws: list[bytes]) -> bytes:
    """The data of one gossip message carrying ``raws`` (1 to MAX_BATCH records)."""
    if not raws or len(raws) > MAX_BATCH:
        raise ValueError(f"a gossip message carries 1 to {MAX_BATCH} records")
    if len(raws) == 1:
        return raws[0]
    return bytes([BATCH_MARK]) + b"".join(frame(raw) for raw in raws)


def unpack_message(data: bytes, max_records: int = MAX_BATCH) -> list[bytes]:
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
