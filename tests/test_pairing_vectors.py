"""The pairing vectors (tests/vectors/pairing.json, docs/protocol.md 20.1): reproduced byte for byte,
and every negative refused."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from trustmesh.crypto.keys import Identity
from trustmesh.crypto.sign import verify
from trustmesh.errors import DecodeError, UsageError
from trustmesh.net.pair.handler import _read_join
from trustmesh.net.streams import unpack_message
from trustmesh.protocol import pairing
from trustmesh.protocol.framing import FrameDecoder

HERE = Path(__file__).parent / "vectors"
V = json.loads((HERE / "pairing.json").read_text())
MEMBER = bytes.fromhex(V["keys"]["member_node"]["public_key"])
DEVICE = bytes.fromhex(V["keys"]["device"]["public_key"])


def _generator():
    spec = importlib.util.spec_from_file_location("make_pairing_vectors", HERE / "make_pairing_vectors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _one_frame(hex_text: str) -> bytes:
    decoder = FrameDecoder(1 << 17)
    decoder.feed(bytes.fromhex(hex_text))
    (body,) = decoder.frames()
    return body


def test_the_file_is_what_the_generator_writes():
    assert _generator().render() == (HERE / "pairing.json").read_text()


def test_the_keys_and_the_code_as_people_type_it():
    for name, key in V["keys"].items():
        assert Identity.from_seed(bytes.fromhex(key["seed"])).public_key.hex() == key["public_key"], name
    assert pairing.shown(V["code"]) == V["shown"]
    assert all(pairing.normal(t) == V["code"] for t in V["typed"])
    for bad in V["negative"]["malformed_codes"]:
        with pytest.raises(UsageError):
            pairing.normal(bad)


def test_the_join_and_the_offer_verify_over_their_documented_inputs():
    join = V["join"]
    assert pairing.join_input(V["code"], MEMBER, DEVICE).hex() == join["input_hex"]
    assert verify(DEVICE, bytes.fromhex(join["sig_hex"]), bytes.fromhex(join["input_hex"]))
    assert _read_join(_one_frame(join["frame_hex"])) == (DEVICE, bytes.fromhex(join["sig_hex"]))
    offer = V["offer"]
    assert pairing.offer_input(V["code"], MEMBER, DEVICE, MEMBER).hex() == offer["input_hex"]
    assert verify(MEMBER, bytes.fromhex(offer["sig_hex"]), bytes.fromhex(offer["input_hex"]))
    body, sig = pairing.check_answer(unpack_message(_one_frame(offer["frame_hex"]), 3))
    assert body.decode() == offer["json"] and sig.hex() == offer["sig_hex"]
    assert json.loads(body)["add"]["key"] == DEVICE.hex()
    assert pairing.check_answer(unpack_message(_one_frame(V["refused"]["frame_hex"]), 3)) == "wrong code"


def test_every_negative_is_refused():
    neg = V["negative"]
    join_input, offer_input = bytes.fromhex(V["join"]["input_hex"]), bytes.fromhex(V["offer"]["input_hex"])
    assert not verify(DEVICE, bytes.fromhex(neg["join_over_another_code"]), join_input)
    assert not verify(DEVICE, bytes.fromhex(neg["join_to_another_node"]), join_input)
    assert not verify(MEMBER, bytes.fromhex(neg["offer_over_another_code"]), offer_input)
    assert not verify(MEMBER, bytes.fromhex(neg["offer_by_a_stranger"]), offer_input)
    for raw in neg["malformed_joins_hex"]:
        with pytest.raises(DecodeError):
            _read_join(bytes.fromhex(raw))
