"""Regenerate tests/vectors/records.json: fixed keys, fixed times, every byte in hex.

    python tests/vectors/make_vectors.py          # rewrite the file
    python tests/vectors/make_vectors.py --check  # exit 1 if the file is stale

Ed25519 (RFC 8032) is deterministic, so the same inputs give the same file
on every run and every machine. docs/protocol.md explains each value; the
test suite (tests/test_vectors.py) checks that our encoder reproduces every
byte, that each negative vector is refused with the error class named, that
each link vector's pair is judged as stated, and that the protocol page's
rule table names exactly the vectors below, rule by rule.

The signature vectors of rules G4-G6 need points no signer would produce (a
small-order R, a small-order or non-canonical key, R plus a torsion point):
they are built with the plain Edwards arithmetic of RFC 8032, section 6,
below (``ed25519_*``), which is also what shows that a lax verifier would
take them.
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
from trustmesh.protocol import keyevents  # noqa: E402
from trustmesh.protocol.keystate import resolve  # noqa: E402
from trustmesh.protocol.gossip import pack_message as gossip_data  # noqa: E402
from trustmesh.protocol.framing import frame  # noqa: E402
from trustmesh.protocol.messages import ABORT  # noqa: E402
from trustmesh.protocol.query.session import QueryClient, QueryRequest, QueryServer  # noqa: E402
from trustmesh.protocol.sync.index import SyncIndex, fingerprint_ids  # noqa: E402
from trustmesh.protocol.sync.session import SyncSession, WantRecords  # noqa: E402
from trustmesh.protocol.validate import MAX_CLOCK_SKEW_MS  # noqa: E402

GOSSIP_TOPIC = "trustmesh/records/1"


def pubsub_message(data: bytes) -> bytes:
    """The libp2p pubsub ``Message`` protobuf of a StrictNoSign message (docs/protocol.md 16.2):
    field 2 (data) and field 4 (topic), nothing else, written out by hand."""
    topic = GOSSIP_TOPIC.encode()
    return b"\x12" + encode_varint(len(data)) + data + b"\x22" + encode_varint(len(topic)) + topic


HERE = Path(__file__).resolve().parent
OUT = HERE / "records.json"
NOW = 1_790_000_000_000                 # 2026-09-21T14:13:20Z, the "now" every vector is checked at
L = 2**252 + 27742317777372353535851937790883648493     # the order of the Ed25519 base point

ALICE = Identity.from_seed(b"\x01" * 32)
BOB = Identity.from_seed(b"\x02" * 32)
CAROL = Identity.from_seed(b"\x03" * 32)
DAVE = Identity.from_seed(b"\x04" * 32)       # the member of the key-event vectors
ERIN = Identity.from_seed(b"\x05" * 32)       # dave's committed successor
FRANK = Identity.from_seed(b"\x06" * 32)      # a device of dave's
KEYS = {"alice": ALICE, "bob": BOB, "carol": CAROL, "dave": DAVE, "erin": ERIN, "frank": FRANK}
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


def negative(name: str, raw: bytes, rule: str, error: str, why: str, *, proposal: bool = False) -> dict:
    return {"name": name, "rule": rule, "encoding_hex": raw.hex(), "error": error, "why": why,
            "proposal": proposal}

# ---- Edwards25519 arithmetic (RFC 8032, section 6), for the crafted signature vectors ----------
P25519 = 2**255 - 19
_D = -121665 * pow(121666, P25519 - 2, P25519) % P25519
_SQRT_M1 = pow(2, (P25519 - 1) // 4, P25519)
IDENTITY = (0, 1, 1, 0)


def ed25519_add(p, q):
    a = (p[1] - p[0]) * (q[1] - q[0]) % P25519
    b = (p[1] + p[0]) * (q[1] + q[0]) % P25519
    c = 2 * p[3] * q[3] * _D % P25519
    d = 2 * p[2] * q[2] % P25519
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P25519, g * h % P25519, f * g % P25519, e * h % P25519)


def ed25519_mul(k: int, point):
    out = IDENTITY
    while k > 0:
        if k & 1:
            out = ed25519_add(out, point)
        point = ed25519_add(point, point)
        k >>= 1
    return out


def ed25519_neg(point):
    return ((P25519 - point[0]) % P25519, point[1], point[2], (P25519 - point[3]) % P25519)


def ed25519_encode(point) -> bytes:
    zinv = pow(point[2], P25519 - 2, P25519)
    x, y = point[0] * zinv % P25519, point[1] * zinv % P25519
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _recover_x(y: int, sign: int):
    x2 = (y * y - 1) * pow(_D * y * y + 1, P25519 - 2, P25519) % P25519
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P25519 + 3) // 8, P25519)
    if (x * x - x2) % P25519:
        x = x * _SQRT_M1 % P25519
    if (x * x - x2) % P25519:
        return None
    return P25519 - x if (x & 1) != sign else x


def ed25519_decode(data: bytes, *, lax: bool = False):
    """The point encoded by ``data``, or None; ``lax`` takes y >= p as y mod p, as some libraries do."""
    y = int.from_bytes(data, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    if y >= P25519:
        if not lax:
            return None
        y -= P25519
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % P25519)


BASE = ed25519_decode((4 * pow(5, P25519 - 2, P25519) % P25519).to_bytes(32, "little"))


def small_order(point) -> bool:
    return ed25519_encode(ed25519_mul(8, point)) == ed25519_encode(IDENTITY)


def lax_verify(key: bytes, sig: bytes, message: bytes, *, cofactored: bool = False) -> bool:
    """Ed25519 verification without rules G3-G5 (S < L, R and A not of small order, A canonical),
    cofactorless (G6) unless ``cofactored``: what a verifier that skips them would say."""
    a, r = ed25519_decode(key, lax=True), ed25519_decode(sig[:32], lax=True)
    if a is None or r is None:
        return False
    s = int.from_bytes(sig[32:], "little")
    k = int.from_bytes(hashlib.sha512(sig[:32] + key + message).digest(), "little") % L
    check = ed25519_add(ed25519_mul(s, BASE), ed25519_neg(ed25519_mul(k, a)))
    if cofactored:
        return ed25519_encode(ed25519_mul(8, check)) == ed25519_encode(ed25519_mul(8, r))
    return ed25519_encode(check) == sig[:32]


def secret_scalar(ident: Identity) -> int:
    """The signing scalar RFC 8032 derives from a seed (clamped)."""
    h = int.from_bytes(hashlib.sha512(ident.seed()).digest()[:32], "little")
    return (h & ((1 << 254) - 8)) | (1 << 254)


def nonce(label: str) -> int:
    return int.from_bytes(hashlib.sha512(b"trustmesh vector nonce " + label.encode()).digest(), "little") % L


def torsion_point():
    """A point of order 8 (the 8-torsion: [8]T is the identity, [4]T is not)."""
    for y in range(2, 10_000):
        point = ed25519_decode(y.to_bytes(32, "little"))
        if point is None:
            continue
        t = ed25519_mul(L, point)          # kill the prime-order part
        if ed25519_encode(ed25519_mul(4, t)) != ed25519_encode(IDENTITY):
            return t
    raise AssertionError("no torsion point found")


def not_on_curve_key() -> bytes:
    """The smallest y whose encoding is no point (x^2 has no square root)."""
    return next(y.to_bytes(32, "little") for y in range(2, 1000)
                if ed25519_decode(y.to_bytes(32, "little")) is None)


def forged_for_weak_key(record, key: bytes, label: str):
    """``record`` with author ``key`` (the identity point, in some encoding) and a signature any
    verifier that lets such a key through accepts: R = [r]B, S = r, since [k]A is the identity."""
    r = nonce(label)
    record = dataclasses.replace(record, author=key)
    sig = ed25519_encode(ed25519_mul(r, BASE)) + r.to_bytes(32, "little")
    return dataclasses.replace(record, sig=sig)


def small_order_r_sig(record, ident: Identity) -> bytes:
    """A signature whose R is the identity point: S = k*a, so [S]B - [k]A = identity = R."""
    r_bytes = ed25519_encode(IDENTITY)
    k = int.from_bytes(hashlib.sha512(r_bytes + ident.public_key + signing_input(record)).digest(),
                       "little") % L
    return r_bytes + (k * secret_scalar(ident) % L).to_bytes(32, "little")


def torsioned_sig(record, ident: Identity) -> bytes:
    """A signature with R' = R + T (T of order 8) and S = r + k'a: cofactored verifiers accept it,
    the cofactorless equation does not hold."""
    r = nonce("torsion")
    r_bytes = ed25519_encode(ed25519_add(ed25519_mul(r, BASE), torsion_point()))
    k = int.from_bytes(hashlib.sha512(r_bytes + ident.public_key + signing_input(record)).digest(),
                       "little") % L
    return r_bytes + ((r + k * secret_scalar(ident)) % L).to_bytes(32, "little")


# ---- the network protocols' vectors -----------------------------------------------------------

def frames_of(data: bytes) -> list[bytes]:
    """Split a stream of frames (varint length + body) into the bodies."""
    out, pos = [], 0
    while pos < len(data):
        length, shift = 0, 0
        while True:
            byte = data[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        out.append(data[pos:pos + length])
        pos += length
    return out


SYNC_NAMES = {0: "ABORT", 1: "RECONCILE", 2: "NEED", 3: "RECORDS"}
QUERY_NAMES = {0: "ABORT", 1: "QUERY", 2: "RESULTS", 3: "END", 4: "LINKED"}


def transcript_entry(side: str, body: bytes, names: dict) -> dict:
    return {"from": side, "type": names[body[1]], "body_hex": body.hex(), "frame_hex": frame(body).hex()}


def sync_transcript(left: list[bytes], right: list[bytes], names: dict[bytes, str]) -> dict:
    """One whole sync between a side holding ``left`` (the initiator) and one holding ``right``."""
    held = {"initiator": {record_id(r): r for r in left}, "responder": {record_id(r): r for r in right}}
    sessions = {"initiator": SyncSession(SyncIndex(held["initiator"]), initiator=True),
                "responder": SyncSession(SyncIndex(held["responder"]), initiator=False)}
    frames, turn = [], "initiator"
    sessions["initiator"].start()
    for _ in range(50):                     # turns: each side answers what it received, until both are done
        session = sessions[turn]
        while session.state != "done" and (event := session.next_event()) is not None:
            if isinstance(event, WantRecords):
                session.provide([held[turn][i] for i in event.ids])
        data = session.data_to_send()
        frames += [transcript_entry(turn, body, SYNC_NAMES) for body in frames_of(data)]
        turn = "responder" if turn == "initiator" else "initiator"
        if data:
            sessions[turn].receive_data(data)
        if all(s.state == "done" for s in sessions.values()):
            break
    assert all(s.state == "done" for s in sessions.values()), [s.state for s in sessions.values()]
    return {"initiator_holds": [names[record_id(r)] for r in left],
            "responder_holds": [names[record_id(r)] for r in right], "frames": frames}


def query_transcript(request: QueryRequest, results: list[bytes], linked: list[bytes]) -> dict:
    client, server = QueryClient(request), QueryServer()
    client.start()
    asked = client.data_to_send()
    server.receive_data(asked)
    server.next_event()
    server.provide(results, linked, done=True)
    answer = server.data_to_send()
    client.receive_data(answer)
    while client.next_event() is not None:
        pass
    assert client.state == "done"
    return {"frames": [transcript_entry("client", b, QUERY_NAMES) for b in frames_of(asked)]
            + [transcript_entry("server", b, QUERY_NAMES) for b in frames_of(answer)]}


def link(name: str, rule: str, target, record, error: str | None, why: str) -> dict:
    return {"name": name, "rule": rule, "records": [encode(target).hex(), encode(record).hex()],
            "error": error, "why": why}


def build() -> dict:
    a, b, c = ALICE.public_key, BOB.public_key, CAROL.public_key
    ref = reference_hash("INV-2026-0042", a, b)
    day = 86_400_000

    att1 = sign(Attestation(a, 1, None, NOW - 60_000, b, "payment", True, ref, None,
                            NOW - 7 * day, None, None), ALICE)
    proposal = sign(Deal(a, b, "client", reference_hash("PO-7", a, b), NOW + 30 * day,
                         NOW - 120_000), ALICE)
    deal = countersign(proposal, BOB)
    deal_id = record_id(encode(deal))
    att2 = sign(Attestation(a, 2, record_id(encode(att1)), NOW - 30_000, b, "skill:iso-9001", False,
                            deal.ref, deal_id, NOW - day, NOW + 365 * day,
                            "Livraison en retard de 3 semaines, qualité correcte ✓"), ALICE)
    reply = sign(Reply(b, 1, None, NOW - 20_000, record_id(encode(att2)), "contest",
                       "the delay came from the client's late specs"), BOB)
    retraction = sign(Retraction(a, 3, record_id(encode(att2)), NOW - 10_000, record_id(encode(att1)),
                                 "entered against the wrong member"), ALICE)
    profile = sign(Profile(c, 1, None, NOW - 5_000, "Carol Martin", "Martin Conseil SARL",
                           "https://martin-conseil.example/"), CAROL)
    profile_min = sign(Profile(c, 2, record_id(encode(profile)), NOW, "C. Martin", None, None), CAROL)
    att_max = sign(Attestation(a, 4, record_id(encode(retraction)), NOW - 4_000, c, "delivery", True, None,
                               None, NOW - 2 * day, MAX_TIME_MS, None), ALICE)

    d, f = DAVE.public_key, FRANK.public_key
    incept = keyevents.incept(DAVE, ERIN.public_key, NOW - 4_000)
    state = resolve(d, [(record_id(encode(incept)), incept)])
    add = keyevents.consent(keyevents.add_device(state, DAVE, f, NOW - 3_000), FRANK)
    state = resolve(d, [(record_id(encode(e)), e) for e in (incept, add)])
    revoke = keyevents.revoke(state, DAVE, f, NOW - 3_500, NOW - 2_000)
    state = resolve(d, [(record_id(encode(e)), e) for e in (incept, add, revoke)])
    rotate = keyevents.rotate(state, ERIN, ALICE.public_key, NOW - 1_000)

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
        positive("attestation-max-time", att_max, ["alice"],
                 note="expires at the last millisecond of year 9999 (max_time_ms): the largest valid time"),
        positive("keyevent-incept", incept, ["dave"],
                 note="dave's key chain starts: next = SHA-256('trustmesh/v1/next' 00 || erin's key)"),
        positive("keyevent-add", add, ["dave", "frank"],
                 note="dave adds frank's key as a device; frank's key_sig signs the same input"),
        positive("keyevent-revoke", revoke, ["dave"],
                 note="dave revokes the device: its records from since on are void"),
        positive("keyevent-rotate", rotate, ["erin"],
                 note="erin, the successor dave committed to, takes over; signed by erin only"),
    ]

    chains = key_chains(incept, add, revoke, rotate)

    def resigned(record, **changes):
        return encode(sign(dataclasses.replace(record, **changes), KEYS[_owner(record)]))

    def key_resigned(record, signer=DAVE, **changes):
        return encode(sign(dataclasses.replace(record, **changes), signer))

    def deal_with(**changes):
        return encode(countersign(sign(dataclasses.replace(proposal, **changes), ALICE), BOB))

    e = elements(att1)
    sig = att1.sig
    s_plus_l = (int.from_bytes(sig[32:], "little") + L).to_bytes(32, "little")
    not_domain = ALICE.sign(pack(body(retraction)))
    other_domain = ALICE.sign(domain(Reply) + pack(body(retraction)))
    huge_note = "x" * (MAX_RECORD_SIZE)
    identity_key = ed25519_encode(IDENTITY)                       # 01 00 .. 00: order 1
    identity_non_canonical = (P25519 + 1).to_bytes(32, "little")  # y = p + 1, i.e. 1 again
    negatives = [
        # --- D: not one canonical msgpack array of the allowed element types -----------
        negative("oversized", encode(dataclasses.replace(att1, note=huge_note)), "D1", "DecodeError",
                 f"over {MAX_RECORD_SIZE} bytes: refused before parsing"),
        negative("map-not-array", pack({"v": 1}), "D2", "DecodeError", "a record is an array"),
        negative("trailing-byte", encode(att1) + b"\xc0", "D2", "DecodeError", "bytes after the record"),
        negative("truncated", encode(att1)[:-1], "D2", "DecodeError", "the record is cut short"),
        negative("nested-array", with_element(att1, 12, pack([])), "D3", "DecodeError", "no nested arrays"),
        negative("issued-as-float", with_element(att1, 5, b"\xcb" + b"\x42\x79\x0b\xd6\x3d\x1c\x00\x00"),
                 "D3", "DecodeError", "times are integers, not floats"),
        negative("issued-as-timestamp-ext", with_element(att1, 5, b"\xd6\xff" + (NOW // 1000).to_bytes(4, "big")),
                 "D3", "DecodeError", "no ext types, not even msgpack's timestamp"),
        negative("seq-negative", with_element(att1, 3, b"\xff"), "D3", "DecodeError",
                 "no negative integers (-1 as a negative fixint)"),
        negative("array16-header", b"\xdc\x00\x0f" + b"".join(e), "D4", "DecodeError",
                 "array16 header where a fixarray fits"),
        negative("seq-as-uint16", with_element(att1, 3, b"\xcd\x00\x01"), "D4", "DecodeError",
                 "seq 1 written as uint16 instead of a positive fixint"),
        negative("issued-as-int64", with_element(att1, 5, b"\xd3" + att1.issued.to_bytes(8, "big")), "D4",
                 "DecodeError", "a non-negative integer written in a signed form"),
        negative("facet-as-str8", with_element(att1, 7, b"\xd9\x07payment"), "D4", "DecodeError",
                 "str8 where a fixstr fits"),
        negative("key-as-bin16", with_element(att1, 2, b"\xc5\x00\x20" + a), "D4", "DecodeError",
                 "bin16 where bin8 fits"),
        negative("note-invalid-utf8", with_element(att1, 13, b"\xa3\xed\xa0\x80"), "D5", "DecodeError",
                 "ed a0 80 would be the surrogate U+D800: not UTF-8"),
        negative("unknown-version", with_element(att1, 0, b"\x02"), "D6", "DecodeError", "version 2 is unknown"),
        negative("version-as-true", with_element(att1, 0, b"\xc3"), "D6", "DecodeError",
                 "version must be the integer 1"),
        negative("unknown-type-0", with_element(att1, 1, b"\x00"), "D7", "DecodeError", "there is no type 0"),
        negative("unknown-type-6", with_element(att1, 1, b"\x06"), "D7", "DecodeError", "there is no type 6"),
        negative("missing-field", bytes([0x90 | (len(e) - 1)]) + b"".join(e[:-2] + e[-1:]), "D8", "DecodeError",
                 "an attestation has 15 elements"),
        # --- K: an element that is not of its field's kind --------------------------------
        negative("key-31-bytes", with_element(att1, 2, pack(a[:31])), "K1", "DecodeError", "a key is 32 bytes"),
        negative("key-as-str", with_element(att1, 6, pack("b" * 32)), "K1", "DecodeError",
                 "a key is bin, not str"),
        negative("seq-too-large", resigned(att1, seq=2**63, prev=b"\x11" * 32), "K2", "DecodeError",
                 "integers are below 2^63"),
        negative("issued-too-large", with_element(att1, 5, b"\xcf\x80" + b"\x00" * 7), "K3", "DecodeError",
                 "2^63: neither a uint nor a time"),
        negative("issued-after-year-9999", resigned(att1, issued=MAX_TIME_MS + 1), "K3", "DecodeError",
                 "times end with year 9999 (decode comes before the rule on issued)"),
        negative("occurred-after-year-9999", resigned(att1, occurred=MAX_TIME_MS + 1), "K3", "DecodeError",
                 "times end with year 9999 (decode comes before the rule on occurred)"),
        negative("expires-after-year-9999", resigned(att2, expires=MAX_TIME_MS + 1), "K3", "DecodeError",
                 "times end with year 9999 (253402300799999 ms)"),
        negative("expires-2^63-1", resigned(att2, expires=2**63 - 1), "K3", "DecodeError",
                 "a valid uint, but no time: the poison record"),
        negative("due-after-year-9999", deal_with(due=MAX_TIME_MS + 1), "K3", "DecodeError",
                 "times end with year 9999"),
        negative("positive-as-int", with_element(att1, 8, b"\x01"), "K4", "DecodeError",
                 "a verdict is true or false"),
        negative("unknown-facet", resigned(att1, facet="Payment"), "K5", "DecodeError",
                 "facets are lower case, from the core set or skill:<name>"),
        negative("bad-skill-facet", resigned(att1, facet="skill:"), "K5", "DecodeError", "a skill needs a name"),
        negative("skill-facet-too-long", resigned(att1, facet="skill:" + "a" * 59), "K5", "DecodeError",
                 "a facet is at most 64 characters (this one 65)"),
        negative("note-with-newline", resigned(att1, note="line one\nline two"), "K6", "DecodeError",
                 "notes hold no control characters"),
        negative("note-with-bidi-override", resigned(att1, note="paid \u202eyat 09"), "K6", "DecodeError",
                 "no bidi overrides"),
        negative("empty-note", resigned(att1, note=""), "K6", "DecodeError", "an absent note is nil, not empty"),
        negative("note-too-long", resigned(att1, note="é" * 281), "K6", "DecodeError",
                 "a note is at most 280 characters (here 281, in 562 bytes)"),
        negative("name-too-long", resigned(profile, name="N" * 101), "K6", "DecodeError",
                 "a name is at most 100 characters"),
        negative("url-not-http", resigned(profile, url="ftp://martin.example/"), "K7", "DecodeError",
                 "profile urls are http(s)"),
        negative("stance-unknown", resigned(reply, stance="agree"), "K8", "DecodeError",
                 "a stance is contest or acknowledge"),
        negative("role-unknown", deal_with(role="owner"), "K8", "DecodeError", "role is client or supplier"),
        negative("sig-63-bytes", with_element(att1, 14, pack(sig[:63])), "K9", "DecodeError",
                 "a signature is 64 bytes"),
        negative("proposal-as-record", encode(proposal), "K9", "DecodeError",
                 "a deal without counter_sig is only valid in a proposal file"),
        negative("keyevent-kind-unknown", key_resigned(incept, kind="accept"), "K10", "DecodeError",
                 "a key event's kind is incept, rotate, add or revoke"),
        negative("keyevent-add-without-key-sig", key_resigned(add, key_sig=None), "K11", "DecodeError",
                 "an add carries the device's own signature"),
        negative("keyevent-revoke-with-key-sig", key_resigned(revoke, key_sig=FRANK.sign(b"x")), "K11",
                 "DecodeError", "only an add carries key_sig"),
        # --- R: rules of the record itself (well-formed and correctly signed) ---------------
        negative("keyevent-incept-at-seq-1", key_resigned(incept, seq=1), "R9", "InvalidRecord",
                 "the inception is at seq 0, prev nil, and only there"),
        negative("keyevent-add-at-seq-0", encode(keyevents.consent(dataclasses.replace(
                     sign(dataclasses.replace(add, seq=0, prev=None), DAVE)), FRANK)),
                 "R9", "InvalidRecord", "seq 0 is the inception's"),
        negative("keyevent-seq-beyond-1000", encode(keyevents.consent(sign(dataclasses.replace(
                     add, seq=1001, key_sig=None), DAVE), FRANK)), "R9", "InvalidRecord", "a key chain ends at 1000"),
        negative("keyevent-incept-by-another-key", key_resigned(incept, FRANK, author=f), "R10", "InvalidRecord",
                 "an inception is signed by the member's first key"),
        negative("keyevent-rotate-not-signed-by-the-successor", key_resigned(rotate, DAVE, author=d), "R10",
                 "InvalidRecord", "a rotation is signed by the successor it reveals"),
        negative("keyevent-rotate-without-next", key_resigned(rotate, ERIN, next=None), "R10", "InvalidRecord",
                 "a rotation commits to the next key"),
        negative("keyevent-revoke-without-since", key_resigned(revoke, since=None), "R11", "InvalidRecord",
                 "a revocation says from when"),
        negative("keyevent-since-after-issued", key_resigned(revoke, since=revoke.issued + 1), "R11",
                 "InvalidRecord", "since is not after the event was signed"),
        negative("keyevent-add-of-own-key", encode(keyevents.consent(sign(dataclasses.replace(
                     add, key=d, key_sig=None), DAVE), DAVE)), "R11", "InvalidRecord",
                 "a device add names a new key"),
        negative("seq-zero", resigned(att1, seq=0), "R1", "InvalidRecord", "seq counts from 1"),
        negative("seq-1-with-prev", resigned(att1, prev=b"\x11" * 32), "R2", "InvalidRecord",
                 "prev is nil exactly at seq 1"),
        negative("seq-2-without-prev", resigned(att1, seq=2), "R2", "InvalidRecord", "prev is nil exactly at seq 1"),
        negative("issued-in-the-future", resigned(att1, issued=NOW + MAX_CLOCK_SKEW_MS + 1), "R3", "FutureRecord",
                 "issued more than 5 minutes after now"),
        negative("self-attestation", resigned(att1, subject=a), "R4", "InvalidRecord", "an attestation about oneself"),
        negative("occurred-after-issued", resigned(att1, occurred=att1.issued + MAX_CLOCK_SKEW_MS + 1), "R5",
                 "InvalidRecord", "it cannot have happened after it was written"),
        negative("expires-before-issued", resigned(att1, expires=att1.issued), "R6", "InvalidRecord",
                 "expiry must be after issue"),
        negative("deal-with-oneself",
                 encode(countersign(sign(dataclasses.replace(proposal, counterparty=a), ALICE), ALICE)),
                 "R7", "InvalidRecord", "a deal needs two members"),
        negative("due-long-before-issued", deal_with(due=proposal.issued - 366 * day - 1), "R8", "InvalidRecord",
                 "due more than 366 days before the deal was made (one millisecond more)"),
        # --- G: signatures ----------------------------------------------------------------
        negative("sig-bit-flipped", with_element(att1, 14, pack(sig[:10] + bytes([sig[10] ^ 1]) + sig[11:])),
                 "G1", "BadSignature", "one bit of the signature changed"),
        negative("field-changed-after-signing", encode(dataclasses.replace(att1, positive=False)), "G1",
                 "BadSignature", "the verdict was flipped after alice signed"),
        negative("signed-by-another-key", encode(dataclasses.replace(att1, sig=BOB.sign(signing_input(att1)))),
                 "G1", "BadSignature", "bob's signature on a record whose author is alice"),
        negative("sig-without-domain", encode(dataclasses.replace(retraction, sig=not_domain)), "G1",
                 "BadSignature", "signed over the body without the domain prefix"),
        negative("sig-from-another-type", encode(dataclasses.replace(retraction, sig=other_domain)), "G1",
                 "BadSignature", "a signature made under the reply domain replayed on a retraction"),
        negative("deal-counter-sig-by-third-party",
                 encode(dataclasses.replace(deal, counter_sig=CAROL.sign(signing_input(deal)))), "G2",
                 "BadSignature", "the counter signature is carol's, the counterparty is bob"),
        negative("deal-signatures-swapped",
                 encode(dataclasses.replace(deal, sig=deal.counter_sig, counter_sig=deal.sig)), "G2",
                 "BadSignature", "sig and counter_sig in the wrong slots"),
        negative("sig-s-plus-l", with_element(att1, 14, pack(sig[:32] + s_plus_l)), "G3", "BadSignature",
                 "non-canonical S (S + L): verifies in the plain equation; malleated signatures are refused"),
        negative("sig-r-small-order", encode(dataclasses.replace(att1, sig=small_order_r_sig(att1, ALICE))), "G4",
                 "BadSignature", "R is the identity point and S = k*a: the plain equation holds, and anyone "
                 "who knows one signature's k could do the same"),
        negative("author-key-small-order", encode(forged_for_weak_key(att1, identity_key, "identity")), "G5",
                 "BadSignature", "the author key is the identity point (01 00..00): R = [r]B, S = r verifies "
                 "for every message in the plain equation"),
        negative("author-key-non-canonical", encode(forged_for_weak_key(att1, identity_non_canonical, "ee")),
                 "G5", "BadSignature", "the same identity point with y written as p + 1 (ee ff..ff 7f)"),
        negative("author-key-not-on-curve",
                 encode(forged_for_weak_key(att1, not_on_curve_key(), "off")), "G5",
                 "BadSignature", "the author key's y has no x on the curve"),
        negative("sig-r-plus-torsion", encode(dataclasses.replace(att1, sig=torsioned_sig(att1, ALICE))), "G6",
                 "BadSignature", "R + T, T of order 8: a cofactored verifier accepts it, the cofactorless "
                 "equation does not hold"),
    ]

    # --- L: links, each a pair [target, record pointing at it]; both pass every other rule ---
    ret_of_ret = sign(Retraction(a, 5, record_id(encode(att_max)), NOW - 3_000, record_id(encode(retraction)),
                                 None), ALICE)
    link_to_att = sign(Attestation(a, 6, record_id(encode(ret_of_ret)), NOW - 2_000, b, "delivery", True, None,
                                   record_id(encode(att1)), NOW - 2 * day, None, None), ALICE)
    link_others = sign(Attestation(a, 7, record_id(encode(link_to_att)), NOW - 1_000, c, "delivery", True,
                                   deal.ref, deal_id, NOW - 2 * day, None, None), ALICE)
    bob_retracts_deal = sign(Retraction(b, 2, record_id(encode(reply)), NOW - 9_000, deal_id,
                                        "the order was cancelled"), BOB)
    bob_attests = sign(Attestation(b, 3, record_id(encode(bob_retracts_deal)), NOW - 8_000, a, "payment", True,
                                   deal.ref, deal_id, NOW - day, None, None), BOB)
    bob_retracts_att1 = sign(Retraction(b, 4, record_id(encode(bob_attests)), NOW - 7_000,
                                        record_id(encode(att1)), None), BOB)
    bob_replies_deal = sign(Reply(b, 5, record_id(encode(bob_retracts_att1)), NOW - 6_000, deal_id, "contest",
                                  None), BOB)
    carol_retracts_deal = sign(Retraction(c, 3, record_id(encode(profile_min)), NOW - 3_000, deal_id, None), CAROL)
    carol_replies = sign(Reply(c, 4, record_id(encode(carol_retracts_deal)), NOW - 2_000,
                               record_id(encode(att2)), "acknowledge", None), CAROL)
    links = [
        link("retraction-of-a-retraction", "L1", retraction, ret_of_ret, "BadLink",
             "alice retracts her own retraction: a retraction cannot be retracted"),
        link("retraction-by-the-author", "L2", att1, retraction, None,
             "alice withdraws her attestation (the positive vectors' pair)"),
        link("retraction-by-a-non-party", "L2", att1, bob_retracts_att1, "BadLink",
             "bob, the subject, tries to withdraw alice's attestation about him"),
        link("deal-retraction-by-the-counterparty", "L2", deal, bob_retracts_deal, None,
             "either signer of a deal may retract it"),
        link("deal-retraction-by-a-third-party", "L2", deal, carol_retracts_deal, "BadLink",
             "carol is no party to the alice-bob deal"),
        link("reply-to-a-deal", "L3", deal, bob_replies_deal, "BadLink", "a reply answers an attestation"),
        link("reply-by-the-subject", "L4", att2, reply, None, "bob, the subject, contests (the positive vectors' pair)"),
        link("reply-by-a-non-subject", "L4", att2, carol_replies, "BadLink",
             "carol is not the subject of attestation-full"),
        link("deal-link-to-an-attestation", "L5", att1, link_to_att, "BadLink",
             "the deal field names an attestation, not a deal"),
        link("deal-backed-attestation", "L6", deal, att2, None,
             "alice, a party, about bob, the other party (the positive vectors' pair)"),
        link("deal-backed-attestation-by-the-counterparty", "L6", deal, bob_attests, None,
             "bob about alice on the same deal: either party may"),
        link("deal-link-between-others", "L6", deal, link_others, "BadLink",
             "alice about carol, backed by the alice-bob deal"),
    ]

    names = {record_id(encode(r)): v["name"] for r, v in zip(
        (att1, proposal, deal, att2, reply, retraction, profile, profile_min, att_max), positives)}
    complete = [att1, deal, att2, reply, retraction, profile, profile_min, att_max]
    world_ids = sorted(record_id(encode(r)) for r in complete)

    def fingerprint_vector(name: str, ids: list[bytes]) -> dict:
        lanes = [sum(int.from_bytes(i[k * 8:k * 8 + 8], "little") for i in ids) % 2**64 for k in range(4)]
        return {"name": name, "ids": [i.hex() for i in ids],
                "lane_sums_le_hex": [w.to_bytes(8, "little").hex() for w in lanes],
                "count_varint_hex": encode_varint(len(ids)).hex(),
                "fingerprint_hex": fingerprint_ids(ids).hex()}

    def ordered(x: Identity, y: Identity) -> dict:
        mx, my = bytes.fromhex(key_vector("", x)["peer_id_multihash"]), bytes.fromhex(key_vector("", y)["peer_id_multihash"])
        nx, ny = _name(x), _name(y)
        return {"a": nx, "b": ny, "opens_the_sync": nx if mx < my else ny}

    framing = [{"length": n, "varint_hex": encode_varint(n).hex()} for n in (0, 1, 127, 128, 300, 16384, 2048)]
    bundle = b"".join(bundle_chunks([encode(att1), encode(deal)]))
    batch = gossip_data([encode(att1), encode(deal)])
    deal_messages = {kind: pack(message).hex() for kind, message in (
        ("propose", ["propose", encode(proposal)]), ("accepted", ["accepted", encode(deal)]),
        ("declined", ["declined", "the counterparty declined"]), ("pending", ["pending", ""]))}
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
        "key_chains": chains,
        "links": links,
        "framing": framing,
        "bundle": {"magic_hex": BUNDLE_MAGIC.hex(), "records": ["attestation-minimal", "deal"],
                   "bundle_hex": bundle.hex(), "sha256_hex": hashlib.sha256(bundle).hexdigest()},
        "proposal_magic_hex": PROPOSAL_MAGIC.hex(),
        "peer_order": [ordered(ALICE, BOB), ordered(ALICE, CAROL), ordered(BOB, CAROL)],
        "gossip": {
            "single": {"records": ["attestation-minimal"], "data_hex": encode(att1).hex(),
                       "message_id_hex": hashlib.sha256(encode(att1)).hexdigest(),
                       "pubsub_message_hex": pubsub_message(encode(att1)).hex()},
            "batch": {"records": ["attestation-minimal", "deal"], "data_hex": batch.hex(),
                      "message_id_hex": hashlib.sha256(batch).hexdigest(),
                      "pubsub_message_hex": pubsub_message(batch).hex()},
        },
        "fingerprints": [fingerprint_vector("empty", []), fingerprint_vector("one", world_ids[:1]),
                         fingerprint_vector("complete-positives", world_ids)],
        "sync": sync_transcript([encode(att1), encode(att2), encode(deal)],
                                [encode(att1), encode(reply), encode(profile)], names),
        "query": {"request": {"subject": b.hex(), "author": None, "facet": None, "since": None, "limit": 10},
                  "results": ["attestation-full", "deal"], "linked": ["reply"],
                  **query_transcript(QueryRequest(subject=b, limit=10), [encode(att2), encode(deal)],
                                     [encode(reply)])},
        "query_abort": {"body_hex": pack([ABORT, "busy"]).hex(), "frame_hex": frame(pack([ABORT, "busy"])).hex()},
        "deal_messages": deal_messages,
        "peers_message": {"addrs": [f"/ip4/192.0.2.7/tcp/4001/p2p/{peer_id(c)}"],
                          "body_hex": pack(["peers", f"/ip4/192.0.2.7/tcp/4001/p2p/{peer_id(c)}"]).hex()},
    }


def key_chains(incept, add, revoke, rotate) -> list[dict]:
    """Whole key chains of dave and the state a viewer resolves from them (docs/protocol.md 9.2)."""
    d, f, b, c = DAVE.public_key, FRANK.public_key, BOB.public_key, CAROL.public_key
    ids = lambda events: [(record_id(encode(e)), e) for e in events]       # noqa: E731
    after_incept = resolve(d, ids([incept]))
    second = keyevents.consent(keyevents.add_device(after_incept, DAVE, c, NOW - 3_000), CAROL)
    thief = keyevents.consent(keyevents.add_device(after_incept, DAVE, b, NOW - 2_500), BOB)
    superseding = keyevents.rotate(after_incept, ERIN, ALICE.public_key, NOW - 1_000,
                                   since=NOW - 2_600, after=record_id(encode(incept)))

    def chain(name: str, events: list, note: str, probes: list[tuple[bytes, int]]) -> dict:
        state = resolve(d, ids(events))
        return {"name": name, "note": note, "member": d.hex(),
                "events_hex": [encode(e).hex() for e in events],
                "resolved": state_json(state),
                "acts_for": [{"key": k.hex(), "issued": t, "expected": state.acts_for(k, t)} for k, t in probes]}

    return [
        chain("rotated", [incept, add, revoke, rotate],
              "dave adds frank, revokes him from NOW-3500, then erin takes over at NOW-1000",
              [(f, NOW - 3_600), (f, NOW - 3_500), (d, NOW - 1_001), (d, NOW - 1_000), (ERIN.public_key, NOW),
               (ALICE.public_key, NOW)]),
        chain("forked", [incept, add, second],
              "two interactions at seq 1 (frank added, and carol added): a fork, the member is disputed",
              [(f, NOW), (c, NOW), (d, NOW)]),
        chain("superseded", [incept, thief, superseding],
              "a thief with dave's key adds bob at seq 1; erin's rotation after the inception, also at seq 1, "
              "supersedes it (no fork): bob never acts for dave, dave's key stops at since = NOW-2600",
              [(b, NOW - 2_400), (d, NOW - 2_601), (d, NOW - 2_600), (ERIN.public_key, NOW)]),
    ]


def state_json(state) -> dict:
    hexed = lambda v: None if v is None else v.hex()                       # noqa: E731
    return {"controller": hexed(state.controller), "next_hex": hexed(state.next), "tip": hexed(state.tip),
            "tip_seq": state.tip_seq, "disputed": state.disputed,
            "windows": [{"key": w.key.hex(), "role": w.role, "until": w.until}
                        for w in sorted(state.windows.values(), key=lambda w: w.key)],
            "forks": [{"seq": seq, "ids": sorted(i.hex() for i in fork)} for seq, fork in state.forks]}


def _name(ident: Identity) -> str:
    return next(n for n, i in KEYS.items() if i.public_key == ident.public_key)


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
