"""The ``trustmesh`` command against real home directories.

In this process (``trustmesh.testing.invoke_cli``: the console script's own
entry point under click's runner); ``test_cli_output`` runs it as a real
process, where the process is the point.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.conftest import member
from trustmesh.core.ledger import Ledger
from trustmesh.store import Store
from trustmesh.protocol.bundle import BUNDLE_MAGIC, bundle_chunks
from trustmesh.protocol.records import Attestation, encode, record_id, sign
from trustmesh.testing import invoke_cli

ALICE, BOB, CAROL = member(1), member(2), member(3)
DAY = 86_400_000


def tm(home, *args, ok=True, env=None, cwd=None):
    """Run ``trustmesh --home HOME ARGS``; by default insist on success."""
    done = invoke_cli(home or None, *args, env=env, cwd=cwd)
    assert "Traceback" not in done.stderr, done.stderr
    if ok:
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


def fails(home, *args, code, says, **kw):
    """Run a command that must be refused: exit ``code``, one line on stderr containing ``says``."""
    done = tm(home, *args, ok=False, **kw)
    assert done.returncode == code, (args, done.returncode, done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and says in done.stderr, done.stderr
    return done


def js(home, *args):
    return json.loads(tm(home, *args, "--json").stdout)


def make_home(tmp_path, name, identity):
    """A home made by the library (faster than `init`, same files)."""
    Ledger.create(tmp_path / name, identity=identity).close()
    return tmp_path / name


def held(home):
    with Store.open(Path(home) / "store.sqlite") as store:
        return sum(store.counts().values())


def test_init_id_and_a_second_init_refused(tmp_path):
    home = tmp_path / "h"
    fails(home, "id", code=1, says="trustmesh init")
    out = tm(home, "init").stdout
    info = js(home, "id")
    assert info["id"].startswith("12D3KooW") and info["id"] in out
    assert info["did"].startswith("did:key:z6Mk") and len(info["public_key"]) == 64
    assert Path(info["home"]) == home
    assert (home / "identity.key").stat().st_mode & 0o777 == 0o600
    key = (home / "identity.key").read_bytes()
    fails(home, "init", code=1, says="never overwritten")
    assert (home / "identity.key").read_bytes() == key
    human = tm(home, "id").stdout
    assert info["id"] in human and info["did"] in human
    assert tm(None, "--version").stdout.startswith("trustmesh, version ")
    help_text = tm(None, "--help").stdout
    for name in ("init", "id", "profile", "attest", "retract", "reply", "deal", "records", "show",
                 "export", "import", "verify"):
        assert f"  {name} " in help_text or f"  {name}\n" in help_text, name


def test_encrypted_key_needs_its_passphrase_but_reading_does_not(tmp_path):
    home = tmp_path / "h"
    (tmp_path / "pass").write_text("correct horse\n")
    (tmp_path / "wrong").write_text("battery staple\n")
    tm(home, "init", "--passphrase-file", tmp_path / "pass")
    assert b"ENCRYPTED" in (home / "identity.key").read_bytes()
    bob_id = BOB.id
    fails(home, "attest", bob_id, "payment", "--positive", code=1, says="encrypted")
    fails(home, "--passphrase-file", tmp_path / "wrong", "attest", bob_id, "payment", "--positive",
          code=1, says="wrong passphrase")
    fails(home, "--passphrase-file", tmp_path / "nope", "attest", bob_id, "payment", "--positive",
          code=1, says="passphrase file")
    assert held(home) == 0
    env = {"TRUSTMESH_PASSPHRASE_FILE": str(tmp_path / "pass")}
    made = json.loads(tm(home, "attest", bob_id, "payment", "--positive", "--new-member", "--json", env=env).stdout)
    assert made["subject"] == bob_id
    listed = js(home, "records")                     # no passphrase needed to read
    assert [r["id"] for r in listed] == [made["id"]]


def test_two_members_attest_deal_export_import_reply_retract(tmp_path):
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    tm(alice, "init"), tm(bob, "init")
    a_id, b_id = js(alice, "id")["id"], js(bob, "id")["id"]
    tm(alice, "profile", "set", "--name", "Alice Martin", "--org", "Martin Conseil", "--url", "https://martin.example")
    tm(bob, "profile", "set", "--name", "Bob Durand")
    assert js(alice, "profile", "show")["name"] == "Alice Martin"

    # a plain attestation, with every option
    made = json.loads(tm(alice, "attest", b_id, "payment", "--positive", "--new-member", "--ref", "INV-12", "--note", "paid on time",
                         "--occurred", "2026-01-15", "--expires", "2099-01-01T12:00:00+01:00", "--json").stdout)
    assert {k: made[k] for k in ("type", "author", "subject", "facet", "positive", "note", "occurred", "expires")} == {
        "type": "attestation", "author": a_id, "subject": b_id, "facet": "payment", "positive": True,
        "note": "paid on time", "occurred": "2026-01-15T00:00:00Z", "expires": "2099-01-01T11:00:00Z"}
    assert len(made["id"]) == 64 and len(made["ref"]) == 64 and made["deal"] is None
    assert made["retracted"] is made["contested"] is made["expired"] is False

    # the deal: Alice proposes, Bob countersigns, Alice imports
    proposal, signed = tmp_path / "po7.proposal", tmp_path / "po7.deal"
    out = tm(alice, "deal", "propose", b_id, "--ref", "PO-7", "--role", "client", "--due", "2026-12-31",
             "-o", proposal).stdout
    assert "client" in out and proposal.read_bytes().startswith(b"trustmesh-deal-proposal/1\n")
    fails(bob, "deal", "sign", proposal, "-o", signed, "--ref", "PO-8", code=1, says="reference")
    assert not signed.exists()
    deal = json.loads(tm(bob, "deal", "sign", proposal, "-o", signed, "--ref", "PO-7", "--json").stdout)
    assert deal["type"] == "deal" and deal["author"] == a_id and deal["counterparty"] == b_id
    assert deal["role"] == "client" and deal["due"] == "2026-12-31T00:00:00Z"
    assert signed.read_bytes().startswith(BUNDLE_MAGIC)
    imported = js(alice, "import", signed)
    assert (imported["accepted"], imported["total"], imported["refused"], imported["damaged"]) == (1, 1, [], None)
    assert js(alice, "show", deal["id"])["type"] == "deal"

    # an attestation backed by the deal, named by a short prefix
    backed = json.loads(tm(alice, "attest", b_id, "delivery", "--negative", "--deal", deal["id"][:10],
                           "--note", "three weeks late", "--json").stdout)
    assert backed["deal"] == deal["id"] and backed["ref"] == json.loads(
        tm(alice, "show", deal["id"][:8], "--json").stdout)["ref"]

    # export, verify, import on the other side
    bundle = tmp_path / "alice.bundle"
    tm(alice, "export", "-o", bundle)
    checked = json.loads(tm(None, "verify", bundle, "--json").stdout)
    assert (checked["valid"], checked["invalid"], checked["damaged"], checked["forks"]) == (4, 0, None, [])
    assert {r["record"]["type"] for r in checked["records"]} == {"profile", "attestation", "deal"}
    assert "4 valid" in tm(None, "verify", bundle).stdout
    out = tm(bob, "import", bundle).stdout
    assert "3 accepted, 1 duplicate, 0 rejected" in out      # Bob already holds the deal
    assert "3 accepted" not in tm(bob, "import", bundle).stdout  # idempotent: all duplicates now

    # the right of reply, then a retraction
    reply = json.loads(tm(bob, "reply", backed["id"][:12], "--contest", "--note", "the spec changed", "--json").stdout)
    assert reply["type"] == "reply" and reply["stance"] == "contest" and reply["target"] == backed["id"]
    fails(bob, "reply", made["id"], code=2, says="--contest or --acknowledge")
    stdout = tm(bob, "export").stdout_bytes
    assert stdout.startswith(BUNDLE_MAGIC)
    (tmp_path / "bob.bundle").write_bytes(stdout)
    assert js(alice, "import", tmp_path / "bob.bundle")["accepted"] == 2   # Bob's profile and reply
    shown = js(alice, "show", backed["id"])
    assert shown["contested"] is True and [r["id"] for r in shown["replies"]] == [reply["id"]]
    assert bytes.fromhex(shown["raw"]) and record_id(bytes.fromhex(shown["raw"])).hex() == backed["id"]
    human = tm(alice, "show", backed["id"]).stdout
    assert "Bob Durand" in human and "contested" in human and "the spec changed" in human

    tm(alice, "retract", made["id"][:8], "--reason", "wrong invoice")
    fails(alice, "retract", made["id"], code=1, says="already retracted")
    fails(bob, "retract", backed["id"], code=1, says="only the author")

    # listing: filters, default hides retracted, --all marks it
    in_force = js(alice, "records", "--subject", b_id, "--type", "attestation")
    assert [r["id"] for r in in_force] == [backed["id"]]
    everything = js(alice, "records", "--subject", b_id, "--facet", "payment", "--all")
    assert [(r["id"], r["retracted"]) for r in everything] == [(made["id"], True)]
    assert [r["type"] for r in js(alice, "records", "--author", b_id)] == ["profile", "reply"]
    table = tm(alice, "records", "--all").stdout.splitlines()
    assert table[0].split() == ["ID", "TYPE", "ISSUED", "AUTHOR", "ABOUT", "WHAT", "STATUS"]
    rows = {line[:12]: line for line in table[1:]}
    assert "retracted" in rows[made["id"][:12]] and "contested" in rows[backed["id"][:12]]
    assert "Bob Durand" in rows[backed["id"][:12]] and "Alice Martin (me)" in rows[backed["id"][:12]]
    assert len({line.index("attestation") for line in table if " attestation " in line}) == 1  # aligned


def test_bad_input_is_one_line_and_changes_nothing(tmp_path):
    alice = make_home(tmp_path, "alice", ALICE)
    a, b = ALICE.id, BOB.id
    good = json.loads(tm(alice, "attest", b, "quality", "--positive", "--new-member", "--json").stdout)
    cases = [
        (("attest", "not-an-id", "payment", "--positive"), 2, "SUBJECT: not an Ed25519 identity id"),
        (("attest", b, "paymnt", "--positive"), 2, "unknown facet 'paymnt'"),
        (("attest", b, "skill:Python", "--negative"), 2, "unknown facet"),
        (("attest", b, "payment"), 2, "--positive or --negative"),
        (("attest", b, "payment", "--positive", "--occurred", "yesterday"), 2, "--occurred: not a date"),
        (("attest", b, "payment", "--positive", "--note", "x" * 300), 2, "280"),
        (("attest", b, "payment", "--positive", "--expires", "2001-01-01"), 1, "expires before"),
        (("attest", a, "payment", "--positive"), 1, "about oneself"),
        (("attest", b, "payment", "--positive", "--deal", good["id"]), 2, "must name a deal"),
        (("attest", b, "payment", "--positive", "--deal", "00000000"), 1, "no record"),
        (("show", "0123456789abcdef"), 1, "no record starts with 0123456789abcdef"),
        (("show", "12ab"), 2, "8 or more hex digits"),
        (("show", "not-hex-at-all"), 2, "not a record id"),
        (("retract", "ffffffffff"), 1, "no record"),
        (("reply", good["id"], "--acknowledge"), 1, "only the subject"),
        (("records", "--subject", "12D3KooWnope"), 2, "--subject"),
        (("records", "--facet", "speed"), 2, "unknown facet"),
        (("deal", "propose", a, "--ref", "x", "--role", "client", "-o", tmp_path / "p"), 2, "two different"),
        (("deal", "propose", b, "--ref", "x", "--role", "boss", "-o", tmp_path / "p"), 2, "--role"),
        (("deal", "propose", b, "--ref", "x", "--role", "client", "--due", "2000-01-01", "-o", tmp_path / "p"),
         1, "due date"),
        (("attest",), 2, "Missing argument"),
        (("no-such-command",), 2, "No such command"),
        (("profile", "set", "--name", "A", "--url", "ftp://x"), 2, "url"),
    ]
    for args, code, says in cases:
        fails(alice, *args, code=code, says=says)
    assert held(alice) == 1 and not (tmp_path / "p").exists()
    fails(tmp_path / "nobody", "records", code=1, says="trustmesh init")
    assert not (tmp_path / "nobody").exists()


def test_output_files_are_never_silently_overwritten(tmp_path):
    alice, bob = make_home(tmp_path, "alice", ALICE), make_home(tmp_path, "bob", BOB)
    carol = make_home(tmp_path, "carol", CAROL)
    tm(alice, "attest", BOB.id, "payment", "--positive", "--new-member")
    target = tmp_path / "out.bundle"
    target.write_bytes(b"precious")
    fails(alice, "export", "-o", target, code=1, says="--force")
    proposal = tmp_path / "deal.proposal"
    tm(alice, "deal", "propose", BOB.id, "--ref", "PO-1", "--role", "supplier", "-o", proposal)
    fails(alice, "deal", "propose", BOB.id, "--ref", "PO-2", "--role", "supplier", "-o", proposal,
          code=1, says="already exists")
    fails(bob, "deal", "sign", proposal, "-o", target, code=1, says="already exists")
    assert target.read_bytes() == b"precious" and held(bob) == 0     # refused before countersigning
    fails(carol, "deal", "sign", proposal, "-o", tmp_path / "c.deal", code=1, says="is addressed to " + BOB.id)
    fails(bob, "import", proposal, code=2, says="deal proposal, not a bundle")
    fails(bob, "deal", "sign", target, "-o", tmp_path / "x", code=1, says="not a trustmesh deal proposal")
    tampered = tmp_path / "tampered.proposal"
    data = bytearray(proposal.read_bytes()); data[-70] ^= 1          # inside the deal's fields
    tampered.write_bytes(bytes(data))
    fails(bob, "deal", "sign", tampered, "-o", tmp_path / "x", code=1, says="signature does not verify")
    tampered.unlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alice", "bob", "carol", "deal.proposal", "out.bundle"]
    tm(alice, "export", "-o", target, "--force")
    assert target.read_bytes().startswith(BUNDLE_MAGIC)
    tm(bob, "deal", "sign", proposal, "-o", tmp_path / "d1")
    tm(bob, "deal", "sign", proposal, "-o", tmp_path / "d2")                 # signing again: the same deal
    assert (tmp_path / "d1").read_bytes() == (tmp_path / "d2").read_bytes()
    assert held(bob) == 1 and not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def _foreign_records(n, *, forged_at=None, issued=None, expires=None):
    """``n`` attestations by Carol about Bob, made in this process; one forged if asked."""
    raws, prev = [], None
    now = issued or int(time.time() * 1000)
    for seq in range(1, n + 1):
        record = sign(Attestation(CAROL.public_key, seq, prev, now, BOB.public_key, "quality", seq % 2 == 0,
                                  None, None, now, expires, None), CAROL)
        raw = encode(record)
        prev = record_id(raw)
        raws.append(raw)
    if forged_at is not None:
        bad = bytearray(raws[forged_at]); bad[-5] ^= 0x40
        raws[forged_at] = bytes(bad)
    return raws


def test_a_forged_record_among_good_ones_is_listed_and_the_rest_stored(tmp_path):
    alice = make_home(tmp_path, "alice", ALICE)
    raws = _foreign_records(5, forged_at=2)
    bundle = tmp_path / "mixed.bundle"
    bundle.write_bytes(b"".join(bundle_chunks(raws)))
    checked = tm(None, "verify", bundle, "--json", ok=False)
    assert checked.returncode == 1 and checked.stderr == "trustmesh: 1 record invalid\n"
    report = json.loads(checked.stdout)
    assert [r["status"] for r in report["records"]] == ["valid", "valid", "invalid", "valid", "valid"]
    assert held(alice) == 0
    done = tm(alice, "import", bundle, "--json", ok=False)
    assert done.returncode == 1 and "1 record rejected" in done.stderr
    report = json.loads(done.stdout)
    assert (report["accepted"], report["duplicate"], report["rejected"], report["total"]) == (4, 0, 1, 5)
    (bad,) = report["refused"]
    assert bad["position"] == 3 and bad["id"] == record_id(raws[2]).hex() and "signature" in bad["reason"]
    assert bad["fault"] == "signature"
    assert held(alice) == 4
    human = tm(alice, "import", bundle, ok=False)
    assert human.returncode == 1 and "rejected  #3" in human.stdout and "4 duplicate, 1 rejected" in human.stdout


def test_damaged_bundles_keep_what_came_before_the_damage(tmp_path):
    alice = make_home(tmp_path, "alice", ALICE)
    data = b"".join(bundle_chunks(_foreign_records(3)))
    cut = tmp_path / "cut.bundle"
    cut.write_bytes(data[:-20])
    done = tm(alice, "import", cut, "--json", ok=False)
    assert done.returncode == 1 and "damaged bundle after record 2" in done.stderr
    report = json.loads(done.stdout)
    assert report["accepted"] == 2 and "inside a frame" in report["damaged"]
    assert held(alice) == 2
    human = tm(None, "verify", cut, ok=False)
    assert human.returncode == 1 and "damaged: the bundle stops after record 2" in human.stdout
    junk = tmp_path / "junk"
    junk.write_bytes(b"GIF89a" + os.urandom(100))
    fails(alice, "import", junk, code=1, says="not a trustmesh bundle")
    fails(None, "verify", junk, code=1, says="not a trustmesh bundle")
    fails(None, "verify", tmp_path / "missing", code=1, says="No such file")
    empty = tmp_path / "empty.bundle"
    empty.write_bytes(BUNDLE_MAGIC)
    assert js(alice, "import", empty)["total"] == 0


def test_large_bundles_import_across_batches_and_expired_records_are_marked(tmp_path):
    alice = make_home(tmp_path, "alice", ALICE)
    long_ago = int(time.time() * 1000) - 30 * DAY
    raws = _foreign_records(4500, issued=long_ago, expires=long_ago + DAY)   # > 2 batches of 2,000
    bundle = tmp_path / "big.bundle"
    bundle.write_bytes(b"".join(bundle_chunks(raws)))
    out = tm(alice, "import", bundle).stdout
    assert "4500 accepted" in out and held(alice) == 4500
    assert js(alice, "records") == []
    expired = js(alice, "records", "--all", "--author", CAROL.id)
    assert len(expired) == 4500 and all(r["expired"] for r in expired)
    first = tm(alice, "show", record_id(raws[0]).hex()).stdout
    assert "expired" in first
