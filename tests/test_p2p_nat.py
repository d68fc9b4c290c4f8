"""Nodes behind real NATs: network namespaces, veth pairs and nftables masquerade (trustmesh/testing/natlab.py).

Root only (CI runs as root); skipped with the reason otherwise. Every
namespace, veth and process is removed at the end, also on failure, and
every wait polls a condition with a deadline.
"""

from __future__ import annotations

import json
import time

import pytest

from trustmesh.testing import NodeProcess, natlab, run_cli
from trustmesh.testing.cluster import start_all


@pytest.fixture
def make_lab():
    """``make_lab(("eim", "symmetric"))``: a built lab, always torn down whole."""
    why = natlab.missing()
    if why:
        pytest.skip(why)
    labs = []

    def make(nats=("eim", "eim")):
        lab = natlab.NatLab(nats)
        labs.append(lab)
        lab.build()
        return lab
    try:
        yield make
    finally:
        for lab in labs:
            lab.close()
            assert natlab.leftovers(lab.prefix) == []


def test_a_home_reaches_the_public_side_and_nothing_reaches_a_home(make_lab):
    lab = make_lab(("eim", "symmetric"))
    public = lab.listener("pub", 5000)
    home = lab.listener("h1", 5001)
    try:
        assert lab.can_connect("h1", natlab.PUBLIC_IP, 5000)
        assert lab.can_connect("h2", natlab.PUBLIC_IP, 5000)
        assert not lab.can_connect("pub", lab.home_ip(1), 5001, timeout=0.5)    # no route to a home
        assert not lab.can_connect("pub", lab.wan_ip(1), 5001, timeout=0.5)     # the router drops it
        assert not lab.can_connect("h2", lab.wan_ip(1), 5001, timeout=0.5)
    finally:
        public.kill()
        home.kill()


# ---- nodes in the lab ------------------------------------------------------------

def _wait(what: str, condition, timeout: float, nodes=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    logs = "\n".join(f"--- {n.home.name}\n{n.log_tail(15)}" for n in nodes)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def _start(nodes):
    start_all(nodes, timeout=60)


@pytest.fixture
def world(make_lab, tmp_path):
    """``world(nats, relays=1, relay_envs=[…], home_env=…)``: relays in the public namespace, a node in each home."""
    started = []

    def make(nats=("eim", "eim"), relays=1, relay_envs=(), home_env=None):
        lab = make_lab(nats)
        relay_nodes = [NodeProcess(tmp_path / f"relay{i}", listen=f"/ip4/{natlab.PUBLIC_IP}/tcp/{4001 + i}",
                                   args=["--relay"], env=(list(relay_envs) + [None] * relays)[i],
                                   wrap=lab.exec_prefix("pub"))
                       for i in range(relays)]
        started.extend(relay_nodes)
        _start(relay_nodes)
        env = dict(home_env or {})
        env.setdefault("TRUSTMESH_NAT_RELAYS", ",".join(r.addr for r in relay_nodes))
        homes = [NodeProcess(tmp_path / f"home{i}", listen=f"/ip4/{lab.home_ip(i)}/tcp/4001",
                             bootstrap=[relay_nodes[0].addr], args=["--auto-accept", "always"], env=env,
                             wrap=lab.exec_prefix(f"h{i}")) for i in range(1, len(nats) + 1)]
        started.extend(homes)
        _start(homes)
        return lab, relay_nodes, homes
    try:
        yield make
    finally:
        for node in started:
            node.stop(timeout=5)


def _reach(node) -> dict:
    return node.api("GET", "/v1/status")["reach"]


def _link(node, other) -> dict | None:
    return next((p for p in node.peers() if p["id"] == other.id), None)


def test_homes_behind_nat_find_each_other_by_id_through_relays_and_punch_where_the_nat_allows(world):
    # homes 1 and 2 behind endpoint-independent NATs, home 3 behind a symmetric one; relay "full"
    # has one slot, "spare" plenty; each home holds one slot, asking full first (nat.relays order)
    lab, (full, spare), (h1, h2, h3) = world(
        ("eim", "eim", "symmetric"), relays=2, relay_envs=[{"TRUSTMESH_NAT_RELAY_MAX_RESERVATIONS": "1"}],
        home_env={"TRUSTMESH_NAT_MAX_RESERVATIONS": "1"})
    homes = (h1, h2, h3)
    _wait("every home behind NAT with a relay slot", lambda: all(
        _reach(h)["reachability"] == "private" and len(_reach(h)["relays"]) == 1 for h in homes), 40, homes)
    assert _reach(full)["reachability"] == "public" and _reach(full)["dht"] == "server"
    assert _reach(h1)["dht"] == "client"
    holders = [h for h in homes if _reach(h)["relays"] == [full.id]]
    assert len(holders) == 1                                     # full's one slot
    for other in (h for h in homes if h is not holders[0]):      # the others were refused there, cleanly
        assert _reach(other)["relays"] == [spare.id]
        assert _reach(other)["refused"].get(full.id) == "RESOURCE_LIMIT_EXCEEDED"
    relay_of = {h.id: (full if h is holders[0] else spare) for h in homes}
    circuit = _reach(h2)["relayed_addrs"][0]
    assert circuit == f"{relay_of[h2.id].addr}/p2p-circuit/p2p/{h2.id}"
    assert f"behind NAT, reachable through relay {_reach(h1)['relayed_addrs'][0]}" in run_cli(h1.home, "status").stdout

    # EIM: h1 knows h2 by id only; the DHT (the relays are servers) gives its addresses, the circuit works
    assert h1.connect(h2.id) == h2.id
    # symmetric: h3 reaches h1 by id the same way
    assert h3.connect(h1.id) == h1.id
    # records both ways, by gossip and by sync; deals proposed by id
    r1, r2, r3 = h1.attest(h2.id), h2.attest(h1.id), h3.attest(h1.id)
    _wait("each other's records", lambda: h1.has([r2, r3]) and h2.has([r1]) and h3.has([r1]), 15, homes)
    _wait("a sync between h1 and h2", lambda: any(s.get("peer") == h2.id for s in h1.sync()), 10, homes)
    assert h2.deal(h1.id)["status"] == "accepted"
    assert h3.deal(h1.id)["status"] == "accepted"
    assert h1.ask(h2.id)
    # the endpoint-independent NATs let DCUtR open a direct connection ...
    # (bench/nat.py: 10/10, median 0.39 s, max 1.01 s: net/reach/punch.py)
    _wait("a direct connection h1-h2", lambda: (_link(h1, h2) or {}).get("relayed") is False, 10, (h1, h2))

    # ... the symmetric one defeats the punch, and the relay carries on
    def punched_and_failed(node, other):
        tried = _reach(node)["punches"].get(other.id)
        return tried is not None and tried["attempts"] >= 1 and not tried["running"]
    _wait("a hole punch h1-h3 to be tried and fail",
          lambda: punched_and_failed(h1, h3) or punched_and_failed(h3, h1), 30, (h1, h3))
    assert (_link(h3, h1) or {}).get("relayed") is True
    _wait("a sync h3-h1 over the relay", lambda: any(s.get("peer") == h1.id for s in h3.sync()), 10, (h1, h3))
    assert h3.deal(h1.id, ref="again")["status"] == "accepted"

    # the relay holding a slot goes away: its holder reserves on the other
    holder = holders[0]
    full.stop()
    _wait("a slot on the other relay", lambda: _reach(holder)["relays"] == [spare.id], 20, (holder, spare))
    assert f"{spare.addr}/p2p-circuit/p2p/{holder.id}" in _reach(holder)["relayed_addrs"]

    # h2 is remembered with a relayed address (redialled through its relay after a restart)
    h1.stop()
    remembered = json.loads((h1.home / "peers.json").read_text())["peers"][h2.id]["addrs"]
    assert any("/p2p-circuit/p2p/" + h2.id in a for a in remembered), remembered
