"""Gossip between real nodes on loopback.

One test runs three node processes (gossip across processes, one core per
node, is what members run); the others run their nodes in this process
(``InProcessNode``).
"""

from __future__ import annotations

import time

from trustmesh.testing import Cluster, InProcessNode


def test_a_record_reaches_every_node(tmp_path):
    with Cluster(3, root=tmp_path) as net:
        rid = net[0].attest(net[2].id, "payment", True)
        assert net.wait_for([rid], timeout=15), [n.log_tail() for n in net]
        # and the other direction, from the end of the chain
        rid2 = net[2].profile("carol")
        assert net.wait_for([rid2], timeout=15)
        assert rid in net[1].ids() and rid2 in net[0].ids()


def test_a_burst_of_records_arrives_complete(tmp_path):
    with Cluster(2, root=tmp_path, node=InProcessNode) as net:
        subjects = [net[1].id] * 300
        ids = net[0].attest_many(subjects)
        assert len(set(ids)) == 300
        assert net.wait_for(ids, timeout=30), f"{len(net[1].records)} of 300 arrived"


def test_peer_exchange_meshes_a_chain(tmp_path):
    with Cluster(4, root=tmp_path, node=InProcessNode) as net:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if all(len(n.peers()) == 3 for n in net):
                break
            time.sleep(0.05)
        assert [len(n.peers()) for n in net] == [3, 3, 3, 3]
