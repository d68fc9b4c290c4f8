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
from trustmesh.store.store import Store
from trustmesh.trust import DEFAULT, RankEntry, TrustConfig, TrustModel, TrustScore, build_table


class TrustEngine:
    """Trust from ``viewer``'s point of view over ``store``, refreshed when the store changes."""

    def __init__(self, store: Store, viewer: bytes, config: TrustConfig = DEFAULT) -> None:
        self.store = store
        self.viewer = viewer
        self.config = config
        self._counter: tuple[int, int] | None = None
        self._model: TrustModel | None = None
        self._evidence: EvidenceColumns | None = None
        self.loads = 0
        self.full_loads = 0

    @classmethod
    def for_ledger(cls, ledger, config: TrustConfig = DEFAULT) -> "TrustEngine":
        """The engine of a member's own point of view."""
        return cls(ledger.store, ledger.me, config)

    def load(self, now_ms: int) -> TrustModel:
        """The model over the store as it is now (re-read only if the store changed).

        Incremental: when the new records only add evidence (attestations,
        deals, profiles), only rows after the last one read come from SQL;
        a retraction, a reply, a deal named by older evidence or a new fork
        proof changes rows already read, and then everything is read again.
        """
        counter = self.store.change_counter()
        if self._model is None or counter != self._counter:
            old = self._counter
            if (self._evidence is None or old is None or counter[1] != old[1]
                    or self.store.evidence_changes_after(old[0])):
                self._evidence = EvidenceColumns.read(self.store)
                self.full_loads += 1
            else:
                self._evidence.extend(self.store, old[0])
            self._model = TrustModel(self._evidence.table(), self.viewer, self.config,
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
    return EvidenceColumns.read(store).table()


class EvidenceColumns:
    """The store's evidence as growing numpy columns, members numbered as first met."""

    def __init__(self) -> None:
        self.index: dict[bytes, int] = {}
        self.facets: dict[str, int] = {}
        self.att = {name: np.zeros(0, dtype) for name, dtype in _ATT_COLUMNS}
        self.deals = {name: np.zeros(0, dtype) for name, dtype in _DEAL_COLUMNS}
        self.cheats: list[int] = []

    @classmethod
    def read(cls, store: Store) -> "EvidenceColumns":
        """Everything, from scratch."""
        found = cls()
        found.extend(store, 0)
        return found

    def extend(self, store: Store, after: int) -> None:
        """Add the attestations and deals stored after row ``after`` (and the fork list)."""
        rows = store.evidence_rows(after)
        rid, author, subject, facet, positive, dealt, contested, occurred, expires = rows["attestations"]
        deal_author, deal_party, deal_time = rows["deals"]
        number = self.index.setdefault
        new_att = {"author": [number(k, len(self.index)) for k in author],
                   "subject": [number(k, len(self.index)) for k in subject],
                   "facet": [self.facets.setdefault(x, len(self.facets)) for x in facet],
                   "positive": positive, "dealt": dealt, "contested": contested,
                   "occurred": occurred, "expires": expires, "record": rid}
        new_deals = {"a": [number(k, len(self.index)) for k in deal_author],
                     "b": [number(k, len(self.index)) for k in deal_party], "time": deal_time}
        for name, dtype in _ATT_COLUMNS:
            self.att[name] = np.concatenate([self.att[name], np.asarray(new_att[name], dtype)])
        for name, dtype in _DEAL_COLUMNS:
            self.deals[name] = np.concatenate([self.deals[name], np.asarray(new_deals[name], dtype)])
        self.cheats = [number(k, len(self.index)) for k in rows["equivocators"]]

    def table(self):
        """The ``EvidenceTable`` the trust model reads."""
        a = self.att
        return build_table(
            list(self.index), list(self.facets), author=a["author"], subject=a["subject"],
            facet=a["facet"], positive=a["positive"], dealt=a["dealt"], contested=a["contested"],
            occurred=a["occurred"], expires=a["expires"], record=a["record"],
            deal_a=self.deals["a"], deal_b=self.deals["b"], deal_time=self.deals["time"],
            equivocators=self.cheats)


_ATT_COLUMNS = (("author", np.int32), ("subject", np.int32), ("facet", np.int16), ("positive", bool),
                ("dealt", bool), ("contested", bool), ("occurred", np.int64), ("expires", np.int64),
                ("record", np.int64))
_DEAL_COLUMNS = (("a", np.int32), ("b", np.int32), ("time", np.int64))
