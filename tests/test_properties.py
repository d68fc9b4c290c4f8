"""Property tests of the wire format: round trips, tamper evidence, canonical form, robustness."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.conftest import member
from trustmesh.errors import DecodeError
from trustmesh.protocol.codec import unpack_canonical
from trustmesh.protocol.facets import CORE_FACETS
from trustmesh.protocol.framing import FrameDecoder, frame
from trustmesh.protocol.records import (
    FORBIDDEN_TEXT, MAX_NAME, MAX_NOTE, MAX_TIME_MS, Attestation, Deal, Profile, Reply, Retraction, countersign,
    decode, encode, record_id, sign, signatures_valid,
)

SIGNERS = [member(n) for n in range(1, 5)]
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

times = st.integers(min_value=0, max_value=MAX_TIME_MS)      # ms, up to the end of year 9999
ids = st.binary(min_size=32, max_size=32)
signer_index = st.integers(min_value=0, max_value=len(SIGNERS) - 1)


def text(limit):
    return st.text(min_size=1, max_size=limit).filter(lambda s: FORBIDDEN_TEXT.search(s) is None)


facets = st.one_of(st.sampled_from(sorted(CORE_FACETS)),
                   st.from_regex(r"skill:[a-z0-9]{1,10}(?:[-.][a-z0-9]{1,8}){0,2}", fullmatch=True))


@st.composite
def chain_position(draw):
    seq = draw(st.integers(min_value=1, max_value=2**40))
    prev = None if seq == 1 else draw(ids)
    return seq, prev


@st.composite
def records(draw):
    """Any well-formed record, signed by its author (deals countersigned)."""
    author_n = draw(signer_index)
    author = SIGNERS[author_n]
    other = SIGNERS[(author_n + draw(st.integers(1, len(SIGNERS) - 1))) % len(SIGNERS)]
    seq, prev = draw(chain_position())
    issued = draw(times)
    kind = draw(st.sampled_from(["attestation", "deal", "retraction", "reply", "profile"]))
    if kind == "attestation":
        rec = Attestation(author.public_key, seq, prev, issued, other.public_key, draw(facets), draw(st.booleans()),
                          draw(st.none() | ids), draw(st.none() | ids), draw(times), draw(st.none() | times),
                          draw(st.none() | text(MAX_NOTE)))
    elif kind == "deal":
        rec = Deal(author.public_key, other.public_key, draw(st.sampled_from(["client", "supplier"])), draw(ids),
                   draw(st.none() | times), issued)
        return countersign(sign(rec, author), other)
    elif kind == "retraction":
        rec = Retraction(author.public_key, seq, prev, issued, draw(ids), draw(st.none() | text(MAX_NOTE)))
    elif kind == "reply":
        rec = Reply(author.public_key, seq, prev, issued, draw(ids), draw(st.sampled_from(["contest", "acknowledge"])),
                    draw(st.none() | text(MAX_NOTE)))
    else:
        url = draw(st.none() | st.from_regex(r"https://[a-z]{1,20}\.example/[a-z0-9/]{0,30}", fullmatch=True))
        rec = Profile(author.public_key, seq, prev, issued, draw(text(MAX_NAME)), draw(st.none() | text(MAX_NAME)), url)
    return sign(rec, author)


@FAST
@given(records())
def test_any_valid_record_round_trips(record):
    raw = encode(record)
    assume(len(raw) <= 2048)
    assert decode(raw) == record
    assert encode(decode(raw)) == raw
    assert signatures_valid(record)


@FAST
@given(records(), st.data())
def test_any_flipped_byte_breaks_decoding_or_a_signature(record, data):
    raw = encode(record)
    assume(len(raw) <= 2048)
    pos = data.draw(st.integers(0, len(raw) - 1), label="position")
    bit = data.draw(st.integers(0, 7), label="bit")
    tampered = bytearray(raw)
    tampered[pos] ^= 1 << bit
    tampered = bytes(tampered)
    try:
        other = decode(tampered)
    except DecodeError:
        return
    assert record_id(tampered) != record_id(raw)
    assert not signatures_valid(other), f"byte {pos} bit {bit} gave another valid record"


@FAST
@given(records(), st.data())
def test_non_canonical_encodings_are_refused(record, data):
    raw = encode(record)
    assume(len(raw) <= 2000)
    array = msgpack.unpackb(raw)
    k = data.draw(st.integers(0, len(array) - 1), label="element")
    value = array[k]
    parts = [msgpack.packb(v, use_bin_type=True) for v in array]
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        parts[k] = b"\xcf" + value.to_bytes(8, "big")            # uint64 form, or int64 below
        if value >= 2**32:
            parts[k] = b"\xd3" + value.to_bytes(8, "big")
    elif isinstance(value, bytes):
        parts[k] = b"\xc6" + len(value).to_bytes(4, "big") + value   # bin32
    elif isinstance(value, str):
        data_ = value.encode()
        parts[k] = b"\xdb" + len(data_).to_bytes(4, "big") + data_  # str32
    bad = bytes([0x90 | len(parts)]) + b"".join(parts)
    assert bad != raw
    with pytest.raises(DecodeError):
        decode(bad)
    with pytest.raises(DecodeError):
        decode(b"\xdc" + len(parts).to_bytes(2, "big") + b"".join(msgpack.packb(v, use_bin_type=True) for v in array))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_only_ever_raise_decode_error(blob):
    for attempt in (blob, b"\x9f" + blob, b"\x9a\x01\x02" + blob):
        try:
            decode(attempt, allow_proposal=True)
        except DecodeError:
            pass
        try:
            unpack_canonical(attempt)
        except DecodeError:
            pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(1, 64))
def test_random_streams_only_ever_raise_decode_error_in_the_frame_decoder(blob, max_frame):
    dec = FrameDecoder(max_frame)
    try:
        dec.feed(blob)
        list(dec.frames())
        dec.close()
    except DecodeError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=8), st.data())
def test_frames_come_out_the_same_under_any_chunking(payloads, data):
    stream = b"".join(frame(p) for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12), label="cuts"))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]
    dec = FrameDecoder(1024)
    got = []
    for piece in pieces:
        dec.feed(piece)
        got.extend(dec.frames())
    dec.close()
    assert got == payloads


FIELD_VALUES = [None, True, False, 0, 1, -1, 2**63 - 1, 2**63, MAX_TIME_MS, MAX_TIME_MS + 1, "", "x",
                "payment", "skill:python", "a\x00b", "é" * MAX_NOTE, "é" * (MAX_NOTE + 1), "contest",
                "client", "https://example.org", b"", b"\x01" * 31, b"\x01" * 32, b"\x01" * 33, 1.5, [1]]


@pytest.mark.parametrize("stored", [False, True])
@pytest.mark.parametrize("cls", [Attestation, Deal, Retraction, Reply, Profile])
def test_the_inline_field_checks_agree_with_the_named_ones(cls, stored):
    """decode runs one generated function per type; its verdict on every field kind and
    value is the one the per-field checks (which name the bad field) give."""
    from trustmesh.protocol import records
    valid = (records._STORED_VALID if stored else records._VALID)[cls]
    checks = records._STORED_KINDS if stored else records._CHECKS
    good = [next(v for v in FIELD_VALUES if checks[kind](v)) for _, kind in cls.FIELDS]
    assert valid(good + [b"s" * 64])
    for k, (_, kind) in enumerate(cls.FIELDS):
        for value in FIELD_VALUES:
            values = good[:k] + [value] + good[k + 1:]
            assert valid(values) == checks[kind](value), (cls.NAME, kind, value)


def test_packing_a_record_allocates_about_its_size():
    """msgpack's own default buffer is 256 KiB, above the daemon's fixed mmap threshold: an mmap
    and a munmap per record packed (codec.PACK_BUFFER)."""
    import tracemalloc

    from trustmesh.protocol.codec import pack
    value = [1, b"x" * 32, "delivery", 12345678, b"y" * 64, "on time"]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        out = pack(value)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert out == msgpack.packb(value, use_bin_type=True)
    assert peak < 16 * 1024, peak
    big = [b"z" * 300_000, list(range(1000))]                 # a frame larger than the buffer packs whole
    assert pack(big) == msgpack.packb(big, use_bin_type=True)
