"""The control API and the CLI through it, against real nodes.

Each node runs the daemon's own code (``daemon.run.serve_node``) on a thread
of this process (``InProcessNode``), and the CLI runs in this process too
(``invoke_cli``): neither process would add anything but its start-up. The
daemon's lifecycle (its pid in ``<home>/api``, SIGTERM, exit code) is
tested on a real process.
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import httpx
import pytest

from trustmesh.testing import InProcessNode, NodeProcess, invoke_cli


class Daemon:
    """A node as ``trustmesh node run`` runs it (not driven), with its control API."""

    def __init__(self, home: Path, *args: str, process: bool = False) -> None:
        self.home = home
        self.node = (NodeProcess if process else InProcessNode)(home, args=list(args)).start()
        self.proc = getattr(self.node, "proc", None)
        self.info = json.loads((home / "api").read_text())
        self.http = httpx.Client(transport=httpx.HTTPTransport(uds=self.info["socket"]),
                                 base_url="http://node", timeout=30)

    def get(self, path, **params):
        return self.http.get(path, params=params)

    def post(self, path, body=None, **kw):
        return self.http.post(path, json=body, **kw)

    def cli(self, *args: str):
        return invoke_cli(self.home, *args)

    def stop(self) -> None:
        self.http.close()
        self.node.stop(20)


@pytest.fixture
def daemon(tmp_path):
    node = Daemon(tmp_path / "alice", "--api-tcp", "127.0.0.1:0")
    yield node
    node.stop()


BOB = "12D3KooWEN94n2GW3NVygr9HGNfkMGc6dPC5ZkgaACv1TXL9cR2R"


def test_socket_is_private_and_the_api_file_goes_away_on_stop(tmp_path):
    daemon = Daemon(tmp_path / "alice", "--api-tcp", "127.0.0.1:0", process=True)
    assert stat.S_IMODE(os.stat(daemon.info["socket"]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(daemon.home / "api.token").st_mode) == 0o600
    assert daemon.info["pid"] == daemon.proc.pid
    daemon.stop()
    assert daemon.proc.returncode == 0
    assert not (daemon.home / "api").exists() and not Path(daemon.info["socket"]).exists()


def test_tcp_needs_the_bearer_token(daemon, web):
    base = f"http://{daemon.info['tcp']}"
    token = (daemon.home / "api.token").read_text().strip()
    assert web.get(base + "/v1/health").status_code == 401
    assert web.get(base + "/v1/health", headers={"Authorization": "Bearer nope"}).status_code == 401
    ok = web.get(base + "/v1/status", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and ok.json()["id"] == daemon.get("/v1/identity").json()["id"]


def test_malformed_requests_get_a_clear_400_and_the_daemon_lives_on(daemon):
    bad = [daemon.http.post("/v1/attestations", content=b"{not json"),
           daemon.post("/v1/attestations", {"subject": BOB, "facet": "payment"}),
           daemon.post("/v1/attestations", {"subject": "nobody", "facet": "payment", "positive": True}),
           daemon.post("/v1/attestations", {"subject": BOB, "facet": "payment", "positive": "yes"}),
           daemon.post("/v1/attestations", {"subject": BOB, "facet": "payment", "positive": True, "x": 1}),
           daemon.get("/v1/records", limit="many"), daemon.get("/v1/rank")]
    for reply in bad:
        assert reply.status_code == 400, reply.text
        assert reply.json()["error"]
    assert daemon.get("/v1/records/00000000").status_code == 404
    assert daemon.get("/v1/nothing").status_code == 404
    assert daemon.http.delete("/v1/status").status_code == 405
    assert daemon.get("/v1/health").json()["ok"] and daemon.node.is_running()


def test_records_trust_metrics_and_schema(daemon):
    made = daemon.post("/v1/attestations", {"subject": BOB, "facet": "delivery", "positive": True,
                                            "ref": "PO-7"}).json()
    assert made["type"] == "attestation" and made["subject"] == BOB
    listed = daemon.get("/v1/records", subject=BOB).json()
    assert [r["id"] for r in listed] == [made["id"]]
    assert daemon.get(f"/v1/records/{made['id'][:12]}").json()["id"] == made["id"]
    scores = daemon.get(f"/v1/trust/{BOB}", facet="delivery", explain="1").json()
    assert scores["evidence"] == 1 and scores["score"] > 0.5 and scores["explanation"]
    assert scores["verdict"] == "no objection"       # my own praise, no deal: known, not a record
    ranked = daemon.get("/v1/rank", facet="delivery").json()
    assert ranked[0]["subject"] == BOB and ranked[0]["verdict"] == "no objection"
    retracted = daemon.post("/v1/retractions", {"target": made["id"]}).json()
    assert retracted["type"] == "retraction"
    metrics = daemon.get("/metrics").text
    assert 'trustmesh_records{type="attestation"} 1.0' in metrics and "trustmesh_peers 0.0" in metrics
    schema = daemon.get("/openapi.json").json()
    from trustmesh.api.app import ROUTES
    assert all(method.lower() in schema["paths"][path] for method, path, _, _ in ROUTES)


def test_the_event_stream_shows_new_records(daemon):
    with daemon.http.stream("GET", "/v1/events", params={"kinds": "record"}) as events:
        lines = events.iter_lines()
        assert json.loads(next(lines))["event"] == "subscribed"
        made = daemon.post("/v1/attestations", {"subject": BOB, "facet": "quality", "positive": False}).json()
        event = json.loads(next(lines))
        assert event["event"] == "record" and event["id"] == made["id"] and event["source"] == "local"
        assert event["record"]["facet"] == "quality" and event["record"]["subject"] == BOB


def test_a_brief_event_stream_names_records_by_id_only(daemon):
    with daemon.http.stream("GET", "/v1/events", params={"kinds": "record", "brief": "true"}) as events:
        lines = events.iter_lines()
        assert json.loads(next(lines))["event"] == "subscribed"
        made = daemon.post("/v1/attestations", {"subject": BOB, "facet": "quality", "positive": True}).json()
        event = json.loads(next(lines))
        assert event["id"] == made["id"] and event["source"] == "local" and "record" not in event
    assert daemon.get("/v1/events", brief="true", kinds="record", bogus="1").status_code == 400


def test_cli_goes_through_the_running_node(daemon):
    out = daemon.cli("attest", BOB, "payment", "--positive", "--new-member", "--ref", "INV-12", "--json")
    assert out.returncode == 0, out.stderr
    made = json.loads(out.stdout)
    assert [r["id"] for r in daemon.get("/v1/records", author=made["author"]).json()] == [made["id"]]
    status = json.loads(daemon.cli("status", "--json").stdout)
    assert status["records"]["attestation"] == 1 and status["peers"] == []
    human = daemon.cli("profile", "set", "--name", "Alice")
    assert human.returncode == 0 and "through the running node" in human.stdout


def test_without_a_node_network_commands_say_so_in_one_line(tmp_path):
    for args in (["status"], ["peers"], ["ask", BOB], ["deal", "pending"]):
        out = invoke_cli(tmp_path / "none", *args)
        assert out.returncode == 1 and out.stdout == ""
        assert out.stderr.startswith("trustmesh: no node is running for home") and out.stderr.count("\n") == 1


def test_two_nodes_connect_ask_and_make_a_deal_through_the_cli(tmp_path):
    alice, bob = Daemon(tmp_path / "alice"), Daemon(tmp_path / "bob")
    try:
        bob_id = bob.get("/v1/identity").json()["id"]
        made = bob.post("/v1/attestations", {"subject": BOB, "facet": "payment", "positive": True}).json()
        out = alice.cli("connect", bob.get("/v1/identity").json()["addrs"][0])
        assert out.returncode == 0 and bob_id in out.stdout, out.stderr
        assert bob_id in alice.cli("peers").stdout
        asked = json.loads(alice.cli("ask", BOB, "--json").stdout)
        assert made["id"] in [r["id"] for r in asked]
        offer = json.loads(alice.cli("deal", "propose", bob_id, "--ref", "PO-9", "--role", "client",
                                     "--json").stdout)
        assert offer["status"] == "pending"                 # bob's node keeps it for bob to decide
        pending = json.loads(bob.cli("deal", "pending", "--json").stdout)
        assert len(pending) == 1
        accepted = bob.cli("deal", "accept", pending[0]["id"], "--json")
        assert accepted.returncode == 0, accepted.stderr
        deal_id = json.loads(accepted.stdout)["id"]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not alice.get("/v1/records", kind="deal").json():
            time.sleep(0.05)
        assert [r["id"] for r in alice.get("/v1/records", kind="deal").json()] == [deal_id]
        assert alice.cli("disconnect", bob_id).returncode == 0
    finally:
        alice.stop()
        bob.stop()


def test_import_goes_through_the_running_node_and_is_gossiped(tmp_path):
    from trustmesh.core.ledger import Ledger
    maker = Ledger.create(tmp_path / "maker")
    for facet in ("payment", "quality", "delivery"):
        maker.attest(BOB, facet, True)
    maker.close()
    export = invoke_cli(tmp_path / "maker", "export", "-o", str(tmp_path / "b.bundle"))
    assert export.returncode == 0, export.stderr
    alice, bob = Daemon(tmp_path / "alice"), Daemon(tmp_path / "bob")
    try:
        alice.post("/v1/peers", {"addr": bob.get("/v1/identity").json()["addrs"][0]})
        out = alice.cli("import", str(tmp_path / "b.bundle"), "--json")
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout)
        assert report["accepted"] == 3 and report["rejected"] == 0
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(bob.get("/v1/records", subject=BOB).json()) < 3:
            time.sleep(0.05)
        assert len(bob.get("/v1/records", subject=BOB).json()) == 3     # gossiped at once
        again = alice.cli("import", str(tmp_path / "b.bundle"))
        assert again.returncode == 0 and "through the running node" in again.stdout
    finally:
        alice.stop()
        bob.stop()


def test_the_remaining_endpoints(daemon):
    assert daemon.get("/v1/version").json()["version"]
    me = daemon.get("/v1/identity").json()
    assert me["id"].startswith("12D3KooW") and me["did"].startswith("did:key:z6Mk")
    # an attestation about me, made elsewhere, that I can answer
    from trustmesh.crypto.keys import Identity
    from trustmesh.crypto.ids import parse_id
    from trustmesh.core.ledger import now_ms
    from trustmesh.protocol.records import Attestation, encode, sign
    other, t = Identity.generate(), now_ms() - 1000
    raw = encode(sign(Attestation(other.public_key, 1, None, t, parse_id(me["id"]), "delivery", False,
                                  None, None, t, None, "late"), other))
    from trustmesh.protocol.bundle import bundle_chunks
    body = b"".join(bundle_chunks([raw]))
    imported = daemon.http.post("/v1/import", content=body).json()
    assert (imported["accepted"], imported["rejected"], imported["refused"]) == (1, 0, [])
    from trustmesh.protocol.records import record_id
    target = record_id(raw).hex()
    reply = daemon.post("/v1/replies", {"target": target, "stance": "contest", "note": "it was on time"})
    assert reply.status_code == 200 and reply.json()["type"] == "reply"
    assert daemon.get(f"/v1/records/{target}").json()["contested"] is True
    assert daemon.get("/v1/sync").json()["intake"]["accepted"] == 0     # nothing came from peers
    assert daemon.post("/v1/sync").json() == []                          # no peers to sync with
    assert daemon.get("/v1/deals/pending").json() == []
    assert daemon.post("/v1/deals/00000000/accept").status_code in (400, 404)
    assert daemon.http.delete(f"/v1/peers/{me['id']}").status_code == 503   # not connected


def test_the_client_resends_a_read_on_a_dropped_connection_and_never_a_write(tmp_path):
    """A keep-alive connection the server closed while idle (a soak met it as ECONNRESET)."""
    from trustmesh.api.client import ApiClient
    from trustmesh.errors import NodeNotRunning

    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        if len(seen) % 2:                     # every first attempt meets a reset connection
            raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
        return httpx.Response(200, json={"ok": request.method})

    with ApiClient(tmp_path, transport=httpx.MockTransport(handler)) as client:
        assert client.call("GET", "/v1/status") == {"ok": "GET"}
        assert seen == ["GET", "GET"]
        seen.clear()
        with pytest.raises(NodeNotRunning, match="reset"):
            client.call("POST", "/v1/attest", {"subject": "x"})
        assert seen == ["POST"]                # a write is not sent twice


def test_an_idle_keep_alive_connection_outlives_the_clients_expiry(daemon):
    """A client reuses a connection idle up to its own expiry (httpx: 5 s); the server must not
    have closed it by then, or a write on it meets ECONNRESET (seen in the soak)."""
    import socket
    info = json.loads((daemon.home / "api").read_text())
    request = b"GET /v1/health HTTP/1.1\r\nHost: trustmesh\r\n\r\n"

    def answer(sock) -> bytes:
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = sock.recv(65536)
            assert chunk, "the server closed the idle connection"
            got += chunk
        head, _, body = got.partition(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        while len(body) < length:
            body += sock.recv(65536)
        return head.split(b"\r\n")[0]

    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(info["socket"])
        sock.sendall(request)
        assert answer(sock) == b"HTTP/1.1 200 "
        idle_until = time.monotonic() + httpx.Limits().keepalive_expiry + 0.5
        while time.monotonic() < idle_until:   # the connection idles past the client's expiry
            time.sleep(0.1)
        sock.sendall(request)
        assert answer(sock) == b"HTTP/1.1 200 "
