"""The trust engine over a node's store: the library API for trust queries.

``TrustEngine`` reads the evidence out of the store's columns (one SQL pass,
no record decoded), hands it to the pure ``TrustModel``, and keeps both
until the store changes: every query first compares the store's change
counter (the last row id and the number of fork proofs: two index reads)
with the one it loaded, so weights are recomputed when the graph changed,
never per query. Who each key stands for (``key_members``) and which
members are disputed (a forked key chain) are read again only when a key
event was stored since the last load.

``Weights`` is the node's one answer to "does this member count from my
point of view?" (the strangers' quota, deal auto-acceptance): the trust
engine's author weights. Until they are first computed (a cold start on
a large store takes seconds) a cheap stand-in answers: the members I have
a record with myself (my deals' counterparties, the subjects of my
positive attestations) weigh 1, everyone else 0.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from trustmesh.crypto.ids import member_key
from trustmesh.store import Store
from trustmesh.trust import DEFAULT, RankEntry, TrustConfig, TrustModel, TrustScore, build_table


class TrustEngine:
    """Trust from ``viewer``'s point of view over ``store``, refreshed when the store changes."""

    def __init__(self, store: Store, viewer: bytes, config: TrustConfig = DEFAULT,
                 cache: Path | None = None) -> None:
        self.store = store
        self.viewer = viewer
        self.config = config
        self.cache = cache      # where the evidence columns are kept between runs (None: nowhere)
        self._counter: tuple[int, int] | None = None
        self._model: TrustModel | None = None
        self._evidence: EvidenceColumns | None = None
        self._disputed: frozenset[bytes] | None = None     # None: the key tables not read yet
        self.loads = 0
        self.full_loads = 0
        self.key_reads = 0          # loads that read key_members and the disputes again
        self._lock = threading.RLock()     # one load at a time; readers may call from several threads

    @classmethod
    def for_ledger(cls, ledger, config: TrustConfig = DEFAULT) -> "TrustEngine":
        """The engine of a member's own point of view, its evidence kept beside the store."""
        return cls(ledger.store, ledger.me, config, cache=cache_beside(ledger.store))

    def load(self, now_ms: int) -> TrustModel:
        """The model over the store as it is now (re-read only if the store changed).

        Incremental: rows after the last one read come from SQL, and what
        the records stored since change in rows already held (a retraction,
        a contest, a deal that older evidence names) is applied to them
        (``Store.evidence_updates``); only a retracted deal or reply makes
        everything be read again. With ``cache``, the columns are kept in
        that file between runs (written after a full read and after every
        10% of growth), so a cold start reads them in bulk and asks SQL only
        for what came since.
        """
        with self._lock:
            return self._load()

    def _load(self) -> TrustModel:
        counter = self.store.change_counter()
        if self._model is None or counter != self._counter:
            if self._evidence is None and self.cache is not None:
                self._evidence, self._counter = EvidenceColumns.restore(self.cache, self.store)
            old = self._counter
            updates = None if self._evidence is None or old is None else self.store.evidence_updates(old[0])
            if updates is None:
                self._evidence = EvidenceColumns.read(self.store)
                self.full_loads += 1
                self._keep(counter)
            elif counter != old:
                self._evidence.apply(updates)
                self._evidence.reread(self.store, updates["rekeyed"], old[0])
                self._evidence.extend(self.store, old[0])
                if self._evidence.rows_since_kept > max(10_000, self._evidence.rows // 10):
                    self._keep(counter)
            if self._disputed is None or updates is None or self.store.key_events_since(old[0]):
                self._evidence.members = self.store.key_members()
                self._disputed = self.store.disputed_members()
                self.key_reads += 1
            # the old model (its table, relations, weights: a few hundred bytes a record) goes
            # before the new one is built, so a refresh holds one, not two (docs/reliability.md)
            self._model = None
            self._model = TrustModel(self._evidence.table(), self.member_of(self.viewer), self.config,
                                     record_names=_record_names(self.store), disputed=self._disputed)
            self._counter = counter
            self.loads += 1
        return self._model

    def _keep(self, counter: tuple[int, int]) -> None:
        if self.cache is not None:
            self._evidence.keep(self.cache, self.store, counter)

    def member_of(self, key: bytes) -> bytes:
        """The member ``key`` acts (or acted) for, as of the last load: itself when none."""
        members = self._evidence.members if self._evidence is not None else {}
        return members.get(key, key)

    def author_weights(self, now_ms: int):
        """The current model and the viewer's author weights over it (None: no relation yet)."""
        with self._lock:
            model = self._load()
            return model, model.weights(now_ms)

    def refresh(self, now_ms: int) -> None:
        """Bring the viewer's weights up to date now (queries do it on demand anyway)."""
        with self._lock:
            self._load().weights(now_ms)

    def trust(self, subject: bytes | str, facet: str | None, now_ms: int) -> TrustScore | list[TrustScore]:
        """The viewer's opinion of ``subject`` on ``facet`` (a list over facets if None)."""
        with self._lock:
            model = self._load()
            return model.trust(self.member_of(member_key(subject)), facet, now_ms)

    def explain(self, subject: bytes | str, facet: str | None, now_ms: int,
                limit: int = 20) -> TrustScore | list[TrustScore]:
        """``trust`` with the attestations and chains of people behind it."""
        with self._lock:
            model = self._load()
            return model.explain(self.member_of(member_key(subject)), facet, now_ms, limit)

    def rank(self, facet: str, limit: int, now_ms: int) -> list[RankEntry]:
        """The best-known subjects on ``facet``, best ``lower`` first."""
        with self._lock:
            return self._load().rank(facet, limit, now_ms)


def _record_names(store: Store):
    """The model's record namer: the store alone, not the engine (a bound method of the
    engine in its own model was a reference cycle that kept a dropped engine's evidence,
    a few hundred MB at 1M records, alive until the next full garbage collection)."""
    return lambda rids: [rid.hex() for rid in store.record_ids(list(rids))]


class Weights:
    """How much each member counts for the viewer; refreshed off the event loop."""

    def __init__(self, engine: "TrustEngine") -> None:
        self.engine = engine
        # (member -> index, weight per index) of the last refresh: what ``of`` needs and no more,
        # so the model it came from is freed when the engine replaces it
        self._known: tuple[dict, object] | None = None
        self._direct: frozenset[bytes] = frozenset((engine.viewer,))
        self.stale = True
        self.refreshes = 0
        self.last_seconds = 0.0
        self._lock = threading.Lock()

    def of(self, member: bytes) -> float:
        """The weight of ``member`` in [0, 1] (the viewer's is 1; 0 for a stranger)."""
        known = self._known
        if known is None:
            return 1.0 if member in self._direct else 0.0
        member = self.engine.member_of(member)     # a device key weighs what its member does
        if member == self.engine.member_of(self.engine.viewer):
            return 1.0
        index, weight = known[0].get(member), known[1]
        if weight is None or index is None:
            return 0.0
        return float(weight[index])

    def warm_up(self) -> None:
        """The stand-in: my own direct relations (blocking; one small query)."""
        me = self.engine.viewer
        self._direct = frozenset({me} | {b for a, b in self.engine.store.relations(me)})

    def refresh(self, now_ms: int) -> None:
        """Recompute from the store (blocking: run it in a thread)."""
        started = time.perf_counter()
        with self._lock:
            self.stale = False
            model, weights = self.engine.author_weights(now_ms)
            self._known = (model.evidence.index, None if weights is None else weights.weight)
            self.refreshes += 1
            self.last_seconds = time.perf_counter() - started


def read_evidence(store: Store):
    """The store's evidence as an ``EvidenceTable`` (members numbered as first met)."""
    columns = EvidenceColumns.read(store)
    columns.members = store.key_members()
    return columns.table()


class EvidenceColumns:
    """The store's evidence as growing numpy columns, keys numbered as first met.

    The columns hold the signing keys; ``members`` (key -> member, the
    store's ``key_members``) is applied only when the table is built, so a
    key event that changes who a key stands for re-reads no row: only the
    rows by or about a key whose authority ended are read again (some of
    them were voided).
    """

    def __init__(self) -> None:
        self.index: dict[bytes, int] = {}
        self.members: dict[bytes, bytes] = {}
        self.facets: dict[str, int] = {}
        self.att = {name: np.zeros(0, dtype) for name, dtype in _ATT_COLUMNS}
        self.deals = {name: np.zeros(0, dtype) for name, dtype in _DEAL_COLUMNS}
        self.cheats: list[int] = []
        self.rows_since_kept = 0

    @property
    def rows(self) -> int:
        return len(self.att["record"])

    @classmethod
    def read(cls, store: Store) -> "EvidenceColumns":
        """Everything, from scratch."""
        found = cls()
        found.extend(store, 0)
        return found

    def extend(self, store: Store, after: int, keys: Sequence[bytes] | None = None,
               upto: int | None = None, rows: Sequence[int] = ()) -> None:
        """Add the attestations and deals stored after row ``after`` (and the fork list);
        with ``keys``, only those up to row ``upto`` by or about them, and the attestations ``rows``."""
        rows = store.evidence_rows(after, keys=keys, upto=upto, rows=rows)
        rid, author, subject, facet, positive, dealt, contested, occurred, expires, deal_p, deal_q = \
            rows["attestations"]
        deal_author, deal_party, deal_time = rows["deals"]
        number = self.index.setdefault
        self.rows_since_kept += len(rid)
        index, facets = self.index, self.facets

        def numbered(keys, table, dtype):     # straight into a compact column, no list of ints
            return np.fromiter((table.setdefault(k, len(table)) for k in keys), dtype, len(keys))

        def party(keys):                      # a deal's signer, -1 for none (most rows)
            return np.fromiter((-1 if k is None else number(k, len(index)) for k in keys), np.int32, len(keys))
        new_att = {"author": numbered(author, index, np.int32), "subject": numbered(subject, index, np.int32),
                   "facet": numbered(facet, facets, np.int16),
                   "positive": positive, "dealt": dealt, "contested": contested,
                   "occurred": occurred, "expires": expires, "record": rid,
                   "deal_p": party(deal_p), "deal_q": party(deal_q)}
        new_deals = {"a": numbered(deal_author, index, np.int32), "b": numbered(deal_party, index, np.int32),
                     "time": deal_time}
        for name, dtype in _ATT_COLUMNS:
            self.att[name] = np.concatenate([self.att[name], np.asarray(new_att[name], dtype)])
        for name, dtype in _DEAL_COLUMNS:
            self.deals[name] = np.concatenate([self.deals[name], np.asarray(new_deals[name], dtype)])
        self.cheats = [number(k, len(self.index)) for k in rows["equivocators"]]

    def apply(self, updates: dict[str, list]) -> None:
        """Change rows already held: drop the retracted, flag the contested and the newly dealt,
        and note the signers of newly arrived deals between other keys (``table`` maps them)."""
        record = self.att["record"]
        if updates["retracted"]:
            keep = ~np.isin(record, np.asarray(updates["retracted"], np.int64))
            self.att = {name: column[keep] for name, column in self.att.items()}
            record = self.att["record"]
        for flag in ("contested", "dealt"):
            if updates[flag]:
                self.att[flag] = self.att[flag] | np.isin(record, np.asarray(updates[flag], np.int64))
        if updates.get("linked"):
            number = self.index.setdefault
            at = {rid: (number(p, len(self.index)), number(q, len(self.index))) for rid, p, q in updates["linked"]}
            rows = np.flatnonzero(np.isin(record, np.fromiter(at, np.int64, len(at))))
            for row in rows.tolist():
                self.att["deal_p"][row], self.att["deal_q"][row] = at[int(record[row])]

    def reread(self, store: Store, keys: Sequence[bytes], upto: int) -> None:
        """Drop the rows up to row ``upto`` by or about ``keys``, or naming a deal one of
        them signed with other keys (it may have been voided), and read them again."""
        numbers = np.asarray([self.index[k] for k in keys if k in self.index], np.int32)
        if not len(numbers):
            return
        a = self.att
        named = np.isin(a["deal_p"], numbers) | np.isin(a["deal_q"], numbers)
        keep = ~(np.isin(a["author"], numbers) | np.isin(a["subject"], numbers) | named)
        rows = a["record"][named].tolist()
        self.att = {name: column[keep] for name, column in self.att.items()}
        keep = ~(np.isin(self.deals["a"], numbers) | np.isin(self.deals["b"], numbers))
        self.deals = {name: column[keep] for name, column in self.deals.items()}
        self.extend(store, 0, keys=keys, upto=upto, rows=rows)

    def keep(self, path: Path, store: Store, counter: tuple[int, int]) -> None:
        """Write the columns to ``path`` (atomically, mode 0600), as of ``counter``.

        The rows are put in the table's order first (by facet, subject, author): the table
        a later start builds from them is then sorted already but for what came since, and
        sorting nearly sorted rows is a hundred times faster (1.5 ms against 120 at 1M).
        """
        self._in_table_order()
        keys = list(self.index)
        mark = store.record_ids([counter[0]])[0] if counter[0] else b""
        arrays = {f"att_{k}": v for k, v in self.att.items()}
        arrays.update({f"deal_{k}": v for k, v in self.deals.items()})
        arrays.update(keys=np.frombuffer(b"".join(keys), np.uint8),
                      key_sizes=np.array([len(k) for k in keys], np.int32),
                      facets=np.frombuffer("\0".join(self.facets).encode(), np.uint8),
                      cheats=np.asarray(self.cheats, np.int32), counter=np.asarray(counter, np.int64),
                      mark=np.frombuffer(mark, np.uint8), version=np.asarray([_CACHE_VERSION]))
        part = Path(f"{path}.part")
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            np.savez(out, **arrays)
        os.replace(part, path)
        self.rows_since_kept = 0

    def _in_table_order(self) -> None:
        """Reorder the rows by (facet, subject, author) key numbers (the table's order when
        no key stands for another member); nothing else depends on the rows' order."""
        a, size = self.att, max(len(self.index), 1)
        if not len(a["author"]) or (len(self.facets) + 1) * size * size >= 2 ** 62:
            return
        order = np.argsort((a["facet"].astype(np.int64) * size + a["subject"]) * size + a["author"], kind="stable")
        self.att = {name: column[order] for name, column in a.items()}

    @classmethod
    def restore(cls, path: Path, store: Store) -> tuple["EvidenceColumns | None", tuple[int, int] | None]:
        """The columns kept in ``path`` and their counter, if they belong to this store."""
        try:
            with np.load(path, allow_pickle=False) as held:
                counter = tuple(int(x) for x in held["counter"])
                if int(held["version"][0]) != _CACHE_VERSION or counter[0] > store.change_counter()[0]:
                    return None, None
                if counter[0] and store.record_ids([counter[0]])[0] != held["mark"].tobytes():
                    return None, None
                found = cls()
                found.att = {name: held[f"att_{name}"].astype(dtype, copy=False) for name, dtype in _ATT_COLUMNS}
                found.deals = {name: held[f"deal_{name}"].astype(dtype, copy=False) for name, dtype in _DEAL_COLUMNS}
                raw, sizes = held["keys"].tobytes(), held["key_sizes"]
                ends = np.cumsum(sizes).tolist()
                found.index = {raw[e - z:e]: i for i, (e, z) in enumerate(zip(ends, sizes.tolist()))}
                names = held["facets"].tobytes().decode()
                found.facets = {f: i for i, f in enumerate(names.split("\0"))} if names else {}
                found.cheats = held["cheats"].tolist()
                return found, counter
        except (OSError, KeyError, ValueError, IndexError):
            return None, None     # missing, damaged or foreign: read from the store

    def table(self):
        """The ``EvidenceTable`` the trust model reads: keys mapped to their members, and
        what a member's keys say of one another (not evidence about oneself) left out."""
        a, d = self.att, self.deals
        keys = list(self.index)
        author, subject, deal_a, deal_b, cheats = a["author"], a["subject"], d["a"], d["b"], self.cheats
        att_rows = deal_rows = slice(None)
        dealt = a["dealt"]
        if self.members:
            numbers: dict[bytes, int] = {}
            remap = np.fromiter((numbers.setdefault(self.members.get(k, k), len(numbers)) for k in keys),
                                np.int32, len(keys))
            keys = list(numbers)
            author, subject, deal_a, deal_b = remap[author], remap[subject], remap[deal_a], remap[deal_b]
            cheats = sorted(set(remap[np.asarray(cheats, np.int64)].tolist())) if cheats else []
            att_rows, deal_rows = author != subject, deal_a != deal_b
            dealt = dealt | _same_members(remap, author, subject, a["deal_p"], a["deal_q"])
        return build_table(
            keys, list(self.facets), author=author[att_rows], subject=subject[att_rows],
            facet=a["facet"][att_rows], positive=a["positive"][att_rows], dealt=dealt[att_rows],
            contested=a["contested"][att_rows], occurred=a["occurred"][att_rows],
            expires=a["expires"][att_rows], record=a["record"][att_rows],
            deal_a=deal_a[deal_rows], deal_b=deal_b[deal_rows], deal_time=d["time"][deal_rows],
            equivocators=cheats)


_ATT_COLUMNS = (("author", np.int32), ("subject", np.int32), ("facet", np.int16), ("positive", bool),
                ("dealt", bool), ("contested", bool), ("occurred", np.int64), ("expires", np.int64),
                ("record", np.int64), ("deal_p", np.int32), ("deal_q", np.int32))
_DEAL_COLUMNS = (("a", np.int32), ("b", np.int32), ("time", np.int64))
_CACHE_VERSION = 2      # 2: deal_p, deal_q


def _same_members(remap, author, subject, p, q):
    """Rows whose deal, signed by keys other than theirs (``p``, ``q``; -1: none), is between
    the same two members as the attestation: a device's or a successor's deal backs it."""
    out = np.zeros(len(author), bool)
    rows = np.flatnonzero(p >= 0)
    if len(rows):
        mp, mq = remap[p[rows]], remap[q[rows]]
        ma, ms = author[rows], subject[rows]
        out[rows] = (mp != mq) & (((mp == ma) & (mq == ms)) | ((mp == ms) & (mq == ma)))
    return out


def cache_beside(store: Store) -> Path | None:
    """Where a store's evidence columns are kept between runs: a file beside it."""
    path = getattr(store, "path", None)
    return Path(f"{path}.trust.npz") if path else None
