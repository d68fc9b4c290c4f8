"""Regenerate tests/vectors/pairing.json: pairing a device by a one-time code (docs/protocol.md 20.1).

    python tests/vectors/make_pairing_vectors.py          # rewrite the file
    python tests/vectors/make_pairing_vectors.py --check  # exit 1 if the file is stale

Fixed seeds, a fixed code and fixed times: Ed25519 is deterministic, so the
file is the same on every run. tests/test_pairing_vectors.py checks that
our code reproduces every byte and refuses every negative.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from trustmesh.crypto.keys import Identity  # noqa: E402
from trustmesh.protocol import keyevents, pairing  # noqa: E402
from trustmesh.protocol.codec import pack  # noqa: E402
from trustmesh.protocol.framing import frame  # noqa: E402
from trustmesh.protocol.keystate import resolve  # noqa: E402
from trustmesh.protocol.records import encode, record_id  # noqa: E402

OUT = Path(__file__).resolve().parent / "pairing.json"
T0 = 1_767_225_600_000          # 2026-01-01T00:00:00Z
CODE = "7K2MX9QRTA"
MEMBER, SUCCESSOR, DEVICE, STRANGER = (Identity.from_seed(bytes([n]) * 32) for n in (0x51, 0x52, 0x53, 0x54))


def build() -> dict:
    incept = keyevents.incept(MEMBER, SUCCESSOR.public_key, T0)
    state = resolve(MEMBER.public_key, [(record_id(encode(incept)), incept)])
    add = keyevents.add_device(state, MEMBER, DEVICE.public_key, T0 + 1000)
    join_input = pairing.join_input(CODE, MEMBER.public_key, DEVICE.public_key)
    join_sig = DEVICE.sign(join_input)
    offer = {"add": {"seq": add.seq, "prev": add.prev.hex(), "issued": add.issued, "author": add.author.hex(),
                     "member": add.member.hex(), "key": add.key.hex(), "sig": add.sig.hex()},
             "events": [base64.b64encode(encode(incept)).decode()]}
    offer_json = json.dumps(offer).encode()
    offer_input = pairing.offer_input(CODE, MEMBER.public_key, DEVICE.public_key, MEMBER.public_key)
    offer_sig = MEMBER.sign(offer_input)
    wrong = "7K2MX9QRTB"
    return {
        "code": CODE, "shown": pairing.shown(CODE), "typed": ["7k2mx 9qrta", "7K2MX-9QRTA", "7K2MX9QRTA"],
        "keys": {name: {"seed": bytes([n]).hex() * 32, "public_key": ident.public_key.hex()}
                 for name, n, ident in (("member_node", 0x51, MEMBER), ("device", 0x53, DEVICE))},
        "join": {"input_hex": join_input.hex(), "sig_hex": join_sig.hex(),
                 "frame_hex": frame(pack([pairing.JOIN, DEVICE.public_key, join_sig])).hex()},
        "offer": {"json": offer_json.decode(), "input_hex": offer_input.hex(), "sig_hex": offer_sig.hex(),
                  "frame_hex": frame(pack([pairing.OFFER, offer_json, offer_sig])).hex()},
        "refused": {"frame_hex": frame(pack([pairing.REFUSED, "wrong code"])).hex()},
        "negative": {
            "join_over_another_code": DEVICE.sign(pairing.join_input(wrong, MEMBER.public_key, DEVICE.public_key)).hex(),
            "join_to_another_node": DEVICE.sign(pairing.join_input(CODE, STRANGER.public_key, DEVICE.public_key)).hex(),
            "offer_over_another_code": MEMBER.sign(pairing.offer_input(wrong, MEMBER.public_key, DEVICE.public_key,
                                                                       MEMBER.public_key)).hex(),
            "offer_by_a_stranger": STRANGER.sign(offer_input).hex(),
            "malformed_joins_hex": [pack(m).hex() for m in (
                ["join", DEVICE.public_key], ["join", DEVICE.public_key[:31], join_sig],
                ["join", DEVICE.public_key, join_sig, b""], ["hello", DEVICE.public_key, join_sig],
                ["join", DEVICE.public_key.hex(), join_sig])],
            "malformed_codes": ["7K2MX9QRT", "7K2MX9QRTAA", "7K2MX9QRTU", "7K2MX_9QRTA"],
        },
    }


def render() -> str:
    return json.dumps(build(), indent=1) + "\n"


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
