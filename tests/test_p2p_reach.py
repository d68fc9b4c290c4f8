"""The NAT side (net/reach/) without a NAT: its rules, and AutoNAT + the DHT on loopback.

The real NATs are in test_p2p_nat.py (root only).
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import replace

import trio
from multiaddr import Multiaddr

import trustmesh
from trustmesh.cli.network_cmds import describe_reach
from trustmesh.net.config import DiscoveryConfig, NetConfig, SyncConfig
from trustmesh.net.reach import circuit_of
from trustmesh.net.reach.autonat import PRIVATE, PUBLIC, UNKNOWN, ProbeServer, decide

RELAY = "12D3KooWG5Np3R1EA2FZzYohfoYQdSEeRQeJC71MEHvmTQjF1meu"
HOME = "12D3KooWHjGrGKeUPg6x6YcoE5EMUSTtME2C4Yf5sXHZQqAe2h9v"


def test_the_verdict_is_the_majority_of_the_last_answers_with_enough_agreeing():
    assert decide({}, 1, UNKNOWN) == UNKNOWN
    assert decide({"a": True}, 1, UNKNOWN) == PUBLIC
    assert decide({"a": False}, 1, PUBLIC) == PRIVATE
    assert decide({"a": True, "b": False}, 1, PRIVATE) == PRIVATE          # a tie changes nothing
    assert decide({"a": True, "b": False, "c": False}, 1, PUBLIC) == PRIVATE
    assert decide({"a": True}, 2, UNKNOWN) == UNKNOWN                      # not enough agree


def test_the_autonat_server_dials_only_the_observed_ip_at_the_advertised_ports():
    advertised = [Multiaddr(a).to_bytes() for a in (
        "/ip4/10.0.1.2/tcp/4001", "/ip4/0.0.0.0/tcp/4001", "/ip4/192.168.1.9/tcp/4002",
        f"/ip4/198.51.100.2/tcp/4001/p2p/{RELAY}/p2p-circuit")]
    dialled = [str(Multiaddr(a)) for a in ProbeServer._filter_by_observed_ip(advertised, "203.0.113.7")]
    assert dialled == ["/ip4/203.0.113.7/tcp/4001", "/ip4/203.0.113.7/tcp/4002"]
    assert ProbeServer._filter_by_observed_ip(advertised, None) == []
    many = [Multiaddr(f"/ip4/10.0.0.1/tcp/{p}").to_bytes() for p in range(1000, 1100)]
    assert len(ProbeServer._filter_by_observed_ip(many, "203.0.113.7")) <= 16       # bounded work


def test_a_circuit_address_names_its_relay_and_its_target():
    relay, target = circuit_of(f"/ip4/198.51.100.2/tcp/4001/p2p/{RELAY}/p2p-circuit/p2p/{HOME}")
    assert (relay.to_base58(), target.to_base58()) == (RELAY, HOME)
    assert circuit_of(f"/ip4/198.51.100.2/tcp/4001/p2p/{RELAY}") is None
    assert circuit_of("/p2p-circuit/p2p/nonsense") is None


def test_status_says_where_the_node_is_reachable():
    assert describe_reach({"reachability": "public", "reached_at": "/ip4/203.0.113.7/tcp/4001"}) == \
        "reachable at /ip4/203.0.113.7/tcp/4001"
    circuit = f"/ip4/198.51.100.2/tcp/4001/p2p/{RELAY}/p2p-circuit/p2p/{HOME}"
    assert describe_reach({"reachability": "private", "relayed_addrs": [circuit]}) == \
        f"behind NAT, reachable through relay {circuit}"
    assert describe_reach({"reachability": "private"}) == "behind NAT, no relay reservation yet"
    assert describe_reach({}).startswith("not known yet")


async def test_on_loopback_nodes_are_reachable_serve_the_dht_and_a_member_is_dialled_by_id(tmp_path):
    # one peer each (no peer exchange dialling): b and c know only the hub
    config = NetConfig(sync=SyncConfig(on_connect=False, interval_s=3600),
                       discovery=replace(DiscoveryConfig(), target_peers=1))
    async with AsyncExitStack() as stack:
        hub, b, c = [await stack.enter_async_context(trustmesh.open_node(
            tmp_path / name, listen=["/ip4/127.0.0.1/tcp/0"], config=config)) for name in ("hub", "b", "c")]
        await b.connect(hub.addrs()[0])
        await c.connect(hub.addrs()[0])
        with trio.fail_after(30):
            while not all(n.net.reachability()["dht"] == "server" for n in (hub, b, c)):
                await trio.sleep(0.2)
        status = (await hub.status())["reach"]
        assert status["reachability"] == "public" and status["reached_at"].startswith("/ip4/127.0.0.1/tcp/")
        assert status["relays"] == [] and not status["relay_service"]        # serving is off by default
        assert not [p for p in b.peers() if p["id"] == c.id]
        assert await b.connect(c.id) == c.id                               # by id alone, through the hub's DHT
        assert [p for p in b.peers() if p["id"] == c.id and not p["relayed"]]
