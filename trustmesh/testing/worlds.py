"""Synthetic reputation worlds and the attacks on them, for the trust model's harness.

Shared by ``bench/attacks.py`` (full size) and the test suite (small
sizes): a world is built straight into an ``EvidenceTable`` (no signing:
the model is what is under test, not the crypto). Pure apart from numpy.

Topologies: scale-free (Barabási–Albert, m=3), small-world (Watts–Strogatz,
k=10, p=0.1), and regional communities (scale-free inside, joined by a
given number of bridge relations): honest worlds are not all scale-free,
and a model tuned on one shape can read far honest members as sybils.

Attacks: sybil regions behind attack edges; EigenTrust's threat models
(liars, collectives, camouflaged collectives, spies); a scammer whose
sybils praise it while the ring does a few real jobs; slander rings of
real former partners; slanderers without deals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from trustmesh.trust import build_table

NOW = 1_790_000_000_000
DAY = 86_400_000
FACETS = ("delivery", "payment", "quality")
DELIVERY, PAYMENT, QUALITY = 0, 1, 2
HONEST, SYBIL, MALICIOUS, SPY, SLANDERER, SCAMMER = 0, 1, 2, 3, 4, 5


@dataclass
class World:
    """A synthetic network: members with a kind and a quality, and their records."""

    n: int
    kind: np.ndarray
    quality: np.ndarray                     # chance they deliver well (and pay on time)
    rng: np.random.Generator
    att: list = field(default_factory=list)  # (author, subject, facet, positive, dealt, occurred[, contested])
    deals: list = field(default_factory=list)  # (a, b, time)
    payer: np.ndarray | None = None         # chance they pay on time (default: ``quality``)
    supplied: dict = field(default_factory=dict)  # supplier -> [good deals, bad deals] (real deals)

    def add_member(self, kind: int, quality: float) -> int:
        self.kind = np.append(self.kind, kind)
        self.quality = np.append(self.quality, quality)
        if self.payer is not None:
            self.payer = np.append(self.payer, quality)
        self.n += 1
        return self.n - 1

    def deal(self, client: int, supplier: int, when: int, *, liar=lambda a, s: False,
             good: bool | None = None, facet: int = DELIVERY) -> bool:
        """One signed deal and the two attestations that follow it; True if it went well.

        The client rates delivery (or ``facet``), the supplier rates payment;
        both sides of a malicious member are bad (EigenTrust's peers are bad
        partners, not just bad suppliers). ``good`` forces both sides (fake
        or staged deals).
        """
        self.deals.append((client, supplier, when))
        paid = True
        if good is None:
            good = bool(self.rng.random() < self.quality[supplier])
            payer = self.quality if self.payer is None else self.payer
            paid = bool(self.rng.random() < payer[client])
            tally = self.supplied.setdefault(supplier, [0, 0])
            tally[0 if good else 1] += 1
        self.att.append((client, supplier, facet, good != liar(client, supplier), True, when))
        self.att.append((supplier, client, PAYMENT, paid != liar(supplier, client), True, when))
        return good

    def say(self, author: int, subject: int, facet: int, positive: bool, dealt: bool,
            when: int = NOW - DAY, contested: bool = False) -> None:
        """One attestation with no deal of its own (``dealt``: it names a real deal)."""
        self.att.append((author, subject, facet, positive, dealt, when, contested))

    def partners(self) -> dict[int, set[int]]:
        """Who has signed a deal with whom."""
        found: dict[int, set[int]] = {}
        for a, b, _ in self.deals:
            found.setdefault(a, set()).add(b)
            found.setdefault(b, set()).add(a)
        return found

    def copy(self) -> "World":
        """An independent copy (records and members), sharing the random stream."""
        return World(self.n, self.kind.copy(), self.quality.copy(), self.rng, list(self.att),
                     list(self.deals), None if self.payer is None else self.payer.copy(),
                     {k: list(v) for k, v in self.supplied.items()})

    def table(self):
        """The world's evidence as the model reads it."""
        rows = [a if len(a) == 7 else tuple(a) + (False,) for a in self.att]
        a = np.array(rows, dtype=np.int64).reshape(-1, 7)
        d = np.array(self.deals, dtype=np.int64).reshape(-1, 3)
        members = [i.to_bytes(8, "big") for i in range(self.n)]
        return build_table(members, FACETS, author=a[:, 0], subject=a[:, 1], facet=a[:, 2],
                           positive=a[:, 3], dealt=a[:, 4], occurred=a[:, 5], contested=a[:, 6],
                           deal_a=d[:, 0], deal_b=d[:, 1], deal_time=d[:, 2])


# ---- topologies --------------------------------------------------------------

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


def communities(count: int, size: int, bridges: int, rng) -> list[tuple[int, int]]:
    """``count`` regional communities of ``size`` (scale-free inside) joined by ``bridges`` relations."""
    edges = []
    for c in range(count):
        edges += [(a + c * size, b + c * size) for a, b in scale_free(size, 3, rng)]
    made = 0
    while made < bridges:
        a, b = (int(x) for x in rng.integers(count * size, size=2))
        if a // size != b // size:
            edges.append((a, b))
            made += 1
    return edges


TOPOLOGIES = ("scale_free", "small_world", "communities100", "communities500", "communities2000")


def honest_world(n: int, rng, *, graph: str = "scale_free", quality: float = 0.95) -> tuple[World, list]:
    """n honest members trading with their neighbours (``graph``: one of ``TOPOLOGIES``)."""
    if graph == "scale_free":
        edges = scale_free(n, 3, rng)
    elif graph == "small_world":
        edges = small_world(n, 10, 0.1, rng)
    elif graph.startswith("communities"):
        edges = communities(10, n // 10, int(graph[len("communities"):]), rng)
    else:
        raise ValueError(f"unknown topology {graph!r}")
    return World(n, np.zeros(n, np.int8), np.full(n, quality), rng), edges


def community_of(graph: str, n: int) -> np.ndarray | None:
    """Each member's community in a communities world (None for other topologies)."""
    return np.arange(n) // (n // 10) if graph.startswith("communities") else None


def trade(world: World, edges, *, liar=lambda a, s: False) -> None:
    """Deals along every edge, spread over the last two years, roles at random."""
    rng = world.rng
    for a, b in edges:
        for _ in range(int(rng.integers(1, 4))):
            client, supplier = (a, b) if rng.random() < 0.5 else (b, a)
            world.deal(client, supplier, NOW - int(rng.integers(1, 730)) * DAY, liar=liar)


# ---- attacks -------------------------------------------------------------------

def add_sybils(world: World, count: int, attack_edges: int) -> list[int]:
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
    return sybils


def add_scammer(world: World, sybils: int, jobs: int, by_scammer: int = 10) -> tuple[int, list[int]]:
    """A scammer T and ``sybils`` identities it controls; the ring does ``jobs`` real good jobs.

    Each sybil co-signs a few good deals with other sybils and one with T,
    praising each other and T on delivery; ``by_scammer`` of the real jobs
    (for honest clients, all good, so genuine deal-backed positives) are
    T's own. Returns (T, the sybils).
    """
    rng = world.rng
    honest = np.flatnonzero(world.kind == HONEST)
    scammer = world.add_member(SCAMMER, 1.0)
    ring = [world.add_member(SYBIL, 1.0) for _ in range(sybils)]
    for s in ring:
        for t in rng.choice(ring, 3, replace=False):
            if t != s:
                world.deal(int(t), s, NOW - int(rng.integers(1, 300)) * DAY, good=True)
        world.deal(s, scammer, NOW - int(rng.integers(1, 300)) * DAY, good=True)
    for k in range(jobs):
        supplier = scammer if k < by_scammer else ring[k % sybils]
        world.deal(int(rng.choice(honest)), supplier, NOW - int(rng.integers(1, 300)) * DAY, good=True)
    return scammer, ring


def victims_report(world: World, subject: int, victims: int) -> list[int]:
    """``victims`` honest members do a real deal with ``subject`` that goes badly, and say so."""
    chosen = world.rng.choice(np.flatnonzero(world.kind == HONEST), victims, replace=False)
    for v in chosen:
        world.deal(int(v), subject, NOW - DAY, good=False)
    return [int(v) for v in chosen]


def slander_ring(world: World, ring: list[int], victims: list[int], *, contest: bool = True) -> None:
    """Each ring member does a real (good) deal with each victim, then posts a deal-backed negative.

    With ``contest`` the victims reply "contest" to every one of them (the
    right of reply).
    """
    for v in victims:
        for a in ring:
            world.deals.append((a, v, NOW - 20 * DAY))
            world.say(a, v, DELIVERY, False, True, NOW - 10 * DAY, contested=contest)


def make_poor(world: World, share: float, worst: float = 0.7) -> np.ndarray:
    """Make ``share`` of the members poor suppliers who rate honestly: each one's chance of a
    good deal drawn uniformly in 0..``worst`` (the verdicts and rotation rows' mix)."""
    rng = world.rng
    poor = rng.choice(world.n, int(share * world.n), replace=False)
    world.quality[poor] = rng.random(len(poor)) * worst
    return poor


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
            for facet in (DELIVERY, PAYMENT):
                world.att.append((int(s), int(c), facet, True, False, NOW - DAY))
