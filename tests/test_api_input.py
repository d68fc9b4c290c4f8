"""Bad input to the control API is a 400 naming the field, never a 500; memory stays bounded.

Against a real node on a thread of this process (``InProcessNode``): the
import test bounds the growth of this whole process's RSS, node included.
"""

from __future__ import annotations

import json
import os

import pytest

from trustmesh.testing import InProcessNode

BOB = "12D3KooWEN94n2GW3NVygr9HGNfkMGc6dPC5ZkgaACv1TXL9cR2R"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = InProcessNode(tmp_path_factory.mktemp("input") / "a", args=["--api-tcp", "127.0.0.1:0", "--metrics-tcp", "127.0.0.1:0"]).start()
    yield n
    n.stop()


def _post(node, path, body: bytes | dict, method="POST"):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return node.http.request(method, path, content=content, headers={"content-type": "application/json"})


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
    ("/v1/keys/init", {"recovery": "x"}, "recovery"),
    ("/v1/keys/rotate", {}, "recovery"),
    ("/v1/keys/rotate", {"recovery": ["pem"]}, "recovery"),
    ("/v1/keys/rotate", {"recovery": "x" * 20_000}, "recovery"),
    ("/v1/keys/rotate", {"recovery": "-----BEGIN PRIVATE KEY-----", "since": -1}, "since"),
    ("/v1/keys/rotate", {"recovery": "-----BEGIN PRIVATE KEY-----", "passphrase": "not base64!"}, "passphrase"),
    ("/v1/keys/recover", {"recovery": "x", "after": 12}, "after"),
    ("/v1/devices", {"member": "00" * 32, "device": "00" * 32}, "sig"),
    ("/v1/devices", {"member": "zz" * 32, "device": "00" * 32, "sig": "00" * 64}, "member"),
    ("/v1/devices", {"member": "00" * 40, "device": "00" * 32, "sig": "00" * 64}, "member"),
    ("/v1/devices/accept", {"add": [], "events": []}, "add"),
    ("/v1/devices/accept", {"add": {"seq": 1}, "events": []}, "add.prev"),
    ("/v1/devices/accept", {"add": {"seq": 1, "prev": "00", "issued": 1, "author": "a", "member": "b",
                                    "key": "c", "sig": "d", "extra": 1}, "events": []}, "add.extra"),
    ("/v1/devices/accept", {"add": {"seq": 1, "prev": "00", "issued": 1, "author": "a", "member": "b",
                                    "key": "c", "sig": "d"}, "events": [7]}, "events[0]"),
    ("/v1/devices/revoke", {"key": 5}, "key"),
    ("/v1/devices/revoke", {"key": "12D3KooW", "since": "yesterday"}, "since"),
])
def test_a_bad_body_is_a_400_naming_the_field(node, path, body, field):
    method = "PUT" if path == "/v1/profile" else "POST"
    reply = _post(node, path, body, method)
    assert reply.status_code == 400, (reply.status_code, reply.text)
    assert field in reply.json()["error"], reply.json()
    assert reply.json()["type"] == "UsageError"


def _pem() -> str:
    from trustmesh.crypto.keys import Identity
    return Identity.generate().to_pem().decode()


_ADD = {"seq": 1, "prev": "00" * 32, "issued": 1, "author": "00" * 32, "member": "00" * 32, "key": "00" * 32,
        "sig": "00" * 64}


@pytest.mark.parametrize("path,body,kind,says", [
    ("/v1/keys/rotate", {"recovery": "garbage"}, "DamagedKeyFile", "recovery file"),
    ("/v1/keys/rotate", {"recovery": _pem()}, "UsageError", "no inception"),
    ("/v1/keys/recover", {"recovery": _pem()}, "KeyFileError", "no member held here"),
    ("/v1/devices", {"member": "00" * 32, "device": "00" * 32, "sig": "00" * 64}, "BadLink", "another member"),
    ("/v1/devices/accept", {"add": _ADD, "events": ["!!"]}, "UsageError", "no device request"),
    ("/v1/devices/revoke", {"key": "12D3KooWzzzzzzzz"}, "UsageError", "no key of this member"),
    ("/v1/devices/revoke", {"key": "abc"}, "UsageError", "8 characters"),
])
def test_a_key_change_the_rules_refuse_is_a_typed_4xx(node, path, body, kind, says):
    reply = _post(node, path, body)
    assert 400 <= reply.status_code < 500, (reply.status_code, reply.text)
    assert reply.json()["type"] == kind and says in reply.json()["error"], reply.json()
    assert node.api("GET", "/v1/keys")["incepted"] is False       # nothing was made
    assert node.api("GET", "/v1/health")["ok"]


@pytest.mark.parametrize("path", ["/v1/deals/not-hex!/accept", "/v1/deals/12/decline",
                                  "/v1/records/xyz", "/v1/trust/nobody", "/v1/weights/nobody", "/v1/keys/nobody"])
def test_a_bad_path_value_is_a_4xx(node, path):
    method = "GET" if path.startswith(("/v1/records", "/v1/trust", "/v1/weights", "/v1/keys")) else "POST"
    reply = node.http.request(method, path)
    assert reply.status_code in (400, 404), reply.text
    assert node.api("GET", "/v1/health")["ok"]


def test_the_token_is_read_from_a_url_only_by_the_web_views_login(node, web):
    base = f"http://{json.loads((node.home / 'api').read_text())['tcp']}"
    token = (node.home / "api.token").read_text().strip()
    for path in ("/v1/status", "/metrics", "/v1/health"):
        assert web.get(base + path, params={"token": token}).status_code == 401, path
        assert web.get(base + path, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    login = web.get(base + "/ui", params={"token": token})
    assert login.status_code == 200 and "trustmesh_token" in login.headers["set-cookie"]
    web.cookies.clear()                                       # each request below sends its own
    cookie = {"Cookie": f"trustmesh_token={token}"}
    assert web.get(base + "/v1/status", headers=cookie).status_code == 200          # reads
    assert web.post(base + "/v1/attestations", headers=cookie,
                    json={"subject": BOB, "facet": "payment", "positive": True}).status_code == 403  # no X-CSRF-Token


def test_metrics_and_health_have_a_read_only_listener_without_a_token(node, web):
    base = f"http://{json.loads((node.home / 'api').read_text())['metrics']}"
    metrics = web.get(base + "/metrics")
    assert metrics.status_code == 200 and "trustmesh_records" in metrics.text
    assert web.get(base + "/v1/health").json()["ok"]
    for path in ("/v1/status", "/v1/records", "/ui"):
        assert web.get(base + path).status_code == 404, path
    assert web.post(base + "/v1/attestations", json={}).status_code == 404


def test_a_huge_damaged_import_is_given_up_early_in_bounded_memory(node):
    from trustmesh.protocol.bundle import BUNDLE_MAGIC
    from trustmesh.protocol.framing import frame
    before = node.rss_mb()

    def junk():
        yield BUNDLE_MAGIC
        for _ in range(100):                 # 100 MB announced as one frame after another
            yield os.urandom(1 << 20)
    reply = node.http.post("/v1/import", content=junk(), timeout=120)
    assert reply.status_code == 200 and reply.json()["damaged"], reply.text
    tiny = BUNDLE_MAGIC + b"".join(frame(b"x") for _ in range(4 << 20 // 2))   # 4 MB of 1-byte frames
    reply = node.http.post("/v1/import", content=tiny, timeout=120)
    found = reply.json()
    assert reply.status_code == 200 and found["damaged"] and "do not decode" in found["damaged"]
    assert len(reply.content) < 1 << 20 and len(found["refused"]) <= 1000       # a bounded answer
    assert node.rss_mb() - before < 150, (before, node.rss_mb())
    assert node.api("GET", "/v1/health")["ok"] and node.api("GET", "/v1/status")["total_records"] == 0
