"""The trust model: pure (no I/O, no clock), personalized, per facet, with explanations.

``TrustModel`` answers from one viewer's point of view over an
``EvidenceTable``; ``trustmesh.core.trustview.TrustEngine`` feeds it from
the store. See ``docs/trust.md`` for the model in plain words.
"""

from trustmesh.trust.config import DEFAULT, TrustConfig
from trustmesh.trust.engine import TrustModel, member_name
from trustmesh.trust.evidence import EvidenceTable, build_table
from trustmesh.trust.opinion import decay, opinion
from trustmesh.trust.results import EvidenceItem, FacetOpinions, RankEntry, TrustScore
from trustmesh.trust.verdict import VERDICTS
from trustmesh.trust.weights import AuthorWeights, author_weights

__all__ = [
    "TrustConfig", "DEFAULT", "TrustModel", "EvidenceTable", "build_table", "opinion", "decay",
    "TrustScore", "RankEntry", "EvidenceItem", "FacetOpinions", "VERDICTS", "AuthorWeights", "author_weights", "member_name",
]
