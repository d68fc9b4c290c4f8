"""A peer gets bounded patience: no slow-loris frame, one inbound sync session at a time (node and peer in this process)."""

from __future__ import annotations

import pytest

from trustmesh.testing import InProcessNode, hostile

IDLE_S = 3.0        # the sync idle timeout for these tests (default 20 s)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = InProcessNode(tmp_path_factory.mktemp("patience") / "n",
                    env={"TRUSTMESH_NET_SYNC_IDLE_TIMEOUT_S": str(IDLE_S)}).start()
    yield n
    n.stop()


def test_a_frame_fed_one_byte_a_second_is_cut_at_the_idle_timeout(node):
    seen = hostile(node.addr, "slow-loris", count=30)
    # it never goes quiet for IDLE_S, but its frame is not whole IDLE_S after its first byte
    assert seen["held_s"] <= IDLE_S + 2, seen
    assert seen["connected_after"]              # a slow link is no offence


def test_one_inbound_sync_session_per_peer(node):
    seen = hostile(node.addr, "sync-parallel", count=32)
    assert seen["held"] <= 2, seen      # the session, and one stream waiting for it to end
    assert seen["connected_after"]
    assert node.is_running()
