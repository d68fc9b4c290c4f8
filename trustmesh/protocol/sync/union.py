"""Two id sets answered for as one in a sync: the ids held, and ids withheld for a while.

Why: a record refused over the strangers' quota is still held by the peer
that offered it, and without this the peer offers it again in every sync
(375,076 refusals on one node in a ten-minute soak). The node answers for
such ids as if it held them (``docs/protocol.md`` 17.4 allows listing ids of
records it will not send), so the range fingerprints agree and the peer
neither pushes them nor is asked for them; it sends nothing when one is
NEEDed. The withheld set stays apart from the index of held ids, so the
node can take it away again (room came) and can use the held ids alone
with a peer whose records the quota does not hold back.

Positions are positions in the union: the i-th smallest id of both sets
together. ``_split`` turns one into a position in each set (a selection in
two sorted arrays, O(log^2 n)), and a fingerprint is the sum of both sets'
lane sums. The sets should not overlap (the node drops a withheld id once the
record is held), but for a moment they can: an id in both is counted twice
in positions and fingerprints, which only makes a range look different,
never equal when it is not, and is listed once in an IDLIST (a repeated id
there is a breach the peer punishes: it failed a sync in
tests/test_p2p_withheld.py now and then).
"""

from __future__ import annotations

from trustmesh.protocol.sync.index import SyncIndex, fingerprint_of

_MASK = 0xFFFFFFFFFFFFFFFF


class IndexUnion:
    """``held`` and ``withheld`` seen by a ``SyncSession`` as one index; pushes only what is held."""

    def __init__(self, held: SyncIndex, withheld: SyncIndex) -> None:
        self.held = held
        self.withheld = withheld

    def __len__(self) -> int:
        return len(self.held) + len(self.withheld)

    def __contains__(self, rid: object) -> bool:
        return rid in self.held or rid in self.withheld

    def lacking(self, ids: list[bytes]) -> list[bytes]:
        return self.withheld.lacking(self.held.lacking(ids))

    def position(self, bound: bytes | None) -> int:
        return self.held.position(bound) + self.withheld.position(bound)

    def span(self, lo: bytes, hi: bytes | None) -> tuple[int, int]:
        i = self.position(lo)
        return i, max(i, self.position(hi))

    def _split(self, p: int) -> tuple[int, int]:
        """(a, b) with a + b = p: how many of the p smallest ids of the union each set holds."""
        held, other = self.held, self.withheld
        lo, hi = max(0, p - len(other)), min(p, len(held))
        while lo < hi:      # the first a at which held's next id is not below other's last taken
            a = (lo + hi) // 2
            if held.id_at(a) < other.id_at(p - a - 1):
                lo = a + 1
            else:
                hi = a
        return lo, p - lo

    def id_at(self, p: int) -> bytes:
        a, b = self._split(p)
        if a == len(self.held):
            return self.withheld.id_at(b)
        if b == len(self.withheld):
            return self.held.id_at(a)
        return min(self.held.id_at(a), self.withheld.id_at(b))

    def ids_at(self, i: int, j: int) -> list[bytes]:
        (a, b), (c, d) = self._split(i), self._split(j)
        # an id in both (stored just before the node let its withheld copy go) is listed once: an
        # IDLIST must ascend strictly, and the peer takes a repeated id for a protocol breach
        return sorted(set(self.held.ids_at(a, c)).union(self.withheld.ids_at(b, d)))

    def fingerprint_at(self, i: int, j: int) -> tuple[int, bytes]:
        (a, b), (c, d) = self._split(i), self._split(j)
        sums = tuple((x + y) & _MASK for x, y in zip(self.held.sums_at(a, c), self.withheld.sums_at(b, d)))
        return j - i, fingerprint_of(sums, j - i)  # type: ignore[arg-type]

    def fingerprint(self, lo: bytes = b"", hi: bytes | None = None) -> tuple[int, bytes]:
        return self.fingerprint_at(*self.span(lo, hi))

    def ids(self, lo: bytes = b"", hi: bytes | None = None, limit: int | None = None) -> list[bytes]:
        """The held ids in [lo, hi): what a session pushes (withheld records are not ours to send)."""
        return self.held.ids(lo, hi, limit)
