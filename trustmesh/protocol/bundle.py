"""Bundles and deal-proposal files: records in a file, passed by hand.

A bundle is a magic line followed by framed records (see framing.py). It
streams: a reader never holds more than one frame, so a bundle of millions
of records imports in bounded memory. A proposal file has its own magic so
that a proposal can never be mistaken for a bundle of complete records.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from trustmesh.errors import DecodeError
from trustmesh.protocol.codec import MAX_RECORD_SIZE
from trustmesh.protocol.framing import FrameDecoder, frame
from trustmesh.protocol.records import Deal, decode, encode

BUNDLE_MAGIC = b"trustmesh-bundle/1\n"
PROPOSAL_MAGIC = b"trustmesh-deal-proposal/1\n"


def bundle_chunks(raws: Iterable[bytes]) -> Iterator[bytes]:
    """The bytes of a bundle holding ``raws``, piece by piece."""
    yield BUNDLE_MAGIC
    for raw in raws:
        yield frame(raw)


class BundleReader:
    """A bundle read push-wise: ``feed`` bytes as they arrive, get the records they complete.

    Holds at most the magic line and one unfinished frame, whatever the
    bundle's size. DecodeError on a wrong magic or a frame over the record
    size (the bundle cannot be read further); ``finish`` raises it when the
    bundle ends inside a record.
    """

    def __init__(self) -> None:
        self._decoder = FrameDecoder(MAX_RECORD_SIZE)
        self._head = b""
        self._damage: DecodeError | None = None

    def feed(self, chunk: bytes) -> list[bytes]:
        """The encoded records (undecoded) completed by ``chunk``.

        When the damage starts inside ``chunk``, the records before it are
        returned and the DecodeError comes from the next call.
        """
        if self._damage is not None:
            raise self._damage
        if len(self._head) < len(BUNDLE_MAGIC):
            need = len(BUNDLE_MAGIC) - len(self._head)
            self._head += chunk[:need]
            chunk = chunk[need:]
            if not BUNDLE_MAGIC.startswith(self._head):
                raise DecodeError("not a trustmesh bundle")
        self._decoder.feed(chunk)
        out: list[bytes] = []
        try:
            out.extend(self._decoder.frames())
        except DecodeError as exc:
            self._damage = exc
        return out

    def finish(self) -> None:
        """The bundle ended: DecodeError if it was not a bundle or was cut mid-record."""
        if self._damage is not None:
            raise self._damage
        if self._head != BUNDLE_MAGIC:
            raise DecodeError("not a trustmesh bundle")
        self._decoder.close()


def read_bundle(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The encoded records of a bundle (undecoded), from its bytes in any chunking.

    Raises DecodeError if the magic is wrong or the file is cut mid-record;
    the records before the damage have been yielded already, which is what an
    import wants (keep the good ones, report the rest).
    """
    reader = BundleReader()
    for chunk in chunks:
        yield from reader.feed(chunk)
    reader.finish()


def proposal_bytes(deal: Deal) -> bytes:
    """A proposal file: the deal as the proposer signed it (or as countersigned)."""
    return PROPOSAL_MAGIC + encode(deal)


def read_proposal(data: bytes) -> Deal:
    """The deal in a proposal file; DecodeError if it is anything else."""
    if not data.startswith(PROPOSAL_MAGIC):
        raise DecodeError("not a trustmesh deal proposal file")
    record = decode(data[len(PROPOSAL_MAGIC):], allow_proposal=True)
    if not isinstance(record, Deal):
        raise DecodeError("the proposal file holds a record that is not a deal")
    return record
