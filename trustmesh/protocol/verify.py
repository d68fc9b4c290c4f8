"""Verifying a bundle without a store: every check ``Store.ingest`` makes
that does not need records held elsewhere.

Why a separate path: a member deciding whether to trust a file handed to
them should not have to import it first. The rules are the same functions
the store runs (``check_record`` with signatures, ``check_link`` for links
whose target is in the same bundle), so "verify says valid" and "import
accepts" cannot drift apart. A link whose target is not in the bundle is
left unresolved, as the store does: the rule is applied when the target
shows up.

Memory: the verifier keeps the bytes of every valid record (a link may
point backwards to any of them) and the chain position of every chained
record, about 300 bytes a record. ``Store.ingest`` in batches is the
bounded-memory path for huge bundles.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from trustmesh.errors import DecodeError, InvalidRecord
from trustmesh.protocol.records import CHAINED, Record, decode
from trustmesh.protocol.validate import check_link, check_record, link_target

VALID, DUPLICATE, INVALID = "valid", "duplicate", "invalid"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the verifier concluded about the record at ``position`` (from 1)."""

    position: int
    id: bytes               # SHA-256 of the bytes as found, even when they do not decode
    status: str             # "valid", "duplicate" (same bytes earlier in the bundle) or "invalid"
    reason: str | None = None
    record: Record | None = None

    @property
    def ok(self) -> bool:
        return self.status != INVALID


@dataclass(frozen=True, slots=True)
class ChainFork:
    """Two valid records of the bundle that cannot both be in ``author``'s chain."""

    author: bytes
    seq: int
    id_a: bytes
    id_b: bytes


@dataclass
class BundleVerifier:
    """Checks the records of one bundle in order; feed with ``add``, then ``finish``.

    ``now_ms`` is the verifier's notion of the current time (this layer never
    reads the clock): records issued more than the allowed skew after it are
    invalid, as at ingest.
    """

    now_ms: int
    verdicts: list[Verdict] = field(default_factory=list)
    forks: list[ChainFork] = field(default_factory=list)
    _valid: dict[bytes, bytes] = field(default_factory=dict)            # id -> raw
    _waiting: dict[bytes, list[int]] = field(default_factory=dict)      # target id -> positions
    _chain: dict[tuple[bytes, int], tuple[bytes, bytes | None]] = field(default_factory=dict)

    def add(self, raw: bytes) -> Verdict:
        """Check one record; its verdict may still turn invalid if a later record is its link target."""
        position = len(self.verdicts) + 1
        rid = hashlib.sha256(raw).digest() if isinstance(raw, (bytes, bytearray)) else b""
        if rid in self._valid:
            verdict = Verdict(position, rid, DUPLICATE, None, decode(self._valid[rid]))
            self.verdicts.append(verdict)
            return verdict
        try:
            record = decode(raw)
            check_record(record, self.now_ms, verify=True)
            target_id = link_target(record)
            if target_id is not None and target_id in self._valid:
                check_link(record, decode(self._valid[target_id]))
        except (DecodeError, InvalidRecord) as exc:
            verdict = Verdict(position, rid, INVALID, str(exc))
            self.verdicts.append(verdict)
            return verdict
        verdict = Verdict(position, rid, VALID, None, record)
        self.verdicts.append(verdict)
        if target_id is not None and target_id not in self._valid:
            self._waiting.setdefault(target_id, []).append(position)
        self._valid[rid] = bytes(raw)
        self._resolve_waiting(rid, record)
        if isinstance(record, CHAINED):
            self._note_chain(rid, record)
        return verdict

    def finish(self) -> list[Verdict]:
        """Every verdict, in bundle order (links to records outside the bundle stay unresolved)."""
        return self.verdicts

    @property
    def unresolved(self) -> int:
        """How many valid records link to a record that is not in the bundle."""
        return sum(len(v) for v in self._waiting.values())

    def _resolve_waiting(self, rid: bytes, target: Record) -> None:
        for position in self._waiting.pop(rid, ()):
            earlier = self.verdicts[position - 1]
            try:
                check_link(earlier.record, target)
            except InvalidRecord as exc:
                self.verdicts[position - 1] = replace(earlier, status=INVALID, reason=str(exc))
                del self._valid[earlier.id]

    def _note_chain(self, rid: bytes, record: Record) -> None:
        """Record fork proofs: two records at one position, or a broken prev link."""
        author, seq = record.author, record.seq
        other = self._chain.get((author, seq))
        if other is not None:
            if other[0] != rid:
                self.forks.append(ChainFork(author, seq, *sorted((rid, other[0]))))
            return
        self._chain[(author, seq)] = (rid, record.prev)
        before = self._chain.get((author, seq - 1))
        if before is not None and record.prev != before[0]:
            self.forks.append(ChainFork(author, seq - 1, *sorted((before[0], rid))))
        after = self._chain.get((author, seq + 1))
        if after is not None and after[1] != rid:
            self.forks.append(ChainFork(author, seq, *sorted((rid, after[0]))))


def verify_records(raws: Iterable[bytes], now_ms: int) -> BundleVerifier:
    """Verify every record of ``raws`` (for instance ``read_bundle(...)``); the finished verifier.

    A DecodeError from ``raws`` itself (a damaged bundle) propagates; feed a
    ``BundleVerifier`` by hand to keep the verdicts made before the damage.
    """
    verifier = BundleVerifier(now_ms)
    for raw in raws:
        verifier.add(raw)
    return verifier


__all__ = ["BundleVerifier", "ChainFork", "Verdict", "verify_records", "VALID", "DUPLICATE", "INVALID"]
