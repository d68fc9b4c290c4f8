"""``trustmesh trust`` and ``trustmesh rank`` run as commands (in this process) on a real home."""

import json

from trustmesh.crypto.ids import peer_id
from trustmesh.core.ledger import Ledger
from trustmesh.testing import invoke_cli


def run(home, *args):
    return invoke_cli(home, *args)


def test_trust_and_rank_commands(tmp_path):
    me, b, c = (Ledger.create(tmp_path / name) for name in ("me", "b", "c"))
    deal = b.countersign(me.propose_deal(b.me, "PO-1", "client"))
    me.ingest([deal.raw])
    me.attest(b.me, "delivery", True, deal=deal.id)
    me.ingest([b.attest(c.me, "delivery", True).raw])
    for ledger in (me, b, c):
        ledger.close()

    out = run(tmp_path / "me", "trust", peer_id(c.me), "--facet", "delivery", "--explain", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["subject"] == peer_id(c.me) and data["facet"] == "delivery"
    assert set(data) >= {"score", "uncertainty", "lower", "evidence", "authors", "explanation", "verdict"}
    assert data["verdict"] == "unknown"     # one praise is not a record
    assert data["evidence"] == 1 and data["explanation"][0]["chain"] == [peer_id(me.me), peer_id(b.me)]

    every = json.loads(run(tmp_path / "me", "trust", peer_id(c.me), "--json").stdout)
    assert isinstance(every, list) and {"payment", "delivery"} <= {s["facet"] for s in every}

    ranked = json.loads(run(tmp_path / "me", "rank", "--facet", "delivery", "--limit", "5", "--json").stdout)
    assert [r["subject"] for r in ranked] == [peer_id(b.me), peer_id(c.me)]
    assert ranked[0]["lower"] >= ranked[1]["lower"]
    assert ranked[0]["verdict"] == "no objection"   # my own good deal: known, not yet a record
    table = run(tmp_path / "me", "rank", "--facet", "delivery").stdout
    assert table.splitlines()[0].split()[0] == "VERDICT" and "no objection" in table

    text = run(tmp_path / "me", "trust", peer_id(c.me), "--facet", "delivery", "--explain")
    assert text.returncode == 0 and "via me -> " in text.stdout     # the chain, in words
    mine = run(tmp_path / "me", "trust", peer_id(b.me), "--facet", "delivery").stdout
    assert "no objection" in mine
    newcomer = run(tmp_path / "me", "trust", peer_id(bytes(range(32))), "--facet", "payment")
    assert "unknown" in newcomer.stdout


def test_errors_are_one_line(tmp_path):
    Ledger.create(tmp_path / "me").close()
    for args in (("trust", "not-an-id"), ("rank", "--facet", "nonsense"),
                 ("trust", peer_id(bytes(32)), "--facet", "Bad Facet")):
        out = run(tmp_path / "me", *args)
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
    missing = run(tmp_path / "nobody", "rank", "--facet", "payment")
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
