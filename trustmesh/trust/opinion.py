"""Beta / subjective-logic opinions from weighted positive and negative evidence.

With ``r`` units of positive and ``s`` of negative evidence, the opinion is
the Beta(r + 1, s + 1) distribution (a uniform prior, base rate 1/2, prior
weight 2, as in Jøsang's subjective logic):

- ``score`` = expected value (r + 1) / (r + s + 2): 0.5 when nothing is known;
- ``uncertainty`` = 2 / (r + s + 2): 1 with no evidence, towards 0 as it grows;
- ``lower`` = the ``q`` quantile of the Beta: the value we are (1 - q) sure the
  truth is above. Two praises give score 0.75 but lower 0.24; it takes a
  solid record for ``lower`` to be high. Decide on ``lower``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaincinv


def opinion(r, s, quantile: float):
    """(score, uncertainty, lower) for evidence ``r`` (positive) and ``s`` (negative).

    Works elementwise on arrays; more positive evidence never lowers any of
    score or lower, more evidence of any kind never raises uncertainty.
    """
    r = np.maximum(np.asarray(r, dtype=float), 0.0)
    s = np.maximum(np.asarray(s, dtype=float), 0.0)
    total = r + s + 2.0
    score = (r + 1.0) / total
    uncertainty = 2.0 / total
    lower = betaincinv(r + 1.0, s + 1.0, quantile)
    return score, uncertainty, lower


def decay(age_ms, half_life_days: float):
    """The weight left to evidence ``age_ms`` old: 1 when new, 1/2 after a half-life.

    Evidence dated in the future (clock skew) counts as new, never more.
    """
    age_days = np.maximum(np.asarray(age_ms, dtype=float), 0.0) / 86_400_000.0
    return np.exp2(-age_days / half_life_days)
