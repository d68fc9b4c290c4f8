"""The key-rotation row of the harness (issue 15): rotated suppliers keep their rank and negatives.

Apart from ``scenarios.py`` (which names it too, so the rows stay in one
namespace) because it alone builds its worlds with key chains
(``worlds_keys.py``).
"""

from __future__ import annotations

import numpy as np

from trustmesh.trust import DEFAULT, TrustConfig
from trustmesh.trust.verdict import rank_key
from trustmesh.testing import measures as ms
from trustmesh.testing import worlds as ws
from trustmesh.testing import worlds_keys as wk


def rotation_scenario(n: int = 3000, share: float = 0.1, poor: float = 0.2, seed: int = 11, views: int = 5,
                      config: TrustConfig = DEFAULT) -> dict:
    """Suppliers that rotate to a new key halfway keep their rank and their negatives; a new
    key without a link starts as a newcomer.

    World: scale-free, ``poor`` of the members poor suppliers (as in the
    verdicts row); ``share`` of the suppliers rotate halfway (later deals
    and ratings use the new key, which their key chain maps to them:
    ``worlds_keys``). Per viewer, against the same world without rotation:
    each rotated member's place among the suppliers (in ``rank``'s order)
    and its score; the bad ones (30%+ bad deals, 3+ deals) below the line;
    and, at the rotation, the new keys taken without a link. The control:
    the rotated world read without the map (the old key keeps half the history).
    """
    rng = np.random.default_rng(seed)
    world, edges = ws.honest_world(n, rng)
    ws.make_poor(world, poor)
    ws.trade(world, edges)
    suppliers = np.array(sorted(world.supplied))
    moved = rng.choice(suppliers, int(share * len(suppliers)), replace=False)
    rotated, links = wk.rotate(world, moved)
    plain, linked = wk.keyed_table(world, {}), wk.keyed_table(rotated, links)
    apart = wk.keyed_table(rotated, {})                         # the control: keys left unmapped
    unlinked = wk.keyed_table(wk.before(rotated), {})          # the new keys, just taken, no link
    fresh = np.array(sorted(links))
    bad = np.array([s for s in moved if (lambda g, b: g + b >= 3 and b >= 0.3 * (g + b))(*world.supplied[s])])
    same, shift, score_shift, below, below_plain, fresh_unknown, fresh_u, fresh_lower, split = ([] for _ in range(9))
    for v in ms.viewers(world, views, np.setdiff1d(np.arange(n), moved)):
        p, k = ms.opinions(plain, v, config), ms.opinions(linked, v, config)
        others = suppliers[suppliers != v]
        rank_p, rank_k = rank_key(p.verdict, p.lower), rank_key(k.verdict, k.lower)
        place_p = np.array([(rank_p[others] > rank_p[m]).sum() for m in moved])
        place_k = np.array([(rank_k[others] > rank_k[m]).sum() for m in moved])
        same.append(float((place_p == place_k).mean()))
        a = ms.opinions(apart, v, config)
        rank_a = rank_key(a.verdict, a.lower)
        split.append(float((place_p == np.array([(rank_a[others] > rank_a[m]).sum() for m in moved])).mean()))
        shift.append(int(np.abs(place_p - place_k).max()))
        score_shift.append(float(np.abs(p.score[moved] - k.score[moved]).max()))
        if len(bad):
            below.append(float((k.lower[bad] < ms.ACCEPT).mean()))
            below_plain.append(float((p.lower[bad] < ms.ACCEPT).mean()))
        u = ms.opinions(unlinked, v, config)
        fresh_unknown.append(float((u.verdict[fresh] == ms.verdict_codes("unknown")).mean()))
        fresh_u.append(float(u.uncertainty[fresh].mean()))
        fresh_lower.append(float(u.lower[fresh].max()))
    return {"scenario": f"rotation {share:.0%} of {len(suppliers)} suppliers halfway, n={n}",
            "rotated": len(moved), "bad_rotated": len(bad), "rank_same": float(np.mean(same)),
            "rank_shift_max": int(max(shift)), "score_shift_max": float(max(score_shift)),
            "rank_same_without_link": float(np.mean(split)),
            "bad_below_line": float(np.mean(below)) if below else float("nan"),
            "bad_below_line_unrotated": float(np.mean(below_plain)) if below_plain else float("nan"),
            "fresh_unknown": float(np.mean(fresh_unknown)), "fresh_uncertainty": float(np.mean(fresh_u)),
            "fresh_lower_max": float(max(fresh_lower))}
