"""Read-only views that join records and trust: the members my network knows, a neighbourhood,
one member's page.

Blocking functions over a store and a trust engine, run by the node in a
reader thread; the API and the web view only translate them to JSON.
"""

from __future__ import annotations

from collections import defaultdict

from trustmesh.crypto.ids import parse_id, peer_id
from trustmesh.protocol.facets import CORE_FACETS
from trustmesh.protocol.jsonview import record_view, stored_view

MAX_NEIGHBOURS = 200
MAX_SKILLS = 50             # skill facets ranked for the members list
PAGE_RECORDS = 500          # records by, and about, a member on their page


def members(store, engine, now_ms: int, per_facet: int = 500) -> list[dict]:
    """Members ranked on any core facet or skill, with my trust per facet, their skills and profile name."""
    skills = sorted(f for f in engine.load(now_ms).evidence.facets if f.startswith("skill:"))[:MAX_SKILLS]
    found: dict[str, dict] = {}
    for facet in (*CORE_FACETS, *skills):
        for e in engine.rank(facet, per_facet, now_ms):
            found.setdefault(e.subject, {"id": e.subject, "facets": {}})["facets"][facet] = e.to_dict()
    for member in found.values():
        profile = store.profile(parse_id(member["id"]))
        member["name"] = profile.name if profile else None
        member["skills"] = [f for f in member["facets"] if f.startswith("skill:")]
    return sorted(found.values(), key=lambda m: -max(f["lower"] for f in m["facets"].values()))


def neighbourhood(store, engine, me: bytes, now_ms: int, around: bytes | None = None) -> dict:
    """Members within two relations of ``around`` (me by default), nearest first, at most MAX_NEIGHBOURS.

    Why nearest first: past the cap, a member's direct relations matter
    more than the relations of their relations; within a ring the best
    connected are kept. ``left_out`` says how many did not fit.
    """
    centre = around or me
    linked: dict[bytes, set[bytes]] = defaultdict(set)
    edges = store.relations()
    for a, b in edges:
        if a != b:
            linked[a].add(b)
            linked[b].add(a)
    first = linked[centre] - {centre}
    second = set().union(*(linked[k] for k in first)) - first - {centre}
    ranked = [k for ring in (first, second) for k in sorted(ring, key=lambda k: (-len(linked[k]), k))]
    kept = ranked[:MAX_NEIGHBOURS]
    distance = {centre: 0, **{k: 1 if k in first else 2 for k in kept}}
    nodes = []
    for key in sorted(distance):
        scores = [] if key == me else engine.trust(key, None, now_ms)
        known = [s for s in scores if s.evidence]
        best = max(known, key=lambda s: s.lower, default=None)
        profile = store.profile(key)
        nodes.append({"id": peer_id(key), "me": key == me, "centre": key == centre, "distance": distance[key],
                      "name": profile.name if profile else None, "lower": best.lower if best else None,
                      "verdict": getattr(best, "verdict", None) if best else None})
    links = sorted({(peer_id(a), peer_id(b)) for a, b in edges if a in distance and b in distance and a != b})
    return {"centre": peer_id(centre), "nodes": nodes, "links": [{"from": a, "to": b} for a, b in links],
            "left_out": len(ranked) - len(kept)}


def member_page(store, engine, me: bytes, key: bytes, now_ms: int) -> dict:
    """What the web view shows of one member: profile, trust explained, records by and about them.

    Retracted and expired records are kept (flagged): a page that hides
    what was said and taken back hides why a score moved. Replies are those
    of the member and mine, the ones that answer a record on the page.
    """
    every = {"include_retracted": True, "include_expired": True, "now_ms": now_ms, "limit": PAGE_RECORDS}
    about = store.records(subject=key, **every)
    by = store.records(author=key, **every)
    shown = {s.id for s in about} | {s.id for s in by}
    replies = [s for who in {key, me} for s in store.records(author=who, kind="reply", **every)
               if s.record.target in shown]
    scores = [] if key == me else engine.explain(key, None, now_ms)
    people = {key, me}
    for s in (*about, *by):
        people |= {getattr(s.record, f) for f in ("author", "subject", "counterparty")
                   if getattr(s.record, f, None) is not None}
    for score in scores:
        people |= {parse_id(item.author) for item in score.explanation}
    names = {}
    for person in people:
        profile = store.profile(person)
        if profile is not None:
            names[peer_id(person)] = profile.name
    profile = store.profile(key)
    view = [stored_view(s, now_ms) for s in (*about, *by)]
    return {"id": peer_id(key), "me": key == me, "profile": record_view(profile) if profile else None,
            "trust": [score.to_dict() for score in scores if score.evidence or not score.facet.startswith("skill:")],
            "records": sorted({r["id"]: r for r in view}.values(), key=lambda r: r.get("issued") or ""),
            "replies": [stored_view(s, now_ms) for s in replies], "names": names}
