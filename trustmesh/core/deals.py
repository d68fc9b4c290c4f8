"""Deals made live between two running nodes: proposals sent, received, answered.

A proposal that arrives from the network is answered at once by the
owner's callback or policy ("accept", "always", "never"), or kept pending
for the owner to decide later (``accept``/``decline``). Pending proposals
are bounded: a peer cannot make us hold an unbounded number of them.
Proposals this node sent are remembered with their answer, so the
proposer can list them.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from trustmesh.errors import NotFound, UsageError
from trustmesh.protocol.records import Deal, decode, encode, record_id
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

    def take(self, proposal_id: bytes | str) -> Deal:
        """Remove and return a pending proposal named by its id or a unique hex prefix."""
        key = self.find(proposal_id)
        return self.pending.pop(key)

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
