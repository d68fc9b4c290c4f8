"""Nodes behind real NATs: network namespaces, veth pairs and nftables masquerade (trustmesh/testing/natlab.py).

Root only (CI runs as root); skipped with the reason otherwise. Every
namespace, veth and process is removed at the end, also on failure, and
every wait polls a condition with a deadline.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from trustmesh.testing import NodeProcess, natlab, run_cli


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
    """Start node processes side by side (each takes a second or more to import libp2p)."""
    errors = []

    def boot(node):
        try:
            node.start(timeout=60)
        except BaseException as exc:
            errors.append(exc)
    threads = [threading.Thread(target=boot, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


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
                             wrap=lab.exec_prefix(f"h{i}")) for i in (1, 2)]
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


def _behind_nat(homes, relay):
    _wait("both homes behind NAT with a relay slot", lambda: all(
        _reach(h)["reachability"] == "private" and _reach(h)["relays"] == [relay.id] for h in homes), 30, homes)


def test_two_homes_find_each_other_by_id_talk_through_the_relay_and_punch_through_eim_nats(world):
    lab, (relay,), (h1, h2) = world(("eim", "eim"))
    _behind_nat((h1, h2), relay)
    assert _reach(relay)["reachability"] == "public" and _reach(relay)["dht"] == "server"
    assert _reach(h1)["dht"] == "client"
    circuit = _reach(h2)["relayed_addrs"][0]
    assert circuit == f"{relay.addr}/p2p-circuit/p2p/{h2.id}"
    out = run_cli(h1.home, "status")
    assert f"behind NAT, reachable through relay {_reach(h1)['relayed_addrs'][0]}" in out.stdout
    # h1 knows h2 by id only: the DHT (the relay, a server) gives its addresses, the circuit works
    assert h1.connect(h2.id) == h2.id
    assert _link(h1, h2) is not None
    # records both ways, by gossip and by sync, over the connection between them
    r1, r2 = h1.attest(h2.id), h2.attest(h1.id)
    _wait("each other's records", lambda: h1.has([r2]) and h2.has([r1]), 15, (h1, h2))
    _wait("a sync between them", lambda: any(s.get("peer") == h2.id for s in h1.sync()), 10, (h1, h2))
    # a deal, proposed by id
    answer = h2.deal(h1.id)
    assert answer["status"] == "accepted", answer
    # the endpoint-independent NATs let DCUtR open a direct connection
    _wait("a direct connection", lambda: (_link(h1, h2) or {}).get("relayed") is False, 15, (h1, h2))
    assert h1.ask(h2.id)
    # h2 is remembered with its relayed address (redialled through the relay after a restart)
    h1.stop()
    remembered = json.loads((h1.home / "peers.json").read_text())["peers"][h2.id]["addrs"]
    assert circuit in remembered, remembered


def test_a_symmetric_nat_defeats_the_punch_and_the_relay_carries_on(world):
    lab, (relay,), (h1, h2) = world(("eim", "symmetric"))
    _behind_nat((h1, h2), relay)
    assert h2.connect(h1.id) == h1.id
    link = _link(h2, h1)
    assert link is not None and link["relayed"]
    r1 = h1.attest(h2.id)
    _wait("the record", lambda: h2.has([r1]), 15, (h1, h2))
    assert h2.deal(h1.id)["status"] == "accepted"

    def punched_and_failed(node, other):
        tried = _reach(node)["punches"].get(other.id)
        return tried is not None and tried["attempts"] >= 1 and not tried["running"]
    _wait("a hole punch to be tried and fail", lambda: punched_and_failed(h1, h2) or punched_and_failed(h2, h1),
          30, (h1, h2))
    link = _link(h2, h1)
    assert link is not None and link["relayed"]
    _wait("a sync over the relay", lambda: any(s.get("peer") == h1.id for s in h2.sync()), 10, (h1, h2))


def test_a_full_relay_refuses_cleanly_and_a_node_whose_relay_goes_away_reserves_on_another(world):
    lab, (full, spare), (h1, h2) = world(
        ("eim", "eim"), relays=2, relay_envs=[{"TRUSTMESH_NAT_RELAY_MAX_RESERVATIONS": "1"}],
        home_env={"TRUSTMESH_NAT_MAX_RESERVATIONS": "1"})
    # both homes list [full, spare]; the first to ask gets full's one slot, the other is refused there
    _wait("one slot each", lambda: sorted(_reach(h)["relays"][0] for h in (h1, h2) if _reach(h)["relays"])
          == sorted([full.id, spare.id]), 30, (h1, h2, full))
    first, second = (h1, h2) if _reach(h1)["relays"] == [full.id] else (h2, h1)
    assert _reach(second)["refused"].get(full.id) == "RESOURCE_LIMIT_EXCEEDED"
    assert full.status()["reach"]["reachability"] == "public"          # the relay itself is fine
    full.stop()
    _wait("a slot on the other relay", lambda: _reach(first)["relays"] == [spare.id], 20, (first, spare))
    assert f"{spare.addr}/p2p-circuit/p2p/{first.id}" in _reach(first)["relayed_addrs"]
