"""Trust from one viewer's point of view: scores, rankings and their explanations.

``TrustModel`` is pure: it reads an ``EvidenceTable`` and a time passed in.
It computes the viewer's author weights once and keeps them until the day
changes (relations fade slowly) or until it is given a new table (the node
adapter does that when the store changed): never per query. Per-facet
aggregates for rankings are kept for a minute of model time.

How one attestation counts towards its subject's facet (in units of
evidence): fading with the facet's half-life, times ``undealt_weight`` when
no signed deal backs it, times ``negative_weight`` for a negative (and
``slander_weight`` on top when the author never had a deal with the
subject); an author's units over all subjects of a facet are scaled down to
fit ``rater_budget``; one author's units about one subject saturate at
``author_cap``;
the sum is then multiplied by the author's weight (``first_hand`` for the
viewer). Positive units feed ``r``, negative ones ``s`` (see ``opinion``).

``disputed`` names the members whose key chain is forked (the node adapter
reads them from the store): their answers say so and are never
``recommended`` (``verdict.disputed``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.special import ndtri     # the normal quantile (scipy.stats.norm.ppf), without the second of importing scipy.stats

from trustmesh.crypto.ids import peer_id
from trustmesh.errors import UsageError
from trustmesh.protocol.facets import CORE_FACETS, is_facet
from trustmesh.trust.config import DAY_MS, DEFAULT, TrustConfig
from trustmesh.trust.evidence import EvidenceTable
from trustmesh.trust.opinion import decay, opinion
from trustmesh.trust.results import EvidenceItem, FacetOpinions, RankEntry, TrustScore
from trustmesh.trust.support import index_ranges, faint_share, independence, reply_factor
from trustmesh.trust.verdict import VERDICTS, disputed as capped, rank_key, verdict, verdicts
from trustmesh.trust.weights import AuthorWeights, author_weights

_AGGREGATE_MS = 60_000


def member_name(key: bytes) -> str:
    """A member's printable id: its PeerID (hex for keys of another size)."""
    return peer_id(key) if len(key) == 32 else key.hex()


class TrustModel:
    """The viewer's trust over one evidence table; weights cached, never per query."""

    def __init__(self, evidence: EvidenceTable, viewer: bytes, config: TrustConfig = DEFAULT,
                 record_names: Callable[[Sequence[int]], list[str]] | None = None,
                 disputed: frozenset[bytes] = frozenset()) -> None:
        self.evidence = evidence
        self.viewer = viewer
        self.config = config
        self.disputed = frozenset(disputed)     # members whose key chain is forked
        self._viewer = evidence.index.get(viewer)
        self._record_names = record_names or (lambda keys: [str(k) for k in keys])
        self._weights: tuple[int, AuthorWeights | None] | None = None
        self._facets: dict[str, tuple[int, tuple]] = {}
        self._budgets: dict[str, np.ndarray] = {}
        self._independent: dict[str, tuple[int, np.ndarray]] = {}   # facet -> (rows counted, per group)
        self._reply: np.ndarray | None = None
        self.refreshes = 0

    # ---- weights ---------------------------------------------------------

    def weights(self, now_ms: int) -> AuthorWeights | None:
        """The viewer's author weights (None when the viewer has no relation at all)."""
        day = now_ms // DAY_MS
        if self._weights is None or self._weights[0] != day:
            found = None
            if self._viewer is not None:
                found = author_weights(self.evidence, self._viewer, now_ms, self.config)
            self._weights = (day, found)
            self._facets.clear()
            self._budgets.clear()
            self._independent.clear()
            self._reply = None
            self.refreshes += 1
            if found is not None:       # what every query needs, made with the weights (~20 ms at 1M)
                found.inflow_total, found.inflow.has_canonical_format, found.inflow_filter
                self._replies(now_ms)
                for facet in self.evidence.facets:
                    self._budget_scale(facet, now_ms)
        return self._weights[1]

    def _author_weight(self, now_ms: int, facet: str | None = None) -> np.ndarray:
        w = self.weights(now_ms)
        if w is None:
            return np.zeros(self.evidence.size)
        return w.weight if facet is None else w.weight_for(self.config.family(facet))

    # ---- queries ---------------------------------------------------------

    def trust(self, subject: bytes, facet: str | None, now_ms: int) -> TrustScore | list[TrustScore]:
        """The opinion on one facet of ``subject``, or a list over facets when ``facet`` is None.

        A subject with no evidence whose author counts reads as unknown
        (score 0.5, uncertainty 1), never as good or bad.
        """
        if facet is None:
            return [self.trust(subject, f, now_ms) for f in self._facets_about(subject)]
        return self._score(subject, _checked(facet), now_ms, explain=0)

    def explain(self, subject: bytes, facet: str | None, now_ms: int,
                limit: int = 20) -> TrustScore | list[TrustScore]:
        """Like ``trust`` with up to ``limit`` attestations and their chains, heaviest first."""
        if facet is None:
            return [self.explain(subject, f, now_ms, limit) for f in self._facets_about(subject)]
        return self._score(subject, _checked(facet), now_ms, explain=limit)

    def rank(self, facet: str, limit: int, now_ms: int) -> list[RankEntry]:
        """The ``limit`` best subjects on ``facet``: by verdict (recommended first, warning
        last), then by ``lower`` (the conservative bound).

        Only subjects with evidence whose authors count are ranked; the
        viewer is left out.
        """
        facet = _checked(facet)
        if limit <= 0:
            return []
        subjects, r, s, count, sides = self._facet_aggregate(facet, now_ms)
        if len(subjects) == 0:
            return []
        keep = r + s > 1e-9
        if self._viewer is not None:
            keep &= subjects != self._viewer
        kept = np.flatnonzero(keep)
        # A normal approximation picks the candidates; the exact Beta quantile orders them.
        mean = (r[kept] + 1) / (r[kept] + s[kept] + 2)
        approx = mean - ndtri(1 - self.config.quantile) * np.sqrt(mean * (1 - mean) / (r[kept] + s[kept] + 3))
        pool = min(len(kept), max(4 * limit, 400))
        cand = kept[np.argpartition(-approx, pool - 1)[:pool] if pool < len(kept) else np.arange(len(kept))]
        authors, for_, against = sides(cand)        # only the candidates' (about a tenth of a ranking)
        score, unc, lower = opinion(r[cand], s[cand], self.config.quantile)
        said = verdicts(r[cand], s[cand], for_, against, self.config,
                        self._credible(facet, now_ms)[subjects[cand]])
        names = self.evidence.members
        forked = np.fromiter((names[k] in self.disputed for k in subjects[cand].tolist()), bool, len(cand))
        said = capped(said, forked)
        order = np.lexsort((-score, -rank_key(said, lower)))[:limit]
        return [RankEntry(member_name(names[subjects[cand[i]]]), facet, float(score[i]), float(unc[i]),
                          float(lower[i]), int(count[cand[i]]), int(authors[i]), VERDICTS[said[i]],
                          bool(forked[i]))
                for i in order]

    def opinions(self, facet: str, now_ms: int) -> FacetOpinions:
        """The viewer's opinion of every member on ``facet`` at once, as arrays (unknown: the prior's).

        For harnesses and bulk readers: one pass, the same numbers ``trust`` gives one by one.
        """
        facet = _checked(facet)
        subjects, r, s, _, sides = self._facet_aggregate(facet, now_ms)
        _, for_, against = sides(None)
        size = self.evidence.size
        full = [np.zeros(size) for _ in range(4)]
        for column, values in zip(full, (r, s, for_, against)):
            column[subjects] = values
        score, unc, lower = opinion(full[0], full[1], self.config.quantile)
        forked = np.zeros(size, bool)
        forked[[self.evidence.index[m] for m in self.disputed if m in self.evidence.index]] = True
        said = capped(verdicts(full[0], full[1], full[2], full[3], self.config,
                               self._credible(facet, now_ms)), forked)
        return FacetOpinions(facet, full[0], full[1], score, unc, lower, said, full[2], full[3])

    # ---- internals -------------------------------------------------------

    def _facets_about(self, subject: bytes) -> list[str]:
        found = list(CORE_FACETS)
        index = self.evidence.index.get(subject)
        if index is not None:
            found += [f for f in self.evidence.facets_of(index) if f not in CORE_FACETS]
        return found

    def _score(self, subject: bytes, facet: str, now_ms: int, explain: int) -> TrustScore:
        name = member_name(subject)
        ev = self.evidence
        index = ev.index.get(subject)
        forked = subject in self.disputed
        if index is None or facet not in ev.facets:
            return _unknown(name, facet, self.config, forked)
        rows = np.arange(*ev.slice_of(index, ev.facets.index(facet)).indices(len(ev.key)))
        weight = self._author_weight(now_ms, facet)
        rows = rows[ev.expires[rows] > now_ms]
        units, starts, group_w = self._units(rows, facet, weight, now_ms)
        pos = ev.positive[rows]
        r, s = units[pos].sum(), units[~pos].sum()
        score, unc, lower = opinion(r, s, self.config.quantile)
        for_, against = _sides(self.evidence, self.config, self._viewer, rows, units, starts, group_w)
        said = verdict(r, s, for_.sum(), against.sum(), self.config, forked,
                       float(self._credible(facet, now_ms)[index]))
        authors = len(set(ev.author[rows][group_w > 0].tolist()))
        contested = int((ev.contested[rows] & ~pos).sum())
        items: tuple[EvidenceItem, ...] = ()
        if explain:
            items = self._items(rows, units, weight, explain, now_ms, facet)
        return TrustScore(name, facet, float(score), float(unc), float(lower), len(rows), authors,
                          contested, items, said, forked)

    def _credible(self, facet: str, now_ms: int) -> np.ndarray:
        """Per member, the share of its word it keeps for what it says of others (camps.py);
        1 for those whose ratings hardly blame members my camp holds good (``witness_blame``):
        a far community that praises its own is another camp, not a liar. 1 too for members
        my network barely reaches (reach cap under ``witness_reach``): what my camp holds of
        their partners is a guess there."""
        found = self.weights(now_ms)
        if found is None or found.camp is None:
            return np.ones(self.evidence.size)
        judged = found.blame >= self.config.witness_blame
        if found.cap is not None:
            judged &= found.cap >= self.config.witness_reach
        return np.where(judged, found.camp, 1.0)

    def _raw_units(self, rows: np.ndarray, facet: str, now_ms: int) -> np.ndarray:
        ev, cfg = self.evidence, self.config
        raw = decay(now_ms - ev.occurred[rows], cfg.half_life(facet))
        raw *= np.where(ev.dealt[rows], 1.0, cfg.undealt_weight)
        pos = ev.positive[rows]
        raw *= np.where(pos, 1.0, cfg.negative_weight * np.where(ev.pair_dealt[rows], 1.0, cfg.slander_weight))
        return raw

    def _budget_scale(self, facet: str, now_ms: int) -> np.ndarray:
        """Per author, the share of its evidence on ``facet`` that fits in its rater budget."""
        self.weights(now_ms)            # may clear the caches when the day changed
        held = self._budgets.get(facet)
        if held is not None:
            return held
        ev = self.evidence
        rows = np.arange(*ev.facet_slice(ev.facets.index(facet)).indices(len(ev.key)))
        rows = rows[ev.expires[rows] > now_ms]
        total = np.bincount(ev.author[rows], self._raw_units(rows, facet, now_ms), minlength=ev.size)
        total = total.astype(np.float64, copy=False)     # an empty facet's bincount is int
        scale = np.minimum(1.0, np.divide(self.config.rater_budget, total, out=np.ones_like(total),
                                          where=total > 0))
        self._budgets[facet] = scale
        return scale

    def _units(self, rows: np.ndarray, facet: str, weight: np.ndarray, now_ms: int,
               whole_facet: bool = False):
        """Per row: evidence units counted; per group (author within subject): starts and weight.

        The group weight is the author's weight (``first_hand`` for the viewer) times the
        share of it that is independent of the subject's other raters (support.py).
        With ``whole_facet`` (``rows`` are all the facet's live rows) that share is kept
        until the weights change: it depends on the weights and on which rows are live,
        not on the time (rows only ever expire, so their number tells which are live),
        and it is about half of a ranking's cost (about 40 of 90 ms on the bench store).
        """
        ev, cfg = self.evidence, self.config
        if len(rows) == 0:
            return np.zeros(0), np.zeros(0, np.int64), np.zeros(0)
        raw = self._raw_units(rows, facet, now_ms)
        raw *= self._budget_scale(facet, now_ms)[ev.author[rows]]
        raw *= self._replies(now_ms)[rows]
        authors, subjects = ev.author[rows], ev.subject[rows]
        change = np.empty(len(rows), bool)
        change[0] = True
        change[1:] = (authors[1:] != authors[:-1]) | (subjects[1:] != subjects[:-1])
        starts = np.flatnonzero(change)
        total = np.add.reduceat(raw, starts)
        capped = cfg.author_cap * -np.expm1(-total / cfg.author_cap)
        scale = np.divide(capped, total, out=np.zeros_like(total), where=total > 0)
        group_author = authors[starts]
        group_w = weight[group_author].copy()
        found = self.weights(now_ms)
        if found is not None:
            held = self._independent.get(facet) if whole_facet else None
            if held is None or held[0] != len(rows):
                held = (len(rows), independence(found.inflow, group_author, subjects[starts], self._viewer,
                                                cfg, found.inflow_total, found.inflow_filter))
                if whole_facet:
                    self._independent[facet] = held
            group_w *= held[1]
            praise = np.add.reduceat(np.where(ev.positive[rows], raw, -raw), starts) > 0
            group_w *= faint_share(group_w, subjects[starts], praise, cfg)
        if self._viewer is not None:
            group_w[group_author == self._viewer] = cfg.first_hand
        per_group = scale * group_w
        sizes = np.diff(np.append(starts, len(rows)))
        return raw * np.repeat(per_group, sizes), starts, np.repeat(group_w, sizes)

    def _replies(self, now_ms: int) -> np.ndarray:
        """Per row, the share a contested negative keeps (support.py), cached with the weights."""
        self.weights(now_ms)
        if self._reply is None:
            found = self.weights(now_ms)
            standing = np.zeros(self.evidence.size) if found is None else found.reach
            self._reply = reply_factor(self.evidence, standing, now_ms, self.config)
        return self._reply

    def _facet_aggregate(self, facet: str, now_ms: int) -> tuple:
        """Per subject on ``facet``: (subjects, r, s, attestations, ``sides``), cached briefly.

        ``sides(which)`` gives (authors, independent authors' worth for, against) of the
        subjects at positions ``which`` (all for None, then kept): a ranking needs them for its
        candidates only. Each subject's sums run over the same rows in the same order either
        way, so they are the same to the last bit.
        """
        bucket = now_ms // _AGGREGATE_MS
        self.weights(now_ms)            # may clear the cache when the day changed
        held = self._facets.get(facet)
        if held is not None and held[0] == bucket:
            return held[1]
        ev = self.evidence
        none = np.zeros(0)
        empty = (np.zeros(0, np.int64), none, none, none, lambda which: (none, none, none))
        if facet not in ev.facets:
            return empty
        rows = np.arange(*ev.facet_slice(ev.facets.index(facet)).indices(len(ev.key)))
        rows = rows[ev.expires[rows] > now_ms]
        if len(rows) == 0:
            return empty
        units, starts, group_w = self._units(rows, facet, self._author_weight(now_ms, facet), now_ms,
                                             whole_facet=True)
        pos = ev.positive[rows]
        subjects = ev.subject[rows]
        first = np.flatnonzero(np.r_[True, subjects[1:] != subjects[:-1]])
        r = np.add.reduceat(np.where(pos, units, 0.0), first)
        s = np.add.reduceat(np.where(pos, 0.0, units), first)
        count = np.diff(np.append(first, len(rows)))
        group_start = np.zeros(len(rows), bool)
        group_start[starts] = True
        everyone: list = []
        ev, cfg, viewer = self.evidence, self.config, self._viewer     # not self: see _sides

        def sides(which):
            if which is None and everyone:
                return everyone[0]
            at = np.arange(len(rows)) if which is None else index_ranges(first[which], count[which])
            bounds = first if which is None else np.cumsum(count[which]) - count[which]
            found = (np.zeros(0),) * 3
            if len(at):
                begins = np.flatnonzero(group_start[at])
                counted, for_, against = np.zeros(len(at)), np.zeros(len(at)), np.zeros(len(at))
                counted[begins] = group_w[at[begins]] > 0
                for_[begins], against[begins] = _sides(ev, cfg, viewer, rows[at], units[at], begins, group_w[at])
                found = tuple(np.add.reduceat(x, bounds) for x in (counted, for_, against))
            if which is None:
                everyone.append(found)
            return found

        result = (subjects[first], r, s, count, sides)
        self._facets[facet] = (bucket, result)
        return result

    def _items(self, rows, units, weight, limit: int, now_ms: int, facet: str) -> tuple[EvidenceItem, ...]:
        ev = self.evidence
        order = np.argsort(-units, kind="stable")[:limit]
        picked = rows[order]
        names = self._record_names(ev.record[picked].tolist())
        found = self.weights(now_ms)
        items = []
        for k, row in enumerate(picked.tolist()):
            author = int(ev.author[row])
            chain = found.chain(author) if found is not None else None
            items.append(EvidenceItem(
                record=names[k], author=member_name(ev.members[author]),
                positive=bool(ev.positive[row]), deal=bool(ev.dealt[row]),
                contested=bool(ev.contested[row]), occurred=int(ev.occurred[row]),
                author_weight=float(weight[author]), weight=float(units[order[k]]),
                first_hand=author == self._viewer,
                chain=tuple(member_name(ev.members[i]) for i in chain) if chain else (),
                rater_credibility=(float(found.credibility_for(self.config.family(facet))[author])
                                   if found is not None else 0.0)))
        return tuple(items)


def _checked(facet: str) -> str:
    if not is_facet(facet):
        raise UsageError(f"unknown facet {facet!r}: use one of {', '.join(CORE_FACETS)} or skill:<name>")
    return facet


def _unknown(name: str, facet: str, config: TrustConfig, disputed: bool = False) -> TrustScore:
    score, unc, lower = opinion(0.0, 0.0, config.quantile)
    return TrustScore(name, facet, float(score), float(unc), float(lower), 0, 0,
                      verdict=verdict(0, 0, 0, 0, config), disputed=disputed)


def _sides(ev: EvidenceTable, cfg: TrustConfig, viewer: int | None, rows: np.ndarray, units: np.ndarray,
           starts: np.ndarray, group_w: np.ndarray):
    """Per group: independent authors' worth for (positives, negatives), and its subject.

    A function, not a method: the facet aggregates' closure calls it, and a closure over
    the model kept in the model's own cache is a cycle (soak: replaced models, each with
    its evidence table, lived until a full collection)."""
    signed = np.where(ev.positive[rows], units, -units)
    net = np.add.reduceat(signed, starts) if len(rows) else np.zeros(0)
    worth = np.minimum(group_w[starts], 1.0) if len(rows) else np.zeros(0)
    if viewer is not None and len(rows):
        worth[ev.author[rows][starts] == viewer] = cfg.warning_authors
    return np.where(net > 0, worth, 0.0), np.where(net < 0, worth, 0.0)
