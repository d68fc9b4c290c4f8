"""A relay is judged only on what it could have checked itself (real nodes).

An attacker must not be able to get one honest node banned by another: a
record refused for a link rule (the relay lacked the target) or for "issued
in the future" (the relay's clock is a little ahead) is refused and not
relayed, but costs the relay nothing, and sync stops offering a record whose
link verdict cannot change.

T1 runs in this process (``InProcessNode``), and so does T2 unless its clock
is set off, which needs a process of its own (the offset is read once per
process).
"""

from __future__ import annotations

import time

from trustmesh.testing import InProcessNode, NodeProcess
from trustmesh.crypto.keys import Identity
from trustmesh.core.ledger import Ledger, now_ms
from trustmesh.protocol.records import Attestation, Profile, Reply, encode, record_id, sign
from trustmesh.protocol.validate import MAX_CLOCK_SKEW_MS

# sync only when a test asks; three forgivable offences would already ban
QUIET = {"TRUSTMESH_NET_SYNC_ON_CONNECT": "false", "TRUSTMESH_NET_SYNC_INTERVAL_S": "3600",
         "TRUSTMESH_NET_DEFENCE_SOFT_OFFENCES_TO_BAN": "3"}


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def _pair(tmp_path, seed_t2: list[bytes] = (), t2_env: dict | None = None):
    """T1 and T2, connected, gossip flowing; T2's store seeded with ``seed_t2`` (not gossiped)."""
    if seed_t2:
        ledger = Ledger.create(tmp_path / "t2")
        assert all(r.status == "accepted" for r in ledger.store.ingest(list(seed_t2), now_ms()))
        ledger.close()
    t1 = InProcessNode(tmp_path / "t1", env=QUIET).start()
    t2_kind = NodeProcess if "TRUSTMESH_TEST_CLOCK_OFFSET_MS" in (t2_env or {}) else InProcessNode
    t2 = t2_kind(tmp_path / "t2", bootstrap=[t1.addr], env={**QUIET, **(t2_env or {})}).start()
    _wait(lambda: t1.peers() and t2.peers(), 20, "the nodes did not connect")
    probe = t1.profile("t1")             # gossip from T1 to T2 works
    _wait(lambda: t2.has([probe]), 20, "no gossip from T1 to T2")
    return t1, t2


def _no_blame(t1, t2) -> None:
    assert not [e for e in t2.events_of("offence") if e["peer"] == t1.id], t2.events_of("offence")
    assert not t2.events_of("ban") and not t1.events_of("ban")
    assert t1.id in {p["id"] for p in t2.peers()}


def test_a_relay_is_not_blamed_for_a_link_rule_it_could_not_check(tmp_path):
    author, subject, meddler = Identity.generate(), Identity.generate(), Identity.generate()
    t = now_ms() - 1000
    r = encode(sign(Attestation(author.public_key, 1, None, t, subject.public_key, "payment", True,
                                None, None, t, None, None), author))
    q = encode(sign(Reply(meddler.public_key, 1, None, t, record_id(r), "contest", None), meddler))
    t1, t2 = _pair(tmp_path, seed_t2=[r])             # T2 holds R; T1 does not
    try:
        # T1 cannot judge Q (R is not there): it stores and gossips it; T2 refuses it
        assert t1.import_raws([q])["accepted"] == 1
        _wait(lambda: t2.status()["sync"]["intake"]["rejected"] >= 1, 20, "Q never reached T2")
        for _ in range(3):                            # each sync used to push Q again: an offence each
            assert t1.sync()
        stats = t2.status()["sync"]["peers"][t1.id]
        assert stats["result"] == "done" and stats["received"] == 0, stats   # Q is not offered again
        assert t2.status()["sync"]["intake"]["rejected"] == 1
        assert record_id(q).hex() not in t2.ids() and record_id(r).hex() in t1.ids()
        _no_blame(t1, t2)
    finally:
        t2.stop()
        t1.stop()


def test_a_relay_is_not_blamed_for_a_clock_a_little_ahead(tmp_path):
    behind_ms = 5000
    t1, t2 = _pair(tmp_path, t2_env={"TRUSTMESH_TEST_CLOCK_OFFSET_MS": str(-behind_ms)})
    try:
        author = Identity.generate()
        issued = now_ms() + MAX_CLOCK_SKEW_MS - 2000    # within T1's limit, past T2's for ~3 s
        x = encode(sign(Profile(author.public_key, 1, None, issued, "early", None, None), author))
        assert t1.import_raws([x])["accepted"] == 1
        _wait(lambda: t2.status()["sync"]["intake"]["rejected"] >= 1, 3, "X reached T2 too late")
        assert record_id(x).hex() not in t2.ids()
        _no_blame(t1, t2)
        # once T2's clock has caught up, a sync brings it: refused, not lost
        deadline = time.monotonic() + 30
        while record_id(x).hex() not in t2.ids():
            assert time.monotonic() < deadline, t2.log_tail()
            t1.sync()
            time.sleep(0.5)
        _no_blame(t1, t2)
    finally:
        t2.stop()
        t1.stop()
