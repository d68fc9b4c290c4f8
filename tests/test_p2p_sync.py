"""Catching up: late joiners, healed partitions, a node killed with kill -9."""

from __future__ import annotations

from tests.nodes import NodeProcess, nodes


def test_a_late_joiner_catches_up_by_sync(tmp_path):
    with nodes(2, tmp_path) as net:
        ids = net[0].call("attest-many", subjects=[net[1].id] * 50, timeout=60)
        ids.append(net[1].call("profile", name="bob"))
        assert net.wait_for(ids, timeout=20)
        late = net.add("late", bootstrap=[net[1].addr])
        assert net.wait_for(ids, nodes=[late], timeout=30), late.log_tail()
        assert set(ids) <= late.ids()


def test_a_partition_heals(tmp_path):
    with nodes(2, tmp_path) as net:
        a, b = net[0], net[1]
        b.stop()                                           # the partition
        made_by_a = a.call("attest-many", subjects=[b.id] * 20, timeout=60)
        b.restart()                                        # it keeps its own home and known peers
        made_by_b = b.call("profile", name="while apart")  # made right after it is back
        assert net.wait_for(made_by_a + [made_by_b], timeout=30), b.log_tail()


def test_a_node_killed_with_sigkill_restarts_and_catches_up(tmp_path):
    with nodes(3, tmp_path) as net:
        victim = net[2]
        before = net[0].call("profile", name="first")
        assert net.wait_for([before], timeout=15)
        victim.kill()                                      # kill -9: no clean shutdown
        missed = net[0].call("attest-many", subjects=[net[1].id] * 30, timeout=60)
        victim.restart()
        assert net.wait_for(missed, nodes=[victim], timeout=30), victim.log_tail()
        assert before in victim.ids()
        assert victim.call("status")["records"] == net[0].call("status")["records"]
