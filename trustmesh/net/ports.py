"""What the network side needs from the node, and what the node tells it back (no libp2p).

The network side never sees the store, the ledger or the trust engine: it
holds a ``NodePort`` and calls these few methods. The core implements it
(``core/netport.py``); tests can hand in their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from trustmesh.protocol.query.session import QueryRequest
from trustmesh.protocol.sync.index import SyncIndex
from trustmesh.protocol.sync.union import IndexUnion


@dataclass
class IntakeReport:
    """What became of records a peer sent.

    ``rejected`` maps each fault class (``protocol.validate.FAULTS``) to
    the number of records refused for it and the first reason given.
    """

    accepted: int = 0
    duplicate: int = 0
    rejected: dict[str, tuple[int, str]] = field(default_factory=dict)

    def add_rejected(self, fault: str, reason: str) -> None:
        count, first = self.rejected.get(fault, (0, reason))
        self.rejected[fault] = (count + 1, first)

    def count(self, fault: str) -> int:
        """How many records were refused for ``fault``."""
        return self.rejected.get(fault, (0, ""))[0]

    @property
    def clean(self) -> bool:
        """True when every record was stored or already held (safe to relay)."""
        return not self.rejected


class NodePort(Protocol):
    """The node as the network side sees it."""

    def sync_index_for(self, peer: bytes) -> SyncIndex | IndexUnion:
        """The ids a sync with ``peer`` answers for: every record held (kept current by the
        intake), and toward a peer whose records the node would refuse now, the records it
        refused over quota lately (so that the peer does not offer them again)."""

    async def intake(self, raws: list[bytes], peer: bytes | None, source: str) -> IntakeReport:
        """Verify and store records that came from ``peer`` by ``source`` (gossip, sync, query, deal)."""

    def weight_of(self, member: bytes) -> float:
        """How much ``member`` counts from this node's point of view (0: a stranger)."""

    async def records_for(self, ids: list[bytes]) -> list[bytes]:
        """The raw records held among ``ids`` (for a sync peer that lacks them)."""

    async def answer_query(self, request: QueryRequest, limit: int) -> tuple[list[bytes], list[bytes]]:
        """A peer's query answered: the matching records in force (at most ``limit``), and what
        answers them (replies, retractions)."""

    async def decide_deal(self, proposal, proposer: bytes) -> tuple[str, bytes | str]:
        """Answer a deal proposal: ("accepted", countersigned raw), ("declined", reason), ("pending", "")."""

    def deal_answered(self, counterparty: bytes, proposal_id: bytes, status: str, reason: str) -> None:
        """A later answer from ``counterparty`` to a proposal this node sent ("declined")."""

    def notify(self, kind: str, /, **data) -> None:
        """Report an event (peer-up, offence, ban, sync…) to the node's listeners."""
