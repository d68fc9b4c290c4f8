"""Real node processes on this machine, driven over their stdin/stdout.

Used by the tests, ``trustmesh demo`` and ``bench/network.py``: each node
is a separate ``trustmesh node run --driven`` process (one core per host,
the way members run them), commanded with JSON lines. Blocking API with
threads reading each process's output, so callers need no event loop.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


class NodeProcess:
    """One node process: start, command, watch its records, stop or kill."""

    def __init__(self, home: str | os.PathLike, *, listen: str = "/ip4/127.0.0.1/tcp/0",
                 bootstrap: list[str] | None = None, args: list[str] | None = None,
                 env: dict | None = None) -> None:
        self.home = Path(home)
        self.listen = listen
        self.bootstrap = list(bootstrap or [])
        self.args = list(args or [])
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.id: str | None = None
        self.addrs: list[str] = []
        self.records: dict[str, float] = {}     # record id (hex) -> when this node got it
        self.events: list[dict] = []
        self._ready = threading.Event()
        self._replies: dict[str, queue.Queue] = {}
        self._tags = itertools.count()
        self._lock = threading.Lock()

    @property
    def addr(self) -> str:
        """The node's first dialable address."""
        return self.addrs[0]

    def start(self, timeout: float = 30.0) -> "NodeProcess":
        """Start the process and wait until it listens; RuntimeError if it does not."""
        self.home.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "trustmesh", "--home", str(self.home), "node", "run",
               "--driven", "--listen", self.listen]
        for addr in self.bootstrap:
            cmd += ["--bootstrap", addr]
        cmd += self.args
        self._ready.clear()
        log = open(self.home / "node.log", "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=log, env={**_env(), **(self.env or {})})
        log.close()
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        if not self._ready.wait(timeout):
            self.kill()
            raise RuntimeError(f"node in {self.home} did not start: {self.log_tail()}")
        return self

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            event = msg.get("event")
            if event == "record":
                with self._lock:
                    self.records.setdefault(msg["id"], msg["t"])
            elif event == "ready":
                self.id, self.addrs = msg["id"], msg["addrs"]
                self._ready.set()
            elif event:
                with self._lock:
                    self.events.append(msg)
            elif msg.get("tag") is not None:
                self._replies.setdefault(msg["tag"], queue.Queue()).put(msg)

    def send(self, op: str, **args) -> str:
        """Start a command without waiting; its tag, for ``result``."""
        tag = str(next(self._tags))
        self._replies.setdefault(tag, queue.Queue())
        self.proc.stdin.write((json.dumps({"op": op, "tag": tag, **args}) + "\n").encode())
        self.proc.stdin.flush()
        return tag

    def result(self, tag: str, timeout: float = 30.0):
        """The result of a command started with ``send``."""
        try:
            reply = self._replies[tag].get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"node {self.id}: no answer in {timeout} s") from None
        self._replies.pop(tag, None)
        if not reply["ok"]:
            raise RuntimeError(f"node {self.id}: failed: {reply['error']}")
        return reply["result"]

    def rss_mb(self) -> float:
        """The process's resident memory in MiB (Linux)."""
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def call(self, op: str, timeout: float = 30.0, **args):
        """Run a command in the node; its result. RuntimeError if it failed or timed out."""
        tag = str(next(self._tags))
        box = self._replies.setdefault(tag, queue.Queue())
        try:
            self.proc.stdin.write((json.dumps({"op": op, "tag": tag, **args}) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, AttributeError):
            raise RuntimeError(f"node {self.id} is not running") from None
        try:
            reply = box.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"node {self.id}: {op} got no answer in {timeout} s") from None
        finally:
            self._replies.pop(tag, None)
        if not reply["ok"]:
            raise RuntimeError(f"node {self.id}: {op} failed: {reply['error']}")
        return reply["result"]

    def events_of(self, kind: str) -> list[dict]:
        """The events of ``kind`` the node has reported ("ban", "offence", "peer-up"…)."""
        with self._lock:
            return [e for e in self.events if e.get("event") == kind]

    def has(self, record_ids) -> bool:
        """True when this node has reported every one of ``record_ids`` (since its start)."""
        with self._lock:
            return all(r in self.records for r in record_ids)

    def ids(self) -> set[str]:
        """Every record id the node's store holds."""
        return set(self.call("ids"))

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait for a clean exit (kill after ``timeout``); the exit code."""
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
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self, timeout: float = 30.0) -> "NodeProcess":
        """Start again on the same home (and the same listen address)."""
        self.records.clear()
        return self.start(timeout)

    def log_tail(self, n: int = 20) -> str:
        """The last lines the node logged."""
        try:
            return "\n".join((self.home / "node.log").read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _env() -> dict:
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}


class Cluster:
    """N node processes in temporary homes; a context manager that stops them all."""

    def __init__(self, n: int, *, root: str | None = None, args: list[str] | None = None,
                 topology: str = "chain", env: dict | None = None) -> None:
        self._tmp = None if root else tempfile.TemporaryDirectory(prefix="trustmesh-cluster-")
        self.root = Path(root or self._tmp.name)
        self.n = n
        self.args = args or []
        self.topology = topology
        self.env = env
        self.nodes: list[NodeProcess] = []

    def __enter__(self) -> "Cluster":
        try:
            first = NodeProcess(self.root / "node0", args=self.args, env=self.env).start()
            self.nodes.append(first)
            threads, extra = [], [None] * (self.n - 1)

            def boot(i: int) -> None:
                extra[i - 1] = NodeProcess(self.root / f"node{i}", args=self.args, env=self.env,
                                           bootstrap=self._bootstrap_for(i)).start()

            for i in range(1, self.n):
                if self.topology == "chain":
                    boot(i)
                    self.nodes.append(extra[i - 1])
                else:
                    threads.append(threading.Thread(target=boot, args=(i,)))
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if self.topology != "chain":
                if any(x is None for x in extra):
                    raise RuntimeError("a node did not start")
                self.nodes.extend(extra)
            if self.n > 1:
                self.wait_connected()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _bootstrap_for(self, i: int) -> list[str]:
        if self.topology == "chain":
            return [self.nodes[i - 1].addr]
        return [self.nodes[0].addr]

    def add(self, name: str, bootstrap: list[str] | None = None, args: list[str] | None = None) -> NodeProcess:
        """Start one more node in this cluster's directory."""
        node = NodeProcess(self.root / name, bootstrap=bootstrap, args=args or self.args,
                           env=self.env).start()
        self.nodes.append(node)
        return node

    def __exit__(self, *exc) -> None:
        threads = [threading.Thread(target=n.stop) for n in self.nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __getitem__(self, i: int) -> NodeProcess:
        return self.nodes[i]

    def __iter__(self):
        return iter(self.nodes)

    def wait_connected(self, min_peers: int = 1, timeout: float = 20.0) -> None:
        """Wait until every node has ``min_peers`` connections; RuntimeError on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(len(n.call("peers")) >= min_peers for n in self.nodes):
                return
            time.sleep(0.1)
        raise RuntimeError("the cluster's nodes did not connect")

    def wait_for(self, record_ids, nodes=None, timeout: float = 20.0) -> bool:
        """Wait until every node (or ``nodes``) reported all ``record_ids``; False on timeout."""
        deadline = time.monotonic() + timeout
        nodes = nodes or self.nodes
        while time.monotonic() < deadline:
            if all(n.has(record_ids) for n in nodes):
                return True
            time.sleep(0.05)
        return False
