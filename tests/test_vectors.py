"""The published test vectors (tests/vectors/records.json) against our implementation.

Our encoder must reproduce every byte, our decoder and verifier must accept
every positive vector and refuse every negative one with the error class
the vector names, and the file must be exactly what make_vectors.py writes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import pytest

from trustmesh import errors
from trustmesh.crypto.ids import did_key, parse_id, peer_id
from trustmesh.crypto.keys import Identity
from trustmesh.store import ACCEPTED, REJECTED, Store
from trustmesh.protocol.bundle import read_bundle, read_proposal
from trustmesh.protocol.codec import pack
from trustmesh.protocol.framing import FrameDecoder, encode_varint
from trustmesh.protocol.records import (
    RECORD_TYPES, body, decode, domain, encode, record_id, reference_hash, signatures_valid,
    signing_input, signing_input_from_raw,
)
from trustmesh.protocol.validate import check_record

VECTORS_DIR = Path(__file__).parent / "vectors"
V = json.loads((VECTORS_DIR / "records.json").read_text(encoding="utf-8"))
NOW = V["now_ms"]
KEYS = {k["name"]: Identity.from_seed(bytes.fromhex(k["seed"])) for k in V["keys"]}
BY_NAME = {p["name"]: p for p in V["positive"]}


def build(vec):
    """The record described by a positive vector's fields and signatures."""
    cls = RECORD_TYPES[vec["type_code"]]
    values = [bytes.fromhex(v) if kind in ("key", "id", "id?") and v is not None else v
              for _, kind, v in vec["fields"]]
    sigs = [bytes.fromhex(s) if s is not None else None for s in vec["signatures"].values()]
    return cls(*values, *sigs)


def test_the_file_is_what_the_generator_writes():
    spec = importlib.util.spec_from_file_location("make_vectors", VECTORS_DIR / "make_vectors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render() == (VECTORS_DIR / "records.json").read_text(encoding="utf-8")


@pytest.mark.parametrize("key", V["keys"], ids=lambda k: k["name"])
def test_identity_ids(key):
    ident = Identity.from_seed(bytes.fromhex(key["seed"]))
    assert ident.public_key.hex() == key["public_key"]
    assert peer_id(ident.public_key) == key["peer_id"] and key["peer_id"].startswith("12D3KooW")
    assert did_key(ident.public_key) == key["did_key"] and key["did_key"].startswith("did:key:z6Mk")
    assert parse_id(key["peer_id"]) == parse_id(key["did_key"]) == ident.public_key
    import base58
    assert base58.b58decode(key["peer_id"]).hex() == key["peer_id_multihash"]


@pytest.mark.parametrize("vec", V["positive"], ids=lambda v: v["name"])
def test_positive_vector_is_reproduced_byte_for_byte(vec):
    record = build(vec)
    cls = type(record)
    assert domain(cls).hex() == vec["domain_hex"] == (b"trustmesh/v1/" + vec["type"].encode() + b"\x00").hex()
    assert pack(body(record)).hex() == vec["body_hex"]
    assert signing_input(record).hex() == vec["signing_input_hex"] == vec["domain_hex"] + vec["body_hex"]
    # Ed25519 is deterministic: re-signing with the fixed seeds gives the same signatures
    message = signing_input(record)
    for slot, signer in zip(cls.SIGNERS, vec["signers"]):
        assert KEYS[signer].sign(message).hex() == vec["signatures"][slot]
    raw = encode(record)
    assert raw.hex() == vec["encoding_hex"]
    assert record_id(raw).hex() == vec["record_id_hex"] == hashlib.sha256(raw).hexdigest()
    decoded = decode(raw, allow_proposal=vec["proposal"])
    assert decoded == record
    assert signatures_valid(decoded)
    assert signing_input_from_raw(raw, decoded) == message
    check_record(decoded, NOW)
    if vec["proposal"]:
        assert read_proposal(bytes.fromhex(vec["proposal_file_hex"])) == record
        with pytest.raises(errors.DecodeError):
            decode(raw)


@pytest.mark.parametrize("vec", V["negative"], ids=lambda v: v["name"])
def test_negative_vector_is_refused_with_the_documented_error(vec):
    raw = bytes.fromhex(vec["encoding_hex"])
    expected = getattr(errors, vec["error"])
    with pytest.raises(errors.TrustmeshError) as caught:
        check_record(decode(raw, allow_proposal=vec["proposal"]), NOW)
    assert type(caught.value) is expected, (vec["why"], caught.value)


def test_the_store_accepts_the_positives_and_rejects_every_negative(tmp_path):
    # decode-level and rule failures, bad signatures: the single path into the store refuses them all
    complete = [bytes.fromhex(p["encoding_hex"]) for p in V["positive"] if not p["proposal"]]
    with Store.open(tmp_path / "s.sqlite") as store:
        assert [r.status for r in store.ingest(complete, NOW)] == [ACCEPTED] * len(complete)
        negatives = [bytes.fromhex(n["encoding_hex"]) for n in V["negative"]]
        assert [r.status for r in store.ingest(negatives, NOW)] == [REJECTED] * len(negatives)
        assert store.forks() == []
        # the reply contests attestation-full, the retraction withdraws attestation-minimal
        full = store.get(bytes.fromhex(BY_NAME["attestation-full"]["record_id_hex"]))
        minimal = store.get(bytes.fromhex(BY_NAME["attestation-minimal"]["record_id_hex"]))
        assert full.contested and minimal.retracted
        assert store.profile(KEYS["carol"].public_key).name == "C. Martin"


def test_reference_hash_vector():
    ref = V["reference_hash"]
    a, b = bytes.fromhex(ref["party_a"]), bytes.fromhex(ref["party_b"])
    assert reference_hash(ref["text"], a, b).hex() == ref["hash_hex"] == reference_hash(ref["text"], b, a).hex()
    assert hashlib.sha256(bytes.fromhex(ref["input_hex"])).hexdigest() == ref["hash_hex"]


def test_framing_and_bundle_vectors():
    for f in V["framing"]:
        assert encode_varint(f["length"]).hex() == f["varint_hex"]
        dec = FrameDecoder()
        dec.feed(bytes.fromhex(f["varint_hex"]) + b"\x00" * f["length"])
        assert [len(x) for x in dec.frames()] == [f["length"]]
    bundle = bytes.fromhex(V["bundle"]["bundle_hex"])
    assert hashlib.sha256(bundle).hexdigest() == V["bundle"]["sha256_hex"]
    assert bundle.startswith(bytes.fromhex(V["bundle"]["magic_hex"]))
    expected = [bytes.fromhex(BY_NAME[n]["encoding_hex"]) for n in V["bundle"]["records"]]
    assert list(read_bundle([bundle])) == expected
    assert list(read_bundle(bundle[i:i + 1] for i in range(len(bundle)))) == expected


def test_the_protocol_page_quotes_the_vectors():
    page = (Path(__file__).parent.parent / "docs" / "protocol.md").read_text(encoding="utf-8")
    for vec in V["positive"]:
        assert vec["domain_hex"] in page
    assert BY_NAME["attestation-minimal"]["record_id_hex"] in page
    for key in V["keys"]:
        assert key["peer_id"] in page and key["did_key"] in page
    assert V["bundle"]["magic_hex"] in page and V["proposal_magic_hex"] in page
