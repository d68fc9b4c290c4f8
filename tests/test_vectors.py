"""The published test vectors (tests/vectors/records.json) against our implementation.

Our encoder must reproduce every byte, our decoder and verifier must accept
every positive vector and refuse every negative one with the error class
the vector names, every link pair must be judged as the vector says, the
network vectors must be what our gossip, sync, query and deal code sends,
the file must be exactly what make_vectors.py writes, and the protocol
page's rule table must name exactly the vectors of each rule.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from pathlib import Path

import pytest

from trustmesh import errors
from trustmesh.crypto.ids import did_key, parse_id, peer_id
from trustmesh.crypto.keys import Identity
from trustmesh.store import ACCEPTED, DUPLICATE, REJECTED, Store
from trustmesh.protocol.bundle import read_bundle, read_proposal
from trustmesh.protocol.codec import pack
from trustmesh.protocol.framing import FrameDecoder, encode_varint
from trustmesh.protocol.records import (
    RECORD_TYPES, body, decode, domain, encode, record_id, reference_hash, signatures_valid,
    signing_input, signing_input_from_raw,
)
from trustmesh.protocol.gossip import pack_message, unpack_message
from trustmesh.protocol.sync.index import SyncIndex, fingerprint_ids
from trustmesh.protocol.validate import LINK, check_link, check_record

VECTORS_DIR = Path(__file__).parent / "vectors"
V = json.loads((VECTORS_DIR / "records.json").read_text(encoding="utf-8"))
NOW = V["now_ms"]
KEYS = {k["name"]: Identity.from_seed(bytes.fromhex(k["seed"])) for k in V["keys"]}
BY_NAME = {p["name"]: p for p in V["positive"]}
PAGE = (Path(__file__).parent.parent / "docs" / "protocol.md").read_text(encoding="utf-8")


def generator():
    spec = importlib.util.spec_from_file_location("make_vectors", VECTORS_DIR / "make_vectors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def raw_of(name: str) -> bytes:
    return bytes.fromhex(BY_NAME[name]["encoding_hex"])


def build(vec):
    """The record described by a positive vector's fields and signatures."""
    cls = RECORD_TYPES[vec["type_code"]]
    values = [bytes.fromhex(v) if kind in ("key", "id", "id?") and v is not None else v
              for _, kind, v in vec["fields"]]
    sigs = [bytes.fromhex(s) if s is not None else None for s in vec["signatures"].values()]
    return cls(*values, *sigs)


def test_the_file_is_what_the_generator_writes():
    assert generator().render() == (VECTORS_DIR / "records.json").read_text(encoding="utf-8")


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


@pytest.mark.parametrize("vec", V["links"], ids=lambda v: v["name"])
def test_link_vector_is_judged_as_documented(vec):
    # each record of the pair is valid on its own: only the link rule decides
    target, record = (decode(bytes.fromhex(h)) for h in vec["records"])
    check_record(target, NOW)
    check_record(record, NOW)
    if vec["error"] is None:
        check_link(record, target)
    else:
        with pytest.raises(errors.InvalidRecord) as caught:
            check_link(record, target)
        assert type(caught.value) is getattr(errors, vec["error"]), (vec["why"], caught.value)
    assert vec["records"][0] in {p["encoding_hex"] for p in V["positive"]}   # every target is a positive


def test_the_store_applies_the_link_rules_of_the_vectors(tmp_path):
    complete = [bytes.fromhex(p["encoding_hex"]) for p in V["positive"] if not p["proposal"]]
    with Store.open(tmp_path / "s.sqlite") as store:
        assert [r.status for r in store.ingest(complete, NOW)] == [ACCEPTED] * len(complete)
        for vec in V["links"]:
            linking = bytes.fromhex(vec["records"][1])
            (result,) = store.ingest([linking], NOW)
            if vec["error"] is None:
                assert result.status in (ACCEPTED, DUPLICATE), vec["name"]
            else:
                assert (result.status, result.fault) == (REJECTED, LINK), (vec["name"], result)
        assert store.forks() == []


@pytest.mark.parametrize("vec", [v for v in V["negative"] if v["rule"] in ("G3", "G4", "G5", "G6")],
                         ids=lambda v: v["name"])
def test_crafted_signatures_pass_only_a_lax_verifier(vec):
    # why rules G3-G6 exist: each of these passes the plain (or the cofactored) equation
    make = generator()
    record = decode(bytes.fromhex(vec["encoding_hex"]))
    message = signing_input(record)
    if vec["name"] == "author-key-not-on-curve":
        assert make.ed25519_decode(record.author, lax=True) is None
    elif vec["rule"] == "G6":
        assert not make.lax_verify(record.author, record.sig, message)
        assert make.lax_verify(record.author, record.sig, message, cofactored=True)
    else:
        assert make.lax_verify(record.author, record.sig, message)
    if vec["name"] in ("author-key-small-order", "author-key-non-canonical"):
        assert make.small_order(make.ed25519_decode(record.author, lax=True))
    if vec["name"] == "sig-r-small-order":
        assert make.small_order(make.ed25519_decode(record.sig[:32]))
    assert not signatures_valid(record)


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
    for vec in V["positive"]:
        assert vec["domain_hex"] in PAGE
    assert BY_NAME["attestation-minimal"]["record_id_hex"] in PAGE
    for key in V["keys"]:
        assert key["peer_id"] in PAGE and key["did_key"] in PAGE
    assert V["bundle"]["magic_hex"] in PAGE and V["proposal_magic_hex"] in PAGE
    for name in ("positive", "negative", "key_chains", "links", "framing", "bundle", "peer_order", "gossip",
                 "fingerprints", "sync", "query", "deal_messages", "peers_message"):
        assert f"`{name}`" in PAGE, name


def test_the_page_is_numbered_once_in_order():
    # sections 1..N, subsections N.1..N.M, then appendices; the page once had two 13s
    sections, subsections = [], {}
    for line in PAGE.splitlines():
        if m := re.match(r"## (\d+)\. ", line):
            sections.append(int(m.group(1)))
        elif m := re.match(r"### (\d+)\.(\d+) ", line):
            assert sections and int(m.group(1)) == sections[-1], line
            subsections.setdefault(sections[-1], []).append(int(m.group(2)))
        elif line.startswith("## ") and not line.startswith("## Appendix"):
            raise AssertionError(f"unnumbered section: {line}")
    assert sections == list(range(1, len(sections) + 1))
    for numbers in subsections.values():
        assert numbers == list(range(1, len(numbers) + 1))
    assert "Reaching nodes behind NAT" in PAGE


def test_every_link_inside_the_page_has_its_heading():
    def slug(heading: str) -> str:   # as GitHub makes anchors
        return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
    anchors = {slug(line.lstrip("#")) for line in PAGE.splitlines() if line.startswith("#")}
    links = set(re.findall(r"\]\(#([^)]+)\)", PAGE))
    assert links and links <= anchors, links - anchors


def rule_table() -> dict[str, set[str]]:
    """The validation section's rules: id -> the vector names its row lists."""
    rows = {}
    for line in PAGE.splitlines():
        m = re.match(r"\| \*\*([DKRGL]\d+)\*\* \|(.*)\|\s*$", line)
        if m:
            assert m.group(1) not in rows, f"rule {m.group(1)} listed twice"
            rows[m.group(1)] = set(re.findall(r"`([a-z0-9^-]+)`", m.group(2).rsplit("|", 1)[-1]))
    return rows


def test_every_rule_of_the_page_has_vectors_and_every_vector_a_rule():
    rows = rule_table()
    assert {"D1", "K1", "R1", "G1", "L1"} <= set(rows)
    by_rule: dict[str, set[str]] = {}
    for vec in V["negative"] + V["links"]:
        by_rule.setdefault(vec["rule"], set()).add(vec["name"])
    assert set(by_rule) == set(rows), "rules without vectors, or vectors of unknown rules"
    for rule, names in rows.items():
        assert names == by_rule[rule], (rule, names ^ by_rule[rule])
    refused = {v["rule"] for v in V["negative"]} | {v["rule"] for v in V["links"] if v["error"]}
    assert refused == set(rows), "a rule with no vector that breaks it"


def test_peer_order_is_the_order_of_the_peer_id_bytes():
    from libp2p.peer.id import ID          # the bytes the node compares (NetService: to_bytes())
    keys = {k["name"]: k for k in V["keys"]}
    for pair in V["peer_order"]:
        a, b = (ID.from_base58(keys[n]["peer_id"]).to_bytes() for n in (pair["a"], pair["b"]))
        assert a.hex() == keys[pair["a"]]["peer_id_multihash"]
        assert pair["opens_the_sync"] == (pair["a"] if a < b else pair["b"])


def test_gossip_vectors():
    for item in V["gossip"].values():
        raws = [raw_of(n) for n in item["records"]]
        data = bytes.fromhex(item["data_hex"])
        assert pack_message(raws) == data and unpack_message(data) == raws
        assert hashlib.sha256(data).hexdigest() == item["message_id_hex"]
        # the whole pubsub message, as our publisher builds it (StrictNoSign: data and topic only)
        from trustmesh.net.config import TOPIC
        from trustmesh.net.gossip.router import unsigned_message
        assert unsigned_message(TOPIC, data).SerializeToString().hex() == item["pubsub_message_hex"]
    single = V["gossip"]["single"]
    assert single["message_id_hex"] == BY_NAME[single["records"][0]]["record_id_hex"]


def test_fingerprint_vectors():
    for item in V["fingerprints"]:
        ids = [bytes.fromhex(i) for i in item["ids"]]
        assert fingerprint_ids(ids).hex() == item["fingerprint_hex"]
        assert SyncIndex(ids).fingerprint()[1].hex() == item["fingerprint_hex"]
        head = bytes.fromhex("".join(item["lane_sums_le_hex"]) + item["count_varint_hex"])
        assert hashlib.sha256(head).digest()[:16].hex() == item["fingerprint_hex"]


def test_sync_and_query_transcripts_decode_as_documented():
    from trustmesh.protocol.messages import decode_body
    for item in V["sync"]["frames"] + V["query"]["frames"]:
        body = bytes.fromhex(item["body_hex"])
        assert bytes.fromhex(item["frame_hex"]) == encode_varint(len(body)) + body
        message = decode_body(body)
        assert type(message[0]) is int
    kinds = [(f["from"], f["type"]) for f in V["sync"]["frames"]]
    assert kinds[0] == ("initiator", "RECONCILE") and ("responder", "NEED") in kinds
    assert [f["type"] for f in V["query"]["frames"]] == ["QUERY", "RESULTS", "LINKED", "END"]


def test_deal_and_peers_messages_are_what_the_handlers_send():
    from trustmesh.net.streams import pack_message as control, unpack_message as read_control
    proposal, deal = raw_of("deal-proposal"), raw_of("deal")
    sent = {"propose": control("propose", proposal), "accepted": control("accepted", deal),
            "declined": control("declined", "the counterparty declined"), "pending": control("pending", "")}
    assert {k: v.hex() for k, v in sent.items()} == V["deal_messages"]
    assert read_control(sent["propose"], 2) == ["propose", proposal]     # the record is a bin
    peers = V["peers_message"]
    assert control("peers", *peers["addrs"]).hex() == peers["body_hex"]


@pytest.mark.parametrize("vec", V["key_chains"], ids=lambda v: v["name"])
def test_a_key_chain_resolves_to_the_documented_state(vec, tmp_path):
    from trustmesh.protocol.keystate import resolve
    gen = generator()
    raws = [bytes.fromhex(h) for h in vec["events_hex"]]
    member = bytes.fromhex(vec["member"])
    for order in (raws, raws[::-1]):                    # the state does not depend on the order events came in
        state = resolve(member, [(record_id(raw), decode(raw)) for raw in order])
        assert gen.state_json(state) == vec["resolved"]
        for probe in vec["acts_for"]:
            assert state.acts_for(bytes.fromhex(probe["key"]), probe["issued"]) is probe["expected"], probe
    store = Store.open(tmp_path / "store.sqlite")       # and a store given the chain reads the same
    try:
        assert all(r.status == ACCEPTED for r in store.ingest(raws, NOW))
        assert gen.state_json(store.key_state(member)) == vec["resolved"]
    finally:
        store.close()
