"""The fuzz kit's mutators: valid bytes in, plausible hostile bytes out.

Apart from the targets (``testing/fuzzing.py``) because they know nothing
of trustmesh beyond its framing and msgpack: bit flips, bytes that are
msgpack markers, truncation and extension, splices of two seeds, huge
length headers, deep nesting, type swaps, non-canonical re-encodings,
frames re-cut with their length fixed, and hostile JSON values.
"""

from __future__ import annotations

import json
import random
from typing import Any

import msgpack

from trustmesh.protocol.bundle import BUNDLE_MAGIC, PROPOSAL_MAGIC
from trustmesh.protocol.framing import FrameDecoder, encode_varint, frame


def split_frames(data: bytes, limit: int) -> list[bytes]:
    """The whole frames in ``data`` (a DecodeError past ``limit``)."""
    decoder = FrameDecoder(limit)
    decoder.feed(data)
    return list(decoder.frames())


INTERESTING = (0x00, 0x01, 0x7f, 0x80, 0xff, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc6, 0xca, 0xcb, 0xcc, 0xcf,
               0xd3, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0x90, 0x9f, 0xa0, 0xbf, 0xe0)


def _bitflip(rng, data, _):
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def _interesting(rng, data, _):
    if not data:
        return bytes([rng.choice(INTERESTING)])
    out = bytearray(data)
    out[rng.randrange(len(out))] = rng.choice(INTERESTING)
    return bytes(out)


def _truncate(rng, data, _):
    return data[:rng.randrange(len(data) + 1)]


def _extend(rng, data, _):
    return data + rng.randbytes(rng.choice((1, 3, 16, 200)))


def _splice(rng, data, other):
    return data[:rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1):]


def _dup_delete(rng, data, _):
    if len(data) < 2:
        return data * 2
    i, j = sorted(rng.sample(range(len(data) + 1), 2))
    return data[:i] + data[j:] if rng.random() < 0.5 else data[:j] + data[i:j] + data[j:]


def _huge_length(rng, data, _):
    """A length header claiming far more than follows: msgpack bin/str/array 32, or a varint."""
    head = rng.choice((b"\xc6\xff\xff\xff\xff", b"\xdb\x7f\xff\xff\xff", b"\xdd\xff\xff\xff\xff",
                       encode_varint(rng.choice((2**31, 2**62, 10**7, 1 << 20 | 1))), b"\xff" * 10))
    i = rng.randrange(len(data) + 1)
    return data[:i] + head + data[i:]


def _nest(rng, data, _):
    depth = rng.choice((50, 200, 600, 2000))
    inner = b"\x91" * depth + b"\x01"
    if rng.random() < 0.5:
        return frame(b"\x92\x01" + inner) + data
    i = rng.randrange(len(data) + 1)
    return data[:i] + inner + data[i:]


def _random_value(rng, depth=0):
    kind = rng.randrange(12)
    if kind == 0:
        return rng.choice((0, -1, 2**63 - 1, 2**64 - 1, -2**63, 2**63, 255, 256, 65536))
    if kind == 1:
        return rng.randbytes(rng.choice((0, 1, 31, 32, 33, 64, 65, 3000)))
    if kind == 2:
        return rng.choice(("", "x" * 3000, "payment", "\u202e", "\x00", "a" * 33, "https://", "é"))
    if kind == 3:
        return None
    if kind == 4:
        return rng.random() < 0.5
    if kind == 5:
        return rng.choice((0.5, float("nan"), 1e308))
    if kind == 6 and depth < 3:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 7 and depth < 3:
        return {1: _random_value(rng, depth + 1)}
    if kind == 8:
        return msgpack.ExtType(rng.randrange(128), rng.randbytes(4))
    if kind == 9:
        return rng.randrange(-5, 40)
    if kind == 10:
        return rng.randbytes(16)
    return [] if rng.random() < 0.5 else [rng.randrange(5)]


def _retype(rng, value, depth=0):
    """``value`` (a decoded msgpack array) with one element, somewhere, replaced by another type."""
    if not isinstance(value, list) or not value or (depth and rng.random() < 0.3):
        return _random_value(rng)
    i = rng.randrange(len(value))
    out = list(value)
    out[i] = _retype(rng, out[i], depth + 1) if isinstance(out[i], list) else _random_value(rng)
    return out


def _repack(value, rng) -> bytes:
    try:
        return msgpack.packb(value, use_bin_type=rng.random() < 0.8, use_single_float=rng.random() < 0.5)
    except Exception:
        return b""


def _type_swap(rng, data, _):
    """Decode the msgpack inside (a whole value, or each frame), swap a field's type, re-encode."""
    try:
        value = msgpack.unpackb(data, raw=False, strict_map_key=False)
        return _repack(_retype(rng, value), rng) or data
    except Exception:
        pass
    try:                            # framed: swap inside one frame and frame it again
        start = len(BUNDLE_MAGIC) if data.startswith(BUNDLE_MAGIC) else 0
        bodies = split_frames(data[start:], 1 << 22)
    except Exception:
        return _bitflip(rng, data, _)
    if not bodies:
        return _bitflip(rng, data, _)
    i = rng.randrange(len(bodies))
    try:
        value = msgpack.unpackb(bodies[i], raw=False, strict_map_key=False)
        bodies[i] = _repack(_retype(rng, value), rng) or bodies[i]
    except Exception:
        bodies[i] = _bitflip(rng, bodies[i], _)
    return data[:start] + b"".join(frame(b) for b in bodies)


def _non_canonical(rng, data, _):
    """A positive fixint or fixstr/bin header written in a longer (non-canonical) form."""
    for _ in range(8):
        if not data:
            break
        i = rng.randrange(len(data))
        b = data[i]
        if b < 0x80:
            return data[:i] + bytes([rng.choice((0xcc, 0xd0))]) + data[i:]
        if 0xa0 <= b <= 0xbf:
            return data[:i] + bytes([0xd9, b & 0x1f]) + data[i + 1:]
        if 0x90 <= b <= 0x9f:
            return data[:i] + bytes([0xdc, 0, b & 0x0f]) + data[i + 1:]
    return _interesting(rng, data, _)


def _reframe(rng, data, other):
    """Mutate inside one frame and fix its length, so the checks behind the framing are reached."""
    start = 0
    for magic in (BUNDLE_MAGIC, PROPOSAL_MAGIC):
        if data.startswith(magic):
            start = len(magic)
    try:
        bodies = split_frames(data[start:], 1 << 22)
    except Exception:
        bodies = []
    if not bodies:
        return _bitflip(rng, data, other)
    i = rng.randrange(len(bodies))
    bodies[i] = rng.choice(BYTE_MUTATORS)(rng, bodies[i], other)
    return data[:start] + b"".join(frame(b) for b in bodies)


def _json_mutate(rng, data, _):
    """A JSON body with a field given a hostile value (any type, huge, nested, a lone surrogate)."""
    try:
        body = json.loads(data)
    except Exception:
        return _bitflip(rng, data, _)
    if not isinstance(body, dict):
        body = {"x": body}
    key = rng.choice(list(body) + ["unknown", "ref"]) if body else "subject"
    kind = rng.randrange(9)
    value: Any = {0: 2**70, 1: -1, 2: [body.get(key)], 3: {"a": 1}, 4: None, 5: 1.5, 6: True,
                  7: "x" * 70_000, 8: "\ud800"}[kind]
    if rng.random() < 0.2:
        body.pop(key, None)
    else:
        body[key] = value
    out = json.dumps(body).encode()
    if rng.random() < 0.05:
        out = b"[" * 5000 + out + b"]" * 5000
    return out


BYTE_MUTATORS = (_bitflip, _interesting, _truncate, _extend, _splice, _dup_delete, _huge_length, _nest,
                 _type_swap, _non_canonical)
MUTATORS = BYTE_MUTATORS + (_reframe, _reframe, _type_swap)


def mutate(rng: random.Random, data: bytes, other: bytes, target: str = "") -> bytes:
    """One to three mutations of ``data`` (``other``: a second seed to splice from)."""
    pool = MUTATORS + ((_json_mutate,) * 6 if target.startswith("api-") else ())
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        data = rng.choice(pool)(rng, data, other)
    return data


__all__ = ["MUTATORS", "BYTE_MUTATORS", "mutate", "split_frames"]
