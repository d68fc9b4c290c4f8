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
counts nothing here, slander is already discounted where scores are made),
each rater's row scaled by its forward author weight (walk mass against its
core, within the reach cap), so that a region the viewer's walk barely
reaches, sybils for instance, cannot tip it. The camps are read from both
directions of every relation: member x member, what ``a`` said of ``b`` plus
what ``b`` said of ``a``, degree-normalised as in spectral clustering so that a
dense clique of colluders does not dominate. Its leading eigenvector splits
members into two camps such that members of one camp praise each other and
blame the other (structural balance). The vector is found by lazy power
iteration started from the viewer's side (each member at its walk mass times
weight), for at most ``camp_rounds`` rounds: a component the viewer's walk
never reaches stays out of it. Each subject then gets a polarity (which camp
the consensus of its raters puts it in, and how clearly), and each rater an
agreement in [-1, 1]: the share of its rating mass that matches its
subjects' polarity, minus the share that contradicts it.

Why both directions and the forward weight (until 4 December 2026 the split
was the rater x subject matrix's leading singular vector, rows at the full
author weight). A camouflaged collective that serves well 7 times in 10 is
praised by the honest members it serves: read as raters of the same
subjects, honest raters and the collective agree about the collective and
disagree only about honest members, and the collective's blame of those was
weighed at its walk back, next to nothing (a collective is a sink: its
members' walks barely lead back). In a 3,000-member world at 40% malicious,
f=0.7, the split then put 938-1,169 of the collective's 1,200 members on the
honest side for every viewer, and almost every member read *unknown*
(+6.6 points of bad deals). What ``b`` says of ``a`` and the forward weight put
all 1,200 on the other side: the collective's 4,396 units of blame of honest
members against the honest raters' 967 net units of praise of it.

A rater is given the benefit of the doubt worth ``camp_prior`` ratings
(of its own average size) that agree: someone whose only two deals went
badly with members everyone else found good is not silenced for it
(measured on the 1M-record bench store, an honest random world: 1,425
raters lost their word without it, 63 with it), while a spy's twenty
contradicting praises still outweigh it.

Which camp is the viewer's. Three readings, each from -1 to 1, each fooled
by something the others see through (measured on the harness's worlds):

- *lean*: where the viewer's own relations put it (what it said of its
  partners and what they said of it, each partner at its place in the
  vector). A collective inverts its ratings of honest members, so it blames
  an honest viewer it dealt with, which puts the viewer on the other side of
  it even when every partner is a collective member. Fooled when the viewer
  is itself a poor supplier, rightly blamed by every partner: alone, it set
  such viewers against everyone (poor suppliers as viewers in the verdicts
  row's world warned against 13% of good members on average, 41% at worst);
- *vote*: where the viewer's walk lands, each other member at walk mass
  times weight (the rule until 4 December). Fooled by a collective that
  holds the walk through the viewer's partners or a lucky deal: wrong for 44
  of 480 attacked viewers (4 seeds, 20-40% malicious);
- *heads*: where most members the viewer's network reaches are (reach cap at
  least ``witness_reach``), one voice each. Fooled by sybils the reach cap
  lets through: 3,000 sybils behind 100 attack edges praising a 20%
  collective of 3,000 tipped it, and a viewer took 36.5% bad deals when it
  decided alone; a collective that outnumbers the honest members reached
  wins it.

When the lean is clear (at least ``camp_lean``: three in four of its
strength on one side), the three are summed; when the viewer's relations
are split (two spies and one honest partner, or one lucky deal with a
small dense ring beside one honest partner), the head count decides. With
this, all 640 attacked viewers of the grid's worlds (seeds 2-5, 10-40%
malicious, camouflaged and spies) take the honest side (the worst of them,
43-52% bad deals, is a viewer whose every deal went badly: it has no
relation, so nobody's word counts for it whatever the camps), and poor
suppliers as viewers warn against 0.3% of good members. The credibility then goes from
1 (agreement ``camp_agreement`` or more) down to 0 (agreement 0 or less: as
much contradiction as agreement).

Members the viewer's network barely reaches (reach cap under
``witness_reach``, so weighing less than that) who blame nobody the viewer's
camp holds good keep their word: about a far community the camps are a
guess (measured on the communities row at 100 bridges: the AUC fell from
0.465 to 0.439 without this, under SybilRank's 0.462).

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


def camp_credibility(evidence: EvidenceTable, viewer: int, mass: np.ndarray, weight: np.ndarray,
                     now_ms: int, config: TrustConfig, ratings: sp.csr_matrix | None = None,
                     blame: np.ndarray | None = None, cap: np.ndarray | None = None) -> np.ndarray:
    """Per member, the share of its weight its ratings keep for siding against the viewer's camp.

    ``weight``: the forward author weight (walk mass against its core, within the reach cap),
    not the walk back (module docstring). ``ratings``: ``signed_ratings`` of the same evidence
    and time, when already made (``Relations.ratings`` makes them from the sort the relations
    need anyway). ``blame``, when given, is filled in per member: the share of what it says
    that blames members the viewer's camp holds good. ``cap``: the reach cap (reach.py), to
    leave alone the far members who blame nobody.
    """
    m = evidence.size
    cred = np.ones(m)
    if config.camp_rounds <= 0:
        return cred                     # the control: no camps
    if ratings is None:
        ratings = signed_ratings(evidence, now_ms, config)
    counts = np.diff(ratings.indptr)
    rows = np.repeat(np.arange(m), counts)
    scaled = ratings.data * weight[rows]          # each rater's row at its weight
    kept = scaled != 0
    rows, cols, scaled = rows[kept], ratings.indices[kept], scaled[kept]
    rater_deg = np.bincount(rows, np.abs(scaled), minlength=m)
    subject_deg = np.bincount(cols, np.abs(scaled), minlength=m)
    # who says what of whom, both ways: member x member, degree-normalised
    said = sp.csr_matrix((np.r_[scaled, scaled], (np.r_[rows, cols], np.r_[cols, rows])), shape=(m, m))
    said.sum_duplicates()
    whose = np.repeat(np.arange(m), np.diff(said.indptr))
    deg = np.bincount(whose, np.abs(said.data), minlength=m)
    inv = _inv_sqrt(deg)
    said.data *= inv[whose] * inv[said.indices]
    del whose
    x = _camp_vector(said, mass * weight * (deg > 0), config.camp_rounds)
    if x is None:
        return cred
    mine = _my_camp(said, x, viewer, mass, weight, cap, config)
    del said
    if mine == 0.0:
        return cred                     # as many on either side: no camp is mine
    # each subject's polarity: which camp its raters' consensus puts it in, and how clearly
    polarity = np.bincount(cols, scaled * _inv_sqrt(rater_deg)[rows] * x[rows], minlength=m)
    np.divide(polarity, subject_deg, out=polarity, where=subject_deg > 0)
    del rows, cols, scaled, kept
    agree = mine * (ratings @ polarity)
    spread = abs(ratings) @ np.abs(polarity)
    count = counts * (spread > 0)
    benefit = config.camp_prior * np.divide(spread, count, out=np.zeros_like(spread), where=count > 0)
    agreement = np.divide(agree + benefit, spread + benefit, out=np.ones_like(agree), where=spread > 0)
    cred = np.clip(agreement / config.camp_agreement, 0.0, 1.0)
    negatives = ratings.copy()          # what of its spread is blame of members my camp holds good
    np.minimum(negatives.data, 0.0, out=negatives.data)
    found = np.divide(-(negatives @ np.maximum(mine * polarity, 0.0)), spread + benefit,
                         out=np.zeros_like(spread), where=spread > 0)
    if cap is not None:                 # far members who blame nobody: another camp, not liars
        cred[(cap < config.witness_reach) & (found < config.witness_blame)] = 1.0
    if blame is not None:
        blame[:] = found
    return cred


def _my_camp(said: sp.csr_matrix, x: np.ndarray, viewer: int, mass: np.ndarray, weight: np.ndarray,
             cap: np.ndarray | None, config: TrustConfig) -> float:
    """+1 or -1: the side of ``x`` that is mine; 0: neither (module docstring).

    Three readings, each from -1 to 1: where my own relations put me (``lean``), where my walk
    lands (``vote``: walk mass times weight), and where most members my network reaches are
    (``heads``, one voice each). Each is fooled by something the others see through."""
    side = np.sign(x)
    side[viewer] = 0.0                      # the vote and the count are about the others
    reached = side != 0
    if cap is not None:
        reached &= cap >= config.witness_reach
    heads = float(side[reached].mean()) if reached.any() else 0.0
    row = said[viewer]
    lean = _share(row @ x, abs(row) @ np.abs(x))
    if abs(lean) < config.camp_lean:
        return float(np.sign(heads))        # my relations are split: the head count decides
    held = mass * weight
    vote = _share(side * held, np.abs(side) * held)
    return float(np.sign(lean + vote + heads))


def _share(signed, total) -> float:
    """sum(signed) / sum(total), 0 when there is nothing."""
    whole = float(np.sum(total))
    return float(np.sum(signed)) / whole if whole > 0 else 0.0


def _camp_vector(said: sp.csr_matrix, start: np.ndarray, rounds: int):
    """The leading eigenvector of ``said`` by lazy power iteration from ``start`` (None: none).

    Lazy (half the vector kept each round): the eigenvalues of a degree-normalised signed
    matrix lie in [-1, 1], and the plain iteration would also amplify the most negative one.
    """
    size = _length(start)
    if size == 0:
        return None
    x = start / size
    for _ in range(rounds):
        nxt = 0.5 * (x + said @ x)
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
