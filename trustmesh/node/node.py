"""The networked node: a member's ledger, put on the network.

``Node`` owns the one intake every record from elsewhere goes through
(gossip, sync, query answers, countersigned deals): a quota check for
authors without weight, then ``Store.ingest`` in the worker thread, then
announcement (sync index, event subscribers). Records made here are made
by the Ledger (which also ingests them) and then gossiped.

``open_node`` is the library entry point::

    async with trustmesh.open_node(home="~/tm", listen=["/ip4/0.0.0.0/tcp/4001"]) as node:
        await node.attest(peer, "payment", positive=True, ref="INV-12")

libp2p is imported only when a node starts, so ``import trustmesh`` stays light.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import trio

from trustmesh.crypto.ids import member_key, peer_id
from trustmesh.errors import KeyFileError, NetworkError, UsageError
from trustmesh.node.ledger import Ledger, now_ms
from trustmesh.node.p2p.config import NetConfig
from trustmesh.node.p2p.defence import IntakeReport, Quota, judge
from trustmesh.node.paths import Home, resolve_home
from trustmesh.node.peers import KnownPeers
from trustmesh.node.reach import reachable
from trustmesh.node.store import ACCEPTED, FORK, StoredRecord
from trustmesh.node.worker import StoreWorker
from trustmesh.protocol.records import Attestation, Deal, decode, encode, record_id

log = logging.getLogger("trustmesh.node")

RECENT_IDS = 500_000
# Records refused here by a link rule that peers keep (they lacked the target)
# go into our sync index, so that sync stops offering them every session.
# Bounded: a flood of such records must not grow the index; past the bound
# they are offered again (refused again, no offence).
REFUSED_IN_INDEX = 20_000
SMALL_INGEST = 8         # records ingested on the event loop (see StoreWorker.run_small)


@dataclass(frozen=True)
class NodeEvent:
    """Something that happened on the node: ``kind`` is "record", "peer-up",
    "peer-down", "offence", "ban", "deal-proposal", "sync"…; ``data`` the details.

    A "record" event's data has ``id``, ``record``, ``raw`` and ``source``
    ("local", "gossip", "sync", "query", "deal", "cli").
    """

    kind: str
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DealOutcome:
    """The counterparty's answer to a proposal: "accepted" (with the stored deal),
    "declined" (with a reason) or "pending" (their user will decide)."""

    status: str
    deal: StoredRecord | None = None
    reason: str | None = None


# (proposal, proposer key) -> True to countersign, False to decline, None to keep pending
DealCallback = Callable[[Deal, bytes], Awaitable[bool | None]]


class Node:
    """A member's node: ledger + store worker + network service."""

    def __init__(self, ledger: Ledger, config: NetConfig | None = None, *,
                 weight_of: Callable[[bytes], float] | None = None,
                 on_deal: DealCallback | None = None) -> None:
        self.ledger = ledger
        self.store = ledger.store
        self.identity = ledger.identity
        self.config = config or NetConfig()
        self.worker = StoreWorker()
        self.on_deal = on_deal
        self._weight_hook = weight_of
        self._reach: set[bytes] = {self.identity.public_key}
        self._reach_dirty = True
        self.quota = Quota(self.config.defence.unweighted_quota)
        self._recent: OrderedDict[bytes, None] = OrderedDict()
        self._last_rowid = 0
        self._subscribers: list[tuple[trio.MemorySendChannel, frozenset[str] | None]] = []
        self.pending_deals: OrderedDict[bytes, Deal] = OrderedDict()
        self.sync_index = None
        self.net = None
        self._refused_indexed = 0
        self.counters = {"accepted": 0, "duplicate": 0, "rejected": 0, "over_quota": 0}
        self.intake_by_source: dict[tuple[str, str], int] = {}   # (gossip|sync|query, outcome) -> records

    # ---- identity and weights ----------------------------------------------

    @property
    def id(self) -> str:
        """This member's id (= the libp2p peer id of the node)."""
        return self.identity.id

    def weight_of(self, author: bytes) -> float:
        """How much ``author`` counts from my point of view (> 0: not a stranger).

        The hook given to the node, else: 1.0 if deals and positive
        attestations lead from me to them, else 0.0.
        """
        if self._weight_hook is not None:
            return self._weight_hook(author)
        return 1.0 if author in self._reach else 0.0

    @property
    def reach_stale(self) -> bool:
        """True when records that change who is reachable arrived since the last refresh."""
        return self._reach_dirty

    async def refresh_reach(self) -> None:
        """Recompute who is reachable and how many held records count against the quota."""
        edges = await self.worker.run(self.store.trust_edges)
        self._reach = reachable(self.identity.public_key, edges)
        counts = await self.worker.run(self.store.author_counts)
        self.quota.held = sum(n for author, n in counts.items() if self.weight_of(author) <= 0)
        self._reach_dirty = False

    # ---- the single intake -------------------------------------------------

    async def intake(self, raws: list[bytes], peer: bytes | None, source: str) -> IntakeReport:
        """Store records received from ``peer``; what became of them.

        Records by authors without weight are admitted only while the quota
        has room; the rest are dropped before ingest (never stored).
        """
        kept, unweighted = [], 0
        over = 0
        strangers: list[bool] = []
        for raw in raws:
            author = _author(raw)
            stranger = author is not None and self.weight_of(author) <= 0
            if stranger:
                if self.quota.admit(1) == 0:
                    over += 1
                    continue
                unweighted += 1
            kept.append(raw)
            strangers.append(stranger)
        if not kept:
            results = []
        elif len(kept) <= SMALL_INGEST:
            results = await self.worker.run_small(self.store.ingest, kept, now_ms())
        else:
            results = await self.worker.run(self.store.ingest, kept, now_ms())
        unused = sum(1 for res, s in zip(results, strangers) if s and res.status != ACCEPTED)
        self.quota.release(unused)
        fresh = [(res.id, res.record, raw) for res, raw in zip(results, kept) if res.status == ACCEPTED]
        self._stored(fresh, source, peer)
        forked = [res.record.author for res in results if res.status == ACCEPTED and res.reason == FORK]
        if forked:
            await self._announce_forks(set(forked))
        report = judge(results, over)
        self._index_refused(report.link_refused)
        self.counters["accepted"] += report.accepted
        self.counters["duplicate"] += report.duplicate
        self.counters["rejected"] += len(results) - report.accepted - report.duplicate
        self.counters["over_quota"] += over
        for outcome, n in (("accepted", report.accepted), ("duplicate", report.duplicate),
                           ("rejected", len(results) - report.accepted - report.duplicate),
                           ("over_quota", over)):
            if n:
                key = (source, outcome)
                self.intake_by_source[key] = self.intake_by_source.get(key, 0) + n
        return report

    def _index_refused(self, ids: list[bytes]) -> None:
        """Count link-refused records as held for sync (never stored: see REFUSED_IN_INDEX).

        A link rule's verdict never changes (the target is fixed by its id),
        so a peer that holds such a record, having lacked the target, would
        otherwise push it again in every sync. A peer that NEEDs it from us
        gets nothing for that id (``provide`` omits what is not held).
        """
        room = REFUSED_IN_INDEX - self._refused_indexed
        if self.sync_index is None or not ids or room <= 0:
            return
        fresh = [rid for rid in ids[:room] if rid not in self.sync_index]
        self.sync_index.add(fresh)
        self._refused_indexed += len(fresh)

    async def _announce_forks(self, authors: set[bytes]) -> None:
        """Tell the user and every peer: both records of each fork proof are gossiped.

        Why both: a peer holding neither, or only one, of the two records
        would otherwise never see the proof, and would keep trusting the author.
        """
        for author in authors:
            proofs = await self.worker.run(self.store.forks, author)
            for proof in proofs:
                self.notify("fork", author=peer_id(author), seq=proof.seq,
                            records=f"{proof.id_a.hex()} {proof.id_b.hex()}")
            raws = await self.worker.run(self.store.raws_for,
                                         [i for p in proofs for i in (p.id_a, p.id_b)])
            if self.net is not None and raws:
                self.net.announce(raws)

    def _stored(self, fresh: list[tuple[bytes, Any, bytes]], source: str, peer: bytes | None) -> None:
        """Bookkeeping after records were committed: index, reach, subscribers."""
        if not fresh:
            return
        for rid, record, _ in fresh:
            self._recent[rid] = None
            if isinstance(record, Deal) or (isinstance(record, Attestation) and record.positive):
                self._reach_dirty = True
        while len(self._recent) > RECENT_IDS:
            self._recent.popitem(last=False)
        if self.sync_index is not None:
            self.sync_index.add([rid for rid, _, _ in fresh])
        for rid, record, raw in fresh:
            self.notify("record", id=rid, record=record, raw=raw, source=source,
                        peer=peer_id(peer) if peer else None)

    def notify(self, kind: str, /, **data: Any) -> None:
        """Hand an event to every subscriber that wants it (a full subscriber misses it)."""
        if kind != "record":
            log.info("%s %s", kind, " ".join(f"{k}={v}" for k, v in data.items()))
        event = NodeEvent(kind, data)
        for send, kinds in list(self._subscribers):
            if kinds is None or kind in kinds:
                try:
                    send.send_nowait(event)
                except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                    pass

    @asynccontextmanager
    async def subscribe(self, kinds: Iterable[str] | None = None, buffer: int = 10_000):
        """A receive channel of NodeEvents (of ``kinds``, or all) while the block runs.

        Bounded: a subscriber that falls ``buffer`` events behind misses events
        (the store still has every record).
        """
        send, recv = trio.open_memory_channel(buffer)
        entry = (send, frozenset(kinds) if kinds is not None else None)
        self._subscribers.append(entry)
        try:
            async with recv:
                yield recv
        finally:
            self._subscribers.remove(entry)
            send.close()

    # ---- making records ------------------------------------------------------

    async def _local(self, method, *args, **kwargs) -> StoredRecord:
        stored = await self.worker.run(method, *args, **kwargs)
        self._stored([(stored.id, stored.record, stored.raw)], "local", None)
        if self.net is not None:
            self.net.announce([stored.raw])
        return stored

    async def attest(self, subject: bytes | str, facet: str, positive: bool, **options) -> StoredRecord:
        """Sign, store and gossip an attestation (options as ``Ledger.attest``)."""
        return await self._local(self.ledger.attest, subject, facet, positive, **options)

    async def retract(self, target: bytes, reason: str | None = None) -> StoredRecord:
        """Sign, store and gossip a retraction of one of my records."""
        return await self._local(self.ledger.retract, target, reason)

    async def reply(self, target: bytes, stance: str, note: str | None = None) -> StoredRecord:
        """Sign, store and gossip a reply to an attestation about me."""
        return await self._local(self.ledger.reply, target, stance, note)

    async def set_profile(self, name: str, org: str | None = None, url: str | None = None) -> StoredRecord:
        """Sign, store and gossip my profile."""
        return await self._local(self.ledger.set_profile, name, org, url)

    # ---- deals ------------------------------------------------------------------

    async def propose_deal(self, counterparty: bytes | str, ref: str, role: str,
                           due: int | None = None) -> DealOutcome:
        """Propose a deal to ``counterparty``'s node, over the network.

        "accepted": the countersigned deal is stored here and gossiped.
        NetworkError if the counterparty's node cannot be reached.
        """
        if self.net is None:
            raise NetworkError("the node is not running")
        party = member_key(counterparty)
        proposal = await self.worker.run(self.ledger.propose_deal, party, ref, role, due)
        status, payload = await self.net.propose_deal(party, proposal)
        if status != "accepted":
            return DealOutcome(status, None, payload if isinstance(payload, str) else None)
        try:
            signed = decode(payload)
        except Exception:
            signed = None
        if not isinstance(signed, Deal) or replace(signed, counter_sig=None) != proposal:
            return DealOutcome("declined", None, "the counterparty sent back another deal")
        report = await self.intake([payload], party, "deal")
        if report.hard or report.soft:
            return DealOutcome("declined", None, report.hard or report.soft)
        self.net.announce([payload])
        return DealOutcome("accepted", await self.worker.run(self.store.get, record_id(payload)))

    async def decide_deal(self, proposal: Deal, proposer: bytes) -> tuple[str, bytes | str]:
        """Answer a proposal that arrived from the network (the deal protocol's hook)."""
        verdict: bool | None
        if self.on_deal is not None:
            try:
                verdict = await self.on_deal(proposal, proposer)
            except Exception as exc:
                log.warning("deal callback failed: %s", exc)
                verdict = None
        else:
            policy = self.config.deals.auto_accept
            verdict = {"always": True, "never": False}.get(policy)
            if policy == "accept":
                verdict = True if self.weight_of(proposer) > 0 else None
        if verdict is False:
            return "declined", "the counterparty declined"
        if verdict is None:
            pid = record_id(encode(proposal))
            if pid not in self.pending_deals and len(self.pending_deals) >= self.config.deals.max_pending:
                return "declined", "too many proposals waiting"
            self.pending_deals[pid] = proposal
            self.notify("deal-proposal", id=pid.hex(), proposer=peer_id(proposer))
            return "pending", ""
        stored = await self._countersign(proposal)
        return "accepted", stored.raw

    async def accept_deal(self, proposal_id: bytes | str) -> StoredRecord:
        """Countersign a pending proposal (by its id); the deal is stored and gossiped."""
        proposal = self._pending(proposal_id, pop=True)
        return await self._countersign(proposal)

    def decline_deal(self, proposal_id: bytes | str) -> None:
        """Forget a pending proposal."""
        self._pending(proposal_id, pop=True)

    def _pending(self, proposal_id: bytes | str, pop: bool) -> Deal:
        key = bytes.fromhex(proposal_id) if isinstance(proposal_id, str) else proposal_id
        found = self.pending_deals.pop(key, None) if pop else self.pending_deals.get(key)
        if found is None:
            raise UsageError("no pending deal proposal with that id")
        return found

    async def _countersign(self, proposal: Deal) -> StoredRecord:
        stored = await self.worker.run(self.ledger.countersign, proposal)
        self._stored([(stored.id, stored.record, stored.raw)], "local", None)
        if self.net is not None:
            self.net.announce([stored.raw])
        return stored

    # ---- asking the network ------------------------------------------------------

    async def ask(self, subject: bytes | str | None = None, *, author: bytes | str | None = None) -> list[StoredRecord]:
        """Ask connected peers for records about ``subject`` (or by ``author``);
        verified, stored, and returned with what was already held."""
        if (subject is None) == (author is None):
            raise UsageError("ask about a subject or about an author")
        if self.net is None:
            raise NetworkError("the node is not running")
        key = member_key(subject if subject is not None else author)
        await self.net.query({"subject": key} if subject is not None else {"author": key})
        if subject is not None:
            return await self.worker.run(self.store.records, subject=key, now_ms=now_ms())
        return await self.worker.run(self.store.records, author=key, now_ms=now_ms())

    # ---- network ---------------------------------------------------------------

    def peers(self) -> list[dict]:
        """Connected peers (id, addresses, conduct)."""
        return self.net.peers() if self.net else []

    async def connect(self, addr: str) -> str:
        """Connect to a peer address now; the peer's id."""
        if self.net is None:
            raise NetworkError("the node is not running")
        return await self.net.connect(addr)

    async def disconnect(self, peer: str) -> None:
        """Close the connections to ``peer`` (a PeerID); NetworkError if not connected."""
        if self.net is None:
            raise NetworkError("the node is not running")
        await self.net.disconnect(peer)

    def addrs(self) -> list[str]:
        """Addresses other nodes can dial, each ending in /p2p/<id>."""
        return self.net.addrs() if self.net else []

    async def sync_now(self) -> list[dict]:
        """Reconcile with every connected peer now; one stats dict per session."""
        if self.net is None:
            raise NetworkError("the node is not running")
        return await self.net.sync_all()

    def sync_status(self) -> dict:
        """The last sync with each peer, and the intake counters."""
        return {"peers": dict(self.net.sync_stats) if self.net else {},
                "intake": dict(self.counters), "quota_held": self.quota.held,
                "quota_limit": self.quota.limit}

    async def import_records(self, raws: list[bytes]) -> list:
        """Verify and store records the owner brings (a bundle), gossip the new ones; the results.

        The owner's own import: no strangers' quota, no peer to blame.
        """
        results = await self.worker.run(self.store.ingest, raws, now_ms())
        fresh = [(res.id, res.record, raw) for res, raw in zip(results, raws) if res.status == ACCEPTED]
        self._stored(fresh, "import", None)
        if self.net is not None and fresh:
            self.net.announce([raw for _, _, raw in fresh])
        forked = {res.record.author for res in results if res.status == ACCEPTED and res.reason == FORK}
        if forked:
            await self._announce_forks(forked)
        return results

    async def count(self) -> int:
        """How many records the store holds."""
        return sum((await self.worker.run(self.store.counts)).values())

    # ---- running ---------------------------------------------------------------

    @asynccontextmanager
    async def running(self):
        """Start the network side; stop it (cleanly) when the block ends."""
        from trustmesh.node.p2p.service import NetService  # libp2p is imported here

        await self.refresh_reach()
        self._last_rowid = await self.worker.run(self.store.last_rowid)
        await self._build_sync_index()
        known = KnownPeers.load(self.ledger.home.root / "peers.json")
        service = NetService(self.identity, self.config, self, known)
        async with service.run():
            self.net = service
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._housekeeping)
                    try:
                        yield self
                    finally:
                        nursery.cancel_scope.cancel()
            finally:
                self.net = None

    async def _build_sync_index(self) -> None:
        try:
            from trustmesh.node.p2p import syncpump
        except ImportError:
            return
        self.sync_index = await self.worker.run(syncpump.build_index, self.store)

    async def _housekeeping(self) -> None:
        """Pick up records other processes wrote into our store; refresh weights."""
        last_reach = trio.current_time()
        while True:
            await trio.sleep(0.5)
            rows = await self.worker.run(self.store.arrived_after, self._last_rowid)
            outside = []
            for rowid, rid, raw in rows:
                self._last_rowid = rowid
                if rid not in self._recent:
                    outside.append((rid, decode(raw, stored=True), raw))
            if outside:
                self._stored(outside, "cli", None)
                if self.net is not None:
                    self.net.announce([raw for _, _, raw in outside])
            now = trio.current_time()
            if self._reach_dirty and now - last_reach >= self.config.defence.reach_refresh_s:
                last_reach = now
                await self.refresh_reach()


def _author(raw: bytes) -> bytes | None:
    try:
        return decode(raw).author
    except Exception:
        return None



def net_config(listen: Iterable[str] | None = None, bootstrap: Iterable[str] | None = None,
               mdns: bool = False, base: NetConfig | None = None) -> NetConfig:
    """A NetConfig with the listen addresses, bootstrap peers and mDNS flag applied."""
    base = base or NetConfig()
    listen = tuple(listen or ()) or base.listen
    discovery = replace(base.discovery, bootstrap=tuple(bootstrap or ()) + base.discovery.bootstrap,
                        mdns=mdns or base.discovery.mdns)
    return replace(base, listen=listen, discovery=discovery)


@asynccontextmanager
async def open_node(home: str | os.PathLike | Home | None = None, *,
                    listen: Iterable[str] | None = None, bootstrap: Iterable[str] | None = None,
                    mdns: bool = False, passphrase: bytes | None = None,
                    config: NetConfig | None = None,
                    weight_of: Callable[[bytes], float] | None = None,
                    on_deal: DealCallback | None = None, create: bool = True):
    """Open the member's home and run its node on the network while the block runs.

    Creates the identity on first use when ``create`` is true. On leaving
    the block the network is stopped, the host closed, known peers saved
    and the store closed; records already reported stored are on disk.
    """
    home = home if isinstance(home, Home) else resolve_home(home)
    try:
        ledger = Ledger.open(home, passphrase)
    except KeyFileError:
        if not create or home.key.exists():
            raise
        ledger = Ledger.create(home, passphrase)
    node = Node(ledger, net_config(listen, bootstrap, mdns, config),
                weight_of=weight_of, on_deal=on_deal)
    try:
        async with node.running():
            yield node
    finally:
        ledger.close()
