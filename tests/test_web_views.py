"""The views behind the web view (core/views.py) on real SQLite stores: the neighbourhood past
its cap, and one member's page with replies, retractions and names."""

from __future__ import annotations

from tests.conftest import NOW, member
from trustmesh.core.trustview import TrustEngine
from trustmesh.core.views import MAX_NEIGHBOURS, member_page, neighbourhood
from trustmesh.crypto.ids import peer_id


def test_past_the_cap_the_nearest_members_are_kept_and_the_rest_counted(make_ledger):
    me, hub = make_ledger(1), make_ledger(2)
    near = [member(10 + i).public_key for i in range(150)]
    far = [member(170 + i).public_key for i in range(80)]
    me.attest(hub.me, "payment", True)
    for key in near:
        me.attest(key, "quality", True)
    for key in far:
        hub.attest(key, "delivery", True)
    me.ingest(list(hub.store.iter_raw()))
    engine = TrustEngine.for_ledger(me)
    view = neighbourhood(me.store, engine, me.me, NOW)
    ids = {n["id"]: n for n in view["nodes"]}
    assert len(ids) == MAX_NEIGHBOURS + 1 and view["left_out"] == 151 + 80 - MAX_NEIGHBOURS
    assert all(peer_id(k) in ids for k in [*near, hub.me])          # every direct relation is kept
    assert {n["distance"] for n in view["nodes"]} == {0, 1, 2} and ids[peer_id(me.me)]["me"]
    around = neighbourhood(me.store, engine, me.me, NOW, around=hub.me)
    assert around["centre"] == peer_id(hub.me) and around["left_out"] == view["left_out"]
    assert {peer_id(k) for k in far} <= {n["id"] for n in around["nodes"] if n["distance"] == 1}
    assert all(link["from"] in ids and link["to"] in ids for link in view["links"])


def test_a_members_page_has_what_was_said_taken_back_and_answered(make_ledger):
    me, bob = make_ledger(1), make_ledger(2)
    bob.set_profile("Bob", org="Bob's Bikes")
    said = bob.attest(me.me, "payment", False, note="paid late", occurred=NOW - 86_400_000)
    mine = bob.attest(member(9).public_key, "quality", True)
    me.ingest(list(bob.store.iter_raw()))
    me.attest(bob.me, "delivery", True, note="on time")
    answer = me.reply(said.id, "contest", "paid on the agreed date")
    oops = me.attest(bob.me, "quality", False)
    me.retract(oops.id, "wrong member")
    page = member_page(me.store, TrustEngine.for_ledger(me), me.me, bob.me, NOW)
    assert page["profile"]["name"] == "Bob" and page["names"][peer_id(bob.me)] == "Bob"
    records = {r["id"]: r for r in page["records"]}
    assert records[said.id.hex()]["note"] == "paid late" and records[said.id.hex()]["contested"]
    assert records[said.id.hex()]["occurred"] == "2026-09-20T14:13:20Z"
    assert mine.id.hex() in records                                 # what Bob says of others, too
    assert records[oops.id.hex()]["retracted"]                     # kept, flagged
    assert [r["id"] for r in page["replies"]] == [answer.id.hex()]
    delivery = next(s for s in page["trust"] if s["facet"] == "delivery")
    assert delivery["explanation"][0]["first_hand"] and delivery["explanation"][0]["record"] in records
    own = member_page(me.store, TrustEngine.for_ledger(me), me.me, me.me, NOW)
    assert own["me"] and own["trust"] == [] and said.id.hex() in {r["id"] for r in own["records"]}
