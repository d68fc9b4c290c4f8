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
                 viewer: int | None, config: TrustConfig) -> np.ndarray:
    """Per (author, subject) group: the share of the author's weight that counts for this subject."""
    n = len(group_author)
    if n == 0 or config.independence <= 0:
        return np.ones(n)
    subjects, local = np.unique(group_subject, return_inverse=True)
    rater = group_author != viewer if viewer is not None else np.ones(n, bool)
    own = subjects != viewer if viewer is not None else np.ones(len(subjects), bool)
    # the subject itself is on the inside too: what it passes to its raters is not independent of it
    rows = np.concatenate([group_author[rater], subjects[own]])
    cols = np.concatenate([local[rater], np.flatnonzero(own)])
    raters_t = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(inflow.shape[0], len(subjects)))
    raters_t.data[:] = 1.0
    inside = (inflow @ raters_t).tocsr()
    from_raters = np.asarray(inside[group_author, local]).ravel()
    total = np.asarray(inflow.sum(axis=1)).ravel()[group_author]
    external = 1.0 - np.divide(from_raters, total, out=np.zeros(n), where=total > 0)
    return np.clip(external / config.independence, 0.0, 1.0)


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
    subjects, local = np.unique(group_subject[faint], return_inverse=True)
    total = np.bincount(local, group_w[faint], minlength=len(subjects))
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
