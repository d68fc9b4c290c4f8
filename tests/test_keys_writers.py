"""The key and device commands behave the same through a running node and on the ledger alone.

Two members side by side, each with a laptop (the member's first key) and
a phone (paired as a device): one pair offline (the ledger), one with a
node running on each home (``InProcessNode``: the commands go through its
API). Each command runs on both, and the answers must agree, ids aside.
"""

from __future__ import annotations

import json
import re
import stat

import pytest

from trustmesh.crypto.keys import Identity
from trustmesh.testing import InProcessNode, invoke_cli

IDS = re.compile(r"12D3KooW[1-9A-HJ-NP-Za-km-z]{44}|[0-9a-f]{64}")
PER_MEMBER = {"id", "author", "member", "key", "this_key", "controller", "prev", "issued", "received", "revoked", "sig"}


def _same(a, b) -> None:
    """Equal but for ids and times, which differ by construction between two members."""
    if isinstance(a, dict):
        assert set(a) == set(b), (a, b)
        for name in a:
            if name not in PER_MEMBER and name != "until":
                _same(a[name], b[name])
            else:
                assert (a[name] is None) == (b[name] is None), (name, a, b)
    elif isinstance(a, list):
        assert len(a) == len(b), (a, b)
        for x, y in zip(a, b):
            _same(x, y)
    else:
        assert a == b


def _line(text: str) -> str:
    return IDS.sub("ID", text).replace(" (through the running node)", "")


class Pair:
    """A member's laptop and phone homes; ``nodes`` while they run."""

    def __init__(self, root, name: str, online: bool) -> None:
        self.root = root / name
        self.laptop, self.phone = self.root / "laptop", self.root / "phone"
        self.online = online
        self.nodes: list[InProcessNode] = []
        for home in (self.laptop, self.phone):
            assert invoke_cli(home, "init").returncode == 0
        if online:
            self.nodes = [InProcessNode(self.laptop).start(), InProcessNode(self.phone).start()]

    def cli(self, home, *args, code: int = 0):
        done = invoke_cli(home, *args)
        assert done.returncode == code, (self.online, args, done.stdout, done.stderr)
        if code == 0 and "--json" not in args:
            writes = tuple(args[:2]) not in (("key", "show"), ("device", "request"))
            assert ("through the running node" in done.stdout) == (self.online and writes), done.stdout
        return done

    def json(self, home, *args):
        return json.loads(self.cli(home, *args, "--json").stdout)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    root = tmp_path_factory.mktemp("keywriters")
    made = [Pair(root, "offline", False), Pair(root, "online", True)]
    yield made
    for pair in made:
        pair.stop()


def both(pairs, act):
    return [act(pair) for pair in pairs]


def test_every_key_and_device_command_answers_the_same_both_ways(pairs):
    offline, online = pairs
    _same(*both(pairs, lambda p: p.json(p.laptop, "key", "show")))
    assert online.json(online.laptop, "key", "show")["incepted"] is False

    started = both(pairs, lambda p: p.cli(p.laptop, "key", "init", "--recovery", p.root / "rec1.key"))
    assert _line(started[0].stdout) == _line(started[1].stdout) == "key chain started\n"
    for p in pairs:
        rec = p.root / "rec1.key"
        assert stat.S_IMODE(rec.stat().st_mode) == 0o600
        assert Identity.from_pem(rec.read_bytes())           # a whole key file, not a part
        assert not [f for f in p.root.iterdir() if f.name.endswith(".part")]
    shown = both(pairs, lambda p: p.json(p.laptop, "key", "show"))
    _same(*shown)
    assert shown[1]["incepted"] is True and shown[1]["controller"] == shown[1]["member"]

    # pairing by files: request offline-style (it signs only), add and accept through the writers
    for p in pairs:
        p.cli(p.phone, "device", "request", "--member", p.json(p.laptop, "key", "show")["member"],
              "--out", p.root / "req.json")
    added = both(pairs, lambda p: p.cli(p.laptop, "device", "add", p.root / "req.json", "--out", p.root / "offer.json"))
    assert _line(added[0].stdout).replace(str(offline.root), "R") == _line(added[1].stdout).replace(str(online.root), "R")
    offers = [json.loads((p.root / "offer.json").read_text()) for p in pairs]
    _same(offers[0]["add"], offers[1]["add"])
    assert set(offers[0]) == set(offers[1]) and len(offers[0]["events"]) == len(offers[1]["events"]) == 1
    accepted = both(pairs, lambda p: p.cli(p.phone, "device", "accept", p.root / "offer.json"))
    assert _line(accepted[0].stdout) == _line(accepted[1].stdout)
    phones = both(pairs, lambda p: p.json(p.phone, "key", "show"))
    _same(*phones)
    assert phones[1]["this_key"] != phones[1]["member"] == shown[1]["member"]
    listed = both(pairs, lambda p: p.json(p.phone, "device", "list"))
    _same(*listed)
    assert sorted((d["role"], d["this_node"]) for d in listed[1]) == [("device", True), ("first", False)]

    # the laptop rotates (its node learns the phone's countersigned add first: gossip, or a bundle)
    _laptop_learns_the_add(offline, online)
    rotated = both(pairs, lambda p: p.cli(p.laptop, "key", "rotate", "--recovery", p.root / "rec1.key",
                                          "--new-recovery", p.root / "rec2.key"))
    assert _line(rotated[0].stdout) == _line(rotated[1].stdout)
    after = both(pairs, lambda p: p.json(p.laptop, "key", "show"))
    _same(*after)
    for p, before, now in zip(pairs, shown, after):
        assert now["member"] == before["member"] and now["this_key"] != before["this_key"]
        assert now["controller"] == now["this_key"]
        key_file = Identity.from_pem((p.laptop / "identity.key").read_bytes())
        assert key_file.id == now["this_key"]
        assert stat.S_IMODE((p.laptop / "identity.key").stat().st_mode) == 0o600
        assert stat.S_IMODE((p.root / "rec2.key").stat().st_mode) == 0o600
    spent = both(pairs, lambda p: p.cli(p.laptop, "key", "rotate", "--recovery", p.root / "rec1.key",
                                        "--new-recovery", p.root / "rec3.key", code=1))
    assert spent[0].stderr == spent[1].stderr and "not this member's recovery file" in spent[0].stderr
    assert not any((p.root / "rec3.key").exists() for p in pairs)

    # the running laptop now signs with the successor, and its records count for the member
    made = online.nodes[0].api("PUT", "/v1/profile", {"name": "laptop after the rotation"})
    assert made["author"] == after[1]["this_key"]

    phone_key = phones[1]["this_key"]
    revoked = both(pairs, lambda p: p.cli(p.laptop, "device", "revoke",
                                          p.json(p.phone, "key", "show")["this_key"][-10:]))
    assert _line(revoked[0].stdout) == _line(revoked[1].stdout)
    ended = both(pairs, lambda p: p.json(p.laptop, "device", "list"))
    _same(*ended)
    assert [d["until"] for d in ended[1] if d["key"] == phone_key][0] is not None


def _laptop_learns_the_add(offline, online) -> None:
    bundle = offline.root / "phone.bundle"
    assert invoke_cli(offline.phone, "export", "-o", bundle).returncode == 0
    assert invoke_cli(offline.laptop, "import", bundle).returncode == 0
    phone = online.json(online.phone, "key", "show")["this_key"]
    bundle = online.root / "phone.bundle"
    assert invoke_cli(online.phone, "export", "-o", bundle).returncode == 0
    assert invoke_cli(online.laptop, "import", bundle).returncode == 0
    assert any(d["key"] == phone for d in online.json(online.laptop, "device", "list"))


def test_mistakes_are_refused_the_same_way_both_ways(pairs, tmp_path):
    junk, wrong = tmp_path / "junk.json", tmp_path / "wrong.key"
    junk.write_text('{"member": "00", "device": 5, "sig": "zz"}')
    wrong.write_bytes(Identity.generate().to_pem())
    for args, code, says in (
            (("device", "add", junk, "--out", tmp_path / "o.json"), 2, "device"),
            (("device", "accept", junk), 2, "unknown field"),
            (("device", "revoke", "abc"), 2, "8 characters"),
            (("device", "revoke", "12D3KooWzzzzzzzz"), 2, "no key of this member"),
            (("key", "rotate", "--recovery", junk, "--new-recovery", tmp_path / "n.key"), 1, "recovery file"),
            (("key", "rotate", "--recovery", wrong, "--new-recovery", tmp_path / "n.key"), 1,
             "not this member's recovery file"),
            (("key", "init", "--recovery", junk), 2, "never overwritten"),
    ):
        done = both(pairs, lambda p: invoke_cli(p.laptop, *args))
        for result in done:
            assert result.returncode == code, (args, result.stderr)
            assert says in result.stderr and result.stderr.count("\n") == 1, (args, result.stderr)
            assert "Traceback" not in result.stderr
        assert _line(done[0].stderr).replace(str(pairs[0].laptop), "H") == \
            _line(done[1].stderr).replace(str(pairs[1].laptop), "H"), args
        assert not (tmp_path / "n.key").exists() and not (tmp_path / "o.json").exists()
        assert not [f for f in tmp_path.iterdir() if f.name.endswith(".part")]


def test_recover_on_a_new_home_the_same_both_ways(tmp_path):
    old, rec = tmp_path / "old", tmp_path / "rec.key"
    assert invoke_cli(old, "init", "--recovery", rec).returncode == 0
    member = json.loads(invoke_cli(old, "key", "show", "--json").stdout)["member"]
    bundle = tmp_path / "old.bundle"
    assert invoke_cli(old, "export", "-o", bundle).returncode == 0
    offline, online = tmp_path / "new-offline", tmp_path / "new-online"
    assert invoke_cli(offline, "init").returncode == 0
    node = InProcessNode(online).start()
    try:
        done = [invoke_cli(home, "key", "recover", rec, "--events", bundle, "--new-recovery", home.with_suffix(".key"),
                           "--since", "2000-01-01") for home in (offline, online)]
        for result in done:
            assert result.returncode == 0, result.stderr
        assert "through the running node" in done[1].stdout
        assert _line(done[0].stdout) == _line(done[1].stdout)
        shown = [json.loads(invoke_cli(home, "key", "show", "--json").stdout) for home in (offline, online)]
        _same(*shown)
        assert shown[1]["member"] == member and shown[1]["controller"] == shown[1]["this_key"] != member
        assert stat.S_IMODE(online.with_suffix(".key").stat().st_mode) == 0o600
        again = [invoke_cli(home, "key", "recover", rec, "--new-recovery", tmp_path / "r3.key")
                 for home in (offline, online)]
        assert [r.returncode for r in again] == [1, 1] and again[0].stderr == again[1].stderr
        assert "no member held here commits" in again[1].stderr and not (tmp_path / "r3.key").exists()
    finally:
        node.stop()


def test_a_rotation_through_a_node_keeps_the_key_file_encrypted_with_its_passphrase(tmp_path):
    """The node was started with the passphrase; the CLI sends it with the rotation (never kept)."""
    from trustmesh.core.keyfile import load_key
    from trustmesh.errors import WrongPassphrase
    from trustmesh.testing import NodeProcess
    home, secret, wrong = tmp_path / "a", tmp_path / "pass", tmp_path / "wrong"
    secret.write_text("correct horse\n")
    wrong.write_text("battery staple\n")
    assert invoke_cli(home, "--passphrase-file", secret, "init", "--recovery", tmp_path / "rec.key").returncode == 0
    node = NodeProcess(home, env={"TRUSTMESH_PASSPHRASE_FILE": str(secret)}).start()
    try:
        refused = invoke_cli(home, "--passphrase-file", wrong, "key", "rotate", "--recovery", tmp_path / "rec.key",
                             "--new-recovery", tmp_path / "rec2.key")
        assert refused.returncode == 1 and "passphrase" in refused.stderr, refused.stderr
        assert not (tmp_path / "rec2.key").exists() and not [f for f in tmp_path.iterdir() if f.suffix == ".part"]
        assert node.api("GET", "/v1/keys")["this_key"] == node.id            # nothing rotated
        done = invoke_cli(home, "--passphrase-file", secret, "key", "rotate", "--recovery", tmp_path / "rec.key",
                          "--new-recovery", tmp_path / "rec2.key")
        assert done.returncode == 0 and "through the running node" in done.stdout, done.stderr
        new_key = node.api("GET", "/v1/keys")["this_key"]
        assert new_key != node.id
        with pytest.raises(WrongPassphrase):
            load_key(home / "identity.key")
        assert load_key(home / "identity.key", b"correct horse").id == new_key
        assert "correct horse" not in (home / "node.log").read_text()
    finally:
        node.stop()
    node.start()
    try:
        assert node.id == new_key               # restarted with the passphrase: the successor's identity
    finally:
        node.stop()
