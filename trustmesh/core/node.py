"""The networked node: a member's ledger, put on the network.

``Node`` is the library's facade over the core: the ledger (records I
make), the one intake (``intake.py``: every record from anywhere), events,
deals (``deals.Dealing``), trust, and the network service it starts; what
it only reads is ``reading.Reading``. It owns its home while it runs
(``home.NodeLock``): the one writer of the store.

``open_node`` is the library entry point::

    async with trustmesh.open_node(home="~/tm", listen=["/ip4/0.0.0.0/tcp/4001"]) as node:
        await node.attest(peer, "payment", positive=True, ref="INV-12")

libp2p is imported only when a node starts, so ``import trustmesh`` stays light.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from contextlib import asynccontextmanager
from functools import partial

import trio

from trustmesh.core.deals import DealCallback, DealDesk, Dealing
from trustmesh.core.events import EventHub
from trustmesh.core.home import Home, NodeLock, resolve_home
from trustmesh.core.intake import PARKED, PUBLISHED, Fresh, Intake, Quota, changes_weights, describe
from trustmesh.core.ledger import Ledger, now_ms
from trustmesh.core.reading import Reading
from trustmesh.core.trustview import TrustEngine, Weights, cache_beside
from trustmesh.core.withheld import Withheld
from trustmesh.core.worker import StoreWorker
from trustmesh.crypto.ids import member_key, peer_id
from trustmesh.errors import KeyFileError, NetworkError, UsageError
from trustmesh.net.config import NetConfig, with_peers
from trustmesh.net.peers.known import KnownPeers
from trustmesh.protocol.records import Deal
from trustmesh.protocol.sync.index import SyncIndex
from trustmesh.protocol.sync.union import IndexUnion
from trustmesh.store import IngestResult, StoredRecord
from trustmesh.trust import DEFAULT, TrustConfig

log = logging.getLogger("trustmesh.node")

# Records refused here by a link rule that peers keep (they lacked the target)
# go into our sync index, so that sync stops offering them every session.
# Bounded: a flood of such records must not grow the index; past the bound
# they are offered again (refused again, no offence).
REFUSED_IN_INDEX = 20_000
# Records from these sources are announced as one "records" event per intake batch (ids
# only), not one "record" event each: a catch-up stores 100,000 of them in seconds, and an
# event per record (its object, every subscriber's channel, a JSON line on /v1/events) cost
# the event loop more than the sync itself (profiled, bench/catchup.py).
BATCHED_SOURCES = frozenset({"sync"})


class Node(Reading, Dealing):
    """A member's node: ledger + intake + events + deals + trust + network service."""

    def __init__(self, ledger: Ledger, config: NetConfig | None = None, *,
                 on_deal: DealCallback | None = None, trust_config: TrustConfig = DEFAULT) -> None:
        self.ledger = ledger
        self.store = ledger.store
        self.identity = ledger.identity
        self.config = config or NetConfig()
        self.worker = StoreWorker()
        self.events = EventHub()
        self.trust_engine = TrustEngine(self.store, self.identity.public_key, trust_config,
                                        cache=cache_beside(self.store))
        self.weights = Weights(self.trust_engine)
        defence = self.config.defence
        self.quota = Quota(defence.unweighted_quota, defence.unweighted_per_hour)
        self.intake = Intake(self.store, ledger.clock, self.weights.of, self.quota)
        self.intake.on_fresh.append(self._announced)
        self.intake.on_link_refused.append(self._index_refused)
        self.intake.on_unparked.append(self._unindex_refused)
        self.withheld = Withheld(defence.over_quota_hold_s, defence.over_quota_withheld)
        self.intake.on_over_quota.append(lambda refused: self.withheld.add(refused, time.monotonic()))
        self.intake.chosen.update(_peer_keys(self.config.discovery.bootstrap))
        self._refused_indexed = 0
        ledger.ingest_own = partial(self.intake.store_records, source="local")
        self.deals = DealDesk(self.config.deals.auto_accept, self.config.deals.max_pending, on_deal)
        self.sync_index: SyncIndex | None = None
        self.net = None
        self._forked: set[bytes] = set()
        self._wake = trio.Event()
        self._nursery: trio.Nursery | None = None

    # ---- identity, events, weights ------------------------------------------

    @property
    def id(self) -> str:
        """This member's id (= the libp2p peer id of the node)."""
        return self.identity.id

    def notify(self, kind: str, /, **data) -> None:
        """Tell every subscriber (see ``events.EventHub``)."""
        self.events.notify(kind, **data)

    def subscribe(self, kinds: Iterable[str] | None = None, buffer: int = 10_000):
        """A receive channel of NodeEvents while the block runs (``async with``)."""
        return self.events.subscribe(kinds, buffer)

    def weight_of(self, member: bytes) -> float:
        """How much ``member`` counts from my point of view, 0..1 (0: a stranger)."""
        return self.weights.of(member)

    async def refresh_weights(self) -> None:
        """Recompute author weights now, and how many held records are strangers'."""
        await self.worker.read(self.weights.refresh, now_ms())
        counts = await self.worker.read(self.store.author_counts)
        self.quota.held = sum(n for author, n in counts.items() if self.weight_of(author) <= 0)
        self.withheld.forget_authors(lambda author: self.weight_of(author) > 0)    # room came: sync brings them

    # ---- after the intake committed records ------------------------------------

    def _announced(self, fresh: list[Fresh]) -> None:
        """Announce what the intake committed: index, listeners, gossip, trust, deals."""
        if self.sync_index is not None:
            late = sum(1 for f in fresh if f.source == PARKED and f.id in self.sync_index)
            self._refused_indexed = max(0, self._refused_indexed - late)    # held now, not refused
            self.sync_index.add([f.id for f in fresh])
            if len(self.withheld):
                self.withheld.forget(f.id for f in fresh)
            voided = self.store.pop_voided()
            if voided:
                self.sync_index.discard(voided)
        mine = [f.raw for f in fresh if f.source in PUBLISHED]
        if mine and self.net is not None:
            self.net.announce(mine)
        batched: dict[tuple[str, bytes | None], list[bytes]] = {}      # (source, peer) -> ids
        for f in fresh:
            if changes_weights(f.record):
                self.weights.stale = True
            if isinstance(f.record, Deal):
                self.deals.settle(f.record)
            if f.fork:
                self._forked.add(f.record.author)
                self._wake.set()
            if f.source in BATCHED_SOURCES:
                batched.setdefault((f.source, f.peer), []).append(f.id)
            else:
                self.notify("record", **describe(f))
        for (source, peer), ids in batched.items():
            self.notify("records", source=source, peer=peer_id(peer) if peer else None, count=len(ids), ids=ids)

    def _index_refused(self, ids: list[bytes]) -> None:
        """Count link-refused records as held for sync (never stored: see REFUSED_IN_INDEX).

        A link rule's verdict never changes (the target is fixed by its id),
        so a peer that holds such a record, having lacked the target, would
        otherwise push it again in every sync. A peer that NEEDs it from us
        gets nothing for that id (``provide`` omits what is not held). The
        exception, a deal with another key of the member (L6 waiting for key
        events), is kept aside by the store meanwhile: taken when they come
        (announced, so held), or let go after a while (``_unindex_refused``).
        """
        room = REFUSED_IN_INDEX - self._refused_indexed
        if self.sync_index is None or room <= 0:
            return
        fresh = [rid for rid in ids[:room] if rid not in self.sync_index]
        self.sync_index.add(fresh)
        self._refused_indexed += len(fresh)

    def _unindex_refused(self, ids: list[bytes]) -> None:
        """Stop counting as held the records the store kept aside and let go unrevived (they
        expired waiting for key events), so that a later sync can bring them again."""
        if self.sync_index is None:
            return
        gone = [rid for rid in ids if rid in self.sync_index]     # never held: only refused ones
        self.sync_index.discard(gone)
        self._refused_indexed = max(0, self._refused_indexed - len(gone))

    def index_for(self, peer: bytes) -> SyncIndex | IndexUnion:
        """What a sync with ``peer`` answers for: the records held, and the ones withheld
        (``withheld.py``) when what ``peer`` sends would be refused now (it is held to the
        hourly rate, or the strangers' total is full); a peer the quota lets through syncs
        with the held ids alone, so it brings what a rated peer's refusal withheld."""
        if not len(self.withheld) or not (self.intake.rated(peer) or self.quota.room() == 0):
            return self.sync_index
        return IndexUnion(self.sync_index, self.withheld.index(time.monotonic()))

    async def _announce_forks(self) -> None:
        """Tell the user and every peer: both records of each fork proof are gossiped.

        Why both: a peer holding neither, or only one, of the two records
        would otherwise never see the proof, and would keep trusting the author.
        """
        authors, self._forked = self._forked, set()
        for author in authors:
            proofs = await self.worker.read(self.store.forks, author)
            for proof in proofs:
                self.notify("fork", author=peer_id(author), seq=proof.seq,
                            records=f"{proof.id_a.hex()} {proof.id_b.hex()}")
            raws = await self.worker.read(self.store.raws_for, [i for p in proofs for i in (p.id_a, p.id_b)])
            if self.net is not None and raws:
                self.net.announce(raws)

    # ---- making records ------------------------------------------------------

    async def _make(self, method, *args, **kwargs) -> StoredRecord:
        stored = await self.worker.run(method, *args, **kwargs)
        self.intake.announce()
        return stored

    async def attest(self, subject: bytes | str, facet: str, positive: bool, **options) -> StoredRecord:
        """Sign, store and gossip an attestation (options as ``Ledger.attest``)."""
        return await self._make(self.ledger.attest, subject, facet, positive, **options)

    async def retract(self, target: bytes, reason: str | None = None) -> StoredRecord:
        """Sign, store and gossip a retraction of one of my records."""
        return await self._make(self.ledger.retract, target, reason)

    async def reply(self, target: bytes, stance: str, note: str | None = None) -> StoredRecord:
        """Sign, store and gossip a reply to an attestation about me."""
        return await self._make(self.ledger.reply, target, stance, note)

    async def set_profile(self, name: str, org: str | None = None, url: str | None = None) -> StoredRecord:
        """Sign, store and gossip my profile."""
        return await self._make(self.ledger.set_profile, name, org, url)

    async def import_records(self, raws: list[bytes]) -> list[IngestResult]:
        """Verify and store records the owner brings (a bundle), gossip the new ones; the results."""
        results = await self.worker.run(self.intake.store_records, raws, "import")
        self.intake.announce()
        return results

    async def import_bundle(self, chunks):
        """Store a bundle streamed in as byte chunks (an async iterable); see ``imports.py``."""
        from trustmesh.core.imports import import_bundle
        return await import_bundle(self, chunks)

    # ---- trust ------------------------------------------------------------------

    async def trust(self, subject: bytes | str, facet: str | None = None, *, explain: bool = False):
        """My trust in ``subject`` (a TrustScore, or a list over facets when ``facet`` is None)."""
        ask = self.trust_engine.explain if explain else self.trust_engine.trust
        return await self.worker.read(ask, member_key(subject), facet, now_ms())

    async def rank(self, facet: str, limit: int = 20):
        """The best-known members on ``facet``, surest first (RankEntry list)."""
        return await self.worker.read(self.trust_engine.rank, facet, limit, now_ms())

    # ---- asking the network ------------------------------------------------------

    async def ask(self, subject: bytes | str | None = None, *, author: bytes | str | None = None) -> list[StoredRecord]:
        """Ask connected peers for records about ``subject`` (or by ``author``); verified,
        stored, and returned with everything already held by or about them, oldest first."""
        if (subject is None) == (author is None):
            raise UsageError("ask about a subject or about an author")
        net = self._net()
        key = member_key(subject if subject is not None else author)
        await net.query({"subject": key} if subject is not None else {"author": key})
        if subject is None:
            return await self.worker.read(self.store.records, author=key, now_ms=now_ms())
        # What I know of a prospect is what is said about them and what they signed
        # (their profile, their deals with me or others, their replies), peers' and mine.
        about = await self.worker.read(self.store.records, subject=key, now_ms=now_ms())
        by = await self.worker.read(self.store.records, author=key, now_ms=now_ms())
        seen: set[bytes] = set()
        both = [s for s in about + by if not (s.id in seen or seen.add(s.id))]
        return sorted(both, key=lambda s: (s.record.issued, s.id))

    # ---- network ---------------------------------------------------------------

    def _net(self):
        if self.net is None:
            raise NetworkError("the node is not running")
        return self.net

    def peers(self) -> list[dict]:
        """Connected peers (id, addresses, conduct)."""
        return self.net.peers() if self.net else []

    async def connect(self, addr: str) -> str:
        """Connect to a peer address now; the peer's id (a peer I chose: see intake.chosen)."""
        pid = await self._net().connect(addr)
        self.intake.chosen.update(_peer_keys([f"/p2p/{pid}"]))
        self.net.choose(pid)
        return pid

    async def disconnect(self, peer: str) -> None:
        """Close the connections to ``peer`` (a PeerID); NetworkError if not connected."""
        await self._net().disconnect(peer)

    def addrs(self) -> list[str]:
        """Addresses other nodes can dial, each ending in /p2p/<id>."""
        return self.net.addrs() if self.net else []

    async def sync_now(self) -> list[dict]:
        """Reconcile with every connected peer now; one stats dict per session."""
        return await self._net().sync_all()

    def sync_status(self) -> dict:
        """The last sync with each peer, and the intake counters."""
        intake = dict(self.intake.counters)
        intake["over_quota"] = sum(n for (_, outcome), n in self.intake.by_source.items() if outcome == "quota")
        from trustmesh.protocol.jsonview import iso
        peers = {pid: {**stats, "finished": iso(int(stats["finished"] * 1000))} if stats.get("finished") else stats
                 for pid, stats in (self.net.sync_stats if self.net else {}).items()}   # ISO, as every time shown
        return {"peers": peers, "intake": intake,
                "quota_held": self.quota.held, "quota_limit": self.quota.limit, "withheld": len(self.withheld)}

    async def count(self) -> int:
        """How many records the store holds."""
        return sum((await self.worker.read(self.store.counts)).values())

    # ---- running ---------------------------------------------------------------

    @asynccontextmanager
    async def running(self):
        """Start the network side; stop it (cleanly) when the block ends."""
        from trustmesh.core.netport import NetPort
        from trustmesh.net.service import NetService  # libp2p is imported here

        await self.worker.read(self.weights.warm_up)
        self.sync_index = SyncIndex(await self.worker.read(self.store.all_ids))
        known = KnownPeers.load(self.ledger.home.root / "peers.json")
        self.intake.chosen.update(_peer_keys(f"/p2p/{pid}" for pid in known.chosen()))
        service = NetService(self.identity, self.config, NetPort(self), known)
        async with service.run():
            self.net = service
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._housekeeping)
                    self._nursery = nursery
                    try:
                        yield self
                    finally:
                        self._nursery = None
                        nursery.cancel_scope.cancel()
            finally:
                self.net = None

    async def _housekeeping(self) -> None:
        """Fork proofs out as they are found; weights refreshed when records changed them."""
        last = None
        while True:
            with trio.move_on_after(1.0):
                await self._wake.wait()
            self._wake = trio.Event()
            if self._forked:
                await self._announce_forks()
            now = trio.current_time()
            if self.weights.stale and (last is None or now - last >= self.config.defence.reach_refresh_s):
                last = now
                try:
                    await self.refresh_weights()
                except Exception as exc:     # a refresh that fails must not stop the node
                    log.warning("weights refresh failed: %s", exc)


def _peer_keys(addrs: Iterable[str]) -> set[bytes]:
    """The member keys named by ``.../p2p/<id>`` addresses (others are skipped)."""
    from trustmesh.crypto.ids import parse_id
    keys = set()
    for addr in addrs:
        try:
            keys.add(parse_id(addr.rsplit("/p2p/", 1)[1]))
        except (IndexError, UsageError):
            continue
    return keys


@asynccontextmanager
async def open_node(home: str | os.PathLike | Home | None = None, *,
                    listen: Iterable[str] | None = None, bootstrap: Iterable[str] | None = None,
                    mdns: bool = False, passphrase: bytes | None = None,
                    config: NetConfig | None = None, on_deal: DealCallback | None = None,
                    trust_config: TrustConfig = DEFAULT, create: bool = True):
    """Open the member's home and run its node on the network while the block runs.

    Creates the identity on first use when ``create`` is true; HomeLocked if
    another node runs for this home. On leaving the block the network is
    stopped, the host closed, known peers saved and the store closed;
    records already reported stored are on disk.
    """
    home = home if isinstance(home, Home) else resolve_home(home)
    try:
        ledger = Ledger.open(home, passphrase)
    except KeyFileError:
        if not create or home.key.exists():
            raise
        ledger = Ledger.create(home, passphrase)
    try:
        with NodeLock(home):
            node = Node(ledger, with_peers(config or NetConfig(), listen, bootstrap, mdns), on_deal=on_deal,
                        trust_config=trust_config)
            async with node.running():
                yield node
    finally:
        ledger.close()
