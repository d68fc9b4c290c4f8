"""Pairing a device by a one-time code over the network (``device add --code``, ``device join``).

Two real nodes on loopback (``InProcessNode``): the member's node opens a
code; the new node joins with it; both sides prove the code over both keys
(protocol/pairing.py); the code is good once, for minutes, and for three
wrong tries.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from trustmesh.testing import InProcessNode
from trustmesh.testing.clirun import invoke_cli

WAIT_S = 30.0


def _wait(condition, timeout: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def _cli(home, *args) -> str:
    result = invoke_cli(home, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def member_and_device(tmp_path):
    member_home, device_home = tmp_path / "phone", tmp_path / "laptop"
    for home in (member_home, device_home):
        _cli(home, "init")
    _cli(member_home, "key", "init", "--recovery", tmp_path / "rec.key")
    member = InProcessNode(member_home).start()
    try:
        device = InProcessNode(device_home).start()
    except BaseException:
        member.stop()
        raise
    yield member, device
    device.stop()
    member.stop()


def _open(member, *args) -> tuple[str, str]:
    out = _cli(member.home, "device", "add", "--code", *args)
    code, addr = re.search(r"trustmesh device join (\S+) (\S+)", out).groups()
    assert re.fullmatch(r"[0-9A-Z]{5}-[0-9A-Z]{5}", code) and addr.endswith(f"/p2p/{member.id}")
    return code, addr


def test_a_device_joins_by_a_one_time_code_and_the_member_learns_it(member_and_device):
    member, device = member_and_device
    code, addr = _open(member)
    wrong = invoke_cli(device.home, "device", "join", "00000-00000" if code != "00000-00000" else "11111-11111", addr)
    assert wrong.returncode == 1 and "wrong code" in wrong.stderr and wrong.stderr.count("\n") == 1, wrong.stderr
    done = _cli(device.home, "device", "join", code.lower().replace("-", " "), addr)    # typed loosely: the same code
    assert f"acts for member {member.id}" in done and "through the running node" in done
    shown = json.loads(_cli(device.home, "key", "show", "--json"))
    assert shown["member"] == member.id and shown["this_key"] == device.id != member.id
    # the add is stored on the device's node and gossiped: the member's node takes it at once
    assert _wait(lambda: any(k["key"] == device.id and k["role"] == "device"
                             for k in member.api("GET", f"/v1/keys/{member.id}")["keys"]))
    made = device.attest(member.id, "quality", True, note="signed by the laptop for the member")
    assert _wait(lambda: member.has([made]))
    again = invoke_cli(device.home, "device", "join", code, addr)          # single use
    assert again.returncode == 1 and "no pairing code is open" in again.stderr


def test_three_wrong_tries_void_a_code_and_an_expired_one_is_refused(member_and_device):
    member, device = member_and_device
    code, addr = _open(member)
    others = [c for c in ("00000-00000", "11111-11111", "22222-22222", "33333-33333") if c != code][:3]
    said = [invoke_cli(device.home, "device", "join", other, addr).stderr for other in others]
    assert all("wrong code" in s for s in said) and "void" in said[-1], said
    late = invoke_cli(device.home, "device", "join", code, addr)
    assert late.returncode == 1 and "no pairing code is open" in late.stderr
    (seen,) = [p for p in member.api("GET", "/v1/peers") if p["id"] == device.id]
    assert seen["offences"] == 3 and not seen["banned"]        # each wrong try counts against the peer

    opened = member.api("POST", "/v1/devices/codes", {"ttl_s": 1})
    assert opened["code"] != code and member.api("GET", "/v1/devices/codes")["open"] is True
    assert _wait(lambda: member.api("GET", "/v1/devices/codes")["open"] is False, timeout=10)
    expired = invoke_cli(device.home, "device", "join", opened["code"], addr)
    assert expired.returncode == 1 and "no pairing code is open" in expired.stderr
    assert not [k for k in member.api("GET", f"/v1/keys/{member.id}")["keys"] if k["key"] == device.id]


def test_mistakes_are_one_line_refusals(member_and_device, tmp_path):
    member, device = member_and_device
    code, addr = _open(member)
    for home, args, rc, says in (
            (device.home, ("device", "join", "short", addr), 2, "pairing code is 10"),
            (device.home, ("device", "join", code, "/ip4/127.0.0.1/tcp/1"), 2, "/p2p/"),
            (member.home, ("device", "add", "--code", "--out", tmp_path / "x.json"), 2, "no REQUEST"),
            (member.home, ("device", "add"), 2, "--out"),
            (device.home, ("device", "add", "--code"), 2, "no inception"),
    ):
        result = invoke_cli(home, *args)
        assert result.returncode == rc and says in result.stderr, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    offline = tmp_path / "offline"
    _cli(offline, "init")
    refused = invoke_cli(offline, "device", "join", code, addr)
    assert refused.returncode == 1 and "start the node" in refused.stderr
    assert _cli(device.home, "device", "join", code, addr)        # the mistakes spent no try of the code


def test_an_answer_that_does_not_prove_the_code_is_refused_by_the_device(member_and_device):
    """The member's side answering with a proof over another code than the one the device sent."""
    from trustmesh.core import pairing as node_pairing
    member, device = member_and_device
    code = "ABCDE12345"

    async def open_with_a_wrong_proof():
        node = member.node

        async def offer(device_key, _code):
            return await node_pairing._offer(node, device_key, "ZZZZZ99999")
        node.net.pairing.open(code, offer, 60)
    member.call(open_with_a_wrong_proof)
    refused = invoke_cli(device.home, "device", "join", code, member.addr)
    assert refused.returncode == 1 and "does not prove the code" in refused.stderr, refused.stderr
    assert json.loads(_cli(device.home, "key", "show", "--json"))["member"] == device.id     # nothing stored
