"""Property tests of the pure layers: round trips, tamper evidence, hostile bytes."""

from __future__ import annotations

import hashlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trustmesh.crypto.keys import Identity
from trustmesh.errors import DecodeError, InvalidRecord
from trustmesh.protocol.framing import FrameDecoder, frame
from trustmesh.protocol.records import (
    Attestation, Profile, Reply, Retraction, decode, encode, sign, signatures_valid,
)
from trustmesh.protocol.validate import check_record

SIGNERS = [Identity.from_seed(bytes([n]) * 32) for n in range(1, 5)]
keys = st.sampled_from([s.public_key for s in SIGNERS])
ids = st.binary(min_size=32, max_size=32)
times = st.integers(min_value=0, max_value=2**62)
text = st.text(min_size=1, max_size=40).filter(str.isprintable)
facets = st.sampled_from(["payment", "delivery", "quality", "relation", "solvency", "skill:accounting",
                          "skill:iso-9001", "skill:a.b"])
chain = st.tuples(st.integers(min_value=1, max_value=2**40), ids)


@st.composite
def records(draw):
    author = draw(st.sampled_from(SIGNERS))
    seq, prev = draw(chain)
    prev = None if seq == 1 else prev
    kind = draw(st.sampled_from(["attestation", "retraction", "reply", "profile"]))
    issued = draw(times)
    if kind == "attestation":
        record = Attestation(author.public_key, seq, prev, issued, draw(keys), draw(facets), draw(st.booleans()),
                             draw(st.none() | ids), draw(st.none() | ids), draw(times),
                             draw(st.none() | times), draw(st.none() | text))
    elif kind == "retraction":
        record = Retraction(author.public_key, seq, prev, issued, draw(ids), draw(st.none() | text))
    elif kind == "reply":
        record = Reply(author.public_key, seq, prev, issued, draw(ids),
                       draw(st.sampled_from(["contest", "acknowledge"])), draw(st.none() | text))
    else:
        record = Profile(author.public_key, seq, prev, issued, draw(text), draw(st.none() | text), None)
    return sign(record, author)


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(records())
def test_any_valid_record_round_trips(record):
    raw = encode(record)
    assert decode(raw) == record
    assert encode(decode(raw)) == raw
    assert signatures_valid(record)


@FAST
@given(records(), st.data())
def test_any_flipped_bit_is_caught(record, data):
    raw = bytearray(encode(record))
    position = data.draw(st.integers(0, len(raw) - 1))
    raw[position] ^= 1 << data.draw(st.integers(0, 7))
    try:
        tampered = decode(bytes(raw))
    except DecodeError:
        return
    # it decoded: then it must not pass as a validly signed record
    assert not signatures_valid(tampered)


@FAST
@given(st.binary(max_size=600))
def test_random_bytes_only_ever_raise_our_decode_error(blob):
    try:
        record = decode(blob)
    except DecodeError:
        return
    try:   # astronomically unlikely, but then it must still be judged, not crash
        check_record(record, 2**62)
    except InvalidRecord:
        pass


@FAST
@given(records(), st.sampled_from([b"\xcd", b"\xce", b"\xd9"]))
def test_non_canonical_encodings_are_refused(record, marker):
    raw = encode(record)
    # re-encode the version (a fixint 1) in a longer integer or string form
    longer = {b"\xcd": b"\xcd\x00\x01", b"\xce": b"\xce\x00\x00\x00\x01", b"\xd9": b"\xd9\x01\x01"}[marker]
    mutated = raw[:1] + longer + raw[2:]
    try:
        decode(mutated)
    except DecodeError:
        return
    raise AssertionError("a non-canonical encoding was accepted")


@FAST
@given(st.lists(st.binary(max_size=300), max_size=20), st.data())
def test_frames_survive_any_chunking(payloads, data):
    stream = b"".join(frame(p) for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder, got, last = FrameDecoder(max_frame=1024), [], 0
    for cut in cuts + [len(stream)]:
        decoder.feed(stream[last:cut])
        got.extend(decoder.frames())
        last = cut
    decoder.close()
    assert got == payloads


@FAST
@given(st.binary(max_size=200))
def test_frame_decoder_never_crashes_on_garbage(blob):
    decoder = FrameDecoder(max_frame=64)
    try:
        decoder.feed(blob)
        list(decoder.frames())
        decoder.close()
    except DecodeError:
        pass


def test_an_oversized_frame_is_refused_before_it_is_buffered():
    from trustmesh.errors import FrameTooLarge
    decoder = FrameDecoder(max_frame=1000)
    decoder.feed(b"\xff\xff\xff\x7f")   # announces ~268 MB
    try:
        list(decoder.frames())
    except FrameTooLarge:
        return
    raise AssertionError("an oversized frame was accepted")


def test_record_ids_are_unique_per_content():
    seen = set()
    author = SIGNERS[0]
    for n in range(50):
        record = sign(Profile(author.public_key, n + 1, None if n == 0 else b"\x00" * 32, n, f"name {n}", None, None), author)
        seen.add(hashlib.sha256(encode(record)).digest())
    assert len(seen) == 50
