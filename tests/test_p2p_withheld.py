"""Records refused over the strangers' quota are not offered again in every sync, and come once room does.

Two real nodes on loopback (``InProcessNode``). S holds records by 20 fresh
identities (imported by its owner, so S keeps them all); R, which S dialled
(so S is not a peer R's owner chose), stores strangers' records at 20 an
hour. Sync on connect and periodic sync are off: the test opens every sync
itself and counts what R received in each (each of those records is decoded
and refused). With sync on connect, that first session could race the gossip
and refuse the same records a second time: the intake's ``over_quota`` counts
refusals, not records, so the test counts records by the ids withheld.
"""

from __future__ import annotations

import time

from trustmesh.crypto.ids import peer_id
from trustmesh.crypto.keys import Identity
from trustmesh.testing import Cluster, InProcessNode
from trustmesh.testing.records import attestation_chain

HOLD_S = 12.0
ENV = {"TRUSTMESH_NET_SYNC_ON_CONNECT": "false", "TRUSTMESH_NET_DEFENCE_UNWEIGHTED_PER_HOUR": "20", "TRUSTMESH_NET_DEFENCE_REACH_REFRESH_S": "0.2",
       "TRUSTMESH_NET_SYNC_INTERVAL_S": "3600", "TRUSTMESH_NET_DEFENCE_OVER_QUOTA_HOLD_S": str(HOLD_S)}


def _received(node) -> int:
    """Records received from peers in one sync round opened by ``node``."""
    return sum(s["received"] for s in node.sync())


def _sent_to(node) -> int:
    """Records the peers pushed to ``node`` in one round the peers opened (what it received)."""
    return sum(s["sent"] for s in node.sync())


def test_refused_records_are_withheld_for_a_while_then_come_once_room_does(tmp_path):
    with Cluster(2, root=tmp_path, env=ENV, node=InProcessNode) as net:
        receiver, sender = net[0], net[1]            # net[1] dialled net[0]: net[0] never chose it
        net.wait_connected()
        authors = [Identity.generate() for _ in range(20)]
        subjects = [a.public_key for a in authors]
        raws = [raw for a in authors for raw in attestation_chain(a, subjects, 10)]
        sender.import_raws(raws)                     # gossiped to the receiver, most refused
        deadline = time.monotonic() + 30
        while receiver.status()["sync"]["withheld"] < len(raws) - 20:
            assert time.monotonic() < deadline, receiver.status()["sync"]
            time.sleep(0.1)
        refused = receiver.status()["sync"]["withheld"]              # records, each refused once
        assert receiver.status()["sync"]["intake"]["over_quota"] == refused
        held = receiver.status()["records"]

        # within the hold: sync after sync, from either side, carries none of them again
        started = time.monotonic()
        rounds = [_received(receiver), _sent_to(sender), _received(receiver), _sent_to(sender)]
        assert time.monotonic() - started < HOLD_S, "the machine is too slow for this hold"
        assert rounds == [0, 0, 0, 0]
        assert receiver.status()["sync"]["intake"]["over_quota"] == refused

        # the hold ends: one sync offers them again (still no room: refused again), then none
        while time.monotonic() - started < HOLD_S + 1:
            time.sleep(0.2)
        again = _received(receiver)
        assert again >= refused - 1                  # the hourly room refilled by one at most
        assert _received(receiver) == 0
        assert receiver.status()["records"] <= held + 1

        # room comes: the receiver's owner vouches for the authors; the next sync brings everything
        for author in authors:
            receiver.attest(peer_id(author.public_key), "delivery")
        deadline = time.monotonic() + 30
        while not all(receiver.weight(peer_id(a.public_key)) > 0 for a in authors):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        wanted = {r.hex() for r in map(_id, raws)}
        deadline = time.monotonic() + 30
        while not wanted <= receiver.ids():
            assert time.monotonic() < deadline, len(wanted - receiver.ids())
            _received(receiver)
            time.sleep(0.3)


def test_a_peer_the_owner_chose_still_brings_what_a_stranger_peer_could_not(tmp_path):
    """Withheld only toward peers the quota holds back: one the owner chose syncs on the held ids."""
    with Cluster(2, root=tmp_path, env=ENV, node=InProcessNode) as net:
        receiver, sender = net[0], net[1]
        net.wait_connected()
        authors = [Identity.generate() for _ in range(5)]
        raws = [raw for a in authors for raw in attestation_chain(a, [x.public_key for x in authors], 10)]
        sender.import_raws(raws)
        deadline = time.monotonic() + 30
        while receiver.status()["sync"]["intake"]["over_quota"] < len(raws) - 20:
            assert time.monotonic() < deadline, receiver.status()["sync"]
            time.sleep(0.1)
        assert _received(receiver) == 0
        receiver.connect(sender.addr)                # now a peer the owner chose: only the total applies
        wanted = {r.hex() for r in map(_id, raws)}
        deadline = time.monotonic() + 30
        while not wanted <= receiver.ids():
            assert time.monotonic() < deadline, len(wanted - receiver.ids())
            _received(receiver)
            time.sleep(0.3)


def _id(raw: bytes) -> bytes:
    from trustmesh.protocol.records import record_id
    return record_id(raw)
