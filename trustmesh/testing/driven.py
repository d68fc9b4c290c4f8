"""A node driven through its control API, whatever runs it: a process or a thread of this one.

What a test or a benchmark does with a node is the same either way: call
its API over the Unix socket the CLI uses, and follow its event stream
(``/v1/events``) in a thread, so a test can wait until the node holds a
record and a benchmark can time when it arrived. ``NodeProcess``
(``cluster.py``) and ``InProcessNode`` (``inprocess.py``) only differ in
how they start and stop it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx


# How long a node may take to start: a cold start on a 2-core machine shared with other
# work (imports, a first trust computation) has been seen to take over 30 s.
START_S = 60.0


# A keep-alive connection the node's server closes while idle fails the next request sent
# on it ("Server disconnected without sending a response"), and httpx does not resend.
# Whether the node handled that request cannot be told, so only a read is sent again.
RESENT = frozenset({"GET", "HEAD"})


class NodeError(RuntimeError):
    """A node failed to start, or its API refused a call."""


class DrivenNode:
    """The API calls and the record watch shared by every kind of test node."""

    def __init__(self, home: str | os.PathLike, *, listen: str = "/ip4/127.0.0.1/tcp/0",
                 bootstrap: list[str] | None = None, args: list[str] | None = None,
                 env: dict | None = None) -> None:
        self.home = Path(home)
        self.listen = listen
        self.bootstrap = list(bootstrap or [])
        self.args = list(args or [])
        self.env = env
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

    @property
    def http(self) -> httpx.Client:
        """The client on the node's API socket, for requests the helpers below do not make."""
        if self._http is None:
            raise NodeError(f"node in {self.home} is not running")
        return self._http

    def _attach(self, timeout: float) -> None:
        """Open the API named by ``<home>/api``, learn who the node is, follow its events."""
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

    def _watch(self, http: httpx.Client) -> None:
        try:
            with http.stream("GET", "/v1/events", params={"brief": "true"}, timeout=None) as lines:
                for line in lines.iter_lines():
                    event = json.loads(line)
                    kind = event.get("event")
                    if kind == "subscribed":
                        self._watching.set()
                    elif kind == "record":
                        with self._lock:
                            self.records.setdefault(event["id"], time.time())
                    elif kind == "records":         # a sync's batch
                        now = time.time()
                        with self._lock:
                            for rid in event["ids"]:
                                self.records.setdefault(rid, now)
                    else:
                        with self._lock:
                            self.events.append(event)
        except (httpx.HTTPError, ValueError, RuntimeError):
            return          # the node stopped

    def _close_http(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    # ---- the API ---------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, **params) -> Any:
        """One API call; its JSON answer. NodeError with the node's message on an error
        (a read that met a dropped keep-alive connection is sent once more: ``RESENT``)."""
        if self._http is None:
            raise NodeError(f"node in {self.home} is not running")
        try:
            try:
                reply = self._http.request(method, path, json=body, params=params or None)
            except (httpx.RemoteProtocolError, httpx.ReadError):   # closed, or reset (soak: ECONNRESET)
                if method.upper() not in RESENT:
                    raise
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
        reply = self.http.post("/v1/import", content=b"".join(bundle_chunks(raws)))
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

    def log_tail(self, n: int = 20) -> str:
        """The last lines the node logged."""
        try:
            return "\n".join((self.home / "node.log").read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    # ---- lifecycle, per kind of node ----------------------------------------

    def start(self, timeout: float = START_S) -> "DrivenNode":
        raise NotImplementedError

    def is_running(self) -> bool:
        """True while the node runs (it has not stopped, crashed or been killed)."""
        raise NotImplementedError

    def stop(self, timeout: float = 15.0) -> int | None:
        raise NotImplementedError

    def restart(self, timeout: float = START_S) -> "DrivenNode":
        """Start again on the same home (and the same listen address)."""
        with self._lock:
            self.records.clear()
        return self.start(timeout)
