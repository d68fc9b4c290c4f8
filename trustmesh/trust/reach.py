"""The reach cap: how evenly an early-stopped walk from the viewer has reached a member.

Why this exists. The weights' walk (weights.py) is converged and restarts at
the viewer: its mass falls steeply with every hop. In a world of regional
communities, a sybil region behind 100 attack edges spread over every
community is two hops from any viewer, while a far community behind 10-50
bridge relations is three or four: the walk gave the sybils more weight
than far honest members (measured, 10 communities of 1,000 joined by 100
bridges, 2,000 sybils: AUC honest vs sybil 0.25 by weight, where SybilRank
gets 0.46).

SybilRank's reading (Cao et al., NSDI 2012) is steadier: a plain walk from
the viewer over the undirected relations, stopped after O(log n) steps,
per unit of degree. Inside a region that mixes fast (the viewer's honest
neighbourhood) the walk is spread evenly by then, so every member gets
about the same value per degree; a region behind few relations has only
what crossed them, whatever its inner shape or size.

The cap. ``reach_steps`` times log2 of the members, with unit relations
(a relation's strength is the walk's business; here only whether one
exists), the mean of the last two steps (a walk on a bipartite piece would
otherwise swing between its two sides). A member's reach ``rho`` is its
value per degree against the level above which ``mixed_core`` of the walk's
mass sits (the viewer's mixed region), at most 1; its weight is capped at
``rho ** reach_power``. Members of the viewer's region keep their weight
(rho is 1 there); everyone else, far honest member or sybil, already weighs
very little (1e-4 in the world above), and the cap orders them by the early
stopped walk instead of the converged one. The power is what makes the cap
bind at all: the early-stopped walk is flat next to the converged one
(a far community reads 1/150 of the level, where the converged walk gives
it 1/5000), so a linear cap never falls below the walk's own weight.
Members the viewer vouched for directly are exempt, as from the walk back.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from trustmesh.trust.config import TrustConfig
from trustmesh.trust.relations import Relations


def reach_cap(graph: Relations, data: np.ndarray, viewer: int, config: TrustConfig) -> np.ndarray | None:
    """Per member, the most its weight can be (module docstring); None when the cap is off.

    ``data`` is the general walk's relation values (one per pair, forkers' cut): a pair
    with a positive value is a relation, either way round.
    """
    if config.reach_power <= 0:
        return None
    m = graph.size
    live = (data > 0).astype(np.float32)
    one_way = sp.csr_matrix((live, graph.dst, graph.indptr), shape=(m, m))
    both = one_way + graph.transposed(live)       # both canonical: a merge, no sort
    both.data[:] = 1.0
    degree = np.asarray(both.sum(axis=1), np.float32).ravel()
    per_degree = np.divide(np.float32(1.0), degree, out=np.zeros(m, np.float32), where=degree > 0)
    x = np.zeros(m, np.float32)
    x[viewer] = 1.0
    previous = x
    for _ in range(config.reach_steps * max(1, math.ceil(math.log2(max(m, 2))))):
        previous, x = x, both @ (x * per_degree)
    value = (0.5 * (x + previous)).astype(np.float64) * per_degree
    held = value * degree
    held[viewer] = 0.0
    total = held.sum()
    if total <= 0:
        return np.ones(m)
    order = np.argsort(-value, kind="stable")
    level = value[order[min(int(np.searchsorted(np.cumsum(held[order]), config.mixed_core * total)), m - 1)]]
    rho = np.minimum(value / level, 1.0) if level > 0 else np.ones(m)
    cap = rho ** config.reach_power
    cap[viewer] = 1.0
    return cap
