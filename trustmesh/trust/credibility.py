"""Rater credibility: whose word counts also depends on what trusted members say of them.

A member can earn walk mass honestly as a payer and still lie as a rater
(EigenTrust's collectives and spies). So an author's weight is also
multiplied by a credibility in [0, 1] read from the evidence *about* that
author, judged only by authors nearer to the viewer: members are taken in
layers of hop distance from the viewer over the relation graph, and a
member of layer d is judged from the evidence of members of layers < d
(per facet family: money, work, relation; a member who pays late keeps its
say about others' quality, measured by ``late_payer_scenario``), each counted with its own final weight. The order
is acyclic, so a collective cannot vouch for itself, and the viewer's own
evidence is the anchor.

Credibility presumes good faith: an opinion with base rate ``rater_base``
(0.75) and prior weight ``rater_prior``; nothing known gives expected value
0.75 and full credibility; at 0.5 (as much bad as good) or below it is 0.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order

from trustmesh.trust.config import TrustConfig
from trustmesh.trust.evidence import EvidenceTable
from trustmesh.trust.opinion import decay


def hop_layers(relations: sp.csr_matrix, viewer: int) -> np.ndarray:
    """Hop distance from the viewer over relations; -1 when unreachable."""
    order, pred = breadth_first_order(relations, viewer, directed=True, return_predecessors=True)
    layer = np.full(relations.shape[0], -1, np.int64)
    layer[viewer] = 0
    for node in order[1:]:          # BFS order: a predecessor is always placed first
        layer[node] = layer[pred[node]] + 1
    return layer


def credibility(evidence: EvidenceTable, weight: np.ndarray, layer: np.ndarray, now_ms: int,
                config: TrustConfig, family: str | None = None) -> np.ndarray:
    """Per member, the share of its weight its ratings keep (1 for the viewer and the unjudged).

    With ``family``, only evidence on that facet family judges (a late payer keeps its say
    about quality); without, all facets together.
    """
    ev = evidence
    cred = np.ones(ev.size)
    la, ls = layer[ev.author], layer[ev.subject]
    chosen = (la >= 0) & (ls > la) & (ev.expires > now_ms)
    if family is not None:
        chosen &= np.array([config.family(f) == family for f in ev.facets] + [False])[ev.facet]
    rows = np.flatnonzero(chosen)
    if len(rows) == 0:
        return cred
    half_lives = np.array([config.half_life(f) for f in ev.facets])
    units = decay(now_ms - ev.occurred[rows], half_lives[ev.facet[rows]])
    units *= np.where(ev.dealt[rows], 1.0, config.undealt_weight)
    pos = ev.positive[rows]
    units *= np.where(pos, 1.0, config.negative_weight * np.where(ev.pair_dealt[rows], 1.0, config.slander_weight))
    spent = np.bincount(ev.author[rows], units, minlength=ev.size)
    budget = config.rater_budget * max(1, len(ev.facets) if family is None else
                                       sum(config.family(f) == family for f in ev.facets))
    units *= np.minimum(1.0, np.divide(budget, spent, out=np.ones_like(spent), where=spent > 0))[ev.author[rows]]
    rows_layer = ls[rows]
    order = np.argsort(rows_layer, kind="stable")
    rows, units, pos, rows_layer = rows[order], units[order], pos[order], rows_layer[order]
    bounds = np.flatnonzero(np.r_[True, rows_layer[1:] != rows_layer[:-1], True])
    effective = weight.copy()
    base, prior = config.rater_base, config.rater_prior
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        part = slice(lo, hi)
        authors, subjects = ev.author[rows[part]], ev.subject[rows[part]]
        counted = units[part] * effective[authors]
        r = np.bincount(subjects, np.where(pos[part], counted, 0.0), minlength=ev.size)
        s = np.bincount(subjects, np.where(pos[part], 0.0, counted), minlength=ev.size)
        touched = np.unique(subjects)
        expected = (r[touched] + base * prior) / (r[touched] + s[touched] + prior)
        cred[touched] = np.clip((expected - 0.5) / (base - 0.5), 0.0, 1.0)
        effective[touched] = weight[touched] * cred[touched]
    return cred
