"""The node's read-only side: records, counts, status, and views joining records with trust.

A mixin of ``Node``: every call reads beside the writer (``StoreWorker.read``).
"""

from __future__ import annotations

from functools import partial

from trustmesh.store import StoredRecord


class Reading:
    """What a node answers without writing anything."""

    def clock(self) -> int:
        """The node's clock: milliseconds since the epoch."""
        return self.ledger.clock()

    async def records(self, **filters) -> list[StoredRecord]:
        """Records held, as ``Store.records`` filters them (in force at this moment)."""
        return await self.worker.read(partial(self.store.records, now_ms=self.clock(), **filters))

    async def record(self, record_id: bytes | str) -> StoredRecord:
        """One record held, by id or unique hex prefix."""
        key = await self.worker.read(self.store.resolve, record_id) if isinstance(record_id, str) else record_id
        return await self.worker.read(self.store.get, key)

    async def record_ids(self) -> list[bytes]:
        """Every record id held, sorted."""
        return await self.worker.read(self.store.all_ids)

    async def counts(self) -> dict[str, int]:
        """How many records of each type are held."""
        return await self.worker.read(self.store.counts)

    async def status(self) -> dict:
        """Id, addresses, peers, records, last sync, intake counters, version."""
        from trustmesh.version import __version__
        counts = await self.counts()
        sync = self.sync_status()
        # ISO 8601 UTC text (sync_status): of one format, so the latest is the greatest
        last = max((s["finished"] for s in sync["peers"].values() if s and s.get("finished")), default=None)
        return {"id": self.id, "version": __version__, "addrs": self.addrs(),
                "peers": [p["id"] for p in self.peers()], "records": counts,
                "total_records": sum(counts.values()), "last_sync": last, "intake": sync["intake"],
                "reach": self.net.reachability() if self.net else {"reachability": "unknown"}}

    async def members(self) -> list[dict]:
        """Members my network knows, with my trust per facet (``views.members``)."""
        from trustmesh.core.views import members
        return await self.worker.read(members, self.store, self.trust_engine, self.clock())

    async def key_state(self, member: bytes) -> dict:
        """Which keys act for ``member`` as my store reads its key events (``core.keys.state_view``)."""
        from trustmesh.core.keys import state_view
        state = await self.worker.read(self.store.key_state, member)
        return state_view(state, self.identity.public_key)

    async def neighbourhood(self, around: bytes | None = None) -> dict:
        """Members within two relations of me or ``around``, and the relations (``views.neighbourhood``)."""
        from trustmesh.core.views import neighbourhood
        return await self.worker.read(neighbourhood, self.store, self.trust_engine,
                                      self.identity.public_key, self.clock(), around)

    async def member_page(self, member: bytes) -> dict:
        """One member's profile, trust explained, records by and about them (``views.member_page``)."""
        from trustmesh.core.views import member_page
        return await self.worker.read(member_page, self.store, self.trust_engine,
                                      self.identity.public_key, member, self.clock())
