"""Hostile peers are refused and cut off; honest peers keep working.

The honest nodes and the hostile peer each run in a trio loop of their own on
threads of this process (``InProcessNode``, ``hostile``).
"""

from __future__ import annotations

import time

import pytest

from trustmesh.testing import Cluster, InProcessNode, hostile

LIMITS = {"TRUSTMESH_NET_DEFENCE_RECORDS_PER_S": "100", "TRUSTMESH_NET_DEFENCE_RECORDS_BURST": "300",
          "TRUSTMESH_NET_DEFENCE_UNWEIGHTED_QUOTA": "150", "TRUSTMESH_NET_DEFENCE_BAN_S": "600",
          "TRUSTMESH_NET_DEFENCE_REACH_REFRESH_S": "0.2"}


def _pair(tmp_path_factory):
    """Two honest members who have done a deal together (so each weighs for the other)."""
    with Cluster(2, root=tmp_path_factory.mktemp("defence"), env=LIMITS,
                 args=["--auto-accept", "always"], node=InProcessNode) as cluster:
        assert cluster[0].deal(cluster[1].id, ref="D-1", role="client")["status"] == "accepted"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(
                n.weight(m.id) for n, m in ((cluster[0], cluster[1]), (cluster[1], cluster[0]))):
            time.sleep(0.05)
        yield cluster


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    yield from _pair(tmp_path_factory)


@pytest.fixture
def fresh_net(tmp_path_factory):
    """A pair of its own, so one attack's aftermath cannot leak into the next test."""
    yield from _pair(tmp_path_factory)


def _honest_gossip_still_works(net, timeout: float = 15, reverse: bool = False) -> None:
    maker, other = (net[0], net[1]) if reverse else (net[1], net[0])
    rid = maker.attest(other.id, "quality", True)
    assert net.wait_for([rid], timeout=timeout), \
        "honest gossip stopped\n" + net[0].log_tail(30) + "\n-----\n" + net[1].log_tail(30)


@pytest.mark.parametrize("mode", ["forged", "malformed", "oversized", "sync-garbage", "sync-forged",
                                  "sync-nested", "query-nested", "poison"])
def test_invalid_data_gets_the_sender_banned_and_nothing_stored(net, mode):
    before = net[0].status()["records"]
    seen = hostile(net[0].addr, mode)
    assert seen["sent"] == 1
    assert not seen["connected_after"] and not seen["readmitted"]
    deadline = time.monotonic() + 5      # the ban event follows the cut-off on the event stream
    while not (bans := [e for e in net[0].events_of("ban") if e["peer"] == seen["id"]]):
        assert time.monotonic() < deadline, net[0].events
        time.sleep(0.02)
    if mode.startswith(("sync", "query")):
        assert bans[0]["reason"].startswith(mode.split("-")[0] + ":"), bans
    if mode == "sync-forged":
        assert "signature" in bans[0]["reason"], bans
    assert net[0].status()["records"] == before         # nothing invalid stored
    assert net[1].status()["records"] == net[0].status()["records"]  # nor relayed
    _honest_gossip_still_works(net)


def test_a_flooding_peer_is_cut_off(fresh_net):
    net = fresh_net
    seen = hostile(net[0].addr, "flood", count=1000)
    assert not seen["connected_after"] and not seen["readmitted"]
    deadline = time.monotonic() + 10    # a loaded machine reports the ban a little later
    while not any(e["peer"] == seen["id"] for e in net[0].events_of("ban")):
        assert time.monotonic() < deadline, net[0].events
        time.sleep(0.05)
    # the flood leaves a backlog to drain on a 2-core machine running both nodes
    _honest_gossip_still_works(net, timeout=45)


def test_strangers_records_stop_at_the_quota(fresh_net):
    net = fresh_net
    seen = hostile(net[0].addr, "sybil", count=250)
    status = net[0].status()["sync"]
    assert status["quota_held"] <= status["quota_limit"] == 150
    assert status["intake"]["over_quota"] > 0
    assert net[0].status()["records"] <= 150 + 10     # the quota, plus the honest members' records
    _honest_gossip_still_works(net)


# what no honest node sends on a gossip stream: each costs its sender an offence
_BAD_MESHSUB = ("short", "garbage", "huge-varint", "bad-varint", "oversized")


def test_no_stream_on_any_protocol_kills_the_node(fresh_net):
    net = fresh_net
    seen = hostile(net[0].addr, "fuzz", timeout=180)
    assert net[0].is_running(), "the node died:\n" + net[0].log_tail(40)
    assert seen["sent"] >= 60 and len({c["protocol"] for c in seen["cases"]}) == 10
    wanted = {c["id"] for c in seen["cases"]
              if c["protocol"].startswith("/meshsub/") and c["case"] in _BAD_MESHSUB}
    deadline = time.monotonic() + 15
    while not wanted <= {e["peer"] for e in net[0].events_of("offence")}:
        assert time.monotonic() < deadline, (
            [c for c in seen["cases"] if c["id"] in wanted - {e["peer"] for e in net[0].events_of("offence")}])
        time.sleep(0.05)
    assert net[0].is_running() and net[1].is_running()
    _honest_gossip_still_works(net)
    _honest_gossip_still_works(net, reverse=True)
