"""Which keys act for a member, read from the member's key events.

A member is its first key for ever; its key chain (``KeyEvent`` records,
``seq`` 0, 1, 2 … linked by ``prev``) says which keys sign for it. The
rules here are what every viewer applies to the same set of events, in any
order of arrival, so two nodes holding the same events read the same
state: there is no "first seen" (nodes see events in different orders).

The walk starts at the inception and follows, at each step, the one valid
child of the current tip. When there are several:

* a **rotation** among interactions wins: it is signed by the successor
  whose hash the last establishment event committed to, which a thief who
  holds only the current key cannot produce (pre-rotation, as in KERI), so
  a member who lost its current key recovers by rotating from the last
  event it knows is its own, and what the thief added after it is void;
* otherwise (two interactions, or two rotations) the chain is **forked**:
  the viewer follows neither branch, the state stays the one before the
  fork and the member reads as *disputed*. The forking events are kept as
  evidence. Two different rotations revealing the same successor anywhere
  in the chain are a fork too: the successor key itself was used twice.

Interactions (device add, revoke) are signed by any key acting for the
member now: the controlling key or an active device. So a member who loses
the laptop revokes it from the phone, even when the laptop held the first
key; a thief who holds a device can do as much, and the two revocations at
one position are a fork, which the owner ends with the one thing a thief
lacks: the rotation to the committed successor, from the recovery file.

A key acts for the member on records it issued before the time its
authority ended: a rotated-out key until the rotation's ``since`` (default:
the rotation's ``issued``), a revoked device until the revocation's
``since``. Issued times are what the signer claims; a thief who holds a key
can backdate, which is why a revocation names a ``since`` (the time the
device was lost) rather than its own time. docs/protocol.md §9.2.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from trustmesh.protocol.records import KeyEvent, next_commitment

MAX_DEVICES = 32        # devices acting for one member at once: more is refused (bounds every lookup)
MAX_KEY_SEQ = 1_000     # a key chain's last position: a member rotating daily needs three years
MAX_KEY_EVENTS = 2_000  # key events a node holds about one member, forks included (each new one re-reads them all)


@dataclass(frozen=True, slots=True)
class KeyWindow:
    """A key acts for the member on records issued before ``until`` (None: still acting)."""

    key: bytes
    role: str                   # "first", "successor" or "device"
    added: bytes | None         # id of the event that brought the key in (None: the first key, implicit)
    until: int | None = None
    ended_by: bytes | None = None


@dataclass(slots=True)
class KeyState:
    """A member's key state as one viewer reads it."""

    member: bytes
    controller: bytes | None                    # the key the last establishment put in (None: revoked)
    next: bytes | None = None                   # the commitment a rotation must reveal
    tip: bytes | None = None                    # id of the last followed event (None: no inception)
    tip_seq: int = -1
    tip_issued: int = 0
    established: int = 0                        # seq of the last inception or rotation
    windows: dict[bytes, KeyWindow] = field(default_factory=dict)
    followed: list[bytes] = field(default_factory=list)     # event ids, in chain order
    forks: list[tuple[int, tuple[bytes, ...]]] = field(default_factory=list)

    @property
    def disputed(self) -> bool:
        return bool(self.forks)

    def acts_for(self, key: bytes, issued: int) -> bool:
        """True when a record by ``key`` issued at ``issued`` is the member's."""
        window = self.windows.get(key)
        return window is not None and (window.until is None or issued < window.until)

    def active(self, key: bytes) -> bool:
        """True when ``key`` acts for the member now: it may sign records and interactions."""
        window = self.windows.get(key)
        return window is not None and window.until is None

    def devices(self) -> list[KeyWindow]:
        return [w for w in self.windows.values() if w.role == "device"]

    def active_devices(self) -> list[KeyWindow]:
        return [w for w in self.devices() if w.until is None]

    def void_from(self, key: bytes) -> int | None:
        """From when records by ``key`` are void for this member (None: never, or not its key)."""
        window = self.windows.get(key)
        return None if window is None else window.until


def plain(member: bytes) -> KeyState:
    """The state of a member with no key events: its first key alone, for ever."""
    return KeyState(member=member, controller=member,
                    windows={member: KeyWindow(member, "first", None)})


def resolve(member: bytes, events: Iterable[tuple[bytes, KeyEvent]]) -> KeyState:
    """The key state of ``member`` from ``(id, event)`` pairs already checked on their own.

    Events about other members, and events whose ``prev`` is not among the
    given ones, are ignored (an orphan waits for its parent).
    """
    children: dict[bytes | None, dict[bytes, KeyEvent]] = defaultdict(dict)
    by_successor: dict[bytes, set[bytes]] = defaultdict(set)
    for eid, event in events:
        if event.member != member:
            continue
        children[event.prev][eid] = event
        if event.kind == "rotate":
            by_successor[event.key].add(eid)
    state = plain(member)
    inceptions = children.get(None, {})
    if len(inceptions) > 1:
        state.forks.append((0, tuple(sorted(inceptions))))
        return state
    if not inceptions:
        return state
    (eid, event), = inceptions.items()
    _apply(state, eid, event)
    while True:
        valid = {cid: c for cid, c in children.get(state.tip, {}).items() if _allowed(state, c)}
        if not valid:
            return state
        rotations = {cid: c for cid, c in valid.items() if c.kind == "rotate"}
        if len(valid) == 1 or len(rotations) == 1:
            cid, child = next(iter((rotations or valid).items()))
            if child.kind == "rotate" and len(by_successor[child.key]) > 1:
                state.forks.append((child.seq, tuple(sorted(by_successor[child.key]))))
                return state
            _apply(state, cid, child)
            continue
        state.forks.append((state.tip_seq + 1, tuple(sorted(rotations or valid))))
        return state


def _allowed(state: KeyState, e: KeyEvent) -> bool:
    """Whether ``e`` may follow the current tip (its own rules were checked before)."""
    if e.seq != state.tip_seq + 1 or e.issued < state.tip_issued:
        return False
    if e.kind == "rotate":
        return (state.next is not None and next_commitment(e.key) == state.next
                and e.key not in state.windows)
    if not state.active(e.author):
        return False
    if e.kind == "add":
        return e.key not in state.windows and len(state.active_devices()) < MAX_DEVICES
    if e.kind == "revoke":
        return state.active(e.key)
    return False


def _apply(state: KeyState, eid: bytes, e: KeyEvent) -> None:
    if e.kind == "incept":
        state.windows[e.member] = KeyWindow(e.member, "first", eid)
        state.next = e.next
        state.established = e.seq
    elif e.kind == "rotate":
        old = state.windows.get(state.controller) if state.controller is not None else None
        if old is not None and old.until is None:
            state.windows[old.key] = KeyWindow(
                old.key, old.role, old.added, e.issued if e.since is None else e.since, eid)
        state.windows[e.key] = KeyWindow(e.key, "successor", eid)
        state.controller, state.next, state.established = e.key, e.next, e.seq
    elif e.kind == "add":
        state.windows[e.key] = KeyWindow(e.key, "device", eid)
    elif e.kind == "revoke":
        old = state.windows[e.key]
        state.windows[e.key] = KeyWindow(old.key, old.role, old.added, e.since, eid)
        if e.key == state.controller:
            state.controller = None     # until a rotation: the devices go on, the successor may rotate
    state.tip, state.tip_seq, state.tip_issued = eid, e.seq, e.issued
    state.followed.append(eid)


def members_of(states: Iterable[KeyState]) -> dict[bytes, bytes]:
    """Key -> member for every key that acts (or acted) for a member other than itself.

    A key claimed by two members belongs to neither and stays itself (a
    device that consented twice, or a member with its own key chain added
    as another's device): two reputations are never merged on one side's word.
    """
    claims: dict[bytes, set[bytes]] = defaultdict(set)
    for state in states:
        for key in state.windows:
            claims[key].add(state.member)
    out = {}
    for key, owners in claims.items():
        if len(owners) == 1:
            (owner,) = owners
            if owner != key:
                out[key] = owner
    return out
