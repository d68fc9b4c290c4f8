"""The harness's scenarios: each builds worlds (worlds.py), measures (measures.py), returns a row.

``bench/attacks.py`` runs them at full size and prints the table quoted in
``docs/trust.md``; ``tests/test_trust_attacks.py`` runs each at a small size.
"""

from __future__ import annotations

import numpy as np

from trustmesh.trust import DEFAULT, TrustConfig, TrustModel
from trustmesh.trust.verdict import rank_key
from trustmesh.testing import measures as ms
from trustmesh.testing import worlds as ws
from trustmesh.testing.worlds import DAY, DELIVERY, HONEST, NOW, SYBIL, World
from trustmesh.testing.rotation import rotation_scenario  # noqa: F401  (one namespace for the rows)


def sybil_scenario(honest: int, sybils: int, g: int, seed: int = 1, views: int = 5,
                   graph: str = "scale_free", config: TrustConfig = DEFAULT) -> dict:
    """Sybil share and AUCs (ours by mass and by weight, SybilRank's), and false warnings."""
    rng = np.random.default_rng(seed)
    world, edges = ws.honest_world(honest, rng, graph=graph)
    ws.trade(world, edges)
    ws.add_sybils(world, sybils, g)
    table = world.table()
    chosen = ms.viewers(world, views)
    row = {"scenario": f"sybils {graph} {honest}+{sybils} g={g}"}
    row.update(ms.sybil_metrics(world, table, chosen, config))
    warned, far_unknown = [], []
    home = ws.community_of(graph, honest)
    for v in chosen:
        said = ms.opinions(table, v, config).verdict[:honest]
        warned.append(float((said == ms.verdict_codes("warning")).mean()))
        if home is not None:
            far = home != home[v]
            far_unknown.append(float((said[far] != ms.verdict_codes("warning")).mean()))
    row["honest_warned"] = float(np.mean(warned))
    if far_unknown:
        row["far_not_warned"] = float(np.mean(far_unknown))
    return row


def _threat_worlds(n: int, model: str, share: float, f: float, seed: int, worlds: int, sybils: int = 0):
    """The threat rows' worlds, each without attackers then with them (same seed and random
    stream): yields (attacked, world, who lies in it)."""
    for k in range(worlds):
        for attacked in (False, True):
            rng = np.random.default_rng(seed + 10 * k)
            world, edges = ws.honest_world(n, rng)
            if attacked:
                ws.make_malicious(world, share, model, f)
            else:
                rng.choice(world.n, int(share * world.n), replace=False)  # same random stream
            liar = ws.liar_of(world, model)
            ws.trade(world, edges, liar=liar)
            if attacked:
                ws.collude(world, model)
                if sybils:
                    ws.vouch_by_sybils(world, sybils)
            yield attacked, world, liar


def threat_scenario(n: int, model: str, share: float = 0.2, f: float = 0.5, seed: int = 2,
                    views: int = 5, config: TrustConfig = DEFAULT, worlds: int = 1,
                    sybils: int = 0) -> dict:
    """Bad deals accepted with a malicious share, against the same world without attackers.

    With ``worlds`` > 1 the figures are over that many worlds (seeds
    ``seed``, ``seed + 10``, ...), ``views`` viewers each; ``p90`` and
    ``max`` are over every viewer of the attacked worlds (the tails the
    means hide). With ``sybils`` the collective also gets a sybil region
    (behind 100 attack edges) whose members each praise 20 of its members.
    The ``_verdict`` figures are for viewers who pick by verdict, then
    ``lower`` (the rule docs/trust.md gives members), the others by ``lower``.
    """
    out = {False: [], True: []}
    by_verdict = {False: [], True: []}
    for attacked, world, _ in _threat_worlds(n, model, share, f, seed, worlds, sybils):
        table = world.table()
        chosen = ms.viewers(world, views)
        out[attacked] += ms.bad_deal_rates(world, table, chosen, config)
        by_verdict[attacked] += ms.bad_deal_rates(world, table, chosen, config, by="verdict")
    clean, attacked = float(np.mean(out[False])), float(np.mean(out[True]))
    clean_v, attacked_v = float(np.mean(by_verdict[False])), float(np.mean(by_verdict[True]))
    label = f"{model} f={f:.0%}" if model == "camouflaged" else model
    label += (f" {share:.0%} of {n}" + (f" + {sybils} sybils" if sybils else "")
              + (f", {worlds} worlds" if worlds > 1 else ""))
    return {"scenario": f"threat {label}", "bad_deals_clean": clean, "bad_deals_attacked": attacked,
            "rise": attacked - clean, "p90": float(np.quantile(out[True], 0.9)),
            "max": float(np.max(out[True])), "clean_verdict": clean_v, "rise_verdict": attacked_v - clean_v,
            "p90_verdict": float(np.quantile(by_verdict[True], 0.9)), "max_verdict": float(np.max(by_verdict[True]))}


def learning_scenario(n: int, model: str, share: float = 0.2, f: float = 0.7, seed: int = 2,
                      views: int = 5, worlds: int = 2, rounds: int = 10,
                      config: TrustConfig = DEFAULT) -> dict:
    """The grid's cell (``threat_scenario``'s worlds and viewers) with viewers who learn: their
    own deals go on record after each of ``rounds`` rounds (``measures.learning_bad_deal_rates``).

    Reports, against the same worlds without attackers (also learning), the rise over all
    rounds and in the last round, and the worst viewer over all rounds and in the last one.
    """
    rates = {False: [], True: []}
    for attacked, world, liar in _threat_worlds(n, model, share, f, seed, worlds):
        chosen = ms.viewers(world, views)
        rates[attacked] += ms.learning_bad_deal_rates(world, chosen, config, liar, rounds=rounds)
    clean, hit = np.array(rates[False]), np.array(rates[True])
    label = f"{model} f={f:.0%}" if model == "camouflaged" else model
    return {"scenario": f"learning {label} {share:.0%} of {n}, {worlds} worlds, {rounds} rounds",
            "rise": float(hit.mean() - clean.mean()), "rise_last": float(hit[:, -1].mean() - clean[:, -1].mean()),
            "max": float(hit.mean(axis=1).max()), "max_first": float(hit[:, 0].max()),
            "max_last": float(hit[:, -1].max())}


def scammer_scenario(honest: int = 10_000, sybils: int = 1_000, jobs: int = 100, victims: int = 20,
                     worlds: int = 2, views: int = 10, seed: int = 6,
                     config: TrustConfig = DEFAULT) -> dict:
    """A scammer T with sybils it controls: its rank before, and after real victims report.

    Per viewer: T's place among honest suppliers on delivery, in the order
    ``rank`` lists them (verdict, then ``lower``): in the top-10 or not; then after ``victims`` deal-backed negatives from real
    victims, whether T is below the median honest supplier (in the order
    ``rank`` lists them: verdict, then ``lower``; also by ``lower`` alone and
    by score) and below the acceptance line. Concentration: the share of the attackers' counted
    weight landing on their best-backed subject, and the same for honest
    raters.
    """
    top10, share_above, below_median, below_line, recommended = [], [], [], [], []
    below_median_lower, score_below = [], []
    conc_attack, conc_honest = [], []
    for k in range(worlds):
        rng = np.random.default_rng(seed + 10 * k)
        world, edges = ws.honest_world(honest, rng)
        ws.trade(world, edges)
        scammer, ring = ws.add_scammer(world, sybils, jobs)
        before = world.table()
        hurt = world.copy()
        ws.victims_report(hurt, scammer, victims)
        after = hurt.table()
        suppliers = np.array([s for s in world.supplied if world.kind[s] == HONEST])
        for v in ms.viewers(world, views):
            first = ms.opinions(before, v, config)
            low = rank_key(first.verdict, first.lower)
            others = suppliers[suppliers != v]
            above = int((low[others] > low[scammer]).sum())
            top10.append(above < 10)
            share_above.append(1.0 - above / len(others))
            conc_attack.append(ms.concentration(before, v, np.array([scammer] + ring), config))
            conc_honest.append(ms.concentration(before, v, np.flatnonzero(world.kind == HONEST), config))
            seen = ms.opinions(after, v, config)
            key = rank_key(seen.verdict, seen.lower)          # the order ``rank`` lists them in
            below_median.append(key[scammer] < np.median(key[others]))
            below_median_lower.append(seen.lower[scammer] < np.median(seen.lower[others]))
            score_below.append(seen.score[scammer] < np.median(seen.score[others]))
            below_line.append(seen.lower[scammer] < ms.ACCEPT)
            recommended.append(seen.verdict[scammer] == ms.verdict_codes("recommended"))
    return {"scenario": f"scammer {honest}+1+{sybils} sybils, {jobs} real jobs, {worlds} worlds x {views}",
            "in_top10": float(np.mean(top10)), "ranks_above": float(np.mean(share_above)),
            "conc_attackers": float(np.mean(conc_attack)), "conc_honest": float(np.mean(conc_honest)),
            "after_below_median": float(np.mean(below_median)),
            "after_below_median_by_lower": float(np.mean(below_median_lower)),
            "after_score_below_median": float(np.mean(score_below)),
            "after_below_line": float(np.mean(below_line)),
            "after_recommended": float(np.mean(recommended))}


def slander_scenario(n: int, share: float = 0.1, targets: int = 10, seed: int = 3, views: int = 5,
                     config: TrustConfig = DEFAULT) -> dict:
    """How far negatives from slanderers with no deal move honest members' scores."""
    rng = np.random.default_rng(seed)
    world, edges = ws.honest_world(n, rng)
    ws.trade(world, edges)
    clean = world.table()
    slanderers = rng.choice(n, int(share * n), replace=False)
    world.kind[slanderers] = ws.SLANDERER
    honest = np.flatnonzero(world.kind == HONEST)
    partners = world.partners()
    for a in slanderers:
        strangers = np.setdiff1d(honest, list(partners.get(int(a), ())))
        for b in rng.choice(strangers, targets, replace=False):
            world.att.append((int(a), int(b), DELIVERY, False, False, NOW - DAY))
    dirty = world.table()
    moves = []
    for v in ms.viewers(world, views):
        before = ms.opinions(clean, v, config).score
        after = ms.opinions(dirty, v, config).score
        keep = world.kind == HONEST
        keep[v] = False
        moves.append(np.abs(after - before)[keep])
    moves = np.concatenate(moves)
    return {"scenario": f"slanderers {share:.0%} of {n}, {targets} targets each",
            "score_move_mean": float(moves.mean()), "score_move_p99": float(np.quantile(moves, 0.99)),
            "score_move_max": float(moves.max())}


def slander_ring_scenario(n: int = 3000, ring: int = 5, victims: int = 10, seed: int = 8,
                          views: int = 5, config: TrustConfig = DEFAULT) -> dict:
    """A ring of real former partners who slander many well-rated members; the victims contest.

    Reports the largest move of a victim's delivery score once the ring has
    hit 1, 2 and 3+ victims (the third on), the verdict a lone negative gives
    a member with no other evidence, and the verdict of a genuinely bad
    supplier: the same negatives, uncontested, from unrelated partners.
    """
    rng = np.random.default_rng(seed)
    world, edges = ws.honest_world(n, rng)
    ws.trade(world, edges)
    rated = np.array([s for s, (good, bad) in world.supplied.items() if good >= 6 and bad == 0])
    chosen = rng.choice(rated, victims + 1 + ring * 2, replace=False)
    hit, control = [int(x) for x in chosen[:victims]], int(chosen[victims])
    members = np.setdiff1d(np.flatnonzero(world.kind == HONEST), chosen)
    ringers = [int(x) for x in rng.choice(members, ring, replace=False)]
    lone = world.add_member(HONEST, 0.95)
    world.deals.append((int(members[0]), lone, NOW - 20 * DAY))
    world.say(int(members[0]), lone, DELIVERY, False, True, NOW - 10 * DAY)
    unrelated = [int(x) for x in rng.choice(np.setdiff1d(members, ringers + [int(members[0])]), ring,
                                            replace=False)]
    for a in unrelated:
        world.deals.append((a, control, NOW - 20 * DAY))
        world.say(a, control, DELIVERY, False, True, NOW - 10 * DAY)
    base = world.table()
    looks = [v for v in ms.viewers(world, views + len(chosen), members) if v not in ringers][:views]
    clean = {v: ms.opinions(base, v, config) for v in looks}
    moves = {1: 0.0, 2: 0.0, 3: 0.0}
    for k in range(1, victims + 1):
        probe = world.copy()
        ws.slander_ring(probe, ringers, hit[:k])
        table = probe.table()
        for v in looks:
            now = ms.opinions(table, v, config).score
            move = float(np.abs(now[hit[:k]] - clean[v].score[hit[:k]]).max())
            moves[min(k, 3)] = max(moves[min(k, 3)], move)
    return {"scenario": f"slander ring of {ring} real partners, {victims} contested victims, n={n}",
            "move_1_victim": moves[1], "move_2_victims": moves[2], "move_3plus": moves[3],
            "lone_negative_unknown": float(np.mean([clean[v].verdict[lone] == ms.verdict_codes("unknown")
                                                    for v in looks])),
            "bad_supplier_warning": float(np.mean([clean[v].verdict[control] == ms.verdict_codes("warning")
                                                   for v in looks]))}


def verdict_scenario(n: int = 10_000, bad_share: float = 0.2, seed: int = 9, views: int = 5,
                     sybils: int = 500, config: TrustConfig = DEFAULT) -> dict:
    """How usable the verdicts are, and their calibration (share of good deals per verdict).

    World: n members, scale-free; ``bad_share`` of them are poor suppliers
    (chance of a good deal drawn uniformly in 0..0.7) who rate honestly, the
    rest deliver well 95% of the time; plus a sybil region behind 10 attack
    edges, praised only by sybils.
    """
    rng = np.random.default_rng(seed)
    world, edges = ws.honest_world(n, rng)
    ws.make_poor(world, bad_share)
    ws.trade(world, edges)
    praised = world.add_member(HONEST, 0.95)
    world.deal(int(rng.integers(n)), praised, NOW - DAY, good=True)
    newcomer = world.add_member(HONEST, 0.95)
    world.deals.append((int(rng.integers(n)), newcomer, NOW - DAY))
    ring = ws.add_sybils(world, sybils, 10)
    table = world.table()
    backed_by_honest = {b for a, b, _ in world.deals if a < n} | {a for a, b, _ in world.deals if b < n}
    only_sybils = np.array([s for s in ring if s not in backed_by_honest])
    real = {s: t for s, t in world.supplied.items() if s < n}
    bad_ones = np.array([s for s, (g, b) in real.items() if b >= 0.3 * (g + b) and g + b >= 3])
    good_set = np.array([s for s in real if world.quality[s] > 0.9])
    rec, rec_bad, unknown_new, syb_rec = [], [], [], []
    tally = np.zeros((4, 2))
    for v in ms.viewers(world, views, np.arange(n)):
        found = ms.model(table, v, config)
        seen = found.opinions("delivery", NOW)
        w = found.weights(NOW).weight
        rows = (table.facet == DELIVERY) & table.positive & table.dealt & (w[table.author] > 0)
        backed = np.bincount(table.subject[rows], minlength=table.size)
        well = good_set[(backed[good_set] >= 10) & (good_set != v)]
        rec += (seen.verdict[well] == ms.verdict_codes("recommended")).tolist()
        rec_bad += (seen.verdict[bad_ones[bad_ones != v]] == ms.verdict_codes("recommended")).tolist()
        unknown_new.append(float(seen.verdict[praised] == ms.verdict_codes("unknown")
                                 and seen.verdict[newcomer] == ms.verdict_codes("unknown")))
        syb_rec.append(float((seen.verdict[only_sybils] == ms.verdict_codes("recommended")).mean()))
        for s, (g, b) in real.items():
            if s != v:
                tally[seen.verdict[s]] += (g, b)
    row = {"scenario": f"verdicts n={n}, {bad_share:.0%} poor suppliers, {sybils} sybils",
           "good10": len(rec), "recommended_of_good10": float(np.mean(rec)) if rec else float("nan"),
           "bad30": len(rec_bad), "recommended_of_bad30": float(np.mean(rec_bad)) if rec_bad else float("nan"),
           "newcomer_and_one_praise_unknown": float(np.mean(unknown_new)),
           "sybils_recommended": float(np.mean(syb_rec))}
    for code, name in enumerate(("recommended", "no_objection", "unknown", "warning")):
        total = tally[code].sum()
        row[f"good_deals_{name}"] = float(tally[code, 0] / total) if total else float("nan")
    return row


def poor_viewer_scenario(n: int = 10_000, bad_share: float = 0.2, seed: int = 9, views: int = 10,
                         worst: float = 0.7, config: TrustConfig = DEFAULT) -> dict:
    """What a member its partners rightly blame sees: the verdicts row's world (``bad_share``
    poor suppliers, who rate honestly), viewed by poor suppliers themselves.

    Reports the good members (95% good deliveries) each viewer's verdict warns against, as a
    share of all good members: mean and worst viewer. The camps once put such a viewer in a
    camp of its own, against everyone who blamed it, and then warned against them all.
    """
    world, edges = ws.honest_world(n, np.random.default_rng(seed))
    poor = ws.make_poor(world, bad_share, worst)
    ws.trade(world, edges)
    table = world.table()
    good = world.quality > 0.9
    warned = []
    for v in ms.viewers(world, views, poor):
        said = ms.opinions(table, v, config).verdict
        warned.append(float(((said == ms.verdict_codes("warning")) & good).sum() / good.sum()))
    return {"scenario": f"poor suppliers as viewers, n={n}, {bad_share:.0%} poor, good deals <{worst:.0%}",
            "good_warned_mean": float(np.mean(warned)), "good_warned_max": float(np.max(warned))}


def late_payer_scenario(n: int = 3000, share: float = 0.1, seed: int = 10, views: int = 5,
                        config: TrustConfig = DEFAULT) -> dict:
    """How much of its say about quality a member keeps when it pays late (facets stay separate)."""
    # Two worlds from one seed: the same relations, deals and draws; only the late payers'
    # payment outcomes differ (a draw above 0.5 is a late payment in one, on time in the other).
    made = []
    for payer in (0.5, None):
        rng = np.random.default_rng(seed)
        world, edges = ws.honest_world(n, rng)
        late = rng.choice(n, int(share * n), replace=False)
        if payer is not None:
            world.payer = world.quality.copy()
            world.payer[late] = payer
        ws.trade(world, edges)
        made.append(world)
    world, on_time = made
    late_table, fair_table = world.table(), on_time.table()
    kept = []
    for v in ms.viewers(world, views):
        if v in set(late.tolist()):
            continue
        # weight_for takes a facet family: "quality" is in "work" (asking for "quality" itself
        # read the general weight, judged on all facets, and measured 75% here)
        family = config.family("quality")
        late_w = ms.model(late_table, v, config).weights(NOW).weight_for(family)
        fair_w = ms.model(fair_table, v, config).weights(NOW).weight_for(family)
        counted = late[fair_w[late] > 0]
        kept.append(late_w[counted].sum() / fair_w[counted].sum())
    return {"scenario": f"late payers {share:.0%} of {n}: their say on quality",
            "weight_kept": float(np.mean(kept))}


def oscillator_scenario(n: int, good_deals: int = 30, seed: int = 4, views: int = 5,
                        config: TrustConfig = DEFAULT) -> dict:
    """Bad deals an oscillator gets after turning bad, before its ``lower`` drops under 0.5."""
    rng = np.random.default_rng(seed)
    world, edges = ws.honest_world(n, rng)
    ws.trade(world, edges)
    osc = world.add_member(HONEST, 0.95)
    honest = np.flatnonzero(world.kind == HONEST)[:-1]
    for k in range(good_deals):
        world.deal(int(rng.choice(honest)), osc, NOW - (good_deals - k) * 7 * DAY, good=True)
    counts = []
    for v in ms.viewers(world, views):
        bad = 0
        probe = world.copy()
        while ms.opinions(probe.table(), v, config).lower[osc] >= ms.ACCEPT and bad < 200:
            probe.deal(int(rng.choice(honest)), osc, NOW - DAY, good=False)
            bad += 1
        counts.append(bad)
    return {"scenario": f"oscillator after {good_deals} good deals, n={n}",
            "bad_deals_before_drop": float(np.mean(counts))}


def whitewash_scenario(n: int, seed: int = 5, config: TrustConfig = DEFAULT) -> dict:
    """A bad supplier that takes a fresh identity reads as unknown, below known good ones."""
    rng = np.random.default_rng(seed)
    world, edges = ws.honest_world(n, rng)
    ws.trade(world, edges)
    fresh = world.add_member(HONEST, 0.0)
    world.deal(0, 1, NOW - DAY)             # any record, so the table is rebuilt with the newcomer
    v = ms.viewers(world, 1)[0]
    seen = ms.opinions(world.table(), v, config)
    honest = world.kind == HONEST
    honest[[v, fresh]] = False
    return {"scenario": f"whitewashing newcomer, n={n}", "newcomer_lower": float(seen.lower[fresh]),
            "newcomer_uncertainty": float(seen.uncertainty[fresh]),
            "honest_lower_median": float(np.median(seen.lower[honest]))}
