"""What the trust harness measures on a world (worlds.py), and SybilRank as a baseline.

- sybil share and AUC: walk mass held by sybils, and the chance a random
  honest member's author weight (or walk mass alone) is above a random sybil's;
- SybilRank (Cao et al., NSDI 2012): a plain walk over the deal graph from
  the viewer, stopped early (log2 n rounds), degree-normalised: the baseline
  the walk must at least match on every topology;
- bad deals: a viewer repeatedly picks the best of 5 random members on
  delivery, by ``lower`` or by verdict then ``lower`` (the order ``rank``
  lists them); the share of those deals that go bad (and per viewer, for
  the tails);
- concentration: the share of a group of raters' counted weight that lands
  on the one subject they back most (attackers pile onto their scammer,
  honest raters spread over their partners).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from scipy.stats import rankdata

from trustmesh.trust import VERDICTS, TrustConfig, TrustModel
from trustmesh.trust.verdict import rank_key
from trustmesh.testing.worlds import DAY, DELIVERY, HONEST, NOW, PAYMENT, SYBIL, World

ACCEPT = 0.5       # the acceptance line on ``lower`` the harness's members use
_MODELS: dict = {}  # (table, viewer, config) -> model: a scenario asks several questions of one view


def model(table, viewer: int, config: TrustConfig) -> TrustModel:
    """The viewer's model over ``table`` (the last few kept: the weights cost the most)."""
    key = (id(table), viewer, id(config))
    held = _MODELS.get(key)
    if held is None or held[0] is not table:
        if len(_MODELS) >= 8:
            _MODELS.pop(next(iter(_MODELS)))
        held = _MODELS[key] = (table, TrustModel(table, table.members[viewer], config))
    return held[1]


def auc(good: np.ndarray, bad: np.ndarray) -> float:
    """Chance that a random good member scores above a random bad one (ties count half)."""
    ranks = rankdata(np.concatenate([good, bad]))
    return float((ranks[: len(good)].sum() - len(good) * (len(good) + 1) / 2) / (len(good) * len(bad)))


def viewers(world: World, count: int, among: np.ndarray | None = None) -> list[int]:
    """Honest viewers chosen at random (``among``: only from these members)."""
    honest = np.flatnonzero(world.kind == HONEST) if among is None else among
    return [int(v) for v in world.rng.choice(honest, count, replace=False)]


def sybilrank(world: World, viewer: int) -> np.ndarray:
    """SybilRank's trust from ``viewer``: log2(n) rounds over the undirected deal graph, per degree."""
    d = np.array(world.deals, dtype=np.int64).reshape(-1, 3)
    adj = sp.csr_matrix((np.ones(2 * len(d)), (np.r_[d[:, 0], d[:, 1]], np.r_[d[:, 1], d[:, 0]])),
                        shape=(world.n, world.n))
    adj.data[:] = 1.0
    adj.sum_duplicates()
    adj.data[:] = 1.0
    deg = np.asarray(adj.sum(axis=1)).ravel()
    step = (adj @ sp.diags(np.divide(1.0, deg, out=np.zeros(world.n), where=deg > 0))).tocsr()
    x = np.zeros(world.n)
    x[viewer] = 1.0
    for _ in range(int(math.ceil(math.log2(world.n)))):
        x = step @ x
    return np.divide(x, deg, out=np.zeros(world.n), where=deg > 0)


def sybil_metrics(world: World, table, views: list[int], config: TrustConfig) -> dict:
    """Means over viewers: sybil share of mass, AUC by author weight (what counts), by the
    converged walk's mass alone, and SybilRank's AUC."""
    out = {"sybil_share": [], "auc": [], "auc_walk": [], "auc_sybilrank": []}
    sybil = world.kind == SYBIL
    for v in views:
        found = model(table, v, config).weights(NOW)
        mass = found.mass.copy()
        mass[v] = 0.0
        honest = world.kind == HONEST
        honest[v] = False
        out["sybil_share"].append(mass[sybil].sum() / mass.sum())
        out["auc"].append(auc(found.weight[honest], found.weight[sybil]))
        out["auc_walk"].append(auc(mass[honest], mass[sybil]))
        out["auc_sybilrank"].append(auc(*(lambda t: (t[honest], t[sybil]))(sybilrank(world, v))))
    return {k: float(np.mean(v)) for k, v in out.items()}


def opinions(table, viewer: int, config: TrustConfig, facet: str = "delivery"):
    """The viewer's opinions of every member on ``facet`` (``FacetOpinions``)."""
    return model(table, viewer, config).opinions(facet, NOW)


def verdict_codes(name: str) -> int:
    """The code ``FacetOpinions.verdict`` uses for the verdict ``name``."""
    return VERDICTS.index(name)


def _best_of_five(world: World, viewer: int, key: np.ndarray, count: int, rng) -> np.ndarray:
    """``count`` deals: each the best by ``key`` (ties broken at random) of 5 random members on
    offer (not sybils: they vouch, they are not on offer; not the viewer)."""
    key = key + rng.random(len(key)) * 1e-9
    others = np.flatnonzero(world.kind != SYBIL)
    others = others[others != viewer]
    cand = rng.choice(others, (count, 5))
    return cand[np.arange(count), np.argmax(key[cand], axis=1)]


def bad_deal_rates(world: World, table, views: list[int], config: TrustConfig,
                   trials: int = 2000, by: str = "lower") -> list[float]:
    """Per viewer, the share of bad deals when picking the best of 5 random suppliers by ``lower``,
    or with ``by="verdict"`` in the order ``rank`` lists them (verdict, then ``lower``): the rule
    docs/trust.md gives members. The same candidates either way (one seed)."""
    rng = np.random.default_rng(7)
    rates = []
    for v in views:
        seen = opinions(table, v, config)
        key = seen.lower if by == "lower" else rank_key(seen.verdict, seen.lower)
        pick = _best_of_five(world, v, key, trials, rng)
        rates.append(float((rng.random(trials) >= world.quality[pick]).mean()))
    return rates


def learning_bad_deal_rates(world: World, views: list[int], config: TrustConfig, liar,
                            trials: int = 2000, rounds: int = 10) -> list[list[float]]:
    """Per viewer, the share of bad deals in each of ``rounds`` rounds of ``trials / rounds``
    picks (by verdict, then ``lower``) when the viewer's own deals are put on record after each
    round, as a member's are: it rates each supplier's delivery truthfully, the supplier rates
    its payment (``liar``: who lies, ``worlds.liar_of``), and the next round is picked on the
    view with them. ``bad_deal_rates`` picks every deal on one fixed view: its viewer never
    learns from what happened to it. Each viewer learns on a copy of ``world`` of its own."""
    rng = np.random.default_rng(7)
    per = trials // rounds
    out = []
    for v in views:
        own = world.copy()
        rates = []
        for r in range(rounds):
            table = own.table()
            seen = opinions(table, v, config)
            pick = _best_of_five(own, v, rank_key(seen.verdict, seen.lower), per, rng)
            good = rng.random(per) < own.quality[pick]
            paid = rng.random(per) < own.quality[v]
            when = NOW - DAY * (rounds - r)     # the rounds in order, the last one yesterday
            for s, g, p in zip(pick.tolist(), good.tolist(), paid.tolist()):
                own.deals.append((v, s, when))
                own.att.append((v, s, DELIVERY, g, True, when))
                own.att.append((s, v, PAYMENT, p != liar(s, v), True, when))
            rates.append(float(1.0 - good.mean()))
        out.append(rates)
    return out


def concentration(table, viewer: int, raters: np.ndarray, config: TrustConfig,
                  facet: int = DELIVERY) -> float:
    """Share of ``raters``' counted positive weight on ``facet`` landing on their best-backed subject.

    Counted weight: each (rater, subject) pair at the rater's author weight
    from ``viewer`` (its word, before the per-subject limits).
    """
    found = model(table, viewer, config).weights(NOW)
    if found is None:
        return 0.0
    chosen = np.zeros(table.size, bool)
    chosen[raters] = True
    rows = np.flatnonzero((table.facet == facet) & table.positive & chosen[table.author])
    pairs = np.unique(table.author[rows].astype(np.int64) * table.size + table.subject[rows])
    authors, subjects = pairs // table.size, pairs % table.size
    per_subject = np.bincount(subjects, found.weight[authors], minlength=table.size)
    total = per_subject.sum()
    return float(per_subject.max() / total) if total > 0 else 0.0
