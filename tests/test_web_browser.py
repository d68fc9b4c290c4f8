"""The web view in headless Debian chromium, as a member uses it: log in by the printed link,
find a member, name them, attest, accept a deal live, see what is said about me, answer it, open a
member from the list, take back what I said, at phone width.

One browser session and two nodes (the daemon's code, on threads of this process) for the whole
scenario; every wait polls a
condition with a deadline. Screenshots go to tmp_path only.
"""

from __future__ import annotations

import re
import time

import pytest

from trustmesh.testing import InProcessNode

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CAROL = "12D3KooWLuzsaAwxoYj1bDLHrCC4NpLPM6ZCBA6P1dTqVPhfFQ4w"     # a member with no node here


def wait(condition, what: str, timeout: float = 30.0):
    """Poll ``condition`` until it is truthy (its value) or fail after ``timeout`` seconds.

    A live page redraws a list when its data changes: an element found a moment ago may be
    gone or not yet drawn, so a step that touches the page is retried too.
    """
    from selenium.common.exceptions import (
        ElementNotInteractableException, NoSuchElementException, StaleElementReferenceException)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = condition()
        except (StaleElementReferenceException, NoSuchElementException, ElementNotInteractableException):
            found = None
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def forked_member(now_ms: int):
    """A member (its identity) and its key chain forked at position 1: two different device adds."""
    from trustmesh.crypto.keys import Identity
    from trustmesh.protocol import keyevents
    from trustmesh.protocol.keystate import resolve
    from trustmesh.protocol.records import encode, record_id
    member = Identity.generate()
    incept = keyevents.incept(member, Identity.generate().public_key, now_ms)
    state = resolve(member.public_key, [(record_id(encode(incept)), incept)])
    adds = [keyevents.consent(keyevents.add_device(state, member, d.public_key, now_ms), d)
            for d in (Identity.generate(), Identity.generate())]
    return member, [encode(e) for e in (incept, *adds)]


def start_both(tmp_path) -> tuple[InProcessNode, InProcessNode]:
    """Alice (web view on loopback TCP) and Bob: the daemon's code, on threads of this process."""
    alice = InProcessNode(tmp_path / "alice", args=["--api-tcp", "127.0.0.1:0"]).start()
    try:
        return alice, InProcessNode(tmp_path / "bob").start()
    except BaseException:
        alice.stop()
        raise


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_a_member_logs_in_attests_accepts_a_deal_and_sees_it_live(tmp_path, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    alice, bob = start_both(tmp_path)
    try:
        bob.profile("Bob", org="Bob's Bikes")
        alice.connect(bob.addr)
        link = re.search(r"web view (http://\S+/ui/login\?code=\S+)", (alice.home / "node.log").read_text())
        assert link, alice.log_tail()
        d = browser
        find = d.find_element
        # read in one script, so a redraw between finding and reading cannot leave a stale element
        # (an SVG element has no innerText: its textContent)
        text = lambda css: d.execute_script(                                  # noqa: E731
            "return Array.from(document.querySelectorAll(arguments[0]), e => e.innerText ?? e.textContent).join(' ')", css)

        # one-time login: the code leaves the URL bar, the page is live
        d.set_window_size(1100, 1400)
        d.get(link.group(1))
        wait(lambda: find(By.TAG_NAME, "body").get_attribute("data-ready") == "yes", "the page")
        assert d.current_url.endswith("/ui") and "code=" not in d.current_url
        assert find(By.ID, "me").text == alice.id
        wait(lambda: find(By.TAG_NAME, "body").get_attribute("data-live") == "yes", "the event stream")

        # search by id opens Bob's page: his profile name, not his id
        find(By.ID, "search").send_keys(bob.id)
        find(By.CSS_SELECTOR, "#search-form button").click()
        wait(lambda: find(By.ID, "member-name").text == "Bob", "Bob's page")
        assert "Bob's Bikes" in find(By.ID, "member-profile").text

        # attest: the explanation says it in words, with the note and the date
        Select(find(By.ID, "attest-facet")).select_by_visible_text("quality")
        find(By.ID, "attest-note").send_keys("sturdy frames")
        d.execute_script("arguments[0].value = '2026-10-02'", find(By.ID, "attest-date"))  # any locale's order
        find(By.ID, "attest-submit").click()
        wait(lambda: "You said: sturdy frames, 2026-10-02" in find(By.ID, "explanation").text, "my attestation")
        made = [r for r in alice.api("GET", "/v1/records", kind="attestation") if r["note"] == "sturdy frames"]
        assert len(made) == 1 and made[0]["subject"] == bob.id and made[0]["positive"] is True

        # a skill is a facet too, listed on the page and in the list
        Select(find(By.ID, "attest-facet")).select_by_value("skill")
        find(By.ID, "attest-skill").send_keys("welding")
        find(By.ID, "attest-submit").click()
        wait(lambda: d.find_elements(By.CSS_SELECTOR, '#verdicts tr[data-facet="skill:welding"]'), "the skill's row")
        wait(lambda: "welding" in text("tr.member td.skills"), "the skill in the list")

        # my own name for Bob wins over the one he publishes, everywhere on the page
        find(By.ID, "contact-name").clear()
        find(By.ID, "contact-name").send_keys("Bobby")
        find(By.CSS_SELECTOR, "#contact-form button").click()
        wait(lambda: find(By.ID, "member-name").text == "Bobby", "my name for Bob")
        wait(lambda: "Bobby" in find(By.ID, "contacts").text, "Bob in my contacts")
        assert alice.api("GET", "/v1/contacts") == [{"name": "Bobby", "id": bob.id,
                                                     "added": alice.api("GET", "/v1/contacts")[0]["added"]}]

        # the list filters by name as I type
        find(By.ID, "search").clear()
        find(By.ID, "search").send_keys("bobby")                          # my name for him
        wait(lambda: [r.get_attribute("data-id") for r in d.find_elements(By.CSS_SELECTOR, "tr.member")] == [bob.id],
             "Bob alone in the list")
        find(By.ID, "search").send_keys("zz")
        wait(lambda: not d.find_elements(By.CSS_SELECTOR, "tr.member"), "nobody matches")

        # a proposal arrives while the page is open; accept it there
        assert bob.deal(alice.id, ref="PO-7", role="supplier")["status"] == "pending"
        wait(lambda: d.find_elements(By.CSS_SELECTOR, "li.pending-deal button.deal-accept"), "the proposal, live")
        assert "Bobby proposes" in text("li.pending-deal")
        wait(lambda: find(By.CSS_SELECTOR, "li.pending-deal button.deal-accept").click() or True, "Accept")
        wait(lambda: d.find_elements(By.CSS_SELECTOR, "#records li.record.deal"), "the deal on Bob's page")
        assert "me client of Bobby" in text("#records li.record.deal")      # Bob proposed as the supplier
        wait(lambda: bob.api("GET", "/v1/records", kind="deal"), "the deal at Bob's node")

        # Bob says something about me: it shows up live, and I answer it
        bob.attest(alice.id, "payment", True, note="paid within a week")
        wait(lambda: "paid within a week" in find(By.ID, "about-me").text, "Bob's word about me, live")

        def answer():
            form = find(By.CSS_SELECTOR, "#about-me form.reply-form")
            form.find_element(By.CSS_SELECTOR, "input.reply-note").send_keys("thanks")   # focus holds redraws
            Select(form.find_element(By.CSS_SELECTOR, "select.reply-stance")).select_by_value("acknowledge")
            form.find_element(By.CSS_SELECTOR, "button").click()
            return True
        wait(answer, "the reply form")
        wait(lambda: "me acknowledges: “thanks”" in find(By.ID, "about-me").text, "my reply")

        # what my supplier says of someone else, in words
        bob.attest(CAROL, "delivery", True, note="on time, every time")
        d.execute_script(f"location.hash = '#/member/{CAROL}'")
        wait(lambda: "Bobby (your supplier) said: on time, every time" in find(By.ID, "explanation").text,
             "Bob's word about Carol, explained")
        # a member whose key chain is forked: "disputed" wherever their verdict is shown
        from trustmesh.core.ledger import now_ms
        dave, chain = forked_member(now_ms() - 60_000)
        assert alice.import_raws(chain)["accepted"] == 3
        assert alice.api("GET", f"/v1/keys/{dave.id}")["disputed"] is True
        word = bob.attest(dave.id, "delivery", True, note="fast")
        wait(lambda: alice.has([word]), "Bob's word about Dave at Alice's node")
        d.execute_script(f"location.hash = '#/member/{dave.id}'")
        wait(lambda: find(By.ID, "member-disputed").is_displayed(), "the disputed badge on Dave's page")
        cell = '#verdicts tr[data-facet="delivery"] td.verdict'
        wait(lambda: "disputed" in text(f"{cell} .badge.disputed"), "the badge beside Dave's verdict")
        assert "recommended" not in text(cell)
        assert "disputed" in text("#explanation h4")
        d.execute_script(f"location.hash = '#/member/{bob.id}'")
        wait(lambda: find(By.ID, "member-name").text == "Bobby", "Bob's page")
        assert not find(By.ID, "member-disputed").is_displayed() and not text("#verdicts .badge")

        # back to the overview: Dave's row says disputed, Bob's does not; from Bob's row to his page
        d.execute_script("location.hash = '#'")
        wait(lambda: not find(By.ID, "member").is_displayed(), "the overview")
        find(By.ID, "search").clear()
        find(By.ID, "search").send_keys(dave.id[-12:])
        wait(lambda: "disputed" in text(f'tr.member[data-id="{dave.id}"] .badge.disputed'), "Dave's row, disputed")
        find(By.ID, "search").clear()
        find(By.ID, "search").send_keys("bobby")                        # Bob alone again
        wait(lambda: [r.get_attribute("data-id") for r in d.find_elements(By.CSS_SELECTOR, "tr.member")] == [bob.id],
             "Bob alone in the list")
        assert not text("tr.member .badge")
        wait(lambda: find(By.CSS_SELECTOR, f'tr.member[data-id="{bob.id}"]').click() or True, "Bob's row")
        wait(lambda: find(By.ID, "member-name").text == "Bobby", "Bob's page again")

        # take my attestation back: it stays on the page, flagged, and stops counting
        mine = f'#records li.record[data-id="{made[0]["id"]}"]'

        def retract():
            item = find(By.CSS_SELECTOR, mine)
            item.find_element(By.CSS_SELECTOR, "button.retract").click()
            item.find_element(By.CSS_SELECTOR, "input.retract-reason").send_keys("wrong order")
            item.find_element(By.CSS_SELECTOR, ".retract-form button").click()
            return True
        wait(retract, "the retract form")
        wait(lambda: "retracted" in find(By.CSS_SELECTOR, mine).get_attribute("class"), "the retraction")
        assert "sturdy frames" not in find(By.ID, "explanation").text

        # a second proposal, declined
        bob.deal(alice.id, ref="PO-8", role="client")
        wait(lambda: find(By.CSS_SELECTOR, "li.pending-deal button.deal-decline").click() or True, "Decline")
        wait(lambda: not d.find_elements(By.CSS_SELECTOR, "li.pending-deal"), "no proposal left")
        assert alice.api("GET", "/v1/deals/pending") == []

        # the graph is centred on Bob and labelled
        wait(lambda: "Bobby" in text("#graph text.graph-label"), "labels in the graph")
        wait(lambda: {e.get_attribute("data-id") for e in d.find_elements(By.CSS_SELECTOR, "circle.graph-node")}
             >= {alice.id, bob.id}, "Alice and Bob in the graph")
        d.save_screenshot(str(tmp_path / "member.png"))

        # phone width: nothing scrolls sideways, on the member page and the overview
        d.set_window_size(400, 900)
        fits = "return document.scrollingElement.scrollWidth <= window.innerWidth && window.innerWidth <= 400"
        wait(lambda: d.execute_script(fits), "no sideways scroll on a member's page", timeout=5)
        d.save_screenshot(str(tmp_path / "phone-member.png"))
        d.execute_script("location.hash = '#'")
        wait(lambda: not find(By.ID, "member").is_displayed(), "the overview")
        assert d.execute_script(fits), "the overview scrolls sideways at 400 px"
        d.save_screenshot(str(tmp_path / "phone.png"))
        assert (tmp_path / "phone.png").stat().st_size > 5000

        # the older login by the token: the page takes it out of the URL bar at once
        token = (alice.home / "api.token").read_text().strip()
        d.get(link.group(1).split("/ui/")[0] + f"/ui?token={token}")
        wait(lambda: find(By.TAG_NAME, "body").get_attribute("data-ready") == "yes", "the page again")
        assert "token" not in d.current_url and d.current_url.endswith("/ui")
    finally:
        alice.stop()
        bob.stop()
