"""The relation graph, built once per refresh and shared by every walk over it.

Why this exists. The general walk, the walk back and one walk per facet
family (weights.py) all run over the same pairs ``a -> b``; only the values
differ, by how negatives count. Building a sparse matrix per walk sorted the
same 1.5 million records four times (measured on the 1M-record bench store:
a third of the family walks' cost). Here the records are summed per pair
once: ``positive`` (positive attestations and deals) and, per facet family,
``negative`` (the negatives on that family's facets). Every walk's value of
a pair is then a sum of those columns (``values``), and the transpose the
forward walks need is one permutation of the pairs, found once. The same
sort also sums what the camps read (``rated``: camps.signed_ratings, whose
separate build was another sort of the 1M attestations).

The values are what ``weights.relation_matrix`` documents: attestations
count ``undealt_weight`` without a deal, deals ``deal_relation``, all fading
with ``relation_half_life_days``; the net value is cut at zero and damped
with ``log1p``. A pair whose net value is not positive stays in the pattern
with value 0 (it passes no walk mass; ``matrix`` leaves it out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from trustmesh.trust.config import TrustConfig
from trustmesh.trust.evidence import EvidenceTable
from trustmesh.trust.opinion import decay


@dataclass(frozen=True, eq=False)
class Relations:
    """Every pair with any record between them, sorted by (from, to), and their sums."""

    size: int
    indptr: np.ndarray          # CSR row pointers over the pairs (rows: from whom)
    src: np.ndarray             # int32 per pair: from whom
    dst: np.ndarray             # int32 per pair: to whom
    positive: np.ndarray        # per pair: positive attestations and deals, faded
    negative: dict              # facet family -> per pair: that family's negatives, faded
    by_dst: np.ndarray          # the pairs in (to, from) order: the transpose
    t_indptr: np.ndarray        # CSR row pointers of the transpose (rows: to whom)
    equivocators: np.ndarray    # members caught forking their chain
    rated: np.ndarray           # per pair: the signed rating sum the camps read (camps.py)

    def values(self, family: str | None = None) -> np.ndarray:
        """Per pair, the relation strength: negatives of every facet cut it, or with
        ``family`` only that family's (others' count as records of a dealing, unsigned)."""
        net = self.positive.copy()
        for name, amount in self.negative.items():
            if family is None or name == family:
                net -= amount
            else:
                net += amount
        np.maximum(net, 0.0, out=net)
        return np.log1p(net, out=net)

    def touches_equivocator(self) -> np.ndarray | None:
        """Per pair: whether either end is an equivocator (None when there are none)."""
        if not len(self.equivocators):
            return None
        bad = np.zeros(self.size, bool)
        bad[self.equivocators] = True
        return bad[self.src] | bad[self.dst]

    def matrix(self, data: np.ndarray) -> sp.csr_matrix:
        """``data`` (one value per pair) as a CSR matrix, rows from whom; zeros left out."""
        found = sp.csr_matrix((data, self.dst, self.indptr), shape=(self.size, self.size), copy=True)
        found.eliminate_zeros()     # in place: hence the copy, the pattern is shared
        return found

    def ratings(self) -> sp.csr_matrix:
        """Rater x subject net rating strength, repeated ratings damped: ``camps.signed_ratings``."""
        return self.matrix(np.sign(self.rated) * np.log1p(np.abs(self.rated)))

    def transposed(self, data: np.ndarray) -> sp.csr_matrix:
        """``data`` as the transposed CSR matrix (row v: what arrives at v from each member)."""
        return sp.csr_matrix((data[self.by_dst], self.src[self.by_dst], self.t_indptr.copy()),
                             shape=(self.size, self.size))


def relations(evidence: EvidenceTable, now_ms: int, config: TrustConfig) -> Relations:
    """The pairs of ``evidence`` live at ``now_ms`` and their faded sums (module docstring)."""
    ev, m = evidence, evidence.size
    live = np.flatnonzero(ev.expires > now_ms)
    hl = config.relation_half_life_days
    author, subject = ev.author[live], ev.subject[live]
    strength = decay(now_ms - ev.occurred[live], hl)
    strength *= np.where(ev.dealt[live], 1.0, config.undealt_weight)
    positive = ev.positive[live]
    deal = config.deal_relation * decay(now_ms - ev.deal_time, hl)
    # Two sums per pair from one sort: the relations' positive part (real) and the rating the
    # camps read (imaginary: a negative counts negative_weight, nothing when the two never dealt)
    said = np.where(positive, strength, -strength * np.where(ev.pair_dealt[live], config.negative_weight, 0.0))
    vals = np.concatenate([np.where(positive, strength, 0.0) + 1j * said, deal, deal])
    del said
    summed = sp.csr_matrix((vals, (np.concatenate([author, ev.deal_a, ev.deal_b]),
                                   np.concatenate([subject, ev.deal_b, ev.deal_a]))), shape=(m, m))
    del vals                                    # duplicates summed, zeros kept
    indptr, dst = summed.indptr, summed.indices.astype(np.int32, copy=False)
    src = np.repeat(np.arange(m, dtype=np.int32), np.diff(indptr))
    negative = {}
    neg = np.flatnonzero(~positive)
    if len(neg):
        keys = src.astype(np.int64) * m + dst                     # sorted: the CSR is canonical
        where = np.searchsorted(keys, author[neg].astype(np.int64) * m + subject[neg])
        del keys
        family_of = np.array([config.family(f) for f in ev.facets] or ["-"])
        facet = ev.facet[live][neg]
        for family in sorted(set(family_of[np.unique(facet)].tolist())):
            chosen = family_of[facet] == family
            negative[family] = np.bincount(where[chosen], strength[neg][chosen], minlength=len(dst))
    # the transpose's order: a CSR -> CSC conversion (a stable counting sort) of the pair numbers
    numbers = sp.csr_matrix((np.arange(len(dst), dtype=np.float64), dst, indptr), shape=(m, m)).tocsc()
    by_dst = numbers.data.astype(np.int64)
    return Relations(m, indptr, src, dst, summed.data.real.copy(), negative, by_dst, numbers.indptr,
                     np.asarray(ev.equivocators, np.int32), summed.data.imag.copy())
