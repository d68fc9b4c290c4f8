"""Members that rotate to a new key, in the harness's worlds (issue 15).

A world (``worlds.py``) numbers members; here some of them take a new key
halfway: every deal and attestation from then on, by or about them, uses
the new key. The trust table is then built the way a node builds it, by
the node's own code (``core.trustview.EvidenceColumns``: the columns hold
signing keys, and the key chain's ``key -> member`` map, which the store
reads from ``key_windows``, is applied when the table is built), so the
harness measures what members run. Without the map the new key is a
stranger to the old one: the whitewash case.
"""

from __future__ import annotations

import numpy as np

from trustmesh.core.trustview import EvidenceColumns
from trustmesh.testing.worlds import DAY, FACETS, NOW, World

HALFWAY = NOW - 365 * DAY       # deals in ``worlds.trade`` span the last two years


def rotate(world: World, members, when: int = HALFWAY) -> tuple[World, dict[int, int]]:
    """A copy of ``world`` where each of ``members`` signs and is named by a new key from ``when``
    on; the copy and ``{new key: member}`` (what the members' key chains say)."""
    out = world.copy()
    successor = {int(m): out.add_member(int(world.kind[m]), float(world.quality[m])) for m in members}
    relabel = lambda k: successor.get(k, k)         # noqa: E731
    out.att = [(relabel(a), relabel(s), *rest) if rest[3] >= when else (a, s, *rest)
               for a, s, *rest in out.att]
    out.deals = [(relabel(a), relabel(b), t) if t >= when else (a, b, t) for a, b, t in out.deals]
    return out, {new: old for old, new in successor.items()}


def before(world: World, when: int = HALFWAY) -> World:
    """A copy of ``world`` with only what happened before ``when`` (its members all kept)."""
    out = world.copy()
    out.att = [row for row in out.att if row[5] < when]
    out.deals = [row for row in out.deals if row[2] < when]
    return out


def keyed_table(world: World, links: dict[int, int]):
    """``world``'s evidence as a node's table: the keys in ``links`` mapped to their members."""
    key = lambda i: int(i).to_bytes(8, "big")      # noqa: E731 (worlds.World.table's member ids)
    rows = [a if len(a) == 7 else tuple(a) + (False,) for a in world.att]
    a = np.array(rows, dtype=np.int64).reshape(-1, 7)
    d = np.array(world.deals, dtype=np.int64).reshape(-1, 3)
    cols = EvidenceColumns()
    cols.index = {key(i): i for i in range(world.n)}
    cols.facets = {f: i for i, f in enumerate(FACETS)}
    none = np.full(len(a), -1, np.int32)
    cols.att = {"author": a[:, 0].astype(np.int32), "subject": a[:, 1].astype(np.int32),
                "facet": a[:, 2].astype(np.int16), "positive": a[:, 3].astype(bool),
                "dealt": a[:, 4].astype(bool), "contested": a[:, 6].astype(bool), "occurred": a[:, 5],
                "expires": np.full(len(a), -1, np.int64), "record": np.arange(len(a), dtype=np.int64),
                "deal_p": none, "deal_q": none.copy()}
    cols.deals = {"a": d[:, 0].astype(np.int32), "b": d[:, 1].astype(np.int32), "time": d[:, 2]}
    cols.members = {key(new): key(old) for new, old in links.items()}
    return cols.table()
