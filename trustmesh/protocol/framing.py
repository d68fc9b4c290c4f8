"""Length-prefixed frames, sans-I/O: unsigned LEB128 varint length, then bytes.

Used for bundles on disk and for every libp2p stream we open. The decoder is
fed whatever bytes arrive and yields whole frames; it refuses a length above
its limit before buffering any of it, so a hostile peer cannot make us
allocate more than ``max_frame`` plus one read.
"""

from __future__ import annotations

from collections.abc import Iterator

from trustmesh.errors import DecodeError, FrameTooLarge

DEFAULT_MAX_FRAME = 1 << 20
_MAX_VARINT_BYTES = 10


def encode_varint(n: int) -> bytes:
    """The unsigned LEB128 encoding of ``n`` (as in multiformats unsigned-varint)."""
    if n < 0:
        raise ValueError("varint of a negative number")
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def frame(payload: bytes) -> bytes:
    """``payload`` behind its length prefix."""
    return encode_varint(len(payload)) + payload


class FrameDecoder:
    """Turns a byte stream into frames; feed bytes, take frames."""

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        """Add bytes received from the stream."""
        self._buf += data

    @property
    def pending(self) -> int:
        """Bytes held that do not yet form a whole frame."""
        return len(self._buf)

    def frames(self) -> Iterator[bytes]:
        """Every whole frame buffered so far, in order."""
        while True:
            got = self._next()
            if got is None:
                return
            yield got

    def _next(self) -> bytes | None:
        length, shift, pos = 0, 0, 0
        while True:
            if pos >= len(self._buf):
                return None
            byte = self._buf[pos]
            length |= (byte & 0x7F) << shift
            pos += 1
            if not byte & 0x80:
                break
            shift += 7
            if pos >= _MAX_VARINT_BYTES:
                raise DecodeError("varint length prefix too long")
        if pos > 1 and self._buf[pos - 1] == 0:
            raise DecodeError("non-minimal varint length prefix")
        if length > self.max_frame:
            raise FrameTooLarge(f"frame of {length} bytes is over the {self.max_frame}-byte limit")
        if len(self._buf) - pos < length:
            return None
        payload = bytes(self._buf[pos:pos + length])
        del self._buf[:pos + length]
        return payload

    def close(self) -> None:
        """Declare the end of the stream; DecodeError if it stopped mid-frame."""
        if self._buf:
            raise DecodeError(f"stream ended inside a frame ({len(self._buf)} bytes left)")
