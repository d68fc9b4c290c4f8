"""Regenerate tests/vectors/records.json: fixed keys, fixed times, every byte in hex.

    python tests/vectors/make_vectors.py          # rewrite the file
    python tests/vectors/make_vectors.py --check  # exit 1 if the file is stale

Ed25519 (RFC 8032) is deterministic, so the same inputs give the same file
on every run and every machine. docs/protocol.md explains each value; the
test suite (tests/test_vectors.py) checks that our encoder reproduces every
byte and that each negative vector is refused with the error class named.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from trustmesh.crypto.ids import did_key, peer_id  # noqa: E402
from trustmesh.crypto.keys import Identity  # noqa: E402
from trustmesh.protocol.bundle import BUNDLE_MAGIC, PROPOSAL_MAGIC, bundle_chunks, proposal_bytes  # noqa: E402
from trustmesh.protocol.codec import MAX_RECORD_SIZE, pack  # noqa: E402
from trustmesh.protocol.framing import encode_varint  # noqa: E402
from trustmesh.protocol.records import (  # noqa: E402
    MAX_TIME_MS, Attestation, Deal, Profile, Reply, Retraction, body, countersign, domain, encode, record_id,
    reference_hash, sign, signing_input,
)
from trustmesh.protocol.validate import MAX_CLOCK_SKEW_MS  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT = HERE / "records.json"
NOW = 1_790_000_000_000                 # 2026-09-21T14:13:20Z, the "now" every vector is checked at
L = 2**252 + 27742317777372353535851937790883648493     # the order of the Ed25519 base point

ALICE = Identity.from_seed(b"\x01" * 32)
BOB = Identity.from_seed(b"\x02" * 32)
CAROL = Identity.from_seed(b"\x03" * 32)
KEYS = {"alice": ALICE, "bob": BOB, "carol": CAROL}
BYTE_KINDS = {"key", "id", "id?"}


def key_vector(name: str, ident: Identity) -> dict:
    return {"name": name, "seed": ident.seed().hex(), "public_key": ident.public_key.hex(),
            "peer_id": peer_id(ident.public_key), "did_key": did_key(ident.public_key),
            "peer_id_multihash": (bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20]) + ident.public_key).hex()}


def fields_json(record) -> list:
    out = []
    for name, kind in record.FIELDS:
        value = getattr(record, name)
        if isinstance(value, bytes):
            value = value.hex()
        out.append([name, kind, value])
    return out


def positive(name: str, record, signers: list[str], *, proposal: bool = False, note: str = "") -> dict:
    raw = encode(record)
    vec = {
        "name": name, "note": note, "type": record.NAME, "type_code": record.TYPE,
        "fields": fields_json(record), "signers": signers,
        "domain_hex": domain(type(record)).hex(),
        "body_hex": pack(body(record)).hex(),
        "signing_input_hex": signing_input(record).hex(),
        "signatures": {s: (getattr(record, s).hex() if getattr(record, s) is not None else None)
                       for s in record.SIGNERS},
        "encoding_hex": raw.hex(),
        "record_id_hex": record_id(raw).hex(),
        "proposal": proposal,
    }
    if proposal:
        vec["proposal_file_hex"] = proposal_bytes(record).hex()
    return vec


def elements(record) -> list[bytes]:
    """The msgpack encoding of each element of the record's array, in order."""
    return [pack(v) for v in body(record) + [getattr(record, s) for s in record.SIGNERS]]


def with_element(record, index: int, encoded: bytes, header: bytes | None = None) -> bytes:
    parts = elements(record)
    parts[index] = encoded
    return (header or bytes([0x90 | len(parts)])) + b"".join(parts)


def negative(name: str, raw: bytes, error: str, why: str, *, proposal: bool = False) -> dict:
    return {"name": name, "encoding_hex": raw.hex(), "error": error, "why": why,
            "proposal": proposal}


def build() -> dict:
    a, b, c = ALICE.public_key, BOB.public_key, CAROL.public_key
    ref = reference_hash("INV-2026-0042", a, b)

    att1 = sign(Attestation(a, 1, None, NOW - 60_000, b, "payment", True, ref, None,
                            NOW - 7 * 86_400_000, None, None), ALICE)
    proposal = sign(Deal(a, b, "client", reference_hash("PO-7", a, b), NOW + 30 * 86_400_000,
                         NOW - 120_000), ALICE)
    deal = countersign(proposal, BOB)
    deal_id = record_id(encode(deal))
    att2 = sign(Attestation(a, 2, record_id(encode(att1)), NOW - 30_000, b, "skill:iso-9001", False,
                            deal.ref, deal_id, NOW - 86_400_000, NOW + 365 * 86_400_000,
                            "Livraison en retard de 3 semaines, qualité correcte ✓"), ALICE)
    reply = sign(Reply(b, 1, None, NOW - 20_000, record_id(encode(att2)), "contest",
                       "the delay came from the client's late specs"), BOB)
    retraction = sign(Retraction(a, 3, record_id(encode(att2)), NOW - 10_000, record_id(encode(att1)),
                                 "entered against the wrong member"), ALICE)
    profile = sign(Profile(c, 1, None, NOW - 5_000, "Carol Martin", "Martin Conseil SARL",
                           "https://martin-conseil.example/"), CAROL)
    profile_min = sign(Profile(c, 2, record_id(encode(profile)), NOW, "C. Martin", None, None), CAROL)

    positives = [
        positive("attestation-minimal", att1, ["alice"],
                 note="seq 1, prev nil, a reference hash, no deal, no expiry, no note"),
        positive("deal-proposal", proposal, ["alice"], proposal=True,
                 note="signed by the proposer only: counter_sig is nil; valid only in a proposal file"),
        positive("deal", deal, ["alice", "bob"],
                 note="the proposal countersigned by bob: both signatures over the same signing input"),
        positive("attestation-full", att2, ["alice"],
                 note="every optional field set; a deal-backed negative attestation with a UTF-8 note"),
        positive("reply", reply, ["bob"], note="bob, the subject of attestation-full, contests it"),
        positive("retraction", retraction, ["alice"], note="alice withdraws attestation-minimal"),
        positive("profile", profile, ["carol"]),
        positive("profile-minimal", profile_min, ["carol"], note="seq 2: replaces the previous profile"),
    ]

    def resigned(record, **changes):
        return encode(sign(dataclasses.replace(record, **changes), KEYS[_owner(record)]))

    e = elements(att1)
    sig = att1.sig
    s_plus_l = (int.from_bytes(sig[32:], "little") + L).to_bytes(32, "little")
    not_domain = ALICE.sign(pack(body(retraction)))
    other_domain = ALICE.sign(domain(Reply) + pack(body(retraction)))
    huge_note = "x" * (MAX_RECORD_SIZE)
    negatives = [
        # --- not canonical ------------------------------------------------------
        negative("array16-header", b"\xdc\x00\x0f" + b"".join(e), "DecodeError",
                 "array16 header where a fixarray fits"),
        negative("seq-as-uint16", with_element(att1, 3, b"\xcd\x00\x01"), "DecodeError",
                 "seq 1 written as uint16 instead of a positive fixint"),
        negative("issued-as-int64", with_element(att1, 5, b"\xd3" + att1.issued.to_bytes(8, "big")), "DecodeError",
                 "a non-negative integer written in a signed form"),
        negative("facet-as-str8", with_element(att1, 7, b"\xd9\x07payment"), "DecodeError",
                 "str8 where a fixstr fits"),
        negative("key-as-bin16", with_element(att1, 2, b"\xc5\x00\x20" + a), "DecodeError",
                 "bin16 where bin8 fits"),
        negative("trailing-byte", encode(att1) + b"\xc0", "DecodeError", "bytes after the record"),
        negative("truncated", encode(att1)[:-1], "DecodeError", "the record is cut short"),
        # --- wrong types and shapes ----------------------------------------------
        negative("map-not-array", pack({"v": 1}), "DecodeError", "a record is an array"),
        negative("unknown-version", with_element(att1, 0, b"\x02"), "DecodeError", "version 2 is unknown"),
        negative("version-as-true", with_element(att1, 0, b"\xc3"), "DecodeError", "version must be the integer 1"),
        negative("unknown-type-6", with_element(att1, 1, b"\x06"), "DecodeError", "there is no type 6"),
        negative("unknown-type-0", with_element(att1, 1, b"\x00"), "DecodeError", "there is no type 0"),
        negative("missing-field", bytes([0x90 | (len(e) - 1)]) + b"".join(e[:-2] + e[-1:]), "DecodeError",
                 "an attestation has 15 elements"),
        negative("positive-as-int", with_element(att1, 8, b"\x01"), "DecodeError", "a verdict is true or false"),
        negative("seq-negative", with_element(att1, 3, b"\xff"), "DecodeError", "seq is an unsigned integer"),
        negative("issued-as-float", with_element(att1, 5, b"\xcb" + b"\x42\x79\x0b\xd6\x3d\x1c\x00\x00"),
                 "DecodeError", "times are integers"),
        negative("issued-too-large", with_element(att1, 5, b"\xcf\x80" + b"\x00" * 7), "DecodeError",
                 "integers are below 2^63"),
        # --- times: milliseconds, at most the end of year 9999 UTC (MAX_TIME_MS) ---------
        negative("expires-after-year-9999", resigned(att2, expires=MAX_TIME_MS + 1), "DecodeError",
                 "times end with year 9999 (253402300799999 ms)"),
        negative("expires-2^63-1", resigned(att2, expires=2**63 - 1), "DecodeError",
                 "a valid uint, but no time: the poison record"),
        negative("due-after-year-9999",
                 encode(countersign(sign(dataclasses.replace(proposal, due=MAX_TIME_MS + 1), ALICE), BOB)),
                 "DecodeError", "times end with year 9999"),
        negative("occurred-after-year-9999", resigned(att1, occurred=MAX_TIME_MS + 1), "DecodeError",
                 "times end with year 9999 (decode comes before the rule on occurred)"),
        negative("issued-after-year-9999", resigned(att1, issued=MAX_TIME_MS + 1), "DecodeError",
                 "times end with year 9999 (decode comes before the rule on issued)"),
        negative("key-31-bytes", with_element(att1, 2, pack(a[:31])), "DecodeError", "a key is 32 bytes"),
        negative("key-as-str", with_element(att1, 6, pack("b" * 32)), "DecodeError",
                 "a key is bin, not str"),
        negative("nested-array", with_element(att1, 12, pack([])), "DecodeError", "no nested arrays"),
        negative("unknown-facet", resigned(att1, facet="Payment"), "DecodeError",
                 "facets are lower case, from the core set or skill:<name>"),
        negative("bad-skill-facet", resigned(att1, facet="skill:"), "DecodeError", "a skill needs a name"),
        negative("note-with-newline", resigned(att1, note="line one\nline two"), "DecodeError",
                 "notes hold no control characters"),
        negative("note-with-bidi-override", resigned(att1, note="paid \u202eyat 09"), "DecodeError",
                 "no bidi overrides"),
        negative("empty-note", resigned(att1, note=""), "DecodeError", "an absent note is nil, not empty"),
        negative("note-too-long", resigned(att1, note="é" * 281), "DecodeError", "a note is at most 280 characters"),
        negative("url-not-http", resigned(profile, url="ftp://martin.example/"), "DecodeError",
                 "profile urls are http(s)"),
        negative("role-unknown", encode(countersign(sign(dataclasses.replace(proposal, role="owner"), ALICE), BOB)),
                 "DecodeError", "role is client or supplier"),
        negative("oversized", encode(dataclasses.replace(att1, note=huge_note)), "DecodeError",
                 f"over {MAX_RECORD_SIZE} bytes: refused before parsing"),
        negative("proposal-as-record", encode(proposal), "DecodeError",
                 "a deal without counter_sig is only valid in a proposal file"),
        negative("sig-63-bytes", with_element(att1, 14, pack(sig[:63])), "DecodeError", "a signature is 64 bytes"),
        # --- signatures ------------------------------------------------------------
        negative("sig-bit-flipped", with_element(att1, 14, pack(sig[:10] + bytes([sig[10] ^ 1]) + sig[11:])),
                 "BadSignature", "one bit of the signature changed"),
        negative("field-changed-after-signing", encode(dataclasses.replace(att1, positive=False)), "BadSignature",
                 "the verdict was flipped after alice signed"),
        negative("signed-by-another-key", encode(dataclasses.replace(att1, sig=BOB.sign(signing_input(att1)))),
                 "BadSignature", "bob's signature on a record whose author is alice"),
        negative("sig-s-plus-l", with_element(att1, 14, pack(sig[:32] + s_plus_l)), "BadSignature",
                 "non-canonical S (S + L): malleated signatures are refused"),
        negative("sig-without-domain", encode(dataclasses.replace(retraction, sig=not_domain)), "BadSignature",
                 "signed over the body without the domain prefix"),
        negative("sig-from-another-type", encode(dataclasses.replace(retraction, sig=other_domain)), "BadSignature",
                 "a signature made under the reply domain replayed on a retraction"),
        negative("deal-counter-sig-by-third-party",
                 encode(dataclasses.replace(deal, counter_sig=CAROL.sign(signing_input(deal)))),
                 "BadSignature", "the counter signature is carol's, the counterparty is bob"),
        negative("deal-signatures-swapped", encode(dataclasses.replace(deal, sig=deal.counter_sig, counter_sig=deal.sig)),
                 "BadSignature", "sig and counter_sig in the wrong slots"),
        # --- rules (well-formed and correctly signed) ------------------------------
        negative("self-attestation", resigned(att1, subject=a), "InvalidRecord", "an attestation about oneself"),
        negative("issued-in-the-future", resigned(att1, issued=NOW + MAX_CLOCK_SKEW_MS + 1), "FutureRecord",
                 "issued more than 5 minutes after now"),
        negative("expires-before-issued", resigned(att1, expires=att1.issued), "InvalidRecord",
                 "expiry must be after issue"),
        negative("occurred-after-issued", resigned(att1, occurred=att1.issued + MAX_CLOCK_SKEW_MS + 1),
                 "InvalidRecord", "it cannot have happened after it was written"),
        negative("seq-zero", resigned(att1, seq=0), "InvalidRecord", "seq counts from 1"),
        negative("seq-1-with-prev", resigned(att1, prev=b"\x11" * 32), "InvalidRecord", "prev is nil exactly at seq 1"),
        negative("seq-2-without-prev", resigned(att1, seq=2), "InvalidRecord", "prev is nil exactly at seq 1"),
        negative("deal-with-oneself",
                 encode(countersign(sign(dataclasses.replace(proposal, counterparty=a), ALICE), ALICE)),
                 "InvalidRecord", "a deal needs two members"),
    ]

    framing = [{"length": n, "varint_hex": encode_varint(n).hex()} for n in (0, 1, 127, 128, 300, 16384, 2048)]
    bundle = b"".join(bundle_chunks([encode(att1), encode(deal)]))
    return {
        "about": "trustmesh v1 wire-format test vectors; see docs/protocol.md. Bytes are lower-case hex.",
        "now_ms": NOW,
        "max_clock_skew_ms": MAX_CLOCK_SKEW_MS,
        "max_time_ms": MAX_TIME_MS,
        "keys": [key_vector(n, i) for n, i in KEYS.items()],
        "reference_hash": {
            "text": "INV-2026-0042", "party_a": a.hex(), "party_b": b.hex(), "hash_hex": ref.hex(),
            "input_hex": (b"trustmesh/v1/ref\x00" + min(a, b) + max(a, b) + b"INV-2026-0042").hex(),
        },
        "positive": positives,
        "negative": negatives,
        "framing": framing,
        "bundle": {"magic_hex": BUNDLE_MAGIC.hex(), "records": ["attestation-minimal", "deal"],
                   "bundle_hex": bundle.hex(), "sha256_hex": hashlib.sha256(bundle).hexdigest()},
        "proposal_magic_hex": PROPOSAL_MAGIC.hex(),
    }


def _owner(record) -> str:
    return next(n for n, i in KEYS.items() if i.public_key == record.author)


def render() -> str:
    return json.dumps(build(), indent=1, ensure_ascii=False) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is stale: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
