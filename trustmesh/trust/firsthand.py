"""First-hand checks: a rater's word also depends on how its ratings match what I lived through.

Why this exists. Every other judge of a rater (the walks, the credibility
rings, the camps) reads what *other* members say; where a collective holds
much of a viewer's network, what others say is exactly what cannot be
trusted. The one thing a viewer knows for sure is what its own deals did:
its own deal-backed attestations. A rater who praised suppliers that
delivered badly to me, or blamed suppliers that served me well, is
contradicted by the best evidence I have, whatever the network says of it.

How, per facet family (money, work, relation; ``TrustConfig.family``). My
own deal-backed evidence about a subject S in the family gives my opinion of
it, ``e`` = (r + 1) / (r + s + 2) (negatives counted ``negative_weight``, as
everywhere), and a polarity ``p`` = 2e - 1: near 0 for a supplier I know
little of or found mixed, towards +1 or -1 as my record with it grows. Each
other rater's net rating of S in the family (units as the credibility rings
count them: fading, ``undealt_weight``, ``negative_weight``,
``slander_weight``; at most one unit per subject, one subject one vote) then
agrees with me by ``|p|`` times its size when its sign is the sign of ``p``,
and clashes by as much when it is not. A rater keeps

    credibility = clip((expected - 0.5) / (base - 0.5), 0, 1),
    expected    = (agree + base * prior) / (agree + clash + prior)

(``rater_base`` 0.75, ``firsthand_prior``): nothing to compare, or as much
agreement as the prior, keeps full word; as much clash as agreement, none.
So a rater loses word in proportion to how much of what it said about
members I dealt with my own deals contradict. The viewer itself is never
judged (1).

It only helps a viewer with first-hand evidence, and more the more members
it has dealt with (``bench/attacks.py --only learning``: the viewers whose
deals go on record).
"""

from __future__ import annotations

import numpy as np

from trustmesh.trust.config import TrustConfig
from trustmesh.trust.evidence import EvidenceTable
from trustmesh.trust.credibility import rating_units


def firsthand_credibility(evidence: EvidenceTable, viewer: int, now_ms: int, config: TrustConfig,
                          family: str | None = None) -> np.ndarray:
    """Per member, the share of its word in ``family`` (None: all facets together) that my own
    deals leave it (see above)."""
    ev = evidence
    m = ev.size
    cred = np.ones(m)
    if config.firsthand_prior <= 0:
        return cred
    in_family = np.array([family is None or config.family(f) == family for f in ev.facets] or [False], bool)
    live = (ev.expires > now_ms) & in_family[ev.facet]
    mine = np.flatnonzero(live & (ev.author == viewer) & ev.dealt)
    if len(mine) == 0:
        return cred
    units = rating_units(ev, mine, now_ms, config)
    pos = ev.positive[mine]
    r = np.bincount(ev.subject[mine], np.where(pos, units, 0.0), minlength=m)
    s = np.bincount(ev.subject[mine], np.where(pos, 0.0, units), minlength=m)
    polarity = np.zeros(m)
    known = (r + s) > 0
    polarity[known] = 2.0 * (r[known] + 1.0) / (r[known] + s[known] + 2.0) - 1.0
    rows = np.flatnonzero(live & known[ev.subject] & (ev.author != viewer))
    if len(rows) == 0:
        return cred
    signed = rating_units(ev, rows, now_ms, config) * np.where(ev.positive[rows], 1.0, -1.0)
    pair = ev.author[rows].astype(np.int64) * m + ev.subject[rows]
    pairs, at = np.unique(pair, return_inverse=True)
    net = np.bincount(at, signed)
    author, subject = pairs // m, pairs % m
    said = np.clip(net, -1.0, 1.0) * polarity[subject]      # + agrees with me, - clashes
    agree = np.bincount(author, np.maximum(said, 0.0), minlength=m)
    clash = np.bincount(author, np.maximum(-said, 0.0), minlength=m)
    base, prior = config.rater_base, config.firsthand_prior
    expected = (agree + base * prior) / (agree + clash + prior)
    cred = np.clip((expected - 0.5) / (base - 0.5), 0.0, 1.0)
    cred[viewer] = 1.0
    return cred

