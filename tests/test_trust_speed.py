"""The trust engine's fast paths give what the plain computations they replaced give.

Each fast path (the shared relation pattern, the pointer-jumping hop layers,
independence from the shorter side and the filters before its lookups, the one-key table sort, the deal lookup,
the kept columns in table order, the rankings and the independence they keep
until the weights change) is checked against a plain, obviously correct
computation on small random worlds, including forkers, expired rows, rows
expiring between queries, self-ratings and the viewer among the raters.
"""

import gc
import weakref

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order

from tests.conftest import NOW
from trustmesh.core.trustview import TrustEngine
from trustmesh.trust import DEFAULT, TrustModel, TrustScore, build_table
from trustmesh.trust.camps import signed_ratings
from trustmesh.trust.credibility import hop_layers
from trustmesh.trust.relations import relations
from trustmesh.trust.support import may_hold, independence, pair_filter
from trustmesh.trust.verdict import STANDING, VERDICTS
from trustmesh.trust.weights import relation_matrix

DAY = 86_400_000
FACETS = ["delivery", "payment", "quality", "relation", "solvency"]


def world(seed: int, n: int = 60, rows: int = 900, deals: int = 200, forkers=(3, 17), soon: float = 0.0):
    """A random table: every facet, negatives, some expired rows, forkers, self-pairs kept out;
    a share ``soon`` of the rows expires ten minutes after NOW."""
    rng = np.random.default_rng(seed)
    author, subject = rng.integers(0, n, rows), rng.integers(0, n, rows)
    subject = np.where(subject == author, (subject + 1) % n, subject)
    deal_a, deal_b = rng.integers(0, n, deals), rng.integers(0, n, deals)
    deal_b = np.where(deal_b == deal_a, (deal_b + 1) % n, deal_b)
    expires = np.where(rng.random(rows) < 0.1, NOW - DAY, -1)
    expires = np.where(rng.random(rows) < soon, NOW + 600_000, expires)
    return build_table([i.to_bytes(32, "big") for i in range(n)], FACETS, author=author, subject=subject,
                       facet=rng.integers(0, len(FACETS), rows), positive=rng.random(rows) < 0.8,
                       dealt=rng.random(rows) < 0.4, contested=rng.random(rows) < 0.1,
                       occurred=NOW - rng.integers(1, 700, rows) * DAY, expires=expires,
                       deal_a=deal_a, deal_b=deal_b, deal_time=NOW - rng.integers(1, 700, deals) * DAY,
                       equivocators=list(forkers))


def test_every_walk_runs_on_the_relation_matrix_of_its_family():
    for seed in range(5):
        ev = world(seed)
        graph = relations(ev, NOW, DEFAULT)
        cut = graph.touches_equivocator()
        for family in (None, "money", "work", "relation"):
            data = graph.values(family)
            data[cut] = 0.0
            fast, plain = graph.matrix(data), relation_matrix(ev, NOW, DEFAULT, family)
            assert fast.nnz == plain.nnz and abs(fast - plain).max() < 1e-12
            assert abs(graph.transposed(data) - plain.T).max() < 1e-12
        plain = signed_ratings(ev, NOW, DEFAULT)
        assert graph.ratings().nnz == plain.nnz and abs(graph.ratings() - plain).max() < 1e-12


def test_hop_layers_are_bfs_distances():
    for seed in range(5):
        rel = relation_matrix(world(seed, forkers=()), NOW, DEFAULT)
        for viewer in (0, 7, 33):
            order, pred = breadth_first_order(rel, viewer, directed=True, return_predecessors=True)
            plain = np.full(rel.shape[0], -1)
            plain[viewer] = 0
            for node in order[1:]:
                plain[node] = plain[pred[node]] + 1
            assert (hop_layers(rel, viewer) == plain).all()


def plain_independence(inflow, group_author, group_subject, viewer, config):
    """The definition: mass reaching the author from the subject and its other raters."""
    dense = inflow.toarray()
    found = []
    for a, s in zip(group_author.tolist(), group_subject.tolist()):
        inside = {u for u, t in zip(group_author.tolist(), group_subject.tolist()) if t == s and u != viewer}
        if s != viewer:
            inside.add(s)
        total = dense[a].sum()
        share = sum(dense[a, u] for u in inside) / total if total > 0 else 0.0
        found.append(min(max((1.0 - share) / config.independence, 0.0), 1.0))
    return np.array(found)


def test_independence_from_either_side_is_the_definition():
    rng = np.random.default_rng(5)
    for seed in range(6):
        n = 40
        inflow = sp.random(n, n, density=0.02 + 0.05 * seed, random_state=seed, format="lil")
        inflow[0, :] = 0.3                          # a hub every member sends to: both sides used
        inflow = sp.csr_matrix(inflow)
        pairs = sorted({(int(s), int(a)) for s, a in rng.integers(0, n, (150, 2))})
        pairs += [(9, 9), (0, 12), (5, 0), (9, 0)]   # a self-rating, the viewer as a subject, the hub rating
        subject, author = np.array(sorted(set(pairs))).T
        for viewer in (0, 4, None):
            plain = plain_independence(inflow, author, subject, viewer, DEFAULT)
            assert np.allclose(independence(inflow, author, subject, viewer, DEFAULT), plain)
            shuffled = rng.permutation(len(author))
            assert np.allclose(independence(inflow, author[shuffled], subject[shuffled], viewer, DEFAULT),
                               plain[shuffled])


def test_the_inflow_filter_never_rules_out_an_entry_and_rules_out_most_others():
    rng = np.random.default_rng(3)
    n = 5000
    inflow = sp.random(n, n, density=0.01, random_state=3, format="csr")
    found = pair_filter(inflow)
    rows = np.repeat(np.arange(n), np.diff(inflow.indptr))
    assert may_hold(found, rows, inflow.indices, n).all()
    others = rng.integers(0, n, (2, 100_000))
    absent = np.asarray(inflow[others[0], others[1]]).ravel() == 0
    assert may_hold(found, others[0][absent], others[1][absent], n).mean() < 0.05


def test_the_table_is_sorted_by_facet_subject_author_and_knows_its_dealt_pairs():
    ev = world(11)
    order = np.lexsort((ev.author, ev.key))
    assert (order == np.arange(len(order))).all()
    dealt = {(min(a, b), max(a, b)) for a, b in zip(ev.deal_a.tolist(), ev.deal_b.tolist())}
    plain = [(min(a, s), max(a, s)) in dealt or d for a, s, d in
             zip(ev.author.tolist(), ev.subject.tolist(), ev.dealt.tolist())]
    assert ev.pair_dealt.tolist() == plain


def test_queries_after_a_refresh_match_a_model_built_again():
    ev = world(3, n=80, rows=2000)
    model = TrustModel(ev, ev.members[1])
    model.weights(NOW)
    again = TrustModel(ev, ev.members[1])
    for facet in FACETS:
        for i in (2, 5, 40):
            assert model.trust(ev.members[i], facet, NOW) == again.trust(ev.members[i], facet, NOW)
        assert model.rank(facet, 10, NOW) == again.rank(facet, 10, NOW)


def plain_rank(model: TrustModel, facet: str, now: int) -> list[TrustScore]:
    """The definition: every other member's trust() one by one, those with any evidence that
    counts (r + s > 1e-9), best verdict first, then ``lower``, then the score."""
    ev = model.evidence
    found = [model.trust(key, facet, now) for key in ev.members if key != model.viewer]
    found = [t for t in found if 2.0 / t.uncertainty - 2.0 > 1e-9]
    return sorted(found, key=lambda t: (-STANDING[VERDICTS.index(t.verdict)], -t.lower, -t.score))


def same_entries(ranked, plain) -> None:
    assert [e.subject for e in ranked] == [t.subject for t in plain]
    assert [e.verdict for e in ranked] == [t.verdict for t in plain]
    assert [(e.evidence, e.authors, e.disputed) for e in ranked] == [(t.evidence, t.authors, t.disputed)
                                                                    for t in plain]
    for e, t in zip(ranked, plain):
        assert abs(e.score - t.score) < 1e-12 and abs(e.lower - t.lower) < 1e-12
        assert abs(e.uncertainty - t.uncertainty) < 1e-12


def test_rankings_are_every_subject_scored_one_by_one_and_sorted():
    for seed in range(4):
        ev = world(20 + seed, n=70, rows=1500)
        for viewer in (1, 5, 3):        # 3 forks its chain: its relations are cut, it may see nothing
            model = TrustModel(ev, ev.members[viewer], disputed=frozenset({ev.members[17]}))
            for facet in FACETS:
                plain = plain_rank(model, facet, NOW)
                assert plain or viewer == 3, facet
                same_entries(model.rank(facet, 1000, NOW), plain)
                same_entries(model.rank(facet, 5, NOW), plain[:5])


def test_kept_independence_follows_the_rows_that_expire_and_the_day():
    ev = world(7, n=70, rows=1500, soon=0.2)
    model = TrustModel(ev, ev.members[1])
    for now in (NOW, NOW + 120_000, NOW + 1_200_000, NOW + 60_000, NOW + 2 * DAY):
        fresh = TrustModel(ev, ev.members[1])
        fresh.weights(NOW if now < NOW + DAY else now)     # the budgets are kept from the day's first query
        for facet in FACETS:
            ranked = model.rank(facet, 1000, now)
            assert ranked == fresh.rank(facet, 1000, now)
            same_entries(ranked, plain_rank(fresh, facet, now))
    assert model._independent and model.refreshes == 2


def test_a_dropped_engine_frees_its_evidence_without_a_garbage_collection(make_ledger):
    me, other = make_ledger(1), make_ledger(2)
    deal = other.countersign(me.propose_deal(other.me, "PO-1", "client"))
    me.ingest([deal.raw])
    me.attest(other.me, "delivery", True, deal=deal.id)
    engine = TrustEngine(me.store, me.me)
    assert engine.trust(other.me, "delivery", NOW).evidence == 1
    model = weakref.ref(engine._model)
    gc.disable()
    try:
        del engine
        assert model() is None
    finally:
        gc.enable()


def test_a_replaced_model_is_freed_without_a_garbage_collection_after_every_kind_of_query(make_ledger):
    """Soak finding: each store change makes a new model; a cycle through the cached facet
    aggregates (a closure over the model) kept the old ones, each with its evidence table
    and weights, until a full collection (7 alive at once in a node at 20 records/s)."""
    me, other = make_ledger(1), make_ledger(2)
    deal = other.countersign(me.propose_deal(other.me, "PO-1", "client"))
    me.ingest([deal.raw])
    me.attest(other.me, "delivery", True, deal=deal.id)
    engine = TrustEngine(me.store, me.me)
    engine.trust(other.me, "delivery", NOW)
    engine.trust(other.me, None, NOW)
    assert engine.rank("delivery", 5, NOW)
    engine.explain(other.me, "delivery", NOW)
    model = weakref.ref(engine._model)
    gc.disable()
    try:
        me.attest(other.me, "payment", True)        # the store changed: the next query makes a new model
        engine.rank("delivery", 5, NOW)
        assert engine._model is not model() and model() is None
    finally:
        gc.enable()


def test_kept_columns_are_in_table_order_and_restore_the_same_answers(make_ledger):
    me, b, c = make_ledger(1), make_ledger(2), make_ledger(3)
    for n, (x, y) in enumerate([(me, b), (b, c), (c, me), (me, c)]):
        deal = y.countersign(x.propose_deal(y.me, f"PO-{n}", "client"))
        for ledger in (me, b, c):
            ledger.ingest([deal.raw])
        rating = x.attest(y.me, ("payment", "delivery")[n % 2], n != 2, deal=deal.id)
        me.ingest([rating.raw])
    engine = TrustEngine.for_ledger(me)
    first = [engine.trust(who, None, NOW) for who in (b.me, c.me)]
    held = engine._evidence.att
    keys = (held["facet"].astype(np.int64) * 10 + held["subject"]) * 10 + held["author"]
    assert (np.diff(keys) >= 0).all()
    cold = TrustEngine.for_ledger(me)
    assert [cold.trust(who, None, NOW) for who in (b.me, c.me)] == first and cold.full_loads == 0


def test_inverse_square_roots_of_integer_degrees():
    # a world whose only rating is one negative summed its degrees as ints: explain failed with a casting error
    import numpy as np

    from trustmesh.trust.camps import _inv_sqrt
    assert _inv_sqrt(np.array([0, 4])).tolist() == [0.0, 0.5]


def test_a_refresh_holds_one_model_at_a_time(make_ledger, monkeypatch):
    """Soak finding: while a new model was built, the old one (held by the engine, and by the
    node's weights for gossip admission) was alive beside it: two tables, two sets of
    relations and weights, a few hundred bytes a record each. The weights keep only what
    ``of`` needs; the engine lets the old model go before it builds the new one."""
    from trustmesh.core import trustview
    me, other = make_ledger(1), make_ledger(2)
    deal = other.countersign(me.propose_deal(other.me, "PO-1", "client"))
    me.ingest([deal.raw])
    me.attest(other.me, "delivery", True, deal=deal.id)
    engine = TrustEngine(me.store, me.me)
    weights = trustview.Weights(engine)
    weights.refresh(NOW)
    assert weights.of(other.me) > 0
    before = weakref.ref(engine._model)
    alive_when_built = []

    class Watched(trustview.TrustModel):
        def __init__(self, *args, **kwargs):
            alive_when_built.append(before() is not None)
            super().__init__(*args, **kwargs)
    monkeypatch.setattr(trustview, "TrustModel", Watched)
    gc.disable()
    try:
        me.attest(other.me, "payment", True)
        weights.refresh(NOW)
    finally:
        gc.enable()
    assert alive_when_built == [False]
    assert weights.of(other.me) > 0 and weights.of(me.me) == 1.0
