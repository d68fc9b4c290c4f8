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


def read_bundle(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The encoded records of a bundle (undecoded), from its bytes in any chunking.

    Raises DecodeError if the magic is wrong or the file is cut mid-record;
    the records before the damage have been yielded already, which is what an
    import wants (keep the good ones, report the rest).
    """
    decoder = FrameDecoder(MAX_RECORD_SIZE)
    head = b""
    for chunk in chunks:
        if len(head) < len(BUNDLE_MAGIC):
            need = len(BUNDLE_MAGIC) - len(head)
            head += chunk[:need]
            chunk = chunk[need:]
            if len(head) == len(BUNDLE_MAGIC) and head != BUNDLE_MAGIC:
                raise DecodeError("not a trustmesh bundle")
        decoder.feed(chunk)
        yield from decoder.frames()
    if head != BUNDLE_MAGIC:
        raise DecodeError("not a trustmesh bundle")
    decoder.close()


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
