"""Bad input to the control API is a 400 naming the field, never a 500; memory stays bounded.

Against a real daemon process (its RSS is the point of the import test).
"""

from __future__ import annotations

import json
import os

import httpx
import pytest

from trustmesh.testing import NodeProcess

BOB = "12D3KooWEN94n2GW3NVygr9HGNfkMGc6dPC5ZkgaACv1TXL9cR2R"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = NodeProcess(tmp_path_factory.mktemp("input") / "a", args=["--api-tcp", "127.0.0.1:0", "--metrics-tcp", "127.0.0.1:0"]).start()
    yield n
    n.stop()


def _post(node, path, body: bytes | dict, method="POST"):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return node._http.request(method, path, content=content, headers={"content-type": "application/json"})


@pytest.mark.parametrize("path,body,field", [
    ("/v1/attestations", b"[" * 20_000 + b"]" * 20_000, "nested"),
    ("/v1/attestations", {"subject": BOB, "facet": "payment", "positive": True, "ref": 12}, "ref"),
    ("/v1/attestations", {"subject": BOB, "facet": "payment", "positive": True, "ref": {"a": 1}}, "ref"),
    ("/v1/attestations", {"subject": BOB, "facet": "payment", "positive": True, "occurred": 2**70}, "occurred"),
    ("/v1/attestations", {"subject": BOB, "facet": "payment", "positive": True, "expires": 2**63 - 1},
     "expires"),
    ("/v1/attestations", b'{"subject": "' + BOB.encode() + b'", "facet": "payment", "positive": true,'
                         b' "note": "\\ud800"}', "note"),
    ("/v1/attestations", {"subject": BOB, "facet": ["payment"], "positive": True}, "facet"),
    ("/v1/attestations", {"subject": 7, "facet": "payment", "positive": True}, "subject"),
    ("/v1/profile", {"name": "A", "url": ["https://x"]}, "url"),
    ("/v1/deals", {"counterparty": BOB, "ref": "R", "role": "client", "due": "2026-12-20"}, "due"),
    ("/v1/deals", {"counterparty": BOB, "ref": "R", "role": "buyer"}, "role"),
    ("/v1/replies", {"target": "zz" * 32, "stance": "contest"}, "record id"),
    ("/v1/peers", {"addr": 5}, "addr"),
])
def test_a_bad_body_is_a_400_naming_the_field(node, path, body, field):
    method = "PUT" if path == "/v1/profile" else "POST"
    reply = _post(node, path, body, method)
    assert reply.status_code == 400, (reply.status_code, reply.text)
    assert field in reply.json()["error"], reply.json()
    assert reply.json()["type"] == "UsageError"


@pytest.mark.parametrize("path", ["/v1/deals/not-hex!/accept", "/v1/deals/12/decline",
                                  "/v1/records/xyz", "/v1/trust/nobody", "/v1/weights/nobody"])
def test_a_bad_path_value_is_a_4xx(node, path):
    method = "GET" if path.startswith(("/v1/records", "/v1/trust", "/v1/weights")) else "POST"
    reply = node._http.request(method, path)
    assert reply.status_code in (400, 404), reply.text
    assert node.api("GET", "/v1/health")["ok"]


def test_the_token_is_read_from_a_url_only_by_the_web_views_login(node):
    base = f"http://{json.loads((node.home / 'api').read_text())['tcp']}"
    token = (node.home / "api.token").read_text().strip()
    for path in ("/v1/status", "/metrics", "/v1/health"):
        assert httpx.get(base + path, params={"token": token}).status_code == 401, path
        assert httpx.get(base + path, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    login = httpx.get(base + "/ui", params={"token": token})
    assert login.status_code == 200 and "trustmesh_token" in login.headers["set-cookie"]
    cookie = {"trustmesh_token": token}
    assert httpx.get(base + "/v1/status", cookies=cookie).status_code == 200          # reads
    assert httpx.post(base + "/v1/attestations", cookies=cookie,
                      json={"subject": BOB, "facet": "payment", "positive": True}).status_code == 403  # no X-CSRF-Token


def test_metrics_and_health_have_a_read_only_listener_without_a_token(node):
    base = f"http://{json.loads((node.home / 'api').read_text())['metrics']}"
    metrics = httpx.get(base + "/metrics")
    assert metrics.status_code == 200 and "trustmesh_records" in metrics.text
    assert httpx.get(base + "/v1/health").json()["ok"]
    for path in ("/v1/status", "/v1/records", "/ui"):
        assert httpx.get(base + path).status_code == 404, path
    assert httpx.post(base + "/v1/attestations", json={}).status_code == 404


def _rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_a_huge_damaged_import_is_given_up_early_in_bounded_memory(node):
    from trustmesh.protocol.bundle import BUNDLE_MAGIC
    from trustmesh.protocol.framing import frame
    before = _rss_mb(node.proc.pid)

    def junk():
        yield BUNDLE_MAGIC
        for _ in range(100):                 # 100 MB announced as one frame after another
            yield os.urandom(1 << 20)
    reply = node._http.post("/v1/import", content=junk(), timeout=120)
    assert reply.status_code == 200 and reply.json()["damaged"], reply.text
    tiny = BUNDLE_MAGIC + b"".join(frame(b"x") for _ in range(4 << 20 // 2))   # 4 MB of 1-byte frames
    reply = node._http.post("/v1/import", content=tiny, timeout=120)
    found = reply.json()
    assert reply.status_code == 200 and found["damaged"] and "do not decode" in found["damaged"]
    assert len(reply.content) < 1 << 20 and len(found["refused"]) <= 1000       # a bounded answer
    assert _rss_mb(node.proc.pid) - before < 150, (before, _rss_mb(node.proc.pid))
    assert node.api("GET", "/v1/health")["ok"] and node.api("GET", "/v1/status")["total_records"] == 0
