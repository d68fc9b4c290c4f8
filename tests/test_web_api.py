"""The web view's server side, over real HTTP to a real node (the daemon's code, on a thread of
this process): the one-time login link, the CSRF guard on changes made with the session cookie,
the member page and the neighbourhood."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from trustmesh.testing import InProcessNode, invoke_cli

BOB = "12D3KooWEN94n2GW3NVygr9HGNfkMGc6dPC5ZkgaACv1TXL9cR2R"
CAROL = "12D3KooWLuzsaAwxoYj1bDLHrCC4NpLPM6ZCBA6P1dTqVPhfFQ4w"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    started = InProcessNode(tmp_path_factory.mktemp("web") / "alice", args=["--api-tcp", "127.0.0.1:0"]).start()
    yield started
    started.stop()


def printed_link(node: InProcessNode) -> str:
    """The login link ``node run`` printed at start (polled: the line may still be on its way)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = re.search(r"web view (http://\S+/ui/login\?code=\S+)", (node.home / "node.log").read_text())
        if found:
            return found.group(1)
        time.sleep(0.05)
    raise AssertionError(node.log_tail())


def logged_in(link: str) -> httpx.Client:
    """A browser-like client that opened ``link``: it holds the session cookie."""
    client = httpx.Client(base_url=link.split("/ui/")[0], timeout=10)
    reply = client.get(link)
    assert reply.status_code == 303 and reply.headers["location"] == "/ui", reply.text
    assert "httponly" in reply.headers["set-cookie"].lower()
    assert "samesite=strict" in reply.headers["set-cookie"].lower()
    return client


def test_the_printed_link_logs_in_once_and_a_new_one_comes_from_the_cli(node):
    link = printed_link(node)
    base = link.split("/ui/")[0]
    code = link.split("code=")[1]
    assert code not in (node.home / "api").read_text()            # printed, never written to a file
    browser = logged_in(link)
    cookie = browser.cookies["trustmesh_token"]
    assert cookie != (node.home / "api.token").read_text().strip()  # the token never reaches the browser
    assert browser.get("/v1/status").json()["id"] == node.id
    assert browser.get("/ui").status_code == 200
    assert "trustmesh web" in httpx.get(base + "/ui").text                        # no cookie: how to log in
    again = httpx.get(link)                                          # one time only
    assert again.status_code == 401 and "trustmesh web" in again.text
    assert httpx.get(base + "/ui/login", params={"code": "x" * 24}).status_code == 401
    token = (node.home / "api.token").read_text().strip()
    assert httpx.get(base + "/ui/login", params={"code": token}).status_code == 401
    assert httpx.get(base + "/v1/status", params={"token": token}).status_code == 401
    fresh = invoke_cli(node.home, "web")
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.startswith(base + "/ui/login?code=") and fresh.stdout.count("\n") == 1
    assert logged_in(fresh.stdout.strip()).get("/v1/identity").status_code == 200


def test_a_change_with_the_cookie_alone_is_refused(node):
    browser = logged_in(node.api("POST", "/v1/web/logins")["url"])
    before = len(node.api("GET", "/v1/records"))
    body = {"subject": BOB, "facet": "payment", "positive": False}
    # what another site can make a browser send: the cookie (if SameSite fails), no custom header
    assert browser.post("/v1/attestations", json=body).status_code == 403
    assert browser.post("/v1/attestations", data={"subject": BOB}).status_code == 403          # a form
    assert browser.post("/v1/attestations", json=body, headers={"X-CSRF-Token": "0" * 64}).status_code == 403
    assert browser.post(f"/v1/deals/{'ab' * 32}/accept").status_code == 403
    assert browser.put("/v1/profile", json={"name": "Mallory"}).status_code == 403
    assert len(node.api("GET", "/v1/records")) == before                 # nothing was written
    # the page's own request: the header from its session
    csrf = browser.get("/v1/web/session").json()["csrf"]
    other = logged_in(node.api("POST", "/v1/web/logins")["url"])
    assert other.post("/v1/attestations", json=body, headers={"X-CSRF-Token": csrf}).status_code == 403  # bound
    made = browser.post("/v1/attestations", json=body, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 200 and made.json()["subject"] == BOB
    assert httpx.post(str(browser.base_url) + "/v1/attestations", json=body,
                      headers={"X-CSRF-Token": csrf}).status_code == 401               # no cookie, no bearer
    assert browser.post("/v1/web/logout").status_code == 403
    out = browser.post("/v1/web/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 200 and "trustmesh_token" not in browser.cookies
    assert browser.get("/ui").status_code == 401


def test_the_member_page_joins_trust_with_notes_dates_and_replies(node):
    me = node.id
    made = node.attest(BOB, "delivery", False, note="delivered 3 weeks late", occurred=1_790_000_000_000)
    node.attest(BOB, "skill:python", True, note="clean code")
    node.attest(CAROL, "payment", True)
    page = node.api("GET", f"/v1/members/{BOB}")
    assert page["id"] == BOB and page["me"] is False and page["profile"] is None
    delivery = next(s for s in page["trust"] if s["facet"] == "delivery")
    assert [i["record"] for i in delivery["explanation"]] == [made]
    record = next(r for r in page["records"] if r["id"] == made)
    assert record["note"] == "delivered 3 weeks late" and record["occurred"] == "2026-09-21T14:13:20Z"
    assert "skill:python" in [s["facet"] for s in page["trust"]]
    listed = {m["id"]: m for m in node.api("GET", "/v1/members")}
    assert listed[BOB]["skills"] == ["skill:python"]
    mine = node.api("GET", f"/v1/members/{me}")
    assert mine["me"] is True and mine["trust"] == []
    assert {r["subject"] for r in mine["records"] if r["type"] == "attestation"} >= {BOB, CAROL}
    around = node.api("GET", "/v1/graph", around=BOB)
    assert around["centre"] == BOB and {n["id"]: n["distance"] for n in around["nodes"]}[me] == 1
    assert node.api("GET", "/v1/graph")["centre"] == me
    for bad in (f"/v1/members/nobody", "/v1/graph?around=nobody"):
        assert node._http.get(bad).status_code == 400


def test_a_code_works_once_and_not_after_its_hour():
    from trustmesh.api.webauth import CODE_TTL_S, MAX_CODES, SESSION_S, WebAuth
    web, wall = WebAuth("t" * 43), 1_790_000_000.0
    late, spent, old = web.new_code(0.0), web.new_code(0.0), web.new_code(0.0)
    assert web.redeem(late, CODE_TTL_S + 1, wall) is None
    session = web.redeem(spent, 10.0, wall)
    assert session and web.session_ok(session, wall + 60) and web.redeem(spent, 11.0, wall) is None
    assert not web.session_ok(session, wall + SESSION_S)                  # a login does not last for ever
    for _ in range(MAX_CODES):
        web.new_code(20.0)
    assert web.redeem(old, 21.0, wall) is None                 # the oldest make room, memory stays bounded
    forged = session.rpartition(".")[0] + "." + "0" * 64
    later = f"{int(wall) + 10**6}." + session.split(".", 1)[1]             # its issue time moved on
    for bad in (forged, later, "", "x.y", "1.2.3"):
        assert not web.session_ok(bad, wall + 60), bad
    assert not WebAuth("u" * 43).session_ok(session, wall + 60)            # another node's token
    assert web.csrf_ok(session, web.csrf_for(session)) and not web.csrf_ok(forged, web.csrf_for(session))


def test_without_tcp_there_is_no_login_link_to_make():
    import trio
    from trustmesh.api.app import Api

    async def ask():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(Api(None).app()), base_url="http://n") as c:
            return await c.post("/v1/web/logins")        # the Unix socket's app of a node without --api-tcp
    reply = trio.run(ask)
    assert reply.status_code == 400 and "--api-tcp" in reply.json()["error"]


def test_a_wrong_token_beside_a_good_cookie_mints_nothing(node):
    browser = logged_in(node.api("POST", "/v1/web/logins")["url"])
    page = browser.get("/ui", params={"token": "not-the-token"})
    assert page.status_code == 200 and "set-cookie" not in page.headers
