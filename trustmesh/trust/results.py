"""What the trust engine answers: plain frozen dataclasses that serialize to JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class EvidenceItem:
    """One attestation behind a score, and the chain of people that makes it count.

    ``chain`` runs from the viewer to the author (both included) along the
    relations that carry most trust; it is empty when the viewer has no path
    to the author, whose word then counts for nothing. ``rater_credibility``
    below 1 says the author is reached but its word is discounted: nearer
    members report its dealings as bad, or its ratings contradict what the
    others who dealt with the same people report (a spy, a collective).
    """

    record: str             # the attestation's id (hex)
    author: str             # the author's id
    positive: bool
    deal: bool              # backed by a deal both parties signed
    contested: bool         # the subject replied "contest"
    occurred: int           # ms since the epoch
    author_weight: float    # the author's weight from the viewer, in [0, 1]
    weight: float           # evidence units this record adds after every discount
    first_hand: bool        # written by the viewer
    chain: tuple[str, ...]
    rater_credibility: float = 1.0  # share of its weight the author keeps as a rater, in [0, 1]

    def to_dict(self) -> dict:
        """A JSON-ready dict (the chain as a list, the date as ISO 8601 UTC like every time we print)."""
        from trustmesh.protocol.jsonview import iso
        out = asdict(self)
        out["chain"] = list(self.chain)
        out["occurred"] = iso(self.occurred)
        return out


@dataclass(frozen=True)
class TrustScore:
    """The viewer's opinion of one facet of ``subject``.

    ``score`` is the expected value (0.5 means unknown), ``uncertainty`` goes
    from 1 (nothing known) towards 0, ``lower`` is the conservative bound to
    decide on. ``evidence`` counts the attestations read, ``authors`` the
    distinct authors whose word counted, ``contested`` the negatives the
    subject contested.
    """

    subject: str
    facet: str
    score: float
    uncertainty: float
    lower: float
    evidence: int
    authors: int
    contested: int = 0
    explanation: tuple[EvidenceItem, ...] = ()
    verdict: str = "unknown"    # recommended / no objection / unknown / warning (verdict.py)
    disputed: bool = False      # the subject's key chain is forked: never recommended (verdict.py)

    @property
    def known(self) -> bool:
        """False for a newcomer: no evidence whose author counts."""
        return self.uncertainty < 0.999

    def to_dict(self) -> dict:
        """The JSON form the CLI prints."""
        return {"subject": self.subject, "facet": self.facet, "score": self.score,
                "uncertainty": self.uncertainty, "lower": self.lower,
                "evidence": self.evidence, "authors": self.authors,
                "contested": self.contested, "verdict": self.verdict, "disputed": self.disputed,
                "explanation": [item.to_dict() for item in self.explanation]}


@dataclass(frozen=True)
class RankEntry:
    """One line of a ranking: a subject and its opinion on the ranked facet."""

    subject: str
    facet: str
    score: float
    uncertainty: float
    lower: float
    evidence: int
    authors: int
    verdict: str = "unknown"
    disputed: bool = False      # the subject's key chain is forked: never recommended

    def to_dict(self) -> dict:
        """The JSON form the CLI prints."""
        return asdict(self)


@dataclass(frozen=True, eq=False)
class FacetOpinions:
    """Every member's opinion on one facet, as arrays indexed like the evidence table.

    ``verdict`` holds indexes into ``trustmesh.trust.verdict.VERDICTS`` (a disputed
    member's never ``recommended``); ``for_`` and ``against`` the independent
    authors' worth behind each side.
    """

    facet: str
    r: np.ndarray
    s: np.ndarray
    score: np.ndarray
    uncertainty: np.ndarray
    lower: np.ndarray
    verdict: np.ndarray
    for_: np.ndarray
    against: np.ndarray
