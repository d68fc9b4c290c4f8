"""A verdict a member can act on, per facet, beside the score, uncertainty and explanation.

Why. ``lower`` (95% sure the truth is above it) is the right number to
*order* by, but a poor decision line: in a 10,000-member world it rejected
about 93% of good suppliers (the median honest supplier's lower bound was
0.23), and ranked the median honest supplier below a newcomer with 3
praises. A verdict reads the same evidence with a documented rule:

- ``unknown``: less than ``verdict_evidence`` units of evidence whose
  authors count, or no side with enough independent authors: a newcomer,
  one praise, one lone negative (an accusation from one partner is shown,
  not a brand), a far member my network barely reaches;
- ``warning``: the expected value is under ``warning_score`` and the
  negatives come from at least ``warning_authors`` independent authors'
  worth (each author counts by its weight, at most 1; my own experience
  counts ``first_hand`` authors);
- ``recommended``: the expected value is at least ``recommend_score`` and
  the positives come from at least ``recommend_authors`` independent
  authors' worth;
- ``warning`` too, whatever the evidence about it, for a *false witness*:
  a member whose word the camps cut below ``false_witness`` and at least
  ``witness_blame`` of whose ratings blame members the viewer's camp holds
  good (camps.py), among members the viewer's network reaches (reach cap
  at least ``witness_reach``, reach.py: the camps are drawn from what my
  network says, and of a far community they are a guess; without this far
  honest members behind 100 bridges read *warning* at 0.46%). A camouflaged
  collective's members deliver well part of the time: on their few real
  deals some have a lucky record, and picked on it they gave viewers 5-6
  points more bad deals at 30% malicious; what they say of honest partners
  is what gives them away;
- ``no objection``: neither of the above, from at least ``known_authors``
  independent authors' worth on either side (fewer: ``unknown``).

Independent authors are counted after every discount (walk, credibility,
camps, piling on: ``support.py``), so sybils praised only by sybils never
reach ``recommended``.

A member whose key chain is forked (*disputed*: two key events at one
position, ``protocol/keystate.py``) is never ``recommended``: nobody can
tell which of its keys are its own, so praise of it may be praise of a
thief. Its verdict is at most ``no objection`` (``disputed``); the evidence
is still shown, and a ``warning`` stays a warning.
"""

from __future__ import annotations

import numpy as np

from trustmesh.trust.config import TrustConfig

RECOMMENDED, NO_OBJECTION, UNKNOWN, WARNING = "recommended", "no objection", "unknown", "warning"
VERDICTS = (RECOMMENDED, NO_OBJECTION, UNKNOWN, WARNING)


def verdicts(r, s, pos_authors, neg_authors, config: TrustConfig, credible=None) -> np.ndarray:
    """Per subject, the verdict code (an index into ``VERDICTS``); ``credible``: per subject,
    the share of its word the camps leave it, 1 where it blames nobody the viewer's camp
    holds good (``TrustModel._credible``; None: 1 for all)."""
    r, s = np.asarray(r, float), np.asarray(s, float)
    pos, neg = np.asarray(pos_authors, float), np.asarray(neg_authors, float)
    mean = (r + 1.0) / (r + s + 2.0)
    code = np.full(r.shape, VERDICTS.index(NO_OBJECTION), np.int8)
    code[pos + neg < config.known_authors] = VERDICTS.index(UNKNOWN)
    code[(mean >= config.recommend_score) & (pos >= config.recommend_authors)] = VERDICTS.index(RECOMMENDED)
    code[(mean < config.warning_score) & (neg >= config.warning_authors)] = VERDICTS.index(WARNING)
    code[r + s < config.verdict_evidence] = VERDICTS.index(UNKNOWN)
    if credible is not None:
        code[np.asarray(credible, float) < config.false_witness] = VERDICTS.index(WARNING)
    return code


def disputed(code: np.ndarray, mask) -> np.ndarray:
    """``code`` with ``recommended`` lowered to ``no objection`` where ``mask`` (a disputed member)."""
    code = np.array(code, np.int8)
    code[np.asarray(mask, bool) & (code == VERDICTS.index(RECOMMENDED))] = VERDICTS.index(NO_OBJECTION)
    return code


STANDING = np.array([3, 2, 1, 0])     # rank order per verdict code: recommended first, warning last


def rank_key(code: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """The order rankings use: the verdict first, then ``lower`` (higher is better)."""
    return STANDING[np.asarray(code, np.int64)] * 2.0 + np.asarray(lower, float)


def verdict(r: float, s: float, pos_authors: float, neg_authors: float, config: TrustConfig,
            is_disputed: bool = False, credible: float = 1.0) -> str:
    """The verdict for one subject and facet (``is_disputed``: its key chain is forked;
    ``credible``: as for ``verdicts``)."""
    code = verdicts(np.array([r]), np.array([s]), np.array([pos_authors]), np.array([neg_authors]), config,
                    np.array([credible]))
    return VERDICTS[int(disputed(code, [is_disputed])[0])]
