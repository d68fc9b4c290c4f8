"""Records refused over the strangers' quota, answered for in sync for a while.

Why: the peer that offered such a record still holds it, and sync would
bring it again in every session (every 30 s with every peer: 375,076
refusals on one node in a ten-minute soak), each costing a decode and the
bytes. For ``hold_s`` after a refusal the node answers for the id in sync
as if it held it (``protocol/sync/union.py``), so no peer offers it again.

Room comes three ways, and the record comes with it:

- its author gains weight (someone I trust vouched for it): ``forget_authors``
  drops the author's ids at the next weights refresh, so the next sync brings
  them;
- the hourly room refills: after ``hold_s`` the id is let go and the next
  sync offers it again (stored if there is room by then, else withheld
  again). With ``hold_s`` at most an hour, a refused record waits no longer
  than the token bucket takes to refill completely, so no room is lost;
- a peer whose records the hourly rate does not hold back (chosen by the
  owner, or with weight) syncs with the held ids alone: the node only
  withholds toward peers it would refuse (see ``Node.index_for``).

Bounded: at most ``limit`` ids, the oldest let go first (offered again,
refused again: the cost before this existed, never a loss). Times are
monotonic seconds, passed in.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable

from trustmesh.protocol.sync.index import SyncIndex


class Withheld:
    """Ids of records refused over quota, with their author, each until a deadline."""

    def __init__(self, hold_s: float, limit: int) -> None:
        self.hold_s = hold_s
        self.limit = limit
        self._until: OrderedDict[bytes, tuple[bytes, float]] = OrderedDict()   # id -> (author, until)
        self._index: SyncIndex | None = None

    def __len__(self) -> int:
        return len(self._until)

    def add(self, refused: Iterable[tuple[bytes, bytes]], now: float) -> None:
        """Withhold these (id, author) pairs until ``now + hold_s`` (a refusal again restarts it)."""
        if self.hold_s <= 0 or self.limit <= 0:
            return
        until = now + self.hold_s
        for rid, author in refused:
            if rid in self._until:
                self._until.move_to_end(rid)
            self._until[rid] = (author, until)
        while len(self._until) > self.limit:
            self._until.popitem(last=False)
        self._index = None

    def forget(self, ids: Iterable[bytes]) -> None:
        """Withhold these no more (the records are held now)."""
        for rid in ids:
            if self._until.pop(rid, None) is not None:
                self._index = None

    def forget_authors(self, has_room: Callable[[bytes], bool]) -> int:
        """Let go of the ids of every author for whom ``has_room`` is true; how many."""
        gone = [rid for rid, (author, _) in self._until.items() if has_room(author)]
        self.forget(gone)
        return len(gone)

    def index(self, now: float) -> SyncIndex:
        """The ids withheld at ``now`` (expired ones let go), shaped for sync."""
        while self._until:
            rid, (_, until) = next(iter(self._until.items()))
            if until > now:
                break
            del self._until[rid]
            self._index = None
        if self._index is None:
            self._index = SyncIndex(self._until)
        return self._index
