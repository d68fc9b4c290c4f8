"""Whose word counts: author weights from the viewer's place in the graph of real relations.

Theory of operation. A relation ``a -> b`` is what ``a`` has put on record
about ``b``: positive attestations (a deal-backed one counts fully, others
``undealt_weight``), minus negative ones, plus ``deal_relation`` per deal
the two signed, all fading with ``relation_half_life_days``. Only the net
positive part is a relation (as in EigenTrust's local trust
``max(sat - unsat, 0)``), so a deal that went wrong passes no trust. Repeated
records between one pair are damped (``log1p``) so that two members cannot
pump their tie by signing many records.

The weight of an author is a personalized PageRank from the viewer alone:
a walk starts at the viewer, follows relations in proportion to their
strength, and stops with probability ``restart`` at each step (then starts
again at the viewer). Hence:

- no path from the viewer, no weight, however many others praise someone;
- trust fades along long chains (``restart`` is MeritRank's transitivity
  decay);
- a sybil region reached through ``g`` attack edges can hold only the walk
  mass that crosses those edges, whatever its size;
- MeritRank's connectivity decay: a member whose incoming walk mass comes
  for more than ``bridge_threshold`` through one single other member (not
  the viewer) loses up to ``bridge_penalty`` of what arrives, and so does
  everyone behind that bridge; then the walk is run again;
- members caught forking their chain neither receive nor pass on trust.

Walk mass is turned into an author weight in [0, 1] against a reference
level that sybils cannot move: the level above which ``weight_core`` of the
mass (viewer excluded) sits. Members above it weigh 1.

The walk back. Trust that flows into a group whose members only vouch for
each other (a collective: they rate everyone outside badly and praise each
other) never comes out again: the group is a sink, and its members end up
with as much walk mass as honest members, so their praise of each other
counted fully (measured: a camouflaged collective's members weighed 0.96,
honest members 0.37). So an author must also lead back: the walk from the
author along its own relations must reach the viewer (reverse personalized
PageRank, same restart). Honest members, whose relations point at the
honest network around the viewer, do; a sink's members barely do. The
author's weight is the smaller of the two, each scaled against its core
(``weight_core``, ``reach_core``); members the viewer has a relation with
directly are exempt from the walk back (the viewer vouched for them). Both are capped by the reach (reach.py):
how evenly an early-stopped walk has spread to the author, so that sybils two steps away do not
outweigh a far community the converged walk reads as four steps away. That weight is then multiplied by the
author's credibility as a rater: what nearer members say about it (credibility.py), whether its
ratings side with the viewer's camp or against it (camps.py), and whether they match the viewer's own
deal-backed experience of the members both rated (firsthand.py). When the camps take members' word
away, both cores are measured again among the members whose word counts (mass times camp
credibility): a collective that captured half of a viewer's walk through two lucky deals would
otherwise set the level and push every honest member's weight down (measured: the camouflaged
collective's rise over four worlds fell from 1.97 to 1.62 points).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from trustmesh.trust.camps import camp_credibility
from trustmesh.trust.config import TrustConfig
from trustmesh.trust.credibility import Judgements, credibility, hop_layers
from trustmesh.trust.evidence import EvidenceTable
from trustmesh.trust.firsthand import firsthand_credibility
from trustmesh.trust.opinion import decay
from trustmesh.trust.reach import reach_cap
from trustmesh.trust.relations import Relations, relations
from trustmesh.trust.support import pair_filter


@dataclass(frozen=True, eq=False)
class AuthorWeights:
    """The viewer's weights over members, and what is needed to explain them."""

    viewer: int
    mass: np.ndarray        # personalized PageRank mass per member (sums to 1)
    weight: np.ndarray      # author weight in [0, 1]; the viewer's is 1
    inflow: sp.csr_matrix   # row v: walk mass arriving at v from each member
    iterations: int
    credibility: np.ndarray  # the share of its weight each rater keeps (credibility.py, camps.py)
    families: dict = None   # facet family -> (weight, credibility) judged on that family alone
    reach: np.ndarray | None = None  # the weight from the walks alone, before any rater credibility
    camp: np.ndarray | None = None   # the share of its word each rater keeps for what it says (camps.py)
    blame: np.ndarray | None = None  # the share of what it says that blames members my camp holds good
    cap: np.ndarray | None = None    # the reach cap per member (reach.py; None: the cap is off)

    @cached_property
    def inflow_total(self) -> np.ndarray:
        """Per member, all the walk mass arriving at it from others."""
        rows = np.repeat(np.arange(self.inflow.shape[0]), np.diff(self.inflow.indptr))
        return np.bincount(rows, self.inflow.data, minlength=self.inflow.shape[0])

    @cached_property
    def inflow_filter(self) -> np.ndarray:
        """A Bloom filter of the inflow's entries (``support.pair_filter``)."""
        return pair_filter(self.inflow)

    def weight_for(self, family: str) -> np.ndarray:
        """Author weights for ratings in one facet family (``TrustConfig.family``)."""
        held = (self.families or {}).get(family)
        return self.weight if held is None else held[0]

    def credibility_for(self, family: str) -> np.ndarray:
        """The rater credibility used for one facet family."""
        held = (self.families or {}).get(family)
        return self.credibility if held is None else held[1]

    def chain(self, member: int, max_length: int = 8) -> list[int] | None:
        """The strongest chain of relations viewer -> ... -> ``member``, or None.

        Walks back from ``member`` along the in-relation carrying most mass.
        """
        if member == self.viewer:
            return [member]
        if self.mass[member] <= 0:
            return None
        path = [member]
        seen = {member}
        current = member
        while current != self.viewer and len(path) <= max_length:
            lo, hi = self.inflow.indptr[current], self.inflow.indptr[current + 1]
            sources, flows = self.inflow.indices[lo:hi], self.inflow.data[lo:hi]
            best, best_flow = -1, 0.0
            for source, flow in zip(sources.tolist(), flows.tolist()):
                if source == self.viewer and flow > 0:
                    best = source
                    break
                if flow > best_flow and source not in seen:
                    best, best_flow = source, flow
            if best < 0:
                return None
            path.append(best)
            seen.add(best)
            current = best
        return path[::-1] if current == self.viewer else None


def relation_matrix(evidence: EvidenceTable, now_ms: int, config: TrustConfig,
                    family: str | None = None) -> sp.csr_matrix:
    """The relation strengths a -> b as a sparse matrix (rows: from whom).

    With ``family``, the relations a rater's word in that facet family travels along: an
    attestation on another family is a record of a real dealing whichever way it went, so
    it counts as a relation unsigned (a late payment does not cut the trust that makes its
    payer's quality ratings count).

    The weights do not call this (they build every walk's values on one shared pattern,
    ``relations.py``); it is the plain reference ``bench/trust.py`` times one scipy
    personalized PageRank on, and the same matrix as ``Relations.matrix`` of those values.
    """
    m = evidence.size
    live = evidence.expires > now_ms
    hl = config.relation_half_life_days
    sign = np.where(evidence.positive[live], 1.0, -1.0)
    if family is not None:
        sign[~_in_family(evidence, config, family)[evidence.facet[live]]] = 1.0
    strength = np.where(evidence.dealt[live], 1.0, config.undealt_weight)
    att = sign * strength * decay(now_ms - evidence.occurred[live], hl)
    deal = config.deal_relation * decay(now_ms - evidence.deal_time, hl)
    rows = np.concatenate([evidence.author[live], evidence.deal_a, evidence.deal_b])
    cols = np.concatenate([evidence.subject[live], evidence.deal_b, evidence.deal_a])
    vals = np.concatenate([att, deal, deal])
    rel = sp.csr_matrix((vals, (rows, cols)), shape=(m, m))
    rel.sum_duplicates()
    np.maximum(rel.data, 0.0, out=rel.data)
    np.log1p(rel.data, out=rel.data)
    rel.eliminate_zeros()
    if len(evidence.equivocators):
        keep = np.ones(m)
        keep[evidence.equivocators] = 0.0
        mask = sp.diags(keep)
        rel = (mask @ rel @ mask).tocsr()
        rel.eliminate_zeros()
    return rel


def _in_family(evidence: EvidenceTable, config: TrustConfig, family: str) -> np.ndarray:
    """Per facet index: whether it is in ``family``."""
    return np.array([config.family(f) == family for f in evidence.facets], bool)


def _step(graph: Relations, data: np.ndarray, cut: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per pair, the share of its source's walk it carries (``data`` over the source's total),
    and the totals; ``cut`` pairs carry nothing (after the totals are taken)."""
    out = np.bincount(graph.src, data, minlength=graph.size)
    inv = np.divide(1.0, out, out=np.zeros(graph.size), where=out > 0)
    share = data * inv[graph.src]
    if cut is not None:
        share[cut] = 0.0
    return share, out


def _family_walks(graph: Relations, evidence: EvidenceTable, viewer: int, config: TrustConfig,
                  factor, mass: np.ndarray) -> dict:
    """Per facet family: the walk mass over that family's relations (``relation_matrix``).

    Only for families that other families' negatives would otherwise cut; the others
    share the general walk. The bridge penalty of the general walk is kept, and the walk
    starts from the general mass (the two differ little). All walks share one pattern
    (``relations.py``): only the values differ.
    """
    families = sorted({config.family(x) for x in evidence.facets})
    wanted = [f for f in families if any(name != f for name in graph.negative)]
    walks = {}
    cut = graph.touches_equivocator()
    for family in wanted:
        share, _ = _step(graph, graph.values(family), cut)
        if factor is not None:
            share *= factor[graph.dst]
        found, _ = _walk(graph.transposed(share), viewer, config, mass.copy())
        if len(evidence.equivocators):
            found[evidence.equivocators] = 0.0
        walks[family] = found
    return walks


def author_weights(evidence: EvidenceTable, viewer: int, now_ms: int,
                   config: TrustConfig) -> AuthorWeights:
    """The viewer's author weights at ``now_ms`` (see the module docstring)."""
    graph = relations(evidence, now_ms, config)
    data = graph.values()
    cut = graph.touches_equivocator()
    if cut is not None:             # forkers neither receive nor pass on trust
        data[cut] = 0.0
    share, out = _step(graph, data, None)
    step_t = graph.transposed(share)     # row v: share of each u's walk going to v
    mass, n1 = _walk(step_t, viewer, config, None)
    factor = _bridge_factor(step_t, mass, viewer, config)
    if factor is not None:
        step_t = graph.transposed(share * factor[graph.dst])
        mass, n2 = _walk(step_t, viewer, config, mass)
        n1 += n2
    if len(evidence.equivocators):
        mass[evidence.equivocators] = 0.0
    inflow = sp.csr_matrix((step_t.data * (mass * (1.0 - config.restart))[step_t.indices],
                            step_t.indices, step_t.indptr), shape=step_t.shape, copy=True)
    inflow.eliminate_zeros()
    back = _walk_back(graph, share, viewer, config)
    if len(evidence.equivocators):
        back[evidence.equivocators] = 0.0
    rel = graph.matrix(data)
    vouched = rel.indices[rel.indptr[viewer]:rel.indptr[viewer + 1]]     # whom I vouch for myself
    cap = reach_cap(graph, data, viewer, config)
    if cap is not None:
        cap[vouched] = 1.0      # exempt from the cap, so fully reached (as in _Scaler)
    scaled = _Scaler(back, viewer, vouched, config, cap)
    weight = scaled(mass, None)
    layers = hop_layers(rel, viewer)
    del rel
    judged = Judgements(evidence, layers, now_ms, config)
    cred = credibility(evidence, weight, layers, now_ms, config, judged=judged)
    walks = _family_walks(graph, evidence, viewer, config, factor, mass)
    ratings = graph.ratings()
    del graph, data, share
    families, family_weight = {}, {}
    for family in sorted({config.family(f) for f in evidence.facets}):
        own = walks.get(family)
        family_weight[family] = weight if own is None else scaled(own, None)
        families[family] = credibility(evidence, family_weight[family], layers, now_ms, config, family, judged)
    blame = np.zeros(evidence.size)
    camp = camp_credibility(evidence, viewer, mass, scaled.forward(mass), now_ms, config, ratings, blame, cap)
    if (camp < 1.0).any():      # the core is measured among those whose word counts
        weight = scaled(mass, camp)
        for family, own in walks.items():
            family_weight[family] = scaled(own, camp)
    checked = firsthand_credibility(evidence, viewer, now_ms, config, list(families))
    cred *= checked[None]
    for family, held in families.items():
        held *= checked[family]
    for held in [cred] + list(families.values()):
        held *= camp
        held[viewer] = 1.0
    families = {f: ((weight if f not in walks else family_weight[f]) * c, c) for f, c in families.items()}
    return AuthorWeights(viewer, mass, weight * cred, inflow, n1, cred, families, weight, camp, blame, cap)


class _Scaler:
    """The smaller of forward and back weight, each scaled against its core (of ``counted``),
    and of the reach cap (reach.py) when there is one.

    The back weight depends only on ``counted``: it is scaled once per ``counted`` and kept.
    """

    def __init__(self, back, viewer, vouched, config: TrustConfig, cap=None) -> None:
        self.back, self.viewer, self.vouched, self.config = back, viewer, vouched, config
        self.cap = cap
        self._leads_back: tuple | None = None
        self._forward: tuple | None = None     # (mass, its forward weight) of the last call

    def __call__(self, mass, counted) -> np.ndarray:
        if self._leads_back is None or self._leads_back[0] is not counted:
            leads_back = _to_weight(self.back, self.viewer, self.config.reach_core, counted)
            if self.cap is not None:
                np.minimum(leads_back, self.cap, out=leads_back)
            leads_back[self.vouched] = 1.0
            self._leads_back = (counted, leads_back)
        weight = _to_weight(mass, self.viewer, self.config.weight_core, counted)
        if counted is None:
            self._forward = (mass, weight)
        return np.minimum(weight, self._leads_back[1])

    def forward(self, mass) -> np.ndarray:
        """The forward weight alone (within the reach cap): what the camps scale ratings by
        (the one ``__call__`` just made for the same ``mass``, not sorted again)."""
        if self._forward is not None and self._forward[0] is mass:
            weight = self._forward[1]
        else:
            weight = _to_weight(mass, self.viewer, self.config.weight_core)
        return weight if self.cap is None else np.minimum(weight, self.cap)


def _walk(step_t: sp.csr_matrix, viewer: int, config: TrustConfig, start):
    """Personalized PageRank by power iteration; lost mass restarts at the viewer."""
    m = step_t.shape[0]
    if start is None:
        x = np.zeros(m)
        x[viewer] = 1.0
    else:
        x = start
    keep = 1.0 - config.restart
    for n in range(1, config.max_iterations + 1):
        y = keep * (step_t @ x)
        y[viewer] += 1.0 - y.sum()
        if np.abs(y - x).sum() < config.tolerance:
            return y, n
        x = y
    return x, config.max_iterations


def _walk_back(graph: Relations, share: np.ndarray, viewer: int, config: TrustConfig) -> np.ndarray:
    """Per member u: how much of u's own personalized walk ends at the viewer (reverse PPR).

    b = restart * e_viewer + (1 - restart) * P b, with P the row-normalised relations
    (``share``, one value per pair); the viewer's own value is pinned at 1 (it is the
    anchor, not a member to judge).
    """
    m = graph.size
    step = sp.csr_matrix((share, graph.dst, graph.indptr), shape=(m, m))   # only read: no copy
    keep = 1.0 - config.restart
    b = np.zeros(m)
    b[viewer] = 1.0
    for _ in range(config.max_iterations):
        nxt = keep * (step @ b)
        nxt[viewer] = 1.0
        if np.abs(nxt - b).sum() < config.tolerance:
            return nxt
        b = nxt
    return b


def _bridge_factor(step_t: sp.csr_matrix, mass: np.ndarray, viewer: int, config: TrustConfig):
    """Per member, the share of incoming trust it keeps (None when nobody is penalized)."""
    if config.bridge_penalty <= 0:
        return None
    flows = np.append(step_t.data * mass[step_t.indices], 0.0)  # a pad for empty rows
    indptr = step_t.indptr
    total = np.add.reduceat(flows, indptr[:-1])
    from_others = np.where(np.append(step_t.indices, -1) == viewer, 0.0, flows)
    top = np.maximum.reduceat(from_others, indptr[:-1])
    empty = indptr[:-1] == indptr[1:]
    total[empty] = 0.0
    top[empty] = 0.0
    share = np.divide(top, total, out=np.zeros_like(total), where=total > 0)
    t = config.bridge_threshold
    excess = np.clip((share - t) / (1.0 - t), 0.0, 1.0)
    if not excess.any():
        return None
    return 1.0 - config.bridge_penalty * excess


def _to_weight(mass: np.ndarray, viewer: int, core: float, counted=None) -> np.ndarray:
    """Walk mass scaled to [0, 1] against the level of the core; the viewer weighs 1.

    With ``counted`` (a share per member), the core is found in ``mass * counted``.
    """
    others = mass.copy()
    others[viewer] = 0.0
    held = others if counted is None else others * counted
    total = held.sum()
    weight = np.zeros_like(mass)
    if total > 0:
        desc = np.sort(held[held > 0])[::-1]
        level = desc[min(int(np.searchsorted(np.cumsum(desc), total * core)), len(desc) - 1)]
        weight = np.minimum(others / level, 1.0)
    weight[viewer] = 1.0
    return weight
