"""Real node processes on this machine, driven through their control API.

For tests, ``trustmesh demo`` and the benchmarks: each node is a separate
``trustmesh node run`` process (one core per host, the way members run
them), commanded over its Unix socket exactly as the CLI is (``driven.py``).
``Cluster(..., node=InProcessNode)`` runs the same nodes as threads of the
calling process instead, where a process adds nothing but its start-up
time. Blocking API, so callers need no event loop::

    with Cluster(3) as net:
        rid = net[0].attest(net[2].id)
        assert net.wait_for([rid])
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from trustmesh.testing.driven import START_S, DrivenNode, NodeError
from trustmesh.testing.forked import ForkServer


def environment(extra: dict | None = None) -> dict:
    """The environment for a ``python -m trustmesh`` child: this checkout first on the path."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else ""), **(extra or {})}


def run_cli(home: str | os.PathLike | None, *args: str, timeout: float = 60.0, env: dict | None = None,
            stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """``trustmesh [--home HOME] ARGS`` as a user runs it; its completed process (text output)."""
    cmd = [sys.executable, "-m", "trustmesh"] + (["--home", str(home)] if home is not None else [])
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, timeout=timeout,
                          env=environment(env), input=stdin.decode() if stdin is not None else None, text=True)


class NodeProcess(DrivenNode):
    """One node process: start, call its API, watch its records, stop or kill."""

    def __init__(self, home: str | os.PathLike, *, wrap: list[str] | None = None, fork: bool = True,
                 **options) -> None:
        super().__init__(home, **options)
        self.wrap = list(wrap or [])        # e.g. ["ip", "netns", "exec", NS]: run the node inside a namespace
        self.fork = fork                    # from the fork server (forkserver.py) when it can; else exec
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = START_S) -> "NodeProcess":
        """Start the process and wait until its API answers; NodeError if it does not."""
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "api").unlink(missing_ok=True)
        argv = ["--home", str(self.home), "node", "run", "--listen", self.listen]
        for addr in self.bootstrap:
            argv += ["--bootstrap", addr]
        argv += self.args
        server = None if self.wrap or not self.fork else ForkServer.get(environment())
        if server is not None:
            self.proc = server.spawn(argv, environment(self.env), str(self.home / "node.log"))
        else:
            with open(self.home / "node.log", "ab") as log:
                self.proc = subprocess.Popen(self.wrap + [sys.executable, "-m", "trustmesh", *argv],
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                             env=environment(self.env))
        deadline = time.monotonic() + timeout
        while not (self.home / "api").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise NodeError(f"node in {self.home} did not start: {self.log_tail()}")
            time.sleep(0.02)
        self._attach(timeout)
        return self

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_mb(self) -> float:
        """The process's resident memory in MiB (Linux)."""
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used (Linux)."""
        fields = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait for a clean exit (kill after ``timeout``); the exit code."""
        self._close_http()
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        """SIGKILL: no chance to clean up (as a crash or kill -9)."""
        self._close_http()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class Cluster:
    """N node processes in temporary homes; a context manager that stops them all.

    "chain": node i bootstraps from node i-1 (peer exchange then meshes
    them); "star": every node bootstraps from node 0. ``env`` adds
    variables, e.g. ``{"TRUSTMESH_NET_DEFENCE_RECORDS_PER_S": "50"}``.
    """

    def __init__(self, n: int, *, root: str | os.PathLike | None = None, args: list[str] | None = None,
                 topology: str = "chain", env: dict | None = None, node: type[DrivenNode] = NodeProcess,
                 start_timeout: float = START_S) -> None:
        self._tmp = None if root else tempfile.TemporaryDirectory(prefix="trustmesh-cluster-")
        self.root = Path(root or self._tmp.name)
        self.n = n
        self.args = args or []
        self.topology = topology
        self.env = env
        self.kind = node
        self.start_timeout = start_timeout      # per node; a loaded machine needs more
        self.nodes: list[DrivenNode] = []

    def __enter__(self) -> "Cluster":
        try:
            self.nodes.append(self.kind(self.root / "node0", args=self.args, env=self.env).start(self.start_timeout))
            rest = [self.kind(self.root / f"node{i}", args=self.args, env=self.env) for i in range(1, self.n)]
            if self.topology == "chain":
                for i, node in enumerate(rest, start=1):
                    node.bootstrap = [self.nodes[i - 1].addr]
                    self.nodes.append(node.start(self.start_timeout))
            else:
                for node in rest:
                    node.bootstrap = [self.nodes[0].addr]
                start_all(rest, self.start_timeout)
                self.nodes.extend(rest)
            if self.n > 1:
                self.wait_connected()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def add(self, name: str, bootstrap: list[str] | None = None, args: list[str] | None = None,
            node: type[DrivenNode] | None = None) -> DrivenNode:
        """Start one more node in this cluster's directory (of the cluster's kind unless ``node``)."""
        started = (node or self.kind)(self.root / name, bootstrap=bootstrap, args=args or self.args,
                                      env=self.env).start()
        self.nodes.append(started)
        return started

    def __exit__(self, *exc) -> None:
        stop_all(self.nodes)
        if self._tmp is not None:
            self._tmp.cleanup()

    def __getitem__(self, i: int) -> DrivenNode:
        return self.nodes[i]

    def __iter__(self):
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def wait_connected(self, min_peers: int = 1, timeout: float = 20.0) -> None:
        """Wait until every node has ``min_peers`` connections; NodeError on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(len(n.peers()) >= min_peers for n in self.nodes):
                return
            time.sleep(0.1)
        raise NodeError("the cluster's nodes did not connect")

    def wait_for(self, record_ids, nodes=None, timeout: float = 20.0) -> bool:
        """Wait until every node (or ``nodes``) announced all ``record_ids``; False on timeout."""
        deadline = time.monotonic() + timeout
        nodes = nodes or self.nodes
        while time.monotonic() < deadline:
            if all(n.has(record_ids) for n in nodes):
                return True
            time.sleep(0.05)
        return False


def start_all(nodes: list[DrivenNode], timeout: float = START_S) -> None:
    """Start nodes side by side (each takes a second or more to import libp2p); the first error."""
    errors: list[BaseException] = []

    def boot(node: DrivenNode) -> None:
        try:
            node.start(timeout)
        except BaseException as exc:
            errors.append(exc)
    threads = [threading.Thread(target=boot, args=(node,)) for node in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def stop_all(nodes: list[DrivenNode], timeout: float = 15.0) -> None:
    """Stop nodes side by side (each may wait out its own shutdown)."""
    threads = [threading.Thread(target=node.stop, args=(timeout,)) for node in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
