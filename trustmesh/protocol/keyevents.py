"""Making a member's key events: inception, rotation, device add and revoke.

Each maker places the event after the tip of the member's key state as the
maker reads it (``keystate.resolve``) and signs it; time is passed in. The
node side keeps the keys: the successor's secret belongs in the recovery
file kept offline, never on the node that holds the current key, or a thief
of the node would hold both.
"""

from __future__ import annotations

import dataclasses

from trustmesh.crypto.keys import Identity
from trustmesh.crypto.sign import verify
from trustmesh.errors import InvalidRecord
from trustmesh.protocol.keystate import KeyState
from trustmesh.protocol.records import KeyEvent, next_commitment, sign, signing_input


def incept(first: Identity, successor: bytes, now_ms: int) -> KeyEvent:
    """The member's first key event: it commits to ``successor`` (a public key) as the next."""
    key = first.public_key
    event = KeyEvent(author=key, member=key, seq=0, prev=None, issued=now_ms, kind="incept",
                     key=key, next=next_commitment(successor), since=None)
    return sign(event, first)


def rotate(state: KeyState, successor: Identity, following: bytes, now_ms: int, *,
           since: int | None = None, after: bytes | None = None) -> KeyEvent:
    """``successor`` takes over from the current controlling key, committing to ``following``.

    ``after``: the id of the event to rotate from, when the chain holds
    events after it that are not the member's (a thief's): the rotation
    supersedes them. By default the tip.
    """
    if state.next is None:
        raise InvalidRecord("this member has no inception: there is no successor to rotate to")
    if next_commitment(successor.public_key) != state.next:
        raise InvalidRecord("this key is not the successor the member committed to")
    prev, seq = _position(state, after)
    event = KeyEvent(author=successor.public_key, member=state.member, seq=seq, prev=prev,
                     issued=max(now_ms, state.tip_issued), kind="rotate", key=successor.public_key,
                     next=next_commitment(following), since=since)
    return sign(event, successor)


def add_device(state: KeyState, controller: Identity, device: bytes, now_ms: int) -> KeyEvent:
    """An add signed by the controller; the device countersigns it (``consent``) before it counts."""
    _check_signer(state, controller)
    prev, seq = _position(state, None)
    event = KeyEvent(author=controller.public_key, member=state.member, seq=seq, prev=prev,
                     issued=max(now_ms, state.tip_issued), kind="add", key=device, next=None, since=None)
    return sign(event, controller)


def consent(event: KeyEvent, device: Identity) -> KeyEvent:
    """The device's own signature on its add: it agrees to act for ``event.member``."""
    if event.kind != "add" or event.key != device.public_key:
        raise InvalidRecord("this event does not add this device")
    if not verify(event.author, event.sig, signing_input(event)):
        raise InvalidRecord("the member's signature on this device add does not verify")
    return dataclasses.replace(event, key_sig=device.sign(signing_input(event)))


def revoke(state: KeyState, controller: Identity, device: bytes, since: int, now_ms: int) -> KeyEvent:
    """The key's records issued from ``since`` on are no longer the member's.

    ``device`` may be any key acting for the member, the controlling key
    too (a lost laptop that held it): then only a rotation puts a new one in.
    ``controller`` is the signer: any key acting for the member now.
    """
    _check_signer(state, controller)
    if not state.active(device):
        raise InvalidRecord("this key does not act for the member now")
    prev, seq = _position(state, None)
    issued = max(now_ms, state.tip_issued)
    event = KeyEvent(author=controller.public_key, member=state.member, seq=seq, prev=prev,
                     issued=issued, kind="revoke", key=device, next=None, since=min(since, issued))
    return sign(event, controller)


def _check_signer(state: KeyState, signer: Identity) -> None:
    """InvalidRecord unless ``signer`` acts for the member now (controlling key or a device)."""
    if state.tip is None:
        raise InvalidRecord("this member has no inception yet")
    if not state.active(signer.public_key):
        raise InvalidRecord("only a key that acts for the member now (its controlling key or a device) signs this")


def _position(state: KeyState, after: bytes | None) -> tuple[bytes, int]:
    if state.tip is None:
        raise InvalidRecord("this member has no inception yet")
    if after is None or after == state.tip:
        return state.tip, state.tip_seq + 1
    if after not in state.followed:
        raise InvalidRecord("the event to rotate from is not in the member's key chain")
    seq = state.followed.index(after)
    if seq < state.established:
        raise InvalidRecord("a rotation cannot go back past the member's last rotation")
    return after, seq + 1
