"""The evidence a viewer holds, as columns: what the model reads, nothing more.

The node adapter fills an ``EvidenceTable`` straight from SQLite columns; the
attack harness fills it from synthetic networks. Either way the model sees
only members as dense integers, attestations and deals, with retracted
records already left out (expired ones are left out at query time, since
that depends on the time of the question).

Attestations are kept sorted by (facet, subject, author), so the evidence
about one subject and facet is one contiguous slice found by binary search,
and one author's evidence inside it is contiguous too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

NEVER = np.iinfo(np.int64).max


@dataclass(frozen=True, eq=False)
class EvidenceTable:
    """Columns of attestations and deals between ``members`` (indexes into it)."""

    members: tuple[bytes, ...]
    index: dict[bytes, int]
    facets: tuple[str, ...]
    # attestations, sorted by (facet, subject, author)
    author: np.ndarray          # int32
    subject: np.ndarray         # int32
    facet: np.ndarray           # int16, index into ``facets``
    positive: np.ndarray        # bool
    dealt: np.ndarray           # bool: backed by a deal both parties signed
    contested: np.ndarray       # bool: the subject replied "contest"
    occurred: np.ndarray        # int64 ms
    expires: np.ndarray         # int64 ms, NEVER when none
    record: np.ndarray          # int64: an opaque record key (the store's row id)
    pair_dealt: np.ndarray      # bool: author and subject share at least one deal
    key: np.ndarray             # int64: facet * len(members) + subject, sorted
    # deals (unordered pairs)
    deal_a: np.ndarray          # int32
    deal_b: np.ndarray          # int32
    deal_time: np.ndarray       # int64 ms
    equivocators: np.ndarray    # int32: members caught forking their chain

    @property
    def size(self) -> int:
        return len(self.members)

    def slice_of(self, subject: int, facet: int) -> slice:
        """The rows about ``subject`` on ``facet`` (empty slice when none)."""
        k = facet * self.size + subject
        lo = int(np.searchsorted(self.key, k, "left"))
        hi = int(np.searchsorted(self.key, k, "right"))
        return slice(lo, hi)

    def facet_slice(self, facet: int) -> slice:
        """The rows about any subject on ``facet``."""
        lo = int(np.searchsorted(self.key, facet * self.size, "left"))
        hi = int(np.searchsorted(self.key, (facet + 1) * self.size, "left"))
        return slice(lo, hi)

    def facets_of(self, subject: int) -> list[str]:
        """The facets on which ``subject`` has any evidence."""
        return [f for i, f in enumerate(self.facets) if self.slice_of(subject, i).stop
                > self.slice_of(subject, i).start]


def build_table(members: Sequence[bytes], facets: Sequence[str], *, author, subject, facet,
                positive, dealt=None, contested=None, occurred, expires=None, record=None,
                deal_a=(), deal_b=(), deal_time=(), equivocators=()) -> EvidenceTable:
    """An ``EvidenceTable`` from unsorted columns (any array-likes of equal length).

    ``expires`` may hold -1 or ``NEVER`` for "no expiry"; ``record`` defaults
    to the row number. The columns are copied and sorted; inputs are not kept.
    """
    n = len(author)
    m = len(members)
    author = np.asarray(author, dtype=np.int32)
    subject = np.asarray(subject, dtype=np.int32)
    facet = np.asarray(facet, dtype=np.int16)
    positive = np.asarray(positive, dtype=bool)
    dealt = np.zeros(n, bool) if dealt is None else np.asarray(dealt, dtype=bool)
    contested = np.zeros(n, bool) if contested is None else np.asarray(contested, dtype=bool)
    occurred = np.asarray(occurred, dtype=np.int64)
    expires = np.full(n, NEVER, np.int64) if expires is None else np.asarray(expires, dtype=np.int64)
    expires = np.where(expires < 0, NEVER, expires)
    record = np.arange(n, dtype=np.int64) if record is None else np.asarray(record, dtype=np.int64)
    deal_a = np.asarray(deal_a, dtype=np.int32)
    deal_b = np.asarray(deal_b, dtype=np.int32)
    deal_time = np.asarray(deal_time, dtype=np.int64)

    key = facet.astype(np.int64) * m + subject
    facet_count = int(facet.max()) + 1 if n else 1
    if facet_count * m * m < 2 ** 62:   # one int64 sort key (3x faster than lexsort; near-sorted input: 100x)
        order = np.argsort(key * m + author, kind="stable")
    else:
        order = np.lexsort((author, key))
    cols = [c[order] for c in (author, subject, facet, positive, dealt, contested, occurred,
                                expires, record, key)]
    author, subject = cols[0], cols[1]
    pair_dealt = _dealt(author, subject, deal_a, deal_b, m)
    pair_dealt |= cols[4]       # a deal-backed attestation is itself proof of a deal
    members = tuple(members)
    return EvidenceTable(
        members=members, index={k: i for i, k in enumerate(members)}, facets=tuple(facets),
        author=cols[0], subject=cols[1], facet=cols[2], positive=cols[3], dealt=cols[4],
        contested=cols[5], occurred=cols[6], expires=cols[7], record=cols[8],
        pair_dealt=pair_dealt, key=cols[9], deal_a=deal_a, deal_b=deal_b, deal_time=deal_time,
        equivocators=np.unique(np.asarray(equivocators, dtype=np.int32)))


def _dealt(author: np.ndarray, subject: np.ndarray, deal_a: np.ndarray, deal_b: np.ndarray,
           m: int) -> np.ndarray:
    """Per attestation: whether its author and subject share at least one deal.

    The deals as a sparse matrix of unordered pairs, looked up in C (binary searches in
    short sorted rows): ten times faster than ``np.isin`` over pair keys at 1M rows.
    """
    if not len(author) or not len(deal_a):
        return np.zeros(len(author), bool)
    deals = sp.csr_matrix((np.ones(len(deal_a)), (np.minimum(deal_a, deal_b), np.maximum(deal_a, deal_b))),
                          shape=(m, m))
    deals.sum_duplicates()
    return np.asarray(deals[np.minimum(author, subject), np.maximum(author, subject)]).ravel() > 0
