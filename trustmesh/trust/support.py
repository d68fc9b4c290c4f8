"""How much independent support a subject's raters give: piling on, and the right of reply.

Why this exists. The per-author caps limit what one author says; they do
not limit how many authors pile onto one subject. A scammer holding the
keys of a thousand sybils has each of them sign a deal with it and praise
it: the sybils' total weight is small (the walk only crosses the few
attack edges) but all of it lands on one subject, which then outweighs
any honest supplier's record (measured: the scammer was in every viewer's
delivery top-5, and still above 96% of honest suppliers after 20 real
victims' negatives).

Independence. A rater's word about subject S counts only as far as its
own trust comes from *outside* S's raters and S itself: the share of the
walk mass arriving at the rater from other raters of S, or from S (a
scammer rates its sybils' payment, and so passes them trust), is trust
passed around inside the group, not new evidence. A rater keeps its full weight
while at least ``independence`` of its incoming mass comes from outside
(honest clients of one supplier are rarely each other's main source of
trust; in a small-world ring about 40% of it is), and proportionally less
below. That leaves the sybils a real job made credible, each reached
through one thin relation (weight about 0.1): ninety of them still added
up to more than an honest supplier's whole record (measured: 7.7 units,
against a median of 1.0). So faint raters (weight under ``faint``) count
together at most ``faint_total`` full raters' worth per subject: many
faint voices are one voice, however many sybils a scammer runs.

The right of reply. A subject can contest a negative. A reply is a claim,
not a proof, so one contest changes nothing; but a ring of real former
partners who slander many members leaves a trace: most of each ring
member's negatives are contested, by members the viewer's network holds in
good standing (the weight the walks give them, before any rater
credibility, at least ``standing``: what a ring says cannot take a victim's
standing away). A contested negative
counts in proportion to how credible its author's *other* negatives are:
full while at most ``reply_free`` of them are contested by members in good
standing, nothing from ``reply_full`` on (the share is taken with one more
uncontested negative as a prior: a first or second report is never
silenced by replies alone).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from trustmesh.trust.config import TrustConfig
from trustmesh.trust.evidence import EvidenceTable


def independence(inflow: sp.csr_matrix, group_author: np.ndarray, group_subject: np.ndarray,
                 viewer: int | None, config: TrustConfig,
                 inflow_total: np.ndarray | None = None, summary: np.ndarray | None = None) -> np.ndarray:
    """Per (author, subject) group: the share of the author's weight that counts for this subject.

    The mass arriving at author ``a`` from subject ``S``'s insiders (its other raters, the
    viewer aside, and ``S`` itself) is summed from whichever side is shorter for that group:
    ``a``'s senders, each looked up among the insiders, or the insiders, each looked up
    among ``a``'s senders. A hub rater has thousands of senders and a subject a handful of
    raters, or the other way round; a sparse product over all senders of all raters built
    15 times the entries needed (measured on the 1M-record bench store: 3.6M for 190k
    groups). Both lookups are scipy's sampling of a sparse matrix (a binary search inside
    one short row, in C): binary searches over one sorted key per entry of the whole
    matrix took 1.6 times as long (27 of 64 ms of the bench's ``rank()``), mostly cache
    misses. ``inflow_total`` (``inflow.sum(axis=1)``) and ``summary`` (``pair_filter(inflow)``)
    may be passed when kept (``AuthorWeights`` keeps them).

    Almost every lookup misses (0.07% of the insiders looked up are senders), so each is first
    tried against a summary that can only say "certainly not there": for the inflow a Bloom
    filter of its entries (``pair_filter``, kept with the weights), for a subject's raters 64
    bits, one per rater number modulo 64 (``_bits``). What it rules out is left out (the
    sums are the same: only zeros are not added).
    """
    n = len(group_author)
    if n == 0 or config.independence <= 0:
        return np.ones(n)
    group_author = np.asarray(group_author, np.int64)
    group_subject = np.asarray(group_subject, np.int64)
    if not inflow.has_canonical_format:         # sampling then sums duplicates by a linear scan
        inflow = inflow.copy()
        inflow.sum_duplicates()
    m = inflow.shape[0]
    order = None
    if (np.diff(group_subject * m + group_author) < 0).any():   # the model's come sorted
        order = np.lexsort((group_author, group_subject))
        group_author, group_subject = group_author[order], group_subject[order]
    first = np.flatnonzero(np.r_[True, group_subject[1:] != group_subject[:-1]])
    bounds = np.append(first, n)
    block = np.diff(bounds)
    local = np.repeat(np.arange(len(first)), block)     # per group: its subject's number...
    size = block[local]                                 # ...and how many groups that subject has
    subject_in = group_subject[first] != viewer if viewer is not None else np.ones(len(first), bool)
    raters = sp.csr_matrix((np.ones(n), group_author, bounds), shape=(len(first), m))  # sorted rows
    senders = np.diff(inflow.indptr)[group_author]
    from_senders = senders <= size + 1
    # 1. a's senders, each looked up among S's raters (a row of ``raters``), or S itself
    g = np.flatnonzero(from_senders)
    at = index_ranges(inflow.indptr[group_author[g]], senders[g])
    owner = np.repeat(g, senders[g])
    sender = inflow.indices[at]
    where = local[owner]
    maybe = _has_bit(np.bitwise_or.reduceat(_bits(group_author), first), where, sender)
    hit = np.zeros(len(sender), bool)
    hit[maybe] = _sample(raters, where[maybe], sender[maybe]) > 0
    if viewer is not None:
        hit &= sender != viewer
    hit |= (sender == group_subject[owner]) & subject_in[where]
    from_raters = np.zeros(n)       # (a bincount of nothing is int)
    from_raters += np.bincount(owner[hit], inflow.data[at[hit]], minlength=n)
    # 2. S's insiders, each looked up among a's senders (a row of the inflow; a miss adds 0)
    g = np.flatnonzero(~from_senders)
    owner = np.repeat(g, size[g])
    member = group_author[index_ranges(first[local[g]], size[g])]
    useful = (member != group_subject[owner]) & (member != viewer if viewer is not None else True)
    owner, member = owner[useful], member[useful]
    self_in = subject_in[local[g]]
    owner = np.concatenate([owner, g[self_in]])
    member = np.concatenate([member, group_subject[g[self_in]]])
    if summary is None:
        summary = pair_filter(inflow)
    maybe = may_hold(summary, group_author[owner], member, m)
    owner, member = owner[maybe], member[maybe]
    from_raters += np.bincount(owner, _sample(inflow, group_author[owner], member), minlength=n)
    total = (np.asarray(inflow.sum(axis=1)).ravel() if inflow_total is None else inflow_total)[group_author]
    external = 1.0 - np.divide(from_raters, total, out=np.zeros(n), where=total > 0)
    result = np.clip(external / config.independence, 0.0, 1.0)
    if order is not None:
        result[order] = result.copy()
    return result


_FILTER_BITS = 24      # 2 MB: about 2.7% of the bench store's misses pass


def pair_filter(matrix: sp.csr_matrix) -> np.ndarray:
    """A one-hash Bloom filter of ``matrix``'s entries (row, column), packed bits: an entry
    not in it is certainly absent (``may_hold``)."""
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
    slot = _slot(rows, matrix.indices, matrix.shape[1])
    found = np.zeros(1 << (_FILTER_BITS - 3), np.uint8)
    np.bitwise_or.at(found, slot >> np.uint64(3), np.left_shift(np.uint8(1), (slot & np.uint64(7)).astype(np.uint8)))
    return found


def _slot(rows: np.ndarray, cols: np.ndarray, width: int) -> np.ndarray:
    key = np.asarray(rows).astype(np.uint64) * np.uint64(width) + np.asarray(cols).astype(np.uint64)
    return (key * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - _FILTER_BITS)    # Fibonacci hashing


def may_hold(found: np.ndarray, rows: np.ndarray, cols: np.ndarray, width: int) -> np.ndarray:
    """Per (row, col): False where ``pair_filter`` says the entry is certainly absent."""
    slot = _slot(rows, cols, width)
    return ((found[slot >> np.uint64(3)] >> (slot & np.uint64(7)).astype(np.uint8)) & 1) > 0


def _bits(members: np.ndarray) -> np.ndarray:
    """One of 64 bits per member (its number modulo 64), as uint64."""
    return np.left_shift(np.uint64(1), (np.asarray(members) & 63).astype(np.uint64))


def _has_bit(summary: np.ndarray, rows: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Per lookup (row, member): whether the member's bit is set in the row's summary."""
    return (np.right_shift(summary[rows], (np.asarray(members) & 63).astype(np.uint64)) & np.uint64(1)) > 0


def index_ranges(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The indexes start, start + 1, ..., start + size - 1 of every range, one after another."""
    sizes = np.asarray(sizes, np.int64)
    total = int(sizes.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    offsets = np.cumsum(sizes) - sizes
    return np.arange(total, dtype=np.int64) - np.repeat(offsets - np.asarray(starts, np.int64), sizes)


def _sample(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Per (row, col): the matrix's entry there, 0 where none."""
    if not len(rows):
        return np.zeros(0)
    return np.asarray(matrix[rows, cols]).ravel()


def faint_share(group_w: np.ndarray, group_subject: np.ndarray, praise: np.ndarray,
                config: TrustConfig) -> np.ndarray:
    """Per group: 1, or less for faint raters when many of them pile praise onto one subject.

    Raters weighing under ``faint`` (reached through thin relations only) count together at
    most ``faint_total`` full raters' worth of praise per subject. Negatives are left alone:
    a deal-backed negative needs the subject's own signature on a deal, so it cannot be
    multiplied by identities the attacker makes, and real victims are often far away.
    """
    scale = np.ones(len(group_w))
    faint = (group_w > 0) & (group_w < config.faint) & praise
    if not faint.any():
        return scale
    subject = np.asarray(group_subject)[faint]
    if len(subject) > 1 and (subject[1:] >= subject[:-1]).all():   # the model's come sorted: no sort
        local = np.cumsum(np.r_[False, subject[1:] != subject[:-1]])
    else:
        local = np.unique(subject, return_inverse=True)[1]
    total = np.bincount(local, group_w[faint]).astype(float, copy=False)
    scale[faint] = np.minimum(1.0, config.faint_total / total)[local]
    return scale


def reply_factor(evidence: EvidenceTable, standing: np.ndarray, now_ms: int,
                 config: TrustConfig) -> np.ndarray:
    """Per attestation row: 1, or less for a contested negative whose author's others are contested."""
    ev = evidence
    factor = np.ones(len(ev.author))
    neg = ~ev.positive & (ev.expires > now_ms)
    replied = neg & ev.contested & (standing[ev.subject] >= config.standing)
    if not replied.any():
        return factor
    negatives = np.bincount(ev.author[neg], minlength=ev.size).astype(float)
    contested = np.bincount(ev.author[replied], minlength=ev.size).astype(float)
    rows = np.flatnonzero(neg & ev.contested)
    a = ev.author[rows]
    own = replied[rows].astype(float)          # this one, if its subject stands well
    others = (contested[a] - own) / (negatives[a] - 1.0 + 1.0)
    span = max(config.reply_full - config.reply_free, 1e-9)
    factor[rows] = np.clip(1.0 - (others - config.reply_free) / span, 0.0, 1.0)
    return factor
