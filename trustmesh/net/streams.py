"""Framed messages over a libp2p stream, with size and time limits.

Every trustmesh stream protocol speaks varint length-prefixed frames
(protocol/framing.py). A frame over the limit is refused before it is
buffered (FrameTooLarge, which the caller counts as an offence); a peer that
goes quiet mid-exchange hits the caller's timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack
import trio
from libp2p.abc import INetStream

from trustmesh.errors import DecodeError, RemoteProtocolError
from trustmesh.protocol.codec import pack
from trustmesh.protocol.framing import FrameDecoder, frame

READ_CHUNK = 64 * 1024

log = logging.getLogger("trustmesh.p2p")


class FramedStream:
    """Reads whole frames from, and writes frames to, one libp2p stream."""

    def __init__(self, stream: INetStream, max_frame: int) -> None:
        self.stream = stream
        self._decoder = FrameDecoder(max_frame)
        self._ready: list[bytes] = []
        self.bytes_in = 0
        self.bytes_out = 0
        self.eof = False

    async def read_frame(self) -> bytes | None:
        """The next frame, or None at a clean end of stream.

        Raises FrameTooLarge/DecodeError for a bad length prefix and
        RemoteProtocolError when the stream ends inside a frame.
        """
        while not self._ready:
            if self.eof:
                return None
            data = await self.read_some()
            if data is None:
                if self._decoder.pending:
                    raise RemoteProtocolError("stream ended inside a frame")
                return None
            self._decoder.feed(data)
            self._ready.extend(self._decoder.frames())
        return self._ready.pop(0)

    async def read_some(self) -> bytes | None:
        """Whatever bytes arrive next (None at end of stream)."""
        try:
            data = await self.stream.read(READ_CHUNK)
        except Exception:   # StreamEOF, StreamReset, StreamClosed: all end the exchange
            self.eof = True
            return None
        if not data:
            self.eof = True
            return None
        self.bytes_in += len(data)
        return data

    async def write_frame(self, payload: bytes) -> None:
        """Send one frame."""
        await self.write_raw(frame(payload))

    async def write_raw(self, data: bytes) -> None:
        """Send bytes as they are (already framed by a session)."""
        if data:
            self.bytes_out += len(data)
            await self.stream.write(data)

    async def close(self) -> None:
        """Close our side; never raises."""
        try:
            await self.stream.close()
        except Exception:
            pass

    async def reset(self) -> None:
        """Abort the stream; never raises."""
        try:
            await self.stream.reset()
        except Exception:
            pass


def pack_message(*items: Any) -> bytes:
    """A small control message: a msgpack array."""
    return pack(list(items))


def unpack_message(data: bytes, max_items: int = 8) -> list[Any]:
    """A control message sent by ``pack_message``; DecodeError if it is anything else."""
    try:
        value = msgpack.unpackb(data, raw=False, max_array_len=max(max_items, 1024),
                                max_map_len=0, max_ext_len=0, strict_map_key=True)
    except Exception as exc:
        raise DecodeError(f"malformed message: {type(exc).__name__}") from None
    if not isinstance(value, list) or not value or len(value) > max_items:
        raise DecodeError("a message is a short msgpack array")
    return value


async def serve_one(stream: INetStream, max_frame: int, timeout_s: float, parse: Callable[[bytes], Any],
                    act: Callable[[Any, Any], Awaitable[bytes | None]], offence, severity: str, what: str) -> None:
    """Answer a one-frame request on an inbound stream, then close it.

    ``parse`` turns the frame into a request (DecodeError/RemoteProtocolError
    for bytes no honest peer sends: an offence of ``severity``, and the
    stream is reset); ``act(peer, request)`` returns the answer frame, or
    None for none. A stream closed before any byte is no offence; nothing a
    peer sends may crash the node.
    """
    peer = stream.muxed_conn.peer_id
    framed = FramedStream(stream, max_frame)
    try:
        with trio.move_on_after(timeout_s):
            try:
                data = await framed.read_frame()
                if data is None:
                    return
                request = parse(data)
            except (DecodeError, RemoteProtocolError) as exc:
                offence(peer, severity, f"{what}: {exc}")
                await framed.reset()
                return
            answer = await act(peer, request)
            if answer is not None:
                await framed.write_frame(answer)
    except Exception as exc:
        log.debug("%s stream from %s failed: %s", what, peer, exc)
    finally:
        await framed.close()
