"""Every knob of the trust model, in one frozen object with documented defaults.

The defaults are what ``docs/trust.md`` describes and what ``bench/attacks.py``
measured; change them only together with a new run of the harness.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DAY_MS = 86_400_000


def _half_lives() -> dict[str, float]:
    # Why these: payment and delivery habits change within a year or two;
    # solvency moves fastest (a firm can fall in months); quality of work and
    # skills are slower to change.
    return {"payment": 365.0, "delivery": 365.0, "quality": 540.0, "relation": 365.0,
            "solvency": 180.0, "skill": 1095.0}


@dataclass(frozen=True)
class TrustConfig:
    """The trust model's parameters (times in days, weights in evidence units)."""

    # ---- evidence about a subject --------------------------------------
    half_life_days: dict[str, float] = field(default_factory=_half_lives)
    """Per facet (``skill`` covers every ``skill:<name>``): evidence this old counts half."""
    undealt_weight: float = 0.5
    """An attestation not backed by a deal both parties signed counts this much."""
    negative_weight: float = 1.5
    """A negative counts more than a positive: trust is slow to build and quick to lose."""
    slander_weight: float = 0.04
    """A negative from someone with no deal at all with the subject counts this much."""
    author_cap: float = 3.0
    """One author's evidence about one subject and facet saturates at this many units."""
    rater_budget: float = 5.0
    """An author's evidence on one facet, over all subjects, counts at most this many
    units in total (EigenTrust's normalized local trust): praising many costs."""
    first_hand: float = 4.0
    """The viewer's own evidence counts this many times a fully trusted author's."""
    quantile: float = 0.05
    """``lower`` is this quantile of the Beta distribution: 95% sure the truth is above."""

    # ---- whose word counts (the relation graph) -------------------------
    relation_half_life_days: float = 730.0
    """Relations (deals, positive attestations) fade with this half-life."""
    deal_relation: float = 0.25
    """A signed deal adds this much to the relation between its two parties."""
    restart: float = 0.25
    """Chance per step that the walk from the viewer stops: trust fades along long chains."""
    bridge_threshold: float = 0.75
    """A member whose trust arrives for more than this share through one other member..."""
    bridge_penalty: float = 0.5
    """...loses up to this share of it (MeritRank's connectivity decay)."""
    weight_core: float = 0.95
    """Members in the core holding this share of the walk mass weigh 1; others less."""
    reach_core: float = 0.9
    """The same scaling for the walk back: members whose own relations lead back to the
    viewer as much as those of the core holding this share weigh 1 (see weights.py)."""
    reach_steps: int = 3
    """The reach cap's early-stopped walk takes this many times log2(members) steps (reach.py)."""
    mixed_core: float = 0.5
    """The reach level: per degree, the value above which this share of that walk's mass sits."""
    reach_power: float = 4.0
    """A member's weight is at most its reach (against that level, at most 1) to this power;
    0 turns the cap off."""
    rater_base: float = 0.75
    """A rater nobody nearer has judged is presumed honest: expected value 0.75, credibility 1."""
    rater_prior: float = 4.0
    """How much evidence it takes to move a rater's credibility (prior weight)."""
    camp_agreement: float = 0.5
    """A rater keeps its full weight while its ratings agree with the viewer's camp at
    least this much (-1..1; 0.5: three in four of its rating mass agree), none at 0."""
    camp_prior: float = 4.0
    """Every rater starts with this many (average-sized) ratings' worth of agreement."""
    camp_rounds: int = 120
    """Rounds of the camp computation (lazy power iteration; 0 turns the camps off, a
    control). Measured on the grid's worlds, seeds 2-5: at 40 rounds the vector had not
    settled near some viewers, and in 4 of the 48 cells up to 30% malicious one viewer took
    20-71% bad deals; at 120, none more than 8.5%."""
    camp_lean: float = 0.5
    """Which camp is mine: when my own relations (what I said of my partners, what they said
    of me) lean to one side at least this much (-1..1; 0.5: three in four of their strength),
    they vote with my walk and the head count of the members my network reaches; when they are
    split more evenly, the head count decides (camps.py)."""
    firsthand_prior: float = 2.0
    """A rater's word also depends on how its ratings of members I dealt with match my own
    deal-backed experience of them (firsthand.py); it starts with this much agreement (0: off,
    the rule before, a control)."""
    independence: float = 0.5
    """A rater's word about a subject counts fully while at least this share of its incoming
    trust comes from outside that subject's raters, proportionally less below (support.py):
    many authors piling onto one subject count as far as the trust entering them."""
    faint: float = 0.25
    """Raters weighing less than this are faint voices (reached through thin relations)..."""
    faint_total: float = 1.0
    """...and count together at most this many full raters' worth per subject (support.py)."""
    standing: float = 0.1
    """Members whose author weight is at least this are in good standing: their contest
    replies count against the author of the negative (support.py)."""
    reply_free: float = 0.1
    """A contested negative counts fully while at most this share of its author's other
    negatives are contested by members in good standing..."""
    reply_full: float = 0.3
    """...and not at all from this share on (a slander ring leaves this trace)."""

    # ---- verdicts (verdict.py) -----------------------------------------
    verdict_evidence: float = 1.0
    """Less evidence than this (units whose authors count) reads as unknown."""
    known_authors: float = 2.0
    """Fewer independent authors' worth than this (both sides) reads as unknown."""
    recommend_score: float = 0.7
    """Recommended: expected value at least this..."""
    recommend_authors: float = 2.5
    """...from at least this many independent authors' worth of positives."""
    warning_score: float = 0.6
    """Warning: expected value below this..."""
    warning_authors: float = 2.0
    """...from at least this many independent authors' worth of negatives."""
    false_witness: float = 0.75
    """Warning, whatever the evidence about it: a member whose word the camps cut to less than
    this share (its ratings of others are found false, camps.py)... A camouflaged
    collective's members deliver well part of the time and were otherwise picked on their
    lucky records (verdict.py)."""
    witness_blame: float = 0.05
    """...when at least this share of what it says blames members the viewer's camp holds good..."""
    witness_reach: float = 0.05
    """...and only when the viewer's network reaches it: its reach cap (reach.py) at least this.
    Camps are drawn from what the viewer's network says; about a member it barely reaches
    they are a guess (measured: far honest members behind 100 bridges read *warning* at 0.46%
    without it, none with it)."""
    tolerance: float = 1e-9
    max_iterations: int = 200

    def family(self, facet: str) -> str:
        """The facet family a rater's credibility is kept per (money, work, relation)."""
        if facet in ("payment", "solvency"):
            return "money"
        if facet == "relation":
            return "relation"
        return "work"

    def half_life(self, facet: str) -> float:
        """The half-life in days for ``facet``."""
        key = "skill" if facet.startswith("skill:") else facet
        return self.half_life_days.get(key, 365.0)


DEFAULT = TrustConfig()
