"""Regenerate tests/vectors/*.json: fixed keys, fixed times, every byte in hex.

    python tests/vectors/make_vectors.py [OUTPUT]

Ed25519 signatures are deterministic, so the output never changes unless
the wire format does; tests/test_vectors.py checks the committed files.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from trustmesh.crypto.ids import did_key, peer_id  # noqa: E402
from trustmesh.crypto.keys import Identity  # noqa: E402
from trustmesh.protocol.codec import pack  # noqa: E402
from trustmesh.protocol.records import (  # noqa: E402
    Attestation, Deal, Profile, Reply, Retraction, countersign, encode, record_id,
    reference_hash, sign, signing_input,
)

T = 1_767_225_600_000   # 2026-01-01T00:00:00Z in ms
ALICE = Identity.from_seed(bytes([0x01]) * 32)
BOB = Identity.from_seed(bytes([0x02]) * 32)
CAROL = Identity.from_seed(bytes([0x03]) * 32)


def _fields(record) -> dict:
    out = {}
    for name, _ in record.FIELDS:
        value = getattr(record, name)
        out[name] = value.hex() if isinstance(value, bytes) else value
    return out


def positive_vectors() -> list[dict]:
    """Every record type, signed by fixed keys, with each intermediate in hex."""
    made = []
    profile = sign(Profile(ALICE.public_key, 1, None, T, "Alice Martin", "Martin Conseil",
                           "https://martin-conseil.example"), ALICE)
    made.append(("profile", profile, ALICE))
    ref = reference_hash("INV-12", ALICE.public_key, BOB.public_key)
    proposal = sign(Deal(ALICE.public_key, BOB.public_key, "client", ref, T + 30 * 86_400_000, T + 1000), ALICE)
    made.append(("deal proposal (not storable)", proposal, ALICE))
    deal = countersign(proposal, BOB)
    made.append(("deal, countersigned", deal, None))
    deal_id = record_id(encode(deal))
    praise = sign(Attestation(ALICE.public_key, 2, record_id(encode(profile)), T + 2000, BOB.public_key,
                              "payment", True, ref, deal_id, T + 1500, None, "paid on time"), ALICE)
    made.append(("attestation, deal-backed", praise, ALICE))
    skill = sign(Attestation(CAROL.public_key, 1, None, T + 3000, BOB.public_key, "skill:accounting",
                             False, None, None, T, T + 365 * 86_400_000, None), CAROL)
    made.append(("attestation, negative skill with expiry", skill, CAROL))
    reply = sign(Reply(BOB.public_key, 1, None, T + 4000, record_id(encode(skill)), "contest",
                       "never worked with Carol"), BOB)
    made.append(("reply", reply, BOB))
    retraction = sign(Retraction(CAROL.public_key, 2, record_id(encode(skill)), T + 5000,
                                 record_id(encode(skill)), "wrong person"), CAROL)
    made.append(("retraction", retraction, CAROL))
    out = []
    for label, record, _signer in made:
        raw = encode(record)
        entry = {
            "name": label,
            "type": record.NAME,
            "fields": _fields(record),
            "signing_input": signing_input(record).hex(),
            "sig": record.sig.hex(),
            "encoding": raw.hex(),
            "id": record_id(raw).hex(),
        }
        if isinstance(record, Deal):
            entry["counter_sig"] = record.counter_sig.hex() if record.counter_sig else None
            entry["storable"] = record.counter_sig is not None
        out.append(entry)
    return out


def negative_vectors(positives: list[dict]) -> list[dict]:
    """Encodings every implementation must refuse, with the error class expected."""
    praise = bytes.fromhex(positives[3]["encoding"])
    profile_rec = Profile(ALICE.public_key, 1, None, T, "Alice Martin", None, None)
    cases = []

    def add(name, data, error):
        cases.append({"name": name, "encoding": data.hex(), "error": error})

    body = bytearray(praise); body[-1] ^= 0x01
    add("flipped bit in the signature", bytes(body), "BadSignature")
    body = bytearray(praise); body[praise.index(b"paid")] ^= 0x20
    add("flipped bit in the note", bytes(body), "BadSignature")
    # seq 2 written as uint16 (0xcd 0x00 0x02) instead of the positive fixint 0x02
    author_end = 3 + 2 + 32   # fixarray, version, type, then bin8 header + 32 key bytes
    assert praise[author_end] == 0x02
    add("non-minimal integer (seq as uint16)", praise[:author_end] + b"\xcd\x00\x02" + praise[author_end + 1:],
        "DecodeError")
    add("trailing byte", praise + b"\x00", "DecodeError")
    add("truncated", praise[:-5], "DecodeError")
    add("not an array (a map)", pack({"a": 1}), "DecodeError")
    add("unknown version 2", b"\x92\x02\x01", "DecodeError")
    add("unknown type 9", pack([1, 9, ALICE.public_key]), "DecodeError")
    add("float where an integer belongs",
        pack([1, 5, ALICE.public_key, 1, None, float(T), "Alice", None, None, b"\x00" * 64]), "DecodeError")
    add("over the 2048-byte limit", pack([1, 5, ALICE.public_key, 1, None, T, "A" * 2100, None, None,
                                          b"\x00" * 64]), "DecodeError")
    # a valid profile signature, moved onto a retraction with the same leading fields
    signed_profile = sign(profile_rec, ALICE)
    replay = Retraction(ALICE.public_key, 1, None, T, b"\x11" * 32, None, signed_profile.sig)
    add("signature of another record type replayed", encode(replay), "BadSignature")
    unsigned_deal = bytes.fromhex(positives[1]["encoding"])
    add("deal without the countersignature", unsigned_deal, "DecodeError")
    forged = dataclasses.replace(signed_profile, name="Mallory")
    add("field changed after signing", encode(forged), "BadSignature")
    return cases


def identities() -> list[dict]:
    return [{"seed": (bytes([n]) * 32).hex(), "public_key": i.public_key.hex(),
             "peer_id": peer_id(i.public_key), "did_key": did_key(i.public_key)}
            for n, i in ((1, ALICE), (2, BOB), (3, CAROL))]


def main() -> None:
    positives = positive_vectors()
    document = {
        "about": "trustmesh wire format v1 test vectors; see docs/protocol.md",
        "identities": identities(),
        "reference_hash": {"text": "INV-12", "party_a": ALICE.public_key.hex(), "party_b": BOB.public_key.hex(),
                           "hash": reference_hash("INV-12", ALICE.public_key, BOB.public_key).hex()},
        "records": positives,
        "invalid": negative_vectors(positives),
    }
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "records.json"
    target.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {len(positives)} valid and {len(document['invalid'])} invalid vectors")


if __name__ == "__main__":
    main()
