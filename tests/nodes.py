"""Real node processes on 127.0.0.1 for integration tests, in three lines::

    with nodes(3, tmp_path) as net:
        rid = net[0].call("attest", subject=net[2].id)
        assert net.wait_for([rid])

Each node is a separate ``trustmesh node run --driven`` process (see
trustmesh/node/cluster.py); leaving the block stops them all (SIGTERM, then
SIGKILL), so a failing test never leaves processes behind.
"""

from __future__ import annotations

from trustmesh.node.cluster import Cluster, NodeProcess

__all__ = ["nodes", "Cluster", "NodeProcess"]


def nodes(n: int, tmp_path, *, topology: str = "chain", args: list[str] | None = None) -> Cluster:
    """A cluster of ``n`` connected node processes in ``tmp_path`` (a context manager).

    "chain": node i bootstraps from node i-1 (peer exchange then meshes
    them); "star": every node bootstraps from node 0.
    """
    return Cluster(n, root=str(tmp_path), topology=topology, args=args)
