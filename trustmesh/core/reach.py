"""The default weight of an author from my point of view: can I reach them?

A stand-in until the trust engine gives real weights: an author has weight
1.0 when a path of deals (either direction) and positive attestations
(author -> subject) leads from me to them, else 0.0. Only used to decide
which records count against the quota for strangers, never to rank anyone.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable


def reachable(me: bytes, edges: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    """Every member reachable from ``me`` along ``edges`` (``me`` included)."""
    out: dict[bytes, list[bytes]] = defaultdict(list)
    for src, dst in edges:
        out[src].append(dst)
    seen = {me}
    todo = deque([me])
    while todo:
        for nxt in out.get(todo.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen
