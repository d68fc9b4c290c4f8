"""The key and device commands over real homes (issue 15): files, modes, refusals."""

from __future__ import annotations

import json
import stat

from trustmesh.testing.clirun import invoke_cli


def _init(home):
    assert invoke_cli(home, "init").returncode == 0


def _show(home):
    result = invoke_cli(home, "key", "show", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_init_rotate_with_the_recovery_file_and_a_wrong_one_refused(tmp_path):
    home, rec, rec2 = tmp_path / "a", tmp_path / "rec1.key", tmp_path / "rec2.key"
    _init(home)
    before = _show(home)
    assert before["incepted"] is False
    result = invoke_cli(home, "key", "init", "--recovery", rec)
    assert result.returncode == 0, result.stderr
    assert "OFFLINE" in result.stderr and str(rec) in result.stderr
    assert stat.S_IMODE(rec.stat().st_mode) == 0o600
    assert _show(home)["incepted"] is True
    assert invoke_cli(home, "key", "init", "--recovery", tmp_path / "again.key").returncode == 2

    other, wrong = tmp_path / "b", tmp_path / "wrong.key"
    _init(other)
    assert invoke_cli(other, "key", "init", "--recovery", wrong).returncode == 0
    refused = invoke_cli(home, "key", "rotate", "--recovery", wrong, "--new-recovery", rec2)
    assert refused.returncode == 1 and "not this member's recovery file" in refused.stderr
    assert "Traceback" not in refused.stderr and not rec2.exists()

    done = invoke_cli(home, "key", "rotate", "--recovery", rec, "--new-recovery", rec2)
    assert done.returncode == 0, done.stderr
    after = _show(home)
    assert after["member"] == before["member"] and after["this_key"] != before["this_key"]
    assert after["controller"] == after["this_key"]
    assert stat.S_IMODE(rec2.stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "identity.key").stat().st_mode) == 0o600
    used = invoke_cli(home, "key", "rotate", "--recovery", rec, "--new-recovery", tmp_path / "r3.key")
    assert used.returncode == 1


def _phone_and_laptop(tmp_path):
    """Two homes; the phone's member has started its key chain (recovery file ``rec``)."""
    phone, laptop, rec = tmp_path / "phone", tmp_path / "laptop", tmp_path / "rec.key"
    _init(phone)
    _init(laptop)
    assert invoke_cli(phone, "key", "init", "--recovery", rec).returncode == 0
    return phone, laptop, rec, _show(phone)["member"]


def test_device_request_add_accept_list_revoke(tmp_path):
    phone, laptop, rec, member = _phone_and_laptop(tmp_path)
    req, offer = tmp_path / "req.json", tmp_path / "offer.json"
    assert invoke_cli(laptop, "device", "request", "--member", member, "--out", req).returncode == 0
    added = invoke_cli(phone, "device", "add", req, "--out", offer)
    assert added.returncode == 0, added.stderr
    accepted = invoke_cli(laptop, "device", "accept", offer)
    assert accepted.returncode == 0, accepted.stderr
    seen = _show(laptop)
    assert seen["member"] == member and seen["this_key"] != member
    ident = json.loads(invoke_cli(laptop, "id", "--json").stdout)
    assert "member" in ident and ident["id"] != ident["member"]
    assert "member" not in json.loads(invoke_cli(phone, "id", "--json").stdout)
    listed = json.loads(invoke_cli(laptop, "device", "list", "--json").stdout)
    mine = [d for d in listed if d["this_node"]]
    assert len(mine) == 1 and mine[0]["role"] == "device" and mine[0]["until"] is None

    # the phone learns the countersigned add from a bundle, then revokes the laptop
    bundle = tmp_path / "laptop.bundle"
    assert invoke_cli(laptop, "export", "-o", bundle).returncode == 0
    assert invoke_cli(phone, "import", bundle).returncode == 0
    revoked = invoke_cli(phone, "device", "revoke", seen["this_key"][:12])
    assert revoked.returncode == 0, revoked.stderr
    rows = json.loads(invoke_cli(phone, "device", "list", "--json").stdout)
    assert [r["until"] for r in rows if r["key"] == seen["this_key"]][0] is not None


def test_bad_arguments_are_one_line_and_a_non_zero_exit(tmp_path):
    home = tmp_path / "a"
    _init(home)
    junk = tmp_path / "junk.json"
    junk.write_text("[1, 2]")
    for args, code in ((("device", "add", junk, "--out", tmp_path / "o"), 2),
                       (("device", "accept", junk), 2),
                       (("device", "revoke", "abc"), 2),
                       (("device", "request", "--member", "nope", "--out", tmp_path / "r"), 2),
                       (("key", "rotate", "--recovery", junk, "--new-recovery", tmp_path / "n"), 1)):
        result = invoke_cli(home, *args)
        assert result.returncode == code, (args, result.stderr)
        assert "Traceback" not in result.stderr and result.stderr.strip()


def test_the_owner_recovers_on_a_new_home_and_the_thiefs_later_records_are_void(tmp_path):
    old, new, rec, rec2 = tmp_path / "old", tmp_path / "new", tmp_path / "rec.key", tmp_path / "rec2.key"
    _init(old)
    assert invoke_cli(old, "key", "init", "--recovery", rec).returncode == 0
    member = _show(old)["member"]
    # the thief, holding the old home, publishes a profile; the owner recovers from the bundle
    assert invoke_cli(old, "profile", "set", "--name", "thief").returncode == 0
    bundle = tmp_path / "old.bundle"
    assert invoke_cli(old, "export", "-o", bundle).returncode == 0
    _init(new)
    bad = invoke_cli(new, "key", "recover", rec, "--events", bundle, "--new-recovery", rec2, "--after", "zz")
    assert bad.returncode in (1, 2) and "internal error" not in bad.stderr and not rec2.exists()
    done = invoke_cli(new, "key", "recover", rec, "--events", bundle, "--new-recovery", rec2,
                      "--since", "2000-01-01")
    assert done.returncode == 0, done.stderr
    shown = _show(new)
    assert shown["member"] == member and shown["controller"] == shown["this_key"] != member
    held = json.loads(invoke_cli(new, "records", "--author", member, "--json").stdout)
    assert not [r for r in held if r.get("type") == "profile"], held
    again = invoke_cli(new, "key", "recover", rec, "--new-recovery", tmp_path / "r3.key")   # spent
    assert again.returncode == 1 and "no member held here commits" in again.stderr


def test_init_with_a_recovery_file_starts_the_chain_and_without_says_how(tmp_path):
    home, rec = tmp_path / "a", tmp_path / "rec.key"
    started = invoke_cli(home, "init", "--recovery", rec)
    assert started.returncode == 0, started.stderr
    assert "key chain started" in started.stdout and "OFFLINE" in started.stderr and str(rec) in started.stderr
    assert stat.S_IMODE(rec.stat().st_mode) == 0o600
    shown = _show(home)
    assert shown["incepted"] is True and shown["controller"] == shown["this_key"] == shown["member"]
    rotated = invoke_cli(home, "key", "rotate", "--recovery", rec, "--new-recovery", tmp_path / "rec2.key")
    assert rotated.returncode == 0, rotated.stderr            # the recovery file is the member's

    plain = invoke_cli(tmp_path / "b", "init")
    assert plain.returncode == 0 and _show(tmp_path / "b")["incepted"] is False
    (hint,) = [line for line in plain.stdout.splitlines() if "key chain" in line]
    assert "trustmesh key init --recovery FILE" in hint


def test_init_refuses_a_recovery_file_that_exists_before_making_anything(tmp_path):
    home, rec = tmp_path / "a", tmp_path / "rec.key"
    rec.write_text("mine")
    refused = invoke_cli(home, "init", "--recovery", rec)
    assert refused.returncode == 2 and "never overwritten" in refused.stderr
    assert rec.read_text() == "mine" and not (home / "identity.key").exists()
    nowhere = invoke_cli(home, "init", "--recovery", tmp_path / "no" / "such" / "rec.key")
    assert nowhere.returncode == 2 and not (home / "identity.key").exists()


def test_a_device_request_that_cannot_be_written_leaves_no_pairing_and_no_part_file(tmp_path):
    phone, laptop, rec, member = _phone_and_laptop(tmp_path)
    (tmp_path / "a-file").write_text("not a directory")
    for out in (tmp_path / "missing" / "req.json", tmp_path / "a-file" / "req.json", tmp_path):
        failed = invoke_cli(laptop, "device", "request", "--member", member, "--out", out)
        assert failed.returncode in (1, 2) and "Traceback" not in failed.stderr, failed.stderr
        assert not (laptop / "pairing.json").exists()
        assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".part")]

    # a request that was written is remembered; a later failed one leaves it as it was
    req = tmp_path / "req.json"
    assert invoke_cli(laptop, "device", "request", "--member", member, "--out", req).returncode == 0
    remembered = (laptop / "pairing.json").read_bytes()
    other = invoke_cli(tmp_path / "b", "init")
    assert other.returncode == 0
    stranger = _show(tmp_path / "b")["member"]
    failed = invoke_cli(laptop, "device", "request", "--member", stranger, "--out", tmp_path / "missing" / "r.json")
    assert failed.returncode == 1
    assert (laptop / "pairing.json").read_bytes() == remembered
    offer = tmp_path / "offer.json"
    assert invoke_cli(phone, "device", "add", req, "--out", offer).returncode == 0
    accepted = invoke_cli(laptop, "device", "accept", offer)
    assert accepted.returncode == 0, accepted.stderr
    assert not (laptop / "pairing.json").exists()
