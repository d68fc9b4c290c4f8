"""The offline CLI, run as a real command in subprocesses."""

from __future__ import annotations

import pytest

from tests.clitools import trustmesh
from trustmesh.protocol.bundle import BUNDLE_MAGIC, bundle_chunks, read_bundle


@pytest.fixture
def two_members(tmp_path):
    homes = tmp_path / "alice", tmp_path / "bob"
    ids = []
    for home in homes:
        run = trustmesh("init", home=home)
        assert run.code == 0, run.err
        ids.append(trustmesh("id", "--json", home=home).json()["id"])
    return homes, ids


def test_two_members_do_business(two_members, tmp_path):
    (alice, bob), (alice_id, bob_id) = two_members
    assert trustmesh("profile", "set", "--name", "Alice Martin", "--org", "Martin Conseil", home=alice).code == 0
    made = trustmesh("attest", bob_id, "payment", "--positive", "--ref", "INV-12",
                     "--note", "paid on time", "--json", home=alice)
    assert made.code == 0, made.err
    attestation = made.json()
    assert attestation["subject"] == bob_id and attestation["facet"] == "payment"
    assert attestation["positive"] is True and attestation["seq"] == 2

    proposal, signed = tmp_path / "po7.proposal", tmp_path / "po7.deal"
    assert trustmesh("deal", "propose", bob_id, "--ref", "PO-7", "--role", "client",
                     "-o", str(proposal), home=alice).code == 0
    run = trustmesh("deal", "sign", str(proposal), "-o", str(signed), "--json", home=bob)
    assert run.code == 0, run.err
    deal = run.json()
    assert deal["type"] == "deal" and deal["author"] == alice_id and deal["counterparty"] == bob_id
    imported = trustmesh("import", str(signed), "--json", home=alice)
    assert imported.code == 0 and imported.json()["accepted"] == 1
    backed = trustmesh("attest", bob_id, "delivery", "--negative", "--deal", deal["id"][:12],
                       "--occurred", "2026-10-01", "--json", home=alice).json()
    assert backed["deal"] == deal["id"] and backed["occurred"].startswith("2026-10-01")

    bundle = tmp_path / "alice.bundle"
    assert trustmesh("export", "-o", str(bundle), home=alice).code == 0
    assert bundle.read_bytes().startswith(BUNDLE_MAGIC)
    verified = trustmesh("verify", str(bundle), "--json", home=bob).json()
    assert verified["valid"] == 4 and verified["invalid"] == 0
    report = trustmesh("import", str(bundle), "--json", home=bob).json()
    assert (report["accepted"], report["duplicate"]) == (3, 1)

    # Bob contests the negative one; Alice retracts it later.
    assert trustmesh("reply", backed["id"], "--contest", "--note", "delivered on the agreed day", home=bob).code == 0
    shown = trustmesh("show", backed["id"][:10], "--json", home=bob).json()
    assert shown["contested"] is True
    assert trustmesh("retract", backed["id"], home=alice).code == 0
    listed = trustmesh("records", "--subject", bob_id, "--facet", "delivery", "--json", home=alice).json()
    assert listed == []
    listed = trustmesh("records", "--subject", bob_id, "--all", "--json", home=alice).json()
    assert any(r["id"] == backed["id"] and r["retracted"] for r in listed)
    human = trustmesh("records", home=alice)
    assert human.code == 0 and "+payment" in human.out and "Traceback" not in human.err


def test_bad_input_is_one_line_and_non_zero(two_members, tmp_path):
    (alice, bob), (alice_id, bob_id) = two_members
    cases = [
        (("attest", "12D3KooWnope", "payment", "--positive"), 2, "not an Ed25519 identity id"),
        (("attest", bob_id, "paymnt", "--positive"), 2, "unknown facet"),
        (("attest", bob_id, "payment"), 2, "--positive or --negative"),
        (("attest", alice_id, "payment", "--positive"), 1, "oneself"),
        (("attest", bob_id, "payment", "--positive", "--occurred", "yesterday"), 2, "not a date"),
        (("show", "0123456789abcdef"), 1, "no record"),
        (("show", "xyz"), 2, "not a record id"),
        (("retract", "zz"), 2, "not a record id"),
        (("import", str(tmp_path / "missing")), 2, "does not exist"),
    ]
    for args, code, message in cases:
        run = trustmesh(*args, home=alice)
        assert run.code == code, (args, run.code, run.err)
        assert message in run.err, (args, run.err)
        assert "Traceback" not in run.err
    assert trustmesh("init", home=alice).code == 1
    assert trustmesh("id", home=tmp_path / "nobody").code == 1


def test_import_keeps_good_records_and_lists_bad_ones(two_members, tmp_path):
    (alice, bob), (alice_id, bob_id) = two_members
    for facet in ("quality", "delivery", "relation"):
        assert trustmesh("attest", bob_id, facet, "--positive", home=alice).code == 0
    bundle = tmp_path / "a.bundle"
    trustmesh("export", "-o", str(bundle), home=alice)
    raws = list(read_bundle([bundle.read_bytes()]))
    forged = bytearray(raws[1]); forged[-3] ^= 0x40
    bad = tmp_path / "bad.bundle"
    bad.write_bytes(b"".join(bundle_chunks([raws[0], bytes(forged), raws[2], b"\x93\x01\x02"])))
    run = trustmesh("import", str(bad), "--json", home=bob)
    assert run.code == 1
    report = run.json()
    assert (report["accepted"], report["rejected"]) == (2, 2)
    assert "signature" in report["records"][1]["reason"]
    # a bundle cut in the middle: the records before the cut are stored
    cut = tmp_path / "cut.bundle"
    cut.write_bytes(bundle.read_bytes()[:-10])
    fresh = tmp_path / "carol"
    trustmesh("init", home=fresh)
    run = trustmesh("import", str(cut), home=fresh)
    assert run.code == 1 and "damaged" in run.err
    assert len(trustmesh("records", "--json", home=fresh).json()) == 2
    assert trustmesh("verify", str(tmp_path / "a.bundle"), home=bob).code == 0
    (tmp_path / "junk").write_bytes(b"hello world")
    assert trustmesh("verify", str(tmp_path / "junk"), home=bob).code == 1


def test_output_files_are_never_clobbered_and_keys_can_be_encrypted(tmp_path):
    home, secret = tmp_path / "h", tmp_path / "pass"
    secret.write_text("correct horse battery staple\n")
    assert trustmesh("init", "--passphrase-file", str(secret), home=home).code == 0
    assert (home / "identity.key").stat().st_mode & 0o777 == 0o600
    locked = trustmesh("id", home=home)
    assert locked.code == 1 and "passphrase" in locked.err
    (tmp_path / "wrong").write_text("nope")
    assert "wrong passphrase" in trustmesh("--passphrase-file", str(tmp_path / "wrong"), "id", home=home).err
    ok = trustmesh("id", "--json", home=home, TRUSTMESH_PASSPHRASE_FILE=str(secret))
    assert ok.code == 0 and ok.json()["id"].startswith("12D3KooW")
    out = tmp_path / "exists"
    out.write_bytes(b"keep me")
    run = trustmesh("export", "-o", str(out), home=home, TRUSTMESH_PASSPHRASE_FILE=str(secret))
    assert run.code == 2 and out.read_bytes() == b"keep me"
