"""Read-only views that join records and trust: the members my network knows, my neighbourhood.

Blocking functions over a store and a trust engine, run by the node in a
reader thread; the API and the web view only translate them to JSON.
"""

from __future__ import annotations

from trustmesh.crypto.ids import parse_id, peer_id
from trustmesh.protocol.facets import CORE_FACETS

MAX_NEIGHBOURS = 200


def members(store, engine, now_ms: int, per_facet: int = 500) -> list[dict]:
    """Members ranked on any core facet, with my trust per facet and their profile name."""
    found: dict[str, dict] = {}
    for facet in CORE_FACETS:
        for e in engine.rank(facet, per_facet, now_ms):
            found.setdefault(e.subject, {"id": e.subject, "facets": {}})["facets"][facet] = e.to_dict()
    for member in found.values():
        profile = store.profile(parse_id(member["id"]))
        member["name"] = profile.name if profile else None
    return sorted(found.values(), key=lambda m: -max(f["lower"] for f in m["facets"].values()))


def neighbourhood(store, engine, me: bytes, now_ms: int) -> dict:
    """Members within two relations of me (at most MAX_NEIGHBOURS), with the relations between them."""
    edges = store.relations()
    near = {me} | {b for a, b in edges if a == me} | {a for a, b in edges if b == me}
    near |= {b for a, b in edges if a in near}
    near = set(sorted(near - {me})[:MAX_NEIGHBOURS]) | {me}
    nodes = []
    for key in sorted(near):
        scores = [] if key == me else engine.trust(key, None, now_ms)
        known = [s.lower for s in scores if s.evidence]
        profile = store.profile(key)
        nodes.append({"id": peer_id(key), "me": key == me, "name": profile.name if profile else None,
                      "lower": max(known) if known else None})
    links = sorted({(peer_id(a), peer_id(b)) for a, b in edges if a in near and b in near and a != b})
    return {"nodes": nodes, "links": [{"from": a, "to": b} for a, b in links]}
