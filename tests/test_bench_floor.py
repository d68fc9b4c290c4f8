"""``bench/floor_node.py``: the network side alone, as ``bench/network.py --floor`` runs it.

Two real processes on loopback. What the floor's figures rest on: records
published on one reach the other by gossip, each seen once, with the time
it was first seen on the machine's shared monotonic clock.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from trustmesh.crypto.keys import Identity
from trustmesh.protocol.records import record_id
from trustmesh.testing.records import attestation_chain

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from floor_node import FloorProcess  # noqa: E402


def _until(condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_records_published_on_one_floor_process_reach_the_other(tmp_path):
    a = FloorProcess(tmp_path / "a", [], {})
    b = None
    try:
        b = FloorProcess(tmp_path / "b", [a.addr], {})
        _until(lambda: a.counts()[1] >= 1 and b.counts()[1] >= 1)
        probes = iter(attestation_chain(Identity.generate(), [Identity.generate().public_key], 100))
        deadline = time.monotonic() + 30
        while b.counts()[0] == 0:                    # the mesh is up once a probe arrives
            assert time.monotonic() < deadline
            a.publish(next(probes))
            time.sleep(0.3)
        raws = attestation_chain(Identity.generate(), [Identity.generate().public_key], 30)
        started, probed = time.monotonic(), b.counts()[0]
        for raw in raws:
            a.publish(raw)
        _until(lambda: b.counts()[0] >= probed + len(raws))
        seen = b.times()
        wanted = {record_id(raw).hex() for raw in raws}
        assert wanted <= set(seen)
        assert all(started <= seen[rid] <= time.monotonic() for rid in wanted)
        assert b.counts()[1] == 1
    finally:
        for p in (a, b):
            if p is not None:
                p.stop()
        assert a.proc.poll() is not None
