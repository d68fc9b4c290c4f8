"""Two groups of three nodes, each making records while cut off; one link back, one record set.

Each group is a Cluster of its own (no address of the other group, no
mDNS), so nothing crosses until the test dials one link: b0 -> a0. Within
30 s all six nodes must hold the same set of record ids (compared as sets,
not counts), which takes the sync on connect (gossip does not replay what
was made before the link) and gossip/sync relaying it on through each group.
The nodes run in this process (``InProcessNode``): what is tested is the
protocols between them, over real loopback connections, not six processes.
"""

from __future__ import annotations

import time

from trustmesh.crypto.keys import Identity
from trustmesh.testing import Cluster, InProcessNode
from trustmesh.testing.records import attestation_chain



def test_two_partitions_converge_within_30_s_of_one_link(tmp_path):
    with Cluster(3, root=tmp_path / "a", node=InProcessNode, start_timeout=90) as ga, \
            Cluster(3, root=tmp_path / "b", node=InProcessNode, start_timeout=90) as gb:
        subjects = [Identity.generate().public_key for _ in range(10)]
        for group in (ga, gb):                  # each side works alone: live records and an import
            for node in group:
                for s in subjects[:5]:
                    node.attest(Identity.generate().id)
            group[1].import_raws(attestation_chain(Identity.generate(), subjects, 300))
        for group in (ga, gb):
            made = set().union(*(n.ids() for n in group))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and any(n.ids() != made for n in group):
                time.sleep(0.3)
            assert all(n.ids() == made for n in group), "a group did not agree within itself"
        side_a, side_b = ga[0].ids(), gb[0].ids()
        assert side_a and side_b and not (side_a & side_b)      # really apart: nothing shared yet
        everyone = list(ga) + list(gb)
        started = time.monotonic()
        gb[0].connect(ga[0].addr)               # one link comes back
        union = side_a | side_b
        while time.monotonic() - started < 30 and any(n.ids() != union for n in everyone):
            time.sleep(0.2)
        took = time.monotonic() - started
        sets = [n.ids() for n in everyone]
        print(f"\npartition: {len(side_a)} + {len(side_b)} records; all six identical after {took:.1f} s")
        assert all(s == union for s in sets), [len(union - s) for s in sets]
