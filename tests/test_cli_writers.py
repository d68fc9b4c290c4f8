"""Every writing command behaves the same through a running node and on the ledger alone.

The CLI has one writer interface with two implementations (cli/writer.py);
each command here runs both ways, on two homes, and the answers must agree
(ids, authors and times aside, which differ by construction). The commands
and the nodes run in this process (``invoke_cli``, ``InProcessNode``).
"""

from __future__ import annotations

import json

import pytest

from trustmesh.testing import InProcessNode, invoke_cli

BOB = "12D3KooWEN94n2GW3NVygr9HGNfkMGc6dPC5ZkgaACv1TXL9cR2R"
PER_AUTHOR = {"id", "author", "prev", "issued", "ref", "received", "target", "deal"}


def _same_shape(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    assert {k: v for k, v in a.items() if k not in PER_AUTHOR} == {k: v for k, v in b.items() if k not in PER_AUTHOR}


@pytest.fixture(scope="module")
def homes(tmp_path_factory):
    """An offline home and a home whose node runs (both initialised)."""
    root = tmp_path_factory.mktemp("writers")
    offline, online = root / "offline", root / "online"
    assert invoke_cli(offline, "init").returncode == 0
    node = InProcessNode(online).start()
    yield offline, online, node
    node.stop()


def both(homes, *args: str, code: int = 0):
    """Run ``trustmesh ARGS`` on both homes; the two results (JSON when it succeeded)."""
    offline, online, _ = homes
    out = []
    for home, way in ((offline, "ledger"), (online, "node")):
        done = invoke_cli(home, *args)
        assert done.returncode == code, (way, args, done.stdout, done.stderr)
        out.append(json.loads(done.stdout) if code == 0 and "--json" in args else done)
    return out


def test_each_writing_command_gives_the_same_answer_both_ways(homes):
    a, b = both(homes, "profile", "set", "--name", "Alice", "--org", "Martin", "--json")
    _same_shape(a, b)
    a, b = both(homes, "attest", BOB, "payment", "--positive", "--new-member", "--ref", "INV-1", "--note", "on time",
                "--occurred", "2026-01-15", "--expires", "2099-01-01", "--json")
    _same_shape(a, b)
    assert a["occurred"] == "2026-01-15T00:00:00Z" and a["expires"] == "2099-01-01T00:00:00Z"
    first = (a["id"], b["id"])
    offline, online, _ = homes
    made = [json.loads(invoke_cli(h, "retract", rid[:12], "--reason", "wrong invoice", "--json").stdout)
            for h, rid in ((offline, first[0]), (online, first[1]))]
    _same_shape(*made)
    again = [invoke_cli(h, "retract", rid, "--json") for h, rid in ((offline, first[0]), (online, first[1]))]
    for done in again:                    # the rule is the core's: checked both ways
        assert done.returncode == 1 and "already retracted" in done.stderr, done.stderr


def test_mistakes_are_refused_the_same_way_both_ways(homes):
    for args, code, says in (
            (("attest", BOB, "payment"), 2, "--positive or --negative"),
            (("attest", BOB, "nosuchfacet", "--positive"), 2, "facet"),
            (("attest", "12D3KooWtypo", "payment", "--positive"), 2, "SUBJECT"),
            (("attest", BOB, "payment", "--positive", "--occurred", "garbage"), 2, "not a date"),
            (("attest", BOB, "payment", "--positive", "--note", "x" * 300), 2, "note"),
            (("retract", "00000000"), 1, "no record"),
            (("reply", "00000000", "--contest"), 1, "no record"),
            (("deal", "propose", BOB, "--ref", "R", "--role", "client", "--due", "garbage"), 2, "not a date"),
    ):
        for done in both(homes, *args, code=code):
            assert says in done.stderr and done.stderr.count("\n") == 1, (args, done.stderr)


def test_a_live_proposal_keeps_its_due_date(tmp_path):
    """The bug this interface closed: through the node, --due was dropped (stored as null)."""
    a = InProcessNode(tmp_path / "a").start()
    b = InProcessNode(tmp_path / "b", bootstrap=[a.addr], args=["--auto-accept", "always"]).start()
    try:
        done = invoke_cli(a.home, "deal", "propose", b.id, "--ref", "PO-7", "--role", "client",
                       "--due", "2026-12-20", "--json")
        assert done.returncode == 0, done.stderr
        found = json.loads(done.stdout)
        assert found["status"] == "accepted" and found["deal"]["due"] == "2026-12-20T00:00:00Z"
    finally:
        b.stop()
        a.stop()


def test_import_reports_the_same_both_ways(homes, tmp_path):
    from trustmesh.crypto.keys import Identity
    from trustmesh.protocol.bundle import bundle_chunks
    from trustmesh.testing.records import attestation_chain
    author = Identity.generate()
    raws = attestation_chain(author, [Identity.generate().public_key], 5)
    raws[2] = raws[2][:-1] + bytes([raws[2][-1] ^ 1])             # a forged signature
    bundle = tmp_path / "b.bundle"
    bundle.write_bytes(b"".join(bundle_chunks(raws)))
    a, b = both(homes, "import", str(bundle), "--json", code=1)
    ja, jb = json.loads(a.stdout), json.loads(b.stdout)
    assert ja == jb and (ja["accepted"], ja["rejected"]) == (4, 1) and ja["refused"][0]["position"] == 3
