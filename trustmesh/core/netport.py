"""The node as the network side sees it: ``net.ports.NodePort``, implemented over the core.

Everything the network asks goes through here, so ``net/`` never holds the
store, the ledger or the trust engine: records in go to the one intake,
records out are read beside the writer.
"""

from __future__ import annotations

from trustmesh.net.ports import IntakeReport
from trustmesh.protocol.query.session import QueryRequest


class NetPort:
    """Adapter from ``NodePort`` calls to the node's parts."""

    def __init__(self, node) -> None:
        self._node = node

    def sync_index_for(self, peer: bytes):
        return self._node.index_for(peer)

    async def intake(self, raws: list[bytes], peer: bytes | None, source: str) -> IntakeReport:
        node = self._node
        return await node.intake.take(node.worker, raws, source, peer)

    def weight_of(self, member: bytes) -> float:
        return self._node.weight_of(member)

    async def records_for(self, ids: list[bytes]) -> list[bytes]:
        return await self._node.worker.read(self._node.store.raws_for, ids)

    async def answer_query(self, request: QueryRequest, limit: int) -> tuple[list[bytes], list[bytes]]:
        return await self._node.worker.read(_answer, self._node.store, request, limit)

    async def decide_deal(self, proposal, proposer: bytes) -> tuple[str, bytes | str]:
        return await self._node.decide_deal(proposal, proposer)

    def deal_answered(self, counterparty: bytes, proposal_id: bytes, status: str, reason: str) -> None:
        self._node.deal_answered(counterparty, proposal_id, status, reason)

    def notify(self, kind: str, /, **data) -> None:
        self._node.notify(kind, **data)


def _answer(store, request: QueryRequest, limit: int) -> tuple[list[bytes], list[bytes]]:
    """What a query gets: the records in force that match (at most ``limit``, each once), and
    what answers them (replies to them; retractions of matching records), so the asker sees
    them as we do. Only what peers may be sent (``Store.raws_for``)."""
    found = store.records(subject=request.subject, author=request.author, facet=request.facet,
                          since=request.since, include_retracted=True, include_expired=True)
    live = [s.id for s in found if not s.retracted][:limit]
    gone = [s.id for s in found if s.retracted][:limit]
    results = store.raws_for(live)
    linked = [raw for raw in store.linked_to(live + gone) if raw not in set(results)]
    return results, list(dict.fromkeys(linked))
