"""trustmesh.testing: the test kit the project's tests use, and apps embedding trustmesh can use.

As ``trio.testing`` ships trio's own doubles, this ships ours, all real parts:

- ``Cluster`` / ``NodeProcess``: N real node processes on 127.0.0.1, driven
  through their control API, watched through their event stream;
  ``run_cli`` runs the ``trustmesh`` command as a user would;
- ``hostile``: a deliberately misbehaving libp2p peer (forged, malformed,
  oversized, flooding…) run against a node;
- ``MemoryPeer`` / ``pump``: two sync or query sessions joined in memory,
  for protocol tests with no sockets (h11's tests/helpers.py);
- ``worlds``: synthetic reputation worlds and attacks for the trust model.
"""

from trustmesh.testing.cluster import Cluster, NodeError, NodeProcess, environment, run_cli
from trustmesh.testing.memsync import Link, MemoryPeer, finished, handle_sync_event, pump


def hostile(target: str, mode: str, count: int = 500, timeout: float = 60.0,
            seed: bytes | None = None) -> dict | list[dict]:
    """Run the misbehaving peer (``testing/hostile.py``) against ``target``; what it saw.

    ``mode`` may list several modes, comma-separated (``"forged,flood:3000,fork:1:<seed hex>"``):
    they run at once, each as its own peer, and the answer is the list of their results.

    A separate process, so its libp2p host and the node under attack never
    share an event loop. ``seed`` fixes its identity, so that a later run is
    the same peer.
    """
    import json
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "trustmesh.testing.hostile", "--target", target,
                          "--mode", mode, "--count", str(count)] + (["--seed", seed.hex()] if seed else []),
                         capture_output=True, timeout=timeout, env=environment())
    if out.returncode != 0:
        raise NodeError(f"hostile peer failed ({out.returncode}): {out.stderr.decode()[-2000:]}")
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


__all__ = ["Cluster", "NodeProcess", "NodeError", "environment", "run_cli", "hostile",
           "MemoryPeer", "Link", "pump", "finished", "handle_sync_event"]
