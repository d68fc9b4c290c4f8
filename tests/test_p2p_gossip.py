"""Gossip between real node processes on loopback."""

from __future__ import annotations

import time

from tests.nodes import nodes


def test_a_record_reaches_every_node(tmp_path):
    with nodes(3, tmp_path) as net:
        rid = net[0].call("attest", subject=net[2].id, facet="payment", positive=True)
        assert net.wait_for([rid], timeout=15), [n.log_tail() for n in net]
        # and the other direction, from the end of the chain
        rid2 = net[2].call("profile", name="carol")
        assert net.wait_for([rid2], timeout=15)
        assert rid in net[1].ids() and rid2 in net[0].ids()


def test_a_burst_of_records_arrives_complete(tmp_path):
    with nodes(2, tmp_path) as net:
        subjects = [net[1].id] * 300
        ids = net[0].call("attest-many", subjects=subjects, timeout=60)
        assert len(set(ids)) == 300
        assert net.wait_for(ids, timeout=30), f"{len(net[1].records)} of 300 arrived"


def test_peer_exchange_meshes_a_chain(tmp_path):
    with nodes(4, tmp_path) as net:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if all(len(n.call("peers")) == 3 for n in net):
                break
            time.sleep(0.2)
        assert [len(n.call("peers")) for n in net] == [3, 3, 3, 3]
