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
agrees with me by ``p**2`` times its size when its sign is the sign of ``p``,
and clashes by as much when it is not. A rater keeps

    credibility = clip((expected - 0.5) / (base - 0.5), 0, 1),
    expected    = (agree + base * prior) / (agree + clash + prior)

(``rater_base`` 0.75, ``firsthand_prior`` 2): a rater that never clashed
with me keeps its full word; as much clash as agreement, none. So a rater
loses word in proportion to how much of what it said about members I dealt
with my own deals contradict. The viewer itself is never judged (1).

Why the square: a member I dealt with once (``p`` = 1/3) is hardly proof
that those who report it badly lie; a long good record (``p`` near 0.7 or
more) is. With ``|p|`` instead, a viewer's one lucky deal with a collective
member cut the honest raters who reported that member badly (the two-camp
worlds of tests/test_trust_model.py failed at prior 2), and at prior 4 it
did less on the learning rows. Measured (``bench/attacks.py --only
learning``, 40% malicious, f=0.7, bad deals over all rounds): 10.75% without
the check, 10.48% with ``|p|`` at prior 4, 10.18% with ``p**2`` at prior 2.
With one clash a rater keeps 84% of its word when I dealt with the member
once, 41% when my record with it is long and good.

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
                          families: list[str]) -> dict:
    """Per facet family in ``families`` (and None: all facets together), per member, the share
    of its word in that family that my own deals leave it (see above).

    The whole table is scanned twice, not once per family: my own rows, then the rows about
    the members I rated; the families are picked out of those few (measured on a 1M-row
    table: 65 ms for four separate scans of everything, at load 5)."""
    ev = evidence
    m = ev.size
    found = {family: np.ones(m) for family in [None, *families]}
    if config.firsthand_prior <= 0:
        return found
    mine = np.flatnonzero((ev.author == viewer) & ev.dealt)
    mine = mine[ev.expires[mine] > now_ms]
    if len(mine) == 0:
        return found
    rated = np.zeros(m, bool)
    rated[ev.subject[mine]] = True
    rows = np.flatnonzero(rated[ev.subject])
    rows = rows[(ev.author[rows] != viewer) & (ev.expires[rows] > now_ms)]
    family_of = np.array([families.index(config.family(f)) if config.family(f) in families else -1
                          for f in ev.facets] or [-1], np.int64)
    mine_units, row_units = rating_units(ev, mine, now_ms, config), rating_units(ev, rows, now_ms, config)
    for family in found:
        if family is None:
            own, other = np.ones(len(mine), bool), np.ones(len(rows), bool)
        else:
            code = families.index(family)
            own, other = family_of[ev.facet[mine]] == code, family_of[ev.facet[rows]] == code
        found[family] = _agreement(ev, viewer, mine[own], mine_units[own], rows[other], row_units[other], config)
    return found


def _agreement(ev: EvidenceTable, viewer: int, mine: np.ndarray, mine_units: np.ndarray, rows: np.ndarray,
               row_units: np.ndarray, config: TrustConfig) -> np.ndarray:
    """Per member, its credibility from how its ``rows`` match my own ``mine`` (see above)."""
    m = ev.size
    cred = np.ones(m)
    if len(mine) == 0 or len(rows) == 0:
        return cred
    pos = ev.positive[mine]
    r = np.bincount(ev.subject[mine], np.where(pos, mine_units, 0.0), minlength=m)
    s = np.bincount(ev.subject[mine], np.where(pos, 0.0, mine_units), minlength=m)
    polarity = np.zeros(m)
    known = (r + s) > 0
    polarity[known] = 2.0 * (r[known] + 1.0) / (r[known] + s[known] + 2.0) - 1.0
    keep = known[ev.subject[rows]]
    rows, signed = rows[keep], row_units[keep] * np.where(ev.positive[rows[keep]], 1.0, -1.0)
    if len(rows) == 0:
        return cred
    pair = ev.author[rows].astype(np.int64) * m + ev.subject[rows]
    pairs, at = np.unique(pair, return_inverse=True)
    net = np.bincount(at, signed)
    author, subject = pairs // m, pairs % m
    said = np.clip(net, -1.0, 1.0) * polarity[subject] * np.abs(polarity[subject])  # +: agrees with me
    agree = np.bincount(author, np.maximum(said, 0.0), minlength=m)
    clash = np.bincount(author, np.maximum(-said, 0.0), minlength=m)
    base, prior = config.rater_base, config.firsthand_prior
    expected = (agree + base * prior) / (agree + clash + prior)
    cred = np.clip((expected - 0.5) / (base - 0.5), 0.0, 1.0)
    cred[viewer] = 1.0
    return cred
