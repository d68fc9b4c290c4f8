"""A member with two devices, a laptop lost, a thief holding its key: across real nodes on loopback.

The laptop holds the member's first key; the phone is paired by files
(`device request/add/accept`); a third node only watches. The laptop runs
as a process (it is killed, and later restarted by the "thief"); the phone
and the third node run in this process (``InProcessNode``).
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

from trustmesh.core.ledger import Ledger, now_ms
from trustmesh.crypto.ids import parse_id
from trustmesh.crypto.keys import Identity
from trustmesh.protocol.records import KeyEvent, encode, sign
from trustmesh.testing import InProcessNode, NodeProcess
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


def _pair(tmp_path):
    laptop, phone, third = tmp_path / "laptop", tmp_path / "phone", tmp_path / "third"
    for home in (laptop, phone, third):
        _cli(home, "init")
    _cli(laptop, "key", "init", "--recovery", tmp_path / "recovery.key")
    member = json.loads(_cli(laptop, "key", "show", "--json"))["member"]
    _cli(phone, "device", "request", "--member", member, "--out", tmp_path / "req.json")
    _cli(laptop, "device", "add", tmp_path / "req.json", "--out", tmp_path / "offer.json")
    _cli(phone, "device", "accept", tmp_path / "offer.json")
    return laptop, phone, third, member


def _keys(node, member) -> dict:
    return {k["key"]: k for k in node.api("GET", f"/v1/keys/{member}")["keys"]}


def test_two_devices_one_member_then_the_lost_laptop_is_revoked_from_the_phone(tmp_path):
    laptop_home, phone_home, third_home, member = _pair(tmp_path)
    phone_id = json.loads(_cli(phone_home, "id", "--json"))["id"]
    third = InProcessNode(third_home).start()
    laptop = NodeProcess(laptop_home, bootstrap=[third.addr])
    phone = InProcessNode(phone_home, bootstrap=[third.addr])
    try:
        laptop.start()
        phone.start()
        assert _wait(lambda: len(third.peers()) >= 2)
        assert f"a device key of member {member}" in phone.log_tail(40)
        # both devices publish at the same time, each on its own chain
        made = []
        for k in range(4):
            made.append(laptop.attest(third.id, "quality", True, note=f"laptop {k}"))
            made.append(phone.attest(third.id, "delivery", True, note=f"phone {k}"))
        assert _wait(lambda: third.has(made) and laptop.has(made) and phone.has(made))
        assert _wait(lambda: phone_id in _keys(third, member))
        state = third.api("GET", f"/v1/keys/{member}")
        assert not state["disputed"] and state["controller"] == member
        assert _keys(third, member)[phone_id]["role"] == "device"
        assert len(third.api("GET", "/v1/records", kind="keyevent")) == 2     # the inception, the add: no fork

        # the laptop is lost (killed); the phone revokes its key from the moment of the loss
        laptop.kill()
        lost_at = now_ms()
        phone.stop()
        since = datetime.fromtimestamp(lost_at / 1000, timezone.utc).isoformat(timespec="milliseconds")
        _cli(phone_home, "device", "revoke", member, "--since", since)
        phone.start()
        assert _wait(lambda: _keys(third, member)[member]["until"] is not None), "the revocation never reached"

        # the thief holds the laptop: what it signs from now on is nobody's
        with Ledger.open(laptop_home) as thief:
            stolen = thief.attest(parse_id(third.id), "quality", True, note="after the loss").hex_id
        laptop.restart()
        assert _wait(lambda: any(p["id"] == laptop.id for p in third.peers()))
        third.sync()
        phone.sync()
        assert not third.has([stolen]) and not phone.has([stolen])
        assert third.has(made), "what the laptop signed before the loss stays"
        assert _wait(lambda: stolen not in laptop.ids()), "the thief's own node voids it once it learns the revocation"
        assert stolen not in third.ids() and stolen not in phone.ids()
    finally:
        for node in (laptop, phone, third):
            node.stop()


def test_a_stolen_current_key_cannot_rotate_the_member_away(tmp_path):
    laptop_home, phone_home, third_home, member = _pair(tmp_path)
    third = InProcessNode(third_home).start()
    laptop = InProcessNode(laptop_home, bootstrap=[third.addr])
    try:
        # the thief, holding the laptop's (first, current) key, cannot use the CLI without the
        # recovery file; a rotation it signs itself to a key of its own is refused by everyone
        wrong = invoke_cli(laptop_home, "key", "rotate", "--recovery", tmp_path / "nothing.key",
                           "--new-recovery", tmp_path / "next.key")
        assert wrong.returncode != 0 and "Traceback" not in wrong.stderr
        laptop.start()
        assert _wait(lambda: third.peers())
        own = Identity.generate()
        assert _wait(lambda: len(third.api("GET", "/v1/records", kind="keyevent")) >= 1)
        incept = [r for r in third.api("GET", "/v1/records", kind="keyevent") if r["kind"] == "incept"][0]
        forged = sign(KeyEvent(author=own.public_key, member=parse_id(member), seq=1,
                               prev=bytes.fromhex(incept["id"]), issued=now_ms(), kind="rotate",
                               key=own.public_key, next=b"\0" * 32, since=None), own)
        laptop.import_raws([encode(forged)])
        assert _wait(lambda: any(r["kind"] == "rotate" for r in third.api("GET", "/v1/records", kind="keyevent")))
        after = third.api("GET", f"/v1/keys/{member}")
        assert after["controller"] == member and not after["disputed"]
        assert _keys(third, member)[member]["until"] is None
    finally:
        laptop.stop()
        third.stop()



def test_an_attestation_gossiped_before_the_devices_key_event_is_taken_once_the_event_arrives(tmp_path):
    """The client's node holds M's key events and attests about M, naming its deal with M's
    device; the viewer holds the deal but not the key events: it keeps the attestation aside,
    and takes it (announced as any record) when a sync brings the key events."""
    from tests.conftest import member
    from tests.test_keys_late import _world
    from trustmesh.protocol.records import record_id
    events, deal, _ = _world(client=1, first=2, device=3)
    with Ledger.create(tmp_path / "client", identity=member(1)) as ledger:
        assert {r.status for r in ledger.ingest(events + [deal])} == {"accepted"}
    with Ledger.create(tmp_path / "viewer", identity=member(5)) as ledger:
        assert ledger.ingest([deal])[0].status == "accepted"
    quiet = {"TRUSTMESH_SYNC_ON_CONNECT": "false", "TRUSTMESH_SYNC_INTERVAL_S": "3600"}   # gossip only
    client = InProcessNode(tmp_path / "client", env=quiet).start()
    viewer = InProcessNode(tmp_path / "viewer", bootstrap=[client.addr], env=quiet)
    try:
        viewer.start()
        hello = client.profile("client")                     # the gossip mesh is up once this arrives
        assert _wait(lambda: viewer.has([hello])), viewer.log_tail()
        made = client.attest(member(2).id, "delivery", True, deal=record_id(deal).hex())
        intake = viewer.node.intake
        assert _wait(lambda: intake.by_source.get(("gossip", "link"), 0) == 1), viewer.log_tail()
        assert made not in viewer.ids()
        viewer.sync()                                        # brings the two key events, not the attestation
        assert _wait(lambda: viewer.has([made])), viewer.log_tail()
        assert made in viewer.ids()
        assert intake.by_source.get(("parked", "accepted"), 0) == 1
        assert intake.by_source.get(("sync", "accepted"), 0) == 2
        assert viewer.node.sync_index is not None and bytes.fromhex(made) in viewer.node.sync_index
    finally:
        viewer.stop()
        client.stop()


def _follow(node, seen: list) -> None:
    """Append each record event of ``node`` (id, source) to ``seen`` until its stream ends."""
    import httpx
    try:
        with node.http.stream("GET", "/v1/events", params={"kinds": "record", "brief": "true"},
                              timeout=None) as lines:
            for line in lines.iter_lines():
                seen.append(json.loads(line))
    except (httpx.HTTPError, ValueError, RuntimeError):
        return


def test_a_rotation_through_the_running_node_is_gossiped_to_another_node(tmp_path):
    import threading
    laptop_home, watcher_home = tmp_path / "laptop", tmp_path / "watcher"
    rec, rec2 = tmp_path / "rec.key", tmp_path / "rec2.key"
    for home in (laptop_home, watcher_home):
        _cli(home, "init")
    watcher = InProcessNode(watcher_home).start()
    laptop = InProcessNode(laptop_home, bootstrap=[watcher.addr]).start()
    seen: list[dict] = []
    try:
        assert _wait(lambda: watcher.peers() and laptop.peers())
        threading.Thread(target=_follow, args=(watcher, seen), daemon=True).start()
        assert "through the running node" in _cli(laptop_home, "key", "init", "--recovery", rec)
        member = json.loads(_cli(laptop_home, "key", "show", "--json"))["member"]
        assert member == laptop.id
        assert _wait(lambda: watcher.api("GET", f"/v1/keys/{member}")["incepted"])

        assert "through the running node" in _cli(laptop_home, "key", "rotate", "--recovery", rec,
                                                  "--new-recovery", rec2)
        new_key = json.loads(_cli(laptop_home, "key", "show", "--json"))["this_key"]
        rotation = [r["id"] for r in laptop.api("GET", "/v1/records", kind="keyevent") if r["kind"] == "rotate"]
        assert len(rotation) == 1 and new_key != member
        assert _wait(lambda: any(e.get("id") == rotation[0] for e in seen)), "the rotation never reached"
        (arrived,) = [e for e in seen if e.get("id") == rotation[0]]
        assert arrived["source"] == "gossip", arrived          # pushed at once, not found by a later sync
        after = watcher.api("GET", f"/v1/keys/{member}")
        assert after["controller"] == new_key and not after["disputed"]
        assert _keys(watcher, member)[member]["until"] is not None

        # the running node signs with the successor from now on; the watcher takes it as the member's
        made = laptop.attest(watcher.id, "quality", True, note="after the rotation")
        assert _wait(lambda: watcher.has([made]))
        assert watcher.api("GET", f"/v1/records/{made}")["author"] == new_key
        laptop.stop()
        laptop.start()              # its network identity is the key file: now the successor's
        assert laptop.id == new_key
    finally:
        laptop.stop()
        watcher.stop()
