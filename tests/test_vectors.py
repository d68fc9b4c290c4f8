"""The committed test vectors: our encoder reproduces every byte, our decoder
and verifier accept every valid vector and refuse every invalid one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trustmesh import errors
from trustmesh.crypto.ids import did_key, peer_id
from trustmesh.crypto.keys import Identity
from trustmesh.protocol.records import (
    Deal, decode, encode, record_id, reference_hash, signatures_valid, signing_input,
)
from trustmesh.protocol.validate import check_record

VECTORS = json.loads((Path(__file__).parent / "vectors" / "records.json").read_text())
FAR_FUTURE = 4_000_000_000_000


@pytest.mark.parametrize("ident", VECTORS["identities"], ids=lambda v: v["peer_id"][-6:])
def test_identity_vectors(ident):
    identity = Identity.from_seed(bytes.fromhex(ident["seed"]))
    assert identity.public_key.hex() == ident["public_key"]
    assert peer_id(identity.public_key) == ident["peer_id"]
    assert did_key(identity.public_key) == ident["did_key"]


def test_reference_hash_vector():
    v = VECTORS["reference_hash"]
    got = reference_hash(v["text"], bytes.fromhex(v["party_a"]), bytes.fromhex(v["party_b"]))
    assert got.hex() == v["hash"]
    assert reference_hash(v["text"], bytes.fromhex(v["party_b"]), bytes.fromhex(v["party_a"])).hex() == v["hash"]


@pytest.mark.parametrize("vector", VECTORS["records"], ids=lambda v: v["name"])
def test_valid_vectors_round_trip_byte_for_byte(vector):
    raw = bytes.fromhex(vector["encoding"])
    storable = vector.get("storable", True)
    record = decode(raw, allow_proposal=not storable)
    assert record.NAME == vector["type"]
    assert encode(record) == raw
    assert signing_input(record).hex() == vector["signing_input"]
    assert record.sig.hex() == vector["sig"]
    assert record_id(raw).hex() == vector["id"]
    assert signatures_valid(record)
    for name, value in vector["fields"].items():
        got = getattr(record, name)
        assert (got.hex() if isinstance(got, bytes) else got) == value
    if isinstance(record, Deal):
        assert (record.counter_sig.hex() if record.counter_sig else None) == vector["counter_sig"]
    if storable:
        check_record(record, FAR_FUTURE)
    else:
        with pytest.raises(errors.DecodeError):
            decode(raw)


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=lambda v: v["name"])
def test_invalid_vectors_are_refused_with_the_documented_error(vector):
    expected = getattr(errors, vector["error"])
    raw = bytes.fromhex(vector["encoding"])
    with pytest.raises(expected):
        check_record(decode(raw), FAR_FUTURE)


def test_vectors_file_is_what_the_generator_writes(tmp_path):
    """Regenerating must not change a byte: the format is frozen by the vectors."""
    import subprocess
    import sys
    script = Path(__file__).parent / "vectors" / "make_vectors.py"
    subprocess.run([sys.executable, str(script), str(tmp_path / "v.json")], check=True,
                   capture_output=True, timeout=60)
    committed = (Path(__file__).parent / "vectors" / "records.json").read_bytes()
    assert (tmp_path / "v.json").read_bytes() == committed
