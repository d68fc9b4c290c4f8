"""Real node processes on this machine, driven through their control API.

For tests, ``trustmesh demo`` and the benchmarks: each node is a separate
``trustmesh node run`` process (one core per host, the way members run
them), commanded over its Unix socket exactly as the CLI is. A thread per
node follows its event stream (``/v1/events``), so a test can wait until
a node holds a record and a benchmark can time when it arrived.
Blocking API, so callers need no event loop::

    with Cluster(3) as net:
        rid = net[0].attest(net[2].id)
        assert net.wait_for([rid])
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx


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


class NodeError(RuntimeError):
    """A node process failed to start, or its API refused a call."""


class NodeProcess:
    """One node process: start, call its API, watch its records, stop or kill."""

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
        self.records: dict[str, float] = {}     # record id (hex) -> when this node had it (held at start: then)
        self.events: list[dict] = []
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()
        self._watching = threading.Event()

    @property
    def addr(self) -> str:
        """The node's first dialable address."""
        return self.addrs[0]

    def start(self, timeout: float = 30.0) -> "NodeProcess":
        """Start the process and wait until its API answers; NodeError if it does not."""
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "api").unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "trustmesh", "--home", str(self.home), "node", "run", "--listen", self.listen]
        for addr in self.bootstrap:
            cmd += ["--bootstrap", addr]
        cmd += self.args
        with open(self.home / "node.log", "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=environment(self.env))
        deadline = time.monotonic() + timeout
        while not (self.home / "api").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise NodeError(f"node in {self.home} did not start: {self.log_tail()}")
            time.sleep(0.05)
        info = json.loads((self.home / "api").read_text())
        self._http = httpx.Client(transport=httpx.HTTPTransport(uds=info["socket"]),
                                  base_url="http://node", timeout=60)
        me = self.api("GET", "/v1/identity")
        self.id, self.addrs = me["id"], me["addrs"]
        self._watching.clear()
        threading.Thread(target=self._watch, args=(self._http,), daemon=True).start()
        if not self._watching.wait(timeout):
            raise NodeError(f"node {self.id}: no event stream")
        held = self.api("GET", "/v1/records/ids")      # what arrived before the stream was followed
        now = time.time()
        with self._lock:
            for rid in held:
                self.records.setdefault(rid, now)
        return self

    def _watch(self, http: httpx.Client) -> None:
        try:
            with http.stream("GET", "/v1/events", timeout=None) as lines:
                for line in lines.iter_lines():
                    event = json.loads(line)
                    kind = event.get("event")
                    if kind == "subscribed":
                        self._watching.set()
                    elif kind == "record":
                        with self._lock:
                            self.records.setdefault(event["id"], time.time())
                    else:
                        with self._lock:
                            self.events.append(event)
        except (httpx.HTTPError, ValueError, RuntimeError):
            return          # the node stopped

    # ---- the API ---------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, **params) -> Any:
        """One API call; its JSON answer. NodeError with the node's message on an error."""
        if self._http is None:
            raise NodeError(f"node in {self.home} is not running")
        try:
            reply = self._http.request(method, path, json=body, params=params or None)
        except httpx.HTTPError as exc:
            raise NodeError(f"node {self.id}: {method} {path}: {exc}") from None
        if reply.status_code != 200:
            raise NodeError(f"node {self.id}: {method} {path}: {reply.status_code} {reply.text[:500]}")
        return reply.json()

    def attest(self, subject: str, facet: str = "payment", positive: bool = True, **options) -> str:
        """Make an attestation on this node; its id (hex)."""
        return self.api("POST", "/v1/attestations", {"subject": subject, "facet": facet,
                                                     "positive": positive, **options})["id"]

    def import_raws(self, raws: list[bytes]) -> dict:
        """Import records as the owner would (a bundle through the API): stored here, then gossiped."""
        from trustmesh.protocol.bundle import bundle_chunks
        reply = self._http.post("/v1/import", content=b"".join(bundle_chunks(raws)))
        if reply.status_code != 200:
            raise NodeError(f"node {self.id}: import: {reply.status_code} {reply.text[:500]}")
        return reply.json()

    def attest_many(self, subjects: list[str], facet: str = "payment") -> list[str]:
        """One positive attestation about each of ``subjects``, in order; their ids."""
        return [self.attest(s, facet) for s in subjects]

    def profile(self, name: str, org: str | None = None) -> str:
        return self.api("PUT", "/v1/profile", {"name": name, "org": org})["id"]

    def deal(self, peer: str, ref: str = "deal", role: str = "client") -> dict:
        """Propose a deal live to ``peer``; the answer (status, reason, deal)."""
        return self.api("POST", "/v1/deals", {"counterparty": peer, "ref": ref, "role": role})

    def peers(self) -> list[dict]:
        return self.api("GET", "/v1/peers")

    def status(self) -> dict:
        """The node's status, with ``records`` as the total held and ``sync`` its sync status."""
        found = self.api("GET", "/v1/status")
        found["records_by_type"], found["records"] = found["records"], found["total_records"]
        found["sync"] = self.api("GET", "/v1/sync")
        return found

    def weight(self, member: str) -> float:
        return self.api("GET", f"/v1/weights/{member}")["weight"]

    def ids(self) -> set[str]:
        """Every record id the node's store holds."""
        return set(self.api("GET", "/v1/records/ids"))

    def sync(self) -> list[dict]:
        return self.api("POST", "/v1/sync")

    def connect(self, addr: str) -> str:
        return self.api("POST", "/v1/peers", {"addr": addr})["id"]

    def ask(self, subject: str) -> list[str]:
        return [r["id"] for r in self.api("POST", "/v1/ask", {"subject": subject})]

    # ---- watching ----------------------------------------------------------

    def events_of(self, kind: str) -> list[dict]:
        """The events of ``kind`` the node has reported ("ban", "offence", "peer-up"…)."""
        with self._lock:
            return [e for e in self.events if e.get("event") == kind]

    def has(self, record_ids) -> bool:
        """True when this node holds every one of ``record_ids`` (held at its start, or announced since)."""
        with self._lock:
            return all(r in self.records for r in record_ids)

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

    # ---- lifecycle -----------------------------------------------------------

    def _close_http(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

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

    def restart(self, timeout: float = 30.0) -> "NodeProcess":
        """Start again on the same home (and the same listen address)."""
        with self._lock:
            self.records.clear()
        return self.start(timeout)

    def log_tail(self, n: int = 20) -> str:
        """The last lines the node logged."""
        try:
            return "\n".join((self.home / "node.log").read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


class Cluster:
    """N node processes in temporary homes; a context manager that stops them all.

    "chain": node i bootstraps from node i-1 (peer exchange then meshes
    them); "star": every node bootstraps from node 0. ``env`` adds
    variables, e.g. ``{"TRUSTMESH_NET_DEFENCE_RECORDS_PER_S": "50"}``.
    """

    def __init__(self, n: int, *, root: str | os.PathLike | None = None, args: list[str] | None = None,
                 topology: str = "chain", env: dict | None = None, start_timeout: float = 30.0) -> None:
        self._tmp = None if root else tempfile.TemporaryDirectory(prefix="trustmesh-cluster-")
        self.root = Path(root or self._tmp.name)
        self.n = n
        self.args = args or []
        self.topology = topology
        self.env = env
        self.start_timeout = start_timeout      # per node; a loaded machine needs more
        self.nodes: list[NodeProcess] = []

    def __enter__(self) -> "Cluster":
        try:
            first = NodeProcess(self.root / "node0", args=self.args, env=self.env)
            self.nodes.append(first.start(self.start_timeout))
            rest = [NodeProcess(self.root / f"node{i}", args=self.args, env=self.env) for i in range(1, self.n)]
            if self.topology == "chain":
                for i, node in enumerate(rest, start=1):
                    node.bootstrap = [self.nodes[i - 1].addr]
                    self.nodes.append(node.start(self.start_timeout))
            else:
                for node in rest:
                    node.bootstrap = [self.nodes[0].addr]
                self._start_all(rest, self.start_timeout)
                self.nodes.extend(rest)
            if self.n > 1:
                self.wait_connected()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    @staticmethod
    def _start_all(nodes: list[NodeProcess], timeout: float = 30.0) -> None:
        errors: list[BaseException] = []

        def boot(node: NodeProcess) -> None:
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

    def add(self, name: str, bootstrap: list[str] | None = None, args: list[str] | None = None) -> NodeProcess:
        """Start one more node in this cluster's directory."""
        node = NodeProcess(self.root / name, bootstrap=bootstrap, args=args or self.args, env=self.env).start()
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
