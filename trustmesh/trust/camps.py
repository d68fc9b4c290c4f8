"""Camps: whose ratings agree with the side of the network the viewer stands on.

Why this exists. Walk mass and the credibility layers judge a rater by how
it is *reached* and by what nearer members say *about* it. A spy (EigenTrust's
threat model D) passes both: it serves well, rates its honest partners
truthfully, and is praised for it; it also signs fake deals with a
collective and praises its members, who serve badly. Measured: one viewer
out of five who had dealt with a spy took 58% bad deals. What gives a spy
away is what it *says*: its praise contradicts what everyone else who dealt
with those members reports. Collectives, liars and camouflaged collectives
show the same pattern: their ratings are the mirror image of the honest
ones.

How. Ratings form a signed matrix (rater x subject; a deal-backed rating
counts fully, one without a deal ``undealt_weight``; a negative counts
``negative_weight``; a negative about someone the rater never dealt with
counts nothing here, slander is already discounted where scores are made).
Its leading singular vectors split members into two camps such that raters
of one camp praise the subjects of their camp and blame those of the other
(structural balance; degree-normalised as in spectral clustering so that a
dense clique of colluders does not dominate, and each rater's row scaled by
its author weight so that a region the viewer's walk barely reaches, sybils
for instance, cannot tip it). The vector is found by power iteration
started from the viewer's side (each rater at its walk mass times weight),
for at most ``camp_rounds`` rounds: a component the viewer's walk never
reaches stays out of it, and a long run would drift towards whatever small
perfectly balanced island has the largest singular value (measured on the
1M-record bench store: the result is settled after 30 rounds, then creeps).
Each subject gets a polarity (which camp the consensus puts it in, and how
clearly), and each rater an agreement in [-1, 1]: the share of its rating
mass that matches its subjects' polarity, minus the share that contradicts
it.

A rater is given the benefit of the doubt worth ``camp_prior`` ratings
(of its own average size) that agree: someone whose only two deals went
badly with members everyone else found good is not silenced for it
(measured on the 1M-record bench store, an honest random world: 1,425
raters lost their word without it, 63 with it), while a spy's twenty
contradicting praises still outweigh it.

Which camp is the viewer's: the one holding more of the viewer's walk,
each member counted by walk mass times author weight (mass alone is fooled
by a collective that captured the viewer's walk through a lucky deal; weight
alone by a spy the viewer dealt with; the product was right for every viewer
measured). The credibility then goes from 1 (agreement ``camp_agreement`` or
more) down to 0 (agreement 0 or less: as much contradiction as agreement).
When the viewer's walk is split almost evenly between camps, there is no
clear side to take: the penalty is scaled by the margin of the vote, fully
applied from ``camp_margin`` on. And the vote must agree with a head count
(members whose word counts at least 1%, one voice each): a small dense
collective that the viewer happened to deal well with can hold most of its
walk and win the weighted vote, and would then silence the honest raters
for that viewer. When the two disagree (the camps are *torn*), neither camp
can be taken as mine, so both readings apply, each as clearly as the clearer
of the two leans: a rater keeps the smaller share of its word that siding
with either camp leaves it, so the partisans of both sides lose their word
and what is left is my own experience and raters who side with neither; and
nobody is judged a false witness (``blame`` stays 0: which camp's good
members it blames is the undecided question). Attackers who game the head
count or capture the walk can so silence honest raters only together with
their own (sybils behind few attack edges have far less than 1% each).
Until 3 December 2026 the camps stood aside when torn, which left a viewer
whose walk a camouflaged collective captured to the walk alone: its
malicious partner praised it (lying about two bad deliveries), so the
collective led back to the viewer and passed the walk back, held 37% of the
walk and set the weights' scale; that viewer took 20.7% bad deals (20%
malicious, f=0.7; with both readings: 9.2%).

What a rater's contradiction consists of is also kept (``blame``): the share
of what it says that blames members the viewer's camp holds good. A
collective's members blame the honest members they deal with; a far
community praises its own (which the split may put in the other camp) and
blames nobody. The verdicts warn against the first kind only (verdict.py).

In a network without opposing camps (everyone agrees with everyone, apart
from the odd bad deal) the leading vector has one sign and agreement is
close to 1 for all: nothing changes.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from trustmesh.trust.config import TrustConfig
from trustmesh.trust.evidence import EvidenceTable
from trustmesh.trust.opinion import decay

_TOLERANCE = 1e-4       # change of the unit camp vector between rounds
_HEAD_WEIGHT = 0.01     # members whose word counts at least this much have a say in the head count


def signed_ratings(evidence: EvidenceTable, now_ms: int, config: TrustConfig) -> sp.csr_matrix:
    """Rater x subject matrix of net rating strength; repeated ratings damped (log1p)."""
    ev = evidence
    live = ev.expires > now_ms
    pos = ev.positive[live]
    strength = np.where(ev.dealt[live], 1.0, config.undealt_weight)
    negative = np.where(ev.pair_dealt[live], config.negative_weight, 0.0)
    vals = np.where(pos, strength, -strength * negative)
    vals *= decay(now_ms - ev.occurred[live], config.relation_half_life_days)
    ratings = sp.csr_matrix((vals, (ev.author[live], ev.subject[live])), shape=(ev.size, ev.size))
    ratings.sum_duplicates()
    ratings.data = np.sign(ratings.data) * np.log1p(np.abs(ratings.data))
    ratings.eliminate_zeros()
    return ratings


def camp_credibility(evidence: EvidenceTable, mass: np.ndarray, weight: np.ndarray, now_ms: int,
                     config: TrustConfig, ratings: sp.csr_matrix | None = None,
                     blame: np.ndarray | None = None) -> np.ndarray:
    """Per member, the share of its weight its ratings keep for siding against the viewer's camp.

    ``ratings``: ``signed_ratings`` of the same evidence and time, when already made
    (``Relations.ratings`` makes them from the sort the relations need anyway). ``blame``,
    when given, is filled in per member: the share of what it says that blames members the
    viewer's camp holds good (left 0 where the camps stand aside or are torn).
    """
    m = evidence.size
    cred = np.ones(m)
    if ratings is None:
        ratings = signed_ratings(evidence, now_ms, config)
    rows = np.repeat(np.arange(m), np.diff(ratings.indptr))
    # each rater's row scaled by its weight, then degree-normalised: elementwise, no products
    scaled = ratings.data * weight[rows]
    kept = scaled != 0
    rows, cols, scaled = rows[kept], ratings.indices[kept], scaled[kept]
    rater_deg = np.bincount(rows, np.abs(scaled), minlength=m)
    subject_deg = np.bincount(cols, np.abs(scaled), minlength=m)
    norm = sp.csr_matrix((scaled * _inv_sqrt(rater_deg)[rows] * _inv_sqrt(subject_deg)[cols], cols,
                          np.r_[0, np.cumsum(np.bincount(rows, minlength=m))]), shape=(m, m))
    del rows, cols, scaled, kept
    norm_t = norm.T.tocsr()
    x = _camp_vector(norm, norm_t, mass * weight * (rater_deg > 0), config.camp_rounds)
    if x is None:
        return cred
    side = np.sign(x)
    voters = mass * weight
    vote = (voters @ side) / max(voters @ np.abs(side), 1e-300)
    counted = side[weight >= _HEAD_WEIGHT]
    heads = counted.sum() / max(len(counted), 1)
    torn = heads * vote < 0     # the walk's camp is not the one most of my network is in
    if heads * vote == 0 or (torn and not config.camp_both):
        return cred             # no side (or the control: the camps stand aside when torn)
    polarity = (norm_t @ x) * _inv_sqrt(subject_deg)
    agree = ratings @ polarity
    spread = abs(ratings) @ np.abs(polarity)
    count = np.diff(ratings.indptr) * (spread > 0)
    benefit = config.camp_prior * np.divide(spread, count, out=np.zeros_like(spread), where=count > 0)
    # torn: neither camp can be taken as mine, so both readings apply, each as clearly as the
    # clearer of the two leans (neither side is favoured); a rater keeps the smaller share of
    # its word they leave it
    strength = min(1.0, max(abs(vote), abs(heads) if torn else 0.0) / config.camp_margin)
    for side_of in (vote, heads) if torn else (vote,):
        agreement = np.divide(np.sign(side_of) * agree + benefit, spread + benefit, out=np.ones_like(agree),
                              where=spread > 0)
        np.minimum(cred, 1.0 - strength * (1.0 - np.clip(agreement / config.camp_agreement, 0.0, 1.0)),
                   out=cred)
    if blame is not None and not torn:  # what of its spread is blame of members my camp holds good
        negatives = ratings.copy()
        np.minimum(negatives.data, 0.0, out=negatives.data)
        blame[:] = np.divide(-(negatives @ np.maximum(np.sign(vote) * polarity, 0.0)), spread + benefit,
                             out=np.zeros_like(spread), where=spread > 0)
    return cred


def _camp_vector(norm: sp.csr_matrix, norm_t: sp.csr_matrix, start: np.ndarray, rounds: int):
    """The leading left singular vector of ``norm`` by power iteration from ``start`` (None: none)."""
    size = _length(start)
    if size == 0:
        return None
    x = start / size
    for _ in range(rounds):
        nxt = norm @ (norm_t @ x)
        size = _length(nxt)
        if size == 0:
            return None
        nxt /= size
        done = _length(nxt - x) < _TOLERANCE
        x = nxt
        if done:
            break
    return x


def _length(x: np.ndarray) -> float:
    """The Euclidean length, without BLAS: ``np.linalg.norm`` goes through a threaded dot
    product that took 3 ms instead of 0.2 ms per call on the shared 2-core machine."""
    return float(np.sqrt(np.square(x).sum()))


def _inv_sqrt(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, float)      # degrees summed from an empty set come out as ints
    return np.divide(1.0, np.sqrt(values), out=np.zeros_like(values), where=values > 0)
