"""Canonical msgpack: exactly one byte sequence per value.

msgpack-python always writes the shortest form of an integer, string, binary
or array header, so "canonical" reduces to: decode, encode again, and insist
the bytes are identical. That one comparison rejects every alternative
encoding (long-form integers, str8 where fixstr fits, maps, floats, trailing
bytes) without a hand-written grammar.
"""

from __future__ import annotations

from typing import Any

import msgpack

from trustmesh.errors import DecodeError

MAX_RECORD_SIZE = 2048
# msgpack's Packer starts with a 256 KiB buffer: above glibc's mmap threshold (128 KiB, fixed by
# the daemon), so every pack of a record was an mmap and a munmap (18 us instead of 2 us, several
# per record taken in). It grows as needed (doubling), so larger frames still pack whole.
PACK_BUFFER = 4096
_FLAT = frozenset((int, bool, str, bytes, type(None)))   # what a record array may hold


def pack(value: Any) -> bytes:
    """The canonical encoding of ``value`` (lists, ints, bytes, str, bool, None)."""
    return msgpack.packb(value, use_bin_type=True, buf_size=PACK_BUFFER)


def unpack_canonical(data: bytes, max_size: int = MAX_RECORD_SIZE) -> list[Any]:
    """The array encoded by ``data``, or DecodeError if it is not canonical."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError("a record is bytes")
    if len(data) > max_size:
        raise DecodeError(f"record of {len(data)} bytes is over the {max_size}-byte limit")
    try:
        value = msgpack.unpackb(
            data, raw=False, use_list=True, strict_map_key=True,
            max_bin_len=max_size, max_str_len=max_size, max_array_len=64,
            max_map_len=0, max_ext_len=0,
        )
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError,
            msgpack.StackError, UnicodeDecodeError) as exc:
        raise DecodeError(f"malformed msgpack: {type(exc).__name__}") from None
    if not isinstance(value, list):
        raise DecodeError("a record is a msgpack array")
    if not _FLAT.issuperset(map(type, value)):
        raise DecodeError("record fields are integers, booleans, strings, bytes or nil")
    if pack(value) != data:
        raise DecodeError("non-canonical encoding")
    return value
