"""Attack-simulation harness for the trust model (importable from tests).

Builds synthetic worlds straight into an ``EvidenceTable`` (no signing: the
model is what is under test, not the crypto), runs the pure ``TrustModel``
from several honest viewers, and measures:

- sybil share: the part of the viewer's walk mass (viewer excluded) held by
  sybils, and the AUC of honest vs sybil mass (1.0: every honest member
  ranks above every sybil);
- bad deals accepted: a viewer repeatedly (2,000 times) picks the best of
  5 random members (sybils are not on offer) by ``lower`` on ``delivery``;
  the share of those deals that go bad, with attackers and in the same
  world without them;
- slander: how much honest members' ``delivery`` scores move when 10% of
  members post negatives about honest members they never dealt with (a
  negative about a real partner is an ordinary review, weighed as such);
- oscillators: how many bad deals a long-good supplier gets, after it turns
  bad, before its ``lower`` falls under the acceptance level (0.5).

Run ``python bench/attacks.py`` for the full table (``--quick`` for the
small graphs the test suite uses).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trustmesh.trust import DEFAULT, TrustConfig, TrustModel, build_table, opinion  # noqa: E402

NOW = 1_790_000_000_000
DAY = 86_400_000
FACETS = ("delivery", "payment")
HONEST, SYBIL, MALICIOUS, SPY, SLANDERER = 0, 1, 2, 3, 4


@dataclass
class World:
    """A synthetic network: members with a kind and a quality, and their records."""

    n: int
    kind: np.ndarray
    quality: np.ndarray                     # chance they deliver well (and pay on time)
    rng: np.random.Generator
    att: list = field(default_factory=list)  # (author, subject, facet, positive, dealt, occurred)
    deals: list = field(default_factory=list)  # (a, b, time)

    def add_member(self, kind: int, quality: float) -> int:
        self.kind = np.append(self.kind, kind)
        self.quality = np.append(self.quality, quality)
        self.n += 1
        return self.n - 1

    def deal(self, client: int, supplier: int, when: int, *, liar=lambda a, s: False,
             good: bool | None = None) -> bool:
        """One signed deal and the two attestations that follow it; True if it went well.

        The client rates delivery, the supplier rates payment; both sides of a
        malicious member are bad (EigenTrust's peers are bad partners, not
        just bad suppliers). ``good`` forces both sides (fake or staged deals).
        """
        self.deals.append((client, supplier, when))
        paid = True
        if good is None:
            good = bool(self.rng.random() < self.quality[supplier])
            paid = bool(self.rng.random() < self.quality[client])
        self.att.append((client, supplier, 0, good != liar(client, supplier), True, when))
        self.att.append((supplier, client, 1, paid != liar(supplier, client), True, when))
        return good

    def table(self):
        """The world's evidence as the model reads it."""
        a = np.array(self.att, dtype=np.int64).reshape(-1, 6)
        d = np.array(self.deals, dtype=np.int64).reshape(-1, 3)
        members = [i.to_bytes(8, "big") for i in range(self.n)]
        return build_table(members, FACETS, author=a[:, 0], subject=a[:, 1], facet=a[:, 2],
                           positive=a[:, 3], dealt=a[:, 4], occurred=a[:, 5],
                           deal_a=d[:, 0], deal_b=d[:, 1], deal_time=d[:, 2])


# ---- generators ------------------------------------------------------------

def scale_free(n: int, m: int, rng) -> list[tuple[int, int]]:
    """Barabási–Albert preferential attachment: each newcomer links to m members."""
    edges, targets = [], list(range(m))
    pool: list[int] = []
    for v in range(m, n):
        chosen = set()
        while len(chosen) < m:
            chosen.add(targets[len(chosen)] if not pool else pool[rng.integers(len(pool))])
        for u in chosen:
            edges.append((v, u))
            pool.extend((v, u))
        targets = list(chosen)
    return edges


def small_world(n: int, k: int, p: float, rng) -> list[tuple[int, int]]:
    """Watts–Strogatz: a ring where each links to k neighbours, each link rewired with chance p."""
    edges = []
    for v in range(n):
        for j in range(1, k // 2 + 1):
            u = (v + j) % n
            if rng.random() < p:
                u = int(rng.integers(n))
                if u == v:
                    continue
            edges.append((v, u))
    return edges


def honest_world(n: int, rng, *, graph: str = "scale_free", quality: float = 0.95) -> tuple[World, list]:
    """n honest members trading with their neighbours, 1 to 3 deals per relation."""
    world = World(n, np.zeros(n, np.int8), np.full(n, quality), rng)
    edges = scale_free(n, 3, rng) if graph == "scale_free" else small_world(n, 6, 0.1, rng)
    return world, edges


def trade(world: World, edges, *, liar=lambda a, s: False) -> None:
    """Deals along every edge, spread over the last two years, roles at random."""
    rng = world.rng
    for a, b in edges:
        for _ in range(int(rng.integers(1, 4))):
            client, supplier = (a, b) if rng.random() < 0.5 else (b, a)
            world.deal(client, supplier, NOW - int(rng.integers(1, 730)) * DAY, liar=liar)


def add_sybils(world: World, count: int, attack_edges: int) -> None:
    """A sybil region of ``count`` members praising each other, joined by ``attack_edges``.

    Each attack edge is an honest member who really did a deal with a sybil
    and rated it well: the strongest form an attack edge can take.
    """
    rng = world.rng
    honest = np.flatnonzero(world.kind == HONEST)
    sybils = [world.add_member(SYBIL, 0.0) for _ in range(count)]
    for s in sybils:
        for t in rng.choice(sybils, 5, replace=False):
            if t != s:
                world.deal(int(t), s, NOW - DAY, good=True)
    for k in range(attack_edges):
        world.deal(int(rng.choice(honest)), sybils[k % count], NOW - DAY, good=True)


def make_malicious(world: World, share: float, model: str, f: float = 0.5) -> np.ndarray:
    """Turn ``share`` of the members malicious along EigenTrust's threat models.

    "liars" (A): bad service, inverted ratings. "collective" (B): bad
    service, inverted ratings of others, praise for each other.
    "camouflaged" (C): like B but good service a fraction ``f`` of the time.
    "spies" (D): a quarter of them serve well and rate honestly but praise
    the others, who serve badly and praise each other.
    """
    rng = world.rng
    bad = rng.choice(world.n, int(share * world.n), replace=False)
    world.kind[bad] = MALICIOUS
    world.quality[bad] = f if model == "camouflaged" else 0.0
    if model == "spies":
        spies = bad[: len(bad) // 4]
        world.kind[spies] = SPY
        world.quality[spies] = 0.95
    return bad


def liar_of(world: World, model: str):
    """Who lies in their ratings, and about whom."""
    kind = world.kind

    def liar(author: int, subject: int) -> bool:
        if kind[author] == MALICIOUS:
            return kind[subject] not in (MALICIOUS, SPY) or model == "liars"
        return False
    return liar


def collude(world: World, model: str, praises: int = 20) -> None:
    """Collective members (and spies) sign fake deals with collective members and praise them."""
    if model == "liars":
        return
    rng = world.rng
    collective = np.flatnonzero(world.kind == MALICIOUS)
    praisers = np.flatnonzero((world.kind == MALICIOUS) | (world.kind == SPY))
    for a in praisers:
        for b in rng.choice(collective, min(praises, len(collective)), replace=False):
            if a != b:
                world.deal(int(a), int(b), NOW - int(rng.integers(1, 365)) * DAY, good=True)


def vouch_by_sybils(world: World, count: int, praises: int = 20) -> None:
    """A sybil region behind 100 attack edges whose members praise the collective (no deals)."""
    rng = world.rng
    collective = np.flatnonzero(world.kind == MALICIOUS)
    add_sybils(world, count, 100)
    for s in np.flatnonzero(world.kind == SYBIL):
        for c in rng.choice(collective, min(praises, len(collective)), replace=False):
            for facet in (0, 1):
                world.att.append((int(s), int(c), facet, True, False, NOW - DAY))


# ---- metrics ---------------------------------------------------------------

def auc(good: np.ndarray, bad: np.ndarray) -> float:
    """Chance that a random good member scores above a random bad one (ties count half)."""
    ranks = rankdata(np.concatenate([good, bad]))
    return float((ranks[: len(good)].sum() - len(good) * (len(good) + 1) / 2) / (len(good) * len(bad)))


def viewers(world: World, count: int) -> list[int]:
    """Honest viewers with at least one relation, chosen at random."""
    honest = np.flatnonzero(world.kind == HONEST)
    return [int(v) for v in world.rng.choice(honest, count, replace=False)]


def sybil_metrics(world: World, table, views: list[int], config: TrustConfig) -> tuple[float, float]:
    """(sybil share of walk mass, honest-vs-sybil AUC), averaged over viewers."""
    shares, aucs = [], []
    for v in views:
        mass = TrustModel(table, table.members[v], config).weights(NOW).mass.copy()
        mass[v] = 0.0
        sybil = world.kind == SYBIL
        honest = (world.kind == HONEST)
        honest[v] = False
        shares.append(mass[sybil].sum() / mass.sum())
        aucs.append(auc(mass[honest], mass[sybil]))
    return float(np.mean(shares)), float(np.mean(aucs))


def lower_bounds(table, viewer: int, config: TrustConfig, facet: str = "delivery") -> np.ndarray:
    """The viewer's ``lower`` on ``facet`` for every member (unknown: the prior's)."""
    model = TrustModel(table, table.members[viewer], config)
    subjects, r, s, _, _ = model._facet_aggregate(facet, NOW)
    r_all, s_all = np.zeros(table.size), np.zeros(table.size)
    r_all[subjects], s_all[subjects] = r, s
    return opinion(r_all, s_all, config.quantile)


def bad_deal_rate(world: World, table, views: list[int], config: TrustConfig, trials: int = 2000) -> float:
    """Share of bad deals when each viewer picks the best of 5 random suppliers by ``lower``."""
    rng = np.random.default_rng(7)
    bad = 0
    for v in views:
        lower = lower_bounds(table, v, config)[2] + rng.random(table.size) * 1e-9  # random tie-break
        others = np.flatnonzero(world.kind != SYBIL)     # sybils vouch, they are not on offer
        others = others[others != v]
        for _ in range(trials):
            cand = rng.choice(others, 5, replace=False)
            pick = cand[np.argmax(lower[cand])]
            bad += rng.random() >= world.quality[pick]
    return bad / (trials * len(views))


# ---- scenarios -------------------------------------------------------------

def sybil_scenario(honest: int, sybils: int, g: int, seed: int = 1, views: int = 5,
                   graph: str = "scale_free", config: TrustConfig = DEFAULT) -> dict:
    """Sybil share and AUC for an honest network plus a sybil region behind g attack edges."""
    rng = np.random.default_rng(seed)
    world, edges = honest_world(honest, rng, graph=graph)
    trade(world, edges)
    add_sybils(world, sybils, g)
    table = world.table()
    share, area = sybil_metrics(world, table, viewers(world, views), config)
    return {"scenario": f"sybils {graph} {honest}+{sybils} g={g}", "sybil_share": share, "auc": area}


def threat_scenario(n: int, model: str, share: float = 0.2, f: float = 0.5, seed: int = 2,
                    views: int = 5, config: TrustConfig = DEFAULT, worlds: int = 1,
                    sybils: int = 0) -> dict:
    """Bad deals accepted with a malicious share, against the same world without attackers.

    With ``worlds`` > 1 the figures are averaged over that many worlds (seeds
    ``seed``, ``seed + 10``, ...), ``views`` viewers each: one world's figure
    depends on where its few viewers happen to stand. With ``sybils`` the
    collective also gets a sybil region (joined by 100 attack edges) whose
    members each praise 20 collective members, without deals.
    """
    out = {False: [], True: []}
    for k in range(worlds):
        for attacked in (False, True):
            rng = np.random.default_rng(seed + 10 * k)
            world, edges = honest_world(n, rng)
            if attacked:
                make_malicious(world, share, model, f)
            else:
                rng.choice(world.n, int(share * world.n), replace=False)  # same random stream
            trade(world, edges, liar=liar_of(world, model))
            if attacked:
                collude(world, model)
                if sybils:
                    vouch_by_sybils(world, sybils)
            table = world.table()
            out[attacked].append(bad_deal_rate(world, table, viewers(world, views), config))
    clean, attacked = float(np.mean(out[False])), float(np.mean(out[True]))
    label = f"{model} f={f:.0%}" if model == "camouflaged" else model
    label += (f" {share:.0%} of {n}" + (f" + {sybils} sybils" if sybils else "")
              + (f", {worlds} worlds" if worlds > 1 else ""))
    return {"scenario": f"threat {label}", "bad_deals_clean": clean,
            "bad_deals_attacked": attacked, "rise": attacked - clean}


def slander_scenario(n: int, share: float = 0.1, targets: int = 10, seed: int = 3, views: int = 5,
                     config: TrustConfig = DEFAULT) -> dict:
    """How far negatives from slanderers with no deal move honest members' scores."""
    rng = np.random.default_rng(seed)
    world, edges = honest_world(n, rng)
    trade(world, edges)
    clean = world.table()
    slanderers = rng.choice(n, int(share * n), replace=False)
    world.kind[slanderers] = SLANDERER
    honest = np.flatnonzero(world.kind == HONEST)
    partners: dict[int, set[int]] = {}
    for a, b, _ in world.deals:
        partners.setdefault(a, set()).add(b)
        partners.setdefault(b, set()).add(a)
    for a in slanderers:
        strangers = np.setdiff1d(honest, list(partners.get(int(a), ())))
        for b in rng.choice(strangers, targets, replace=False):
            world.att.append((int(a), int(b), 0, False, False, NOW - DAY))
    dirty = world.table()
    moves = []
    for v in viewers(world, views):
        before = lower_bounds(clean, v, config)[0]
        after = lower_bounds(dirty, v, config)[0]
        keep = world.kind == HONEST
        keep[v] = False
        moves.append(np.abs(after - before)[keep])
    moves = np.concatenate(moves)
    return {"scenario": f"slanderers {share:.0%} of {n}, {targets} targets each",
            "score_move_mean": float(moves.mean()), "score_move_p99": float(np.quantile(moves, 0.99)),
            "score_move_max": float(moves.max())}


def oscillator_scenario(n: int, good_deals: int = 30, seed: int = 4, views: int = 5,
                        config: TrustConfig = DEFAULT) -> dict:
    """Bad deals an oscillator gets after turning bad, before its ``lower`` drops under 0.5."""
    rng = np.random.default_rng(seed)
    world, edges = honest_world(n, rng)
    trade(world, edges)
    osc = world.add_member(HONEST, 0.95)
    honest = np.flatnonzero(world.kind == HONEST)[:-1]
    for k in range(good_deals):
        world.deal(int(rng.choice(honest)), osc, NOW - (good_deals - k) * 7 * DAY, good=True)
    counts = []
    for v in viewers(world, views):
        bad = 0
        probe = World(world.n, world.kind, world.quality, rng, list(world.att), list(world.deals))
        while lower_bounds(probe.table(), v, config)[2][osc] >= 0.5 and bad < 200:
            probe.deal(int(rng.choice(honest)), osc, NOW - DAY, good=False)
            bad += 1
        counts.append(bad)
    return {"scenario": f"oscillator after {good_deals} good deals, n={n}",
            "bad_deals_before_drop": float(np.mean(counts))}


def whitewash_scenario(n: int, seed: int = 5, config: TrustConfig = DEFAULT) -> dict:
    """A bad supplier that takes a fresh identity reads as unknown, below known good ones."""
    rng = np.random.default_rng(seed)
    world, edges = honest_world(n, rng)
    trade(world, edges)
    fresh = world.add_member(HONEST, 0.0)
    world.deal(0, 1, NOW - DAY)             # any record, so the table is rebuilt with the newcomer
    v = viewers(world, 1)[0]
    score, unc, lower = lower_bounds(world.table(), v, config)
    honest = world.kind == HONEST
    honest[[v, fresh]] = False
    return {"scenario": f"whitewashing newcomer, n={n}", "newcomer_lower": float(lower[fresh]),
            "newcomer_uncertainty": float(unc[fresh]), "honest_lower_median": float(np.median(lower[honest]))}


def run_all(quick: bool = False) -> list[dict]:
    """Every scenario at full size (or small graphs when ``quick``)."""
    if quick:
        return [
            sybil_scenario(1000, 200, 10, views=3), sybil_scenario(1000, 1000, 10, views=3),
            sybil_scenario(1000, 1000, 10, views=3, graph="small_world"),
            threat_scenario(600, "collective", views=3), threat_scenario(600, "camouflaged", views=3),
            threat_scenario(600, "spies", views=3),
            slander_scenario(600, views=3), oscillator_scenario(600, views=2),
            whitewash_scenario(300)]
    return [
        sybil_scenario(10_000, 2_000, 100), sybil_scenario(10_000, 10_000, 100),
        sybil_scenario(10_000, 10_000, 100, graph="small_world"),
        threat_scenario(3000, "liars"), threat_scenario(3000, "collective"),
        threat_scenario(3000, "camouflaged"), threat_scenario(3000, "spies"),
        threat_scenario(3000, "camouflaged", worlds=4), threat_scenario(3000, "spies", worlds=4),
        threat_scenario(3000, "camouflaged", sybils=3000), threat_scenario(3000, "spies", sybils=3000),
        slander_scenario(3000), oscillator_scenario(3000), whitewash_scenario(3000)]


def print_table(rows: list[dict]) -> None:
    """One line per scenario, its metrics as name=value."""
    width = max(len(r["scenario"]) for r in rows)
    for row in rows:
        metrics = "  ".join(f"{k}={v:.4f}" for k, v in row.items() if k != "scenario")
        print(f"{row['scenario']:<{width}}  {metrics}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small graphs, as in the test suite")
    args = parser.parse_args()
    started = time.perf_counter()
    print_table(run_all(args.quick))
    print(f"({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
