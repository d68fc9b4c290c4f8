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
    # the depth in the BFS tree by pointer jumping: a few whole-array steps, not a loop per member
    up = np.asarray(pred, np.int64)[order]
    position = np.empty(relations.shape[0], np.int64)
    position[order] = np.arange(len(order))
    up = np.where(up >= 0, position[np.maximum(up, 0)], 0)     # parents as positions in ``order``
    depth = np.ones(len(order), np.int64)
    depth[0] = 0                    # the viewer is first, its own parent
    while up.any():
        depth += depth[up]
        up = up[up]
    layer = np.full(relations.shape[0], -1, np.int64)
    layer[order] = depth
    return layer


def rating_units(ev: EvidenceTable, rows: np.ndarray, now_ms: int, config: TrustConfig) -> np.ndarray:
    """Evidence units per attestation row as a judge of raters counts them, before any budget:
    fading with the facet's half-life, ``undealt_weight`` without a deal, ``negative_weight``
    for a negative (``slander_weight`` on top when the pair never dealt)."""
    half_lives = np.array([config.half_life(f) for f in ev.facets])
    units = decay(now_ms - ev.occurred[rows], half_lives[ev.facet[rows]])
    units *= np.where(ev.dealt[rows], 1.0, config.undealt_weight)
    units *= np.where(ev.positive[rows], 1.0, config.negative_weight
                      * np.where(ev.pair_dealt[rows], 1.0, config.slander_weight))
    return units


class Judgements:
    """The evidence that judges raters, from one viewer's layers: each row's author in a
    nearer layer than its subject, its units before the rater budget, sorted by the
    subject's layer. Prepared once and shared by the general and the per-family
    credibility (the sort was most of each call's cost)."""

    def __init__(self, evidence: EvidenceTable, layer: np.ndarray, now_ms: int, config: TrustConfig) -> None:
        ev = evidence
        la, ls = layer[ev.author], layer[ev.subject]
        rows = np.flatnonzero((la >= 0) & (ls > la) & (ev.expires > now_ms))
        del la
        rows_layer = ls[rows]
        del ls
        order = np.argsort(rows_layer, kind="stable")
        self.rows, self.layer = rows[order], rows_layer[order]
        rows = self.rows
        self.pos = ev.positive[rows]
        self.units = rating_units(ev, rows, now_ms, config)
        self.author, self.subject = ev.author[rows], ev.subject[rows]
        self.families = sorted({config.family(f) for f in ev.facets})
        family_of = np.array([self.families.index(config.family(f)) for f in ev.facets] or [0], np.int8)
        self.family = family_of[ev.facet[rows]]          # per row: its facet family's number
        self.size, self.facets = ev.size, ev.facets


def credibility(evidence: EvidenceTable, weight: np.ndarray, layer: np.ndarray, now_ms: int,
                config: TrustConfig, family: str | None = None,
                judged: Judgements | None = None) -> np.ndarray:
    """Per member, the share of its weight its ratings keep (1 for the viewer and the unjudged).

    With ``family``, only evidence on that facet family judges (a late payer keeps its say
    about quality); without, all facets together. ``judged``: the ``Judgements`` of these
    layers, when already made.
    """
    j = Judgements(evidence, layer, now_ms, config) if judged is None else judged
    cred = np.ones(j.size)
    if family is None:
        rows, units, pos, authors, subjects, rows_layer = j.rows, j.units, j.pos, j.author, j.subject, j.layer
    else:
        keep = j.family == (j.families.index(family) if family in j.families else -1)
        rows, units, pos, authors, subjects, rows_layer = (
            x[keep] for x in (j.rows, j.units, j.pos, j.author, j.subject, j.layer))
    if len(rows) == 0:
        return cred
    spent = np.bincount(authors, units, minlength=j.size)
    budget = config.rater_budget * max(1, len(j.facets) if family is None else
                                       sum(config.family(f) == family for f in j.facets))
    units = units * np.minimum(1.0, np.divide(budget, spent, out=np.ones_like(spent), where=spent > 0))[authors]
    bounds = np.flatnonzero(np.r_[True, rows_layer[1:] != rows_layer[:-1], True])
    effective = weight.copy()
    base, prior = config.rater_base, config.rater_prior
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        part = slice(lo, hi)
        counted = units[part] * effective[authors[part]]
        r = np.bincount(subjects[part], np.where(pos[part], counted, 0.0), minlength=j.size)
        s = np.bincount(subjects[part], np.where(pos[part], 0.0, counted), minlength=j.size)
        touched = np.flatnonzero(np.bincount(subjects[part], minlength=j.size))
        expected = (r[touched] + base * prior) / (r[touched] + s[touched] + prior)
        cred[touched] = np.clip((expected - 0.5) / (base - 0.5), 0.0, 1.0)
        effective[touched] = weight[touched] * cred[touched]
    return cred
