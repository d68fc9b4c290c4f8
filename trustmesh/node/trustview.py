"""The trust engine over a node's store: the library API for trust queries.

``TrustEngine`` reads the evidence out of the store's columns (one SQL pass,
no record decoded), hands it to the pure ``TrustModel``, and keeps both
until the store changes: every query first compares the store's change
counter (the last row id and the number of fork proofs: two index reads)
with the one it loaded, so weights are recomputed when the graph changed,
never per query.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trustmesh.crypto.ids import member_key
from trustmesh.node.store import Store
from trustmesh.trust import DEFAULT, RankEntry, TrustConfig, TrustModel, TrustScore, build_table


class TrustEngine:
    """Trust from ``viewer``'s point of view over ``store``, refreshed when the store changes."""

    def __init__(self, store: Store, viewer: bytes, config: TrustConfig = DEFAULT) -> None:
        self.store = store
        self.viewer = viewer
        self.config = config
        self._counter: tuple[int, int] | None = None
        self._model: TrustModel | None = None
        self.loads = 0

    @classmethod
    def for_ledger(cls, ledger, config: TrustConfig = DEFAULT) -> "TrustEngine":
        """The engine of a member's own point of view."""
        return cls(ledger.store, ledger.me, config)

    def load(self, now_ms: int) -> TrustModel:
        """The model over the store as it is now (reloaded only if the store changed)."""
        counter = self.store.change_counter()
        if self._model is None or counter != self._counter:
            self._model = TrustModel(read_evidence(self.store), self.viewer, self.config,
                                     record_names=self._names)
            self._counter = counter
            self.loads += 1
        return self._model

    def refresh(self, now_ms: int) -> None:
        """Bring the viewer's weights up to date now (queries do it on demand anyway)."""
        self.load(now_ms).weights(now_ms)

    def trust(self, subject: bytes | str, facet: str | None, now_ms: int) -> TrustScore | list[TrustScore]:
        """The viewer's opinion of ``subject`` on ``facet`` (a list over facets if None)."""
        return self.load(now_ms).trust(member_key(subject), facet, now_ms)

    def explain(self, subject: bytes | str, facet: str | None, now_ms: int,
                limit: int = 20) -> TrustScore | list[TrustScore]:
        """``trust`` with the attestations and chains of people behind it."""
        return self.load(now_ms).explain(member_key(subject), facet, now_ms, limit)

    def rank(self, facet: str, limit: int, now_ms: int) -> list[RankEntry]:
        """The best-known subjects on ``facet``, best ``lower`` first."""
        return self.load(now_ms).rank(facet, limit, now_ms)

    def _names(self, rids: Sequence[int]) -> list[str]:
        return [rid.hex() for rid in self.store.record_ids(list(rids))]


def read_evidence(store: Store):
    """The store's evidence as an ``EvidenceTable`` (members numbered as first met)."""
    rows = store.evidence_rows()
    rid, author, subject, facet, positive, dealt, contested, occurred, expires = rows["attestations"]
    deal_author, deal_party, deal_time = rows["deals"]
    index: dict[bytes, int] = {}
    number = index.setdefault
    a = [number(k, len(index)) for k in author]
    s = [number(k, len(index)) for k in subject]
    da = [number(k, len(index)) for k in deal_author]
    db = [number(k, len(index)) for k in deal_party]
    cheats = [number(k, len(index)) for k in rows["equivocators"]]
    facets: dict[str, int] = {}
    f = [facets.setdefault(x, len(facets)) for x in facet]
    return build_table(
        list(index), list(facets), author=a, subject=s, facet=np.array(f, np.int16),
        positive=np.array(positive, bool), dealt=np.array(dealt, bool),
        contested=np.array(contested, bool), occurred=np.array(occurred, np.int64),
        expires=np.array(expires, np.int64), record=np.array(rid, np.int64),
        deal_a=da, deal_b=db, deal_time=np.array(deal_time, np.int64), equivocators=cheats)

