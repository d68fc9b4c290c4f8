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


def nodes(n: int, tmp_path, *, topology: str = "chain", args: list[str] | None = None,
          env: dict | None = None) -> Cluster:
    """A cluster of ``n`` connected node processes in ``tmp_path`` (a context manager).

    "chain": node i bootstraps from node i-1 (peer exchange then meshes
    them); "star": every node bootstraps from node 0. ``env`` adds
    variables, e.g. ``{"TRUSTMESH_NET_DEFENCE_RECORDS_PER_S": "50"}``.
    """
    return Cluster(n, root=str(tmp_path), topology=topology, args=args, env=env)


def hostile(target: str, mode: str, count: int = 500, timeout: float = 60.0,
            seed: bytes | None = None) -> dict:
    """Run the misbehaving peer against ``target``; what it saw (see p2p/hostile.py).

    ``seed`` fixes its identity, so that a later run is the same peer.
    """
    import json
    import subprocess
    import sys

    from trustmesh.node.cluster import _env
    out = subprocess.run([sys.executable, "-m", "trustmesh.node.p2p.hostile", "--target", target,
                          "--mode", mode, "--count", str(count)] + (["--seed", seed.hex()] if seed else []),
                         capture_output=True, timeout=timeout, env=_env())
    if out.returncode != 0:
        raise AssertionError(f"hostile peer failed ({out.returncode}): {out.stderr.decode()[-2000:]}")
    return json.loads(out.stdout.decode().strip().splitlines()[-1])
