"""trustmesh.testing: the test kit the project's tests use, and apps embedding trustmesh can use.

As ``trio.testing`` ships trio's own doubles, this ships ours, all real parts:

- ``Cluster`` / ``NodeProcess``: N real node processes on 127.0.0.1, driven
  through their control API, watched through their event stream;
  ``run_cli`` runs the ``trustmesh`` command as a user would (a process);
- ``InProcessNode``: the same node on a thread of this process (the
  daemon's code, the same API), where a process adds nothing but start-up;
- ``invoke_cli``: the same command in this process (click's runner), for
  tests where a process adds nothing but its start-up time;
- ``hostile``: a deliberately misbehaving libp2p peer (forged, malformed,
  oversized, flooding…) run against a node, in a trio loop of its own;
- ``knock``: is this identity let in? Answered in a second, not a probe's 15 s;
- ``MemoryPeer`` / ``pump``: two sync or query sessions joined in memory,
  for protocol tests with no sockets (h11's tests/helpers.py);
- ``worlds``: synthetic reputation worlds and attacks for the trust model
  (``worlds_keys``: members rotating to a new key).
"""

from trustmesh.testing.clirun import CliResult, invoke_cli
from trustmesh.testing.cluster import Cluster, NodeError, NodeProcess, environment, run_cli
from trustmesh.testing.inprocess import InProcessNode
from trustmesh.testing.memsync import Link, MemoryPeer, finished, handle_sync_event, pump


def hostile(target: str, mode: str, count: int = 500, timeout: float = 60.0,
            seed: bytes | None = None, process: bool = False) -> dict | list[dict]:
    """Run the misbehaving peer (``testing/hostile.py``) against ``target``; what it saw.

    ``mode`` may list several modes, comma-separated (``"forged,flood:3000,fork:1:<seed hex>"``):
    they run at once, each as its own peer, and the answer is the list of their results.

    Its libp2p host never shares an event loop with the node under attack:
    it runs in a trio loop of its own, on a thread of this process, or in a
    process of its own with ``process=True`` (what a node on another
    machine would be; a thread costs no interpreter start). ``seed`` fixes
    its identity, so that a later run is the same peer.
    """
    if process:
        return _hostile_process(target, mode, count, timeout, seed)
    import trio
    peer = _peer()

    async def bounded() -> dict | list[dict]:
        with trio.fail_after(timeout):
            if "," in mode or ":" in mode:
                return await peer.many(target, mode.split(","), count, seed)
            return await peer.main(target, mode, count, seed)
    return _own_loop(bounded, f"hostile peer ({mode})", timeout)


def knock(target: str, seed: bytes | None = None, timeout: float = 20.0) -> dict:
    """Is the identity of ``seed`` let in by ``target``? ``{"id", "let_in", "cuts"}`` (``knock.py``).

    A second or less either way, where the hostile peer's ``probe`` waits 15 s
    to be turned away; run in a trio loop of its own, as ``hostile``.
    """
    from trustmesh.testing.knock import knock as dial
    return _own_loop(lambda: dial(target, seed, timeout), "knocking peer", timeout)


def _own_loop(async_fn, name: str, timeout: float):
    """``async_fn()`` run in a trio loop on a thread of its own (never the node's); its result."""
    import threading

    import trio
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["seen"] = trio.run(async_fn)
        except BaseException as exc:          # reported below, in the caller's thread
            outcome["error"] = exc
    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    thread.join(timeout + 15)
    if "seen" not in outcome:
        raise NodeError(f"{name} failed: {outcome.get('error', 'did not finish')!r}")
    return outcome["seen"]


def _peer():
    """The hostile peer's module. Importing its module rebinds this package's name ``hostile``
    (a submodule becomes an attribute of its package), so the function is put back."""
    import importlib
    peer = importlib.import_module("trustmesh.testing.hostile")
    globals()["hostile"] = _HOSTILE
    return peer


def _hostile_process(target: str, mode: str, count: int, timeout: float, seed: bytes | None) -> dict | list[dict]:
    import json
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "trustmesh.testing.hostile", "--target", target,
                          "--mode", mode, "--count", str(count)] + (["--seed", seed.hex()] if seed else []),
                         capture_output=True, timeout=timeout, env=environment())
    if out.returncode != 0:
        raise NodeError(f"hostile peer failed ({out.returncode}): {out.stderr.decode()[-2000:]}")
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


_HOSTILE = hostile

__all__ = ["Cluster", "NodeProcess", "InProcessNode", "NodeError", "environment", "run_cli", "invoke_cli", "CliResult", "hostile", "knock",
           "MemoryPeer", "Link", "pump", "finished", "handle_sync_event"]
