"""Deals made live between two running nodes: proposals sent, received, answered.

A proposal that arrives from the network is answered at once by the
owner's callback or policy ("accept", "always", "never"), or kept pending
for the owner to decide later (``accept``/``decline``). Pending proposals
are bounded: a peer cannot make us hold an unbounded number of them.
Proposals this node sent are remembered with their answer, so the
proposer can list them.

``DealDesk`` holds that state; ``Dealing`` (a mixin of ``Node``, as
``reading.Reading`` is) is the node's side: it signs through the ledger,
stores through the intake and talks to the counterparty through the network.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from trustmesh.crypto.ids import member_key, peer_id
from trustmesh.errors import InvalidRecord, NotFound, UsageError
from trustmesh.protocol.records import Deal, decode, encode, record_id
from trustmesh.protocol.validate import check_record
from trustmesh.store import StoredRecord

log = logging.getLogger("trustmesh.deals")

ACCEPTED, DECLINED, PENDING = "accepted", "declined", "pending"
SENT_KEPT = 1000        # sent proposals remembered with their answers

# (proposal, proposer key) -> True to countersign, False to decline, None to keep pending
DealCallback = Callable[[Deal, bytes], Awaitable[bool | None]]


@dataclass(frozen=True)
class DealOutcome:
    """The counterparty's answer to a proposal: "accepted" (with the stored deal),
    "declined" (with a reason) or "pending" (their user will decide)."""

    status: str
    deal: StoredRecord | None = None
    reason: str | None = None


@dataclass
class SentProposal:
    """A proposal this node sent, and what became of it."""

    id: bytes
    proposal: Deal
    status: str
    reason: str | None = None


class DealDesk:
    """Pending proposals received, proposals sent, and the policy for new ones."""

    def __init__(self, policy: str, max_pending: int, on_deal: DealCallback | None = None) -> None:
        self.policy = policy
        self.max_pending = max_pending
        self.on_deal = on_deal
        self.pending: OrderedDict[bytes, Deal] = OrderedDict()
        self.sent: OrderedDict[bytes, SentProposal] = OrderedDict()

    async def verdict(self, proposal: Deal, proposer: bytes, proposer_weight: float) -> bool | None:
        """True to countersign now, False to decline, None to keep it for the owner."""
        if self.on_deal is not None:
            try:
                return await self.on_deal(proposal, proposer)
            except Exception as exc:      # an app's callback must not break the deal protocol
                log.warning("deal callback failed: %s", exc)
                return None
        if self.policy == "accept":
            return True if proposer_weight > 0 else None
        return {"always": True, "never": False}.get(self.policy)

    def keep(self, proposal: Deal) -> bytes | None:
        """Keep a proposal pending; its id, or None when too many are waiting."""
        pid = record_id(encode(proposal))
        if pid not in self.pending and len(self.pending) >= self.max_pending:
            return None
        self.pending[pid] = proposal
        return pid

    def find(self, proposal_id: bytes | str) -> bytes:
        """The full id of a pending proposal; NotFound / UsageError (ambiguous) otherwise."""
        if isinstance(proposal_id, bytes):
            if proposal_id in self.pending:
                return proposal_id
            raise NotFound("no pending deal proposal with that id")
        text = proposal_id.strip().lower()
        if len(text) < 8 or any(c not in "0123456789abcdef" for c in text):
            raise UsageError(f"not a proposal id: {text[:80]!r} (give 8 or more hex digits)")
        found = [pid for pid in self.pending if pid.hex().startswith(text)]
        if not found:
            raise NotFound(f"no pending deal proposal starts with {text}")
        if len(found) > 1:
            raise UsageError(f"{text} names more than one pending proposal: give more digits")
        return found[0]

    def record_sent(self, proposal: Deal, status: str, reason: str | None = None) -> None:
        """Remember the answer to a proposal we sent."""
        pid = record_id(encode(proposal))
        self.sent[pid] = SentProposal(pid, proposal, status, reason)
        self.sent.move_to_end(pid)
        while len(self.sent) > SENT_KEPT:
            self.sent.popitem(last=False)

    def settle(self, deal: Deal) -> None:
        """A countersigned deal arrived (gossip, sync): a pending proposal we sent is accepted."""
        pid = record_id(encode(replace(deal, counter_sig=None)))
        item = self.sent.get(pid)
        if item is not None and item.status == PENDING:
            item.status = ACCEPTED


def countersigned_answer(payload: bytes, proposal: Deal) -> Deal | None:
    """The counterparty's countersigned deal, if ``payload`` is exactly our proposal countersigned."""
    try:
        signed = decode(payload)
    except Exception:
        return None
    if not isinstance(signed, Deal) or replace(signed, counter_sig=None) != proposal:
        return None
    return signed


class Dealing:
    """The deal calls of a node: propose, decide, accept, decline, and later answers."""

    @property
    def pending_deals(self):
        """Proposals received and waiting for my answer, by id."""
        return self.deals.pending

    async def propose_deal(self, counterparty: bytes | str, ref: str, role: str,
                           due: int | None = None) -> DealOutcome:
        """Propose a deal to ``counterparty``'s node, over the network.

        "accepted": the countersigned deal is stored here and gossiped.
        NetworkError if the counterparty's node cannot be reached.
        """
        net = self._net()
        party = member_key(counterparty)
        proposal = await self.worker.run(self.ledger.propose_deal, party, ref, role, due)
        status, payload = await net.propose_deal(party, proposal)
        if status != ACCEPTED:
            reason = payload if isinstance(payload, str) else None
            self.deals.record_sent(proposal, status, reason)
            return DealOutcome(status, None, reason)
        if countersigned_answer(payload, proposal) is None:
            self.deals.record_sent(proposal, DECLINED, "the counterparty sent back another deal")
            return DealOutcome(DECLINED, None, "the counterparty sent back another deal")
        report = await self.intake.take(self.worker, [payload], "deal", party)
        if not report.clean:
            reason = next(iter(report.rejected.values()))[1]
            self.deals.record_sent(proposal, DECLINED, reason)
            return DealOutcome(DECLINED, None, reason)
        self.deals.record_sent(proposal, ACCEPTED)
        return DealOutcome(ACCEPTED, await self.worker.read(self.store.get, record_id(payload)))

    async def decide_deal(self, proposal: Deal, proposer: bytes) -> tuple[str, bytes | str]:
        """Answer a proposal that arrived from the network (the deal protocol's hook)."""
        try:        # the proposer's signature and the deal's own rules, before anyone is asked
            check_record(proposal, self.ledger.clock())
        except InvalidRecord as exc:
            return DECLINED, f"not a valid proposal: {exc}"
        verdict = await self.deals.verdict(proposal, proposer, self.weight_of(proposer))
        if verdict is False:
            return DECLINED, "the counterparty declined"
        if verdict is None:
            pid = self.deals.keep(proposal)
            if pid is None:
                return DECLINED, "too many proposals waiting"
            self.notify("deal-proposal", id=pid.hex(), proposer=peer_id(proposer))
            return PENDING, ""
        stored = await self._make(self.ledger.countersign, proposal)
        return ACCEPTED, stored.raw

    async def accept_deal(self, proposal_id: bytes | str) -> StoredRecord:
        """Countersign a pending proposal (by its id or a unique prefix); stored and gossiped."""
        key = self.deals.find(proposal_id)
        stored = await self._make(self.ledger.countersign, self.deals.pending[key])
        self.deals.pending.pop(key, None)
        return stored

    def decline_deal(self, proposal_id: bytes | str) -> bytes:
        """Forget a pending proposal and tell its proposer's node (in the background); its full id."""
        key = self.deals.find(proposal_id)
        proposal = self.deals.pending.pop(key)
        if self.net is not None and self._nursery is not None:
            self._nursery.start_soon(self._tell_declined, proposal.author, key)
        return key

    async def _tell_declined(self, proposer: bytes, key: bytes) -> None:
        if self.net is not None and not await self.net.tell_declined(proposer, key, "declined by its owner"):
            log.info("could not tell %s that proposal %s was declined", peer_id(proposer), key.hex()[:16])

    def deal_answered(self, counterparty: bytes, proposal_id: bytes, status: str, reason: str) -> None:
        """A counterparty's later answer to a proposal I sent (see ``net/deals/answers.py``)."""
        item = self.deals.sent.get(proposal_id)
        if item is None or item.proposal.counterparty != counterparty or item.status != PENDING:
            return                         # not ours, not theirs to answer, or already settled
        item.status, item.reason = status, reason
        self.notify("deal-answer", id=proposal_id.hex(), status=status, peer=peer_id(counterparty))
