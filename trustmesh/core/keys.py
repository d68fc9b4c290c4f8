"""This home's part in its member's key chain: inception, rotation, devices.

The successor's secret is written once to a recovery file (0600) and never
kept here: the chain keeps only its commitment, so a thief of this node
holds the current key but cannot rotate the member away (issue 15).

A rotation makes this node's identity the successor: the new key file is
written beside the old one and renamed over it (a crash leaves the old or
the new key, never neither). The old key is not kept: once the rotation is
out, nothing it signs counts, and a copy would only be something to steal.
Writes go through the ledger's store, so they are refused while a node runs
for the home (restart the node after a rotation: its libp2p identity is
the key file).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from pathlib import Path

from trustmesh.core.home import fsync_dir, write_private
from trustmesh.core.keyfile import MAX_KEY_FILE, create_key, load_key
from trustmesh.crypto.ids import parse_id, peer_id
from trustmesh.crypto.keys import Identity
from trustmesh.crypto.sign import verify
from trustmesh.errors import BadLink, InvalidRecord, KeyFileError, UsageError
from trustmesh.protocol import keyevents
from trustmesh.protocol.jsonview import iso, stored_view
from trustmesh.protocol.keystate import KeyState
from trustmesh.protocol.records import KeyEvent, encode, next_commitment, record_id

REQUEST_DOMAIN = b"trustmesh/v1/pair-request\0"
PAIRING_FILE = "pairing.json"


def member_of(ledger) -> bytes:
    """The member this node's key acts (or acted) for: itself unless it is a device or successor."""
    return ledger.store.key_members().get(ledger.me, ledger.me)


def state(ledger) -> KeyState:
    return ledger.store.key_state(member_of(ledger))


def incept(ledger, recovery: Path) -> KeyEvent:
    """The first key event of this member, committing to a successor written to ``recovery``."""
    _may_incept(ledger)
    return _incept(ledger, _new_recovery(recovery))


def begin(ledger) -> dict:
    """``incept`` for a caller that writes the recovery file: its bytes are in the answer."""
    _may_incept(ledger)
    successor = Identity.generate()
    stored = _incept(ledger, successor.public_key)
    return {"event": _view(ledger, stored), "recovery": successor.to_pem().decode()}


def _may_incept(ledger) -> None:
    if member_of(ledger) != ledger.me:
        raise UsageError("this node is a device of another member: it has no inception of its own")
    if state(ledger).tip is not None:
        raise UsageError("this member already has an inception (see: trustmesh key show)")


def _incept(ledger, successor: bytes) -> KeyEvent:
    event = keyevents.incept(ledger.identity, successor, ledger.clock())
    _store(ledger, event)
    return event


def rotate(ledger, recovery: Path, new_recovery: Path, *, since: int | None = None,
           after: bytes | None = None, passphrase: bytes | None = None) -> KeyEvent:
    """The successor in ``recovery`` takes over; the next one goes to ``new_recovery``."""
    successor = read_recovery(recovery)
    return _with_file(ledger, _rotatable(ledger, successor, str(recovery)), successor, new_recovery,
                      since, after, passphrase)


def take_over(ledger, recovery: bytes, *, recover: bool = False, since: int | None = None,
              after: bytes | None = None, passphrase: bytes | None = None) -> dict:
    """``rotate`` (or ``recover`` when asked) from a recovery file's bytes; the next recovery
    file's bytes are in the answer, for the caller to write (they are kept nowhere else)."""
    successor = _recovery_key(recovery, "the recovery file")
    current = (ledger.store.key_state(_member_committing(ledger, successor.public_key)) if recover
               else _rotatable(ledger, successor, "the recovery file"))
    following = Identity.generate()
    event = _take_over(ledger, current, successor, following.public_key, since, after, passphrase)
    return {"event": _view(ledger, event), "member": peer_id(event.member), "key": peer_id(event.key),
            "recovery": following.to_pem().decode()}


def _rotatable(ledger, successor: Identity, name: str) -> KeyState:
    """This member's key state, if ``successor`` is the key it committed to; else a typed error."""
    current = state(ledger)
    if current.next is None:
        raise UsageError("this member has no inception: run 'trustmesh key init' first")
    if next_commitment(successor.public_key) != current.next:
        raise KeyFileError(f"{name} is not this member's recovery file (or it was used already)")
    return current


def replace_key(path: Path, identity: Identity, passphrase: bytes | None) -> None:
    """Write ``identity`` next to ``path`` (0600, exclusive) and rename it over ``path``."""
    fresh = path.with_name(path.name + ".new")
    fresh.unlink(missing_ok=True)
    create_key(fresh, identity, passphrase)
    os.replace(fresh, path)
    fsync_dir(path.parent)


def read_recovery(path: Path) -> Identity:
    try:
        return load_key(Path(path))
    except KeyFileError as exc:
        raise type(exc)(f"cannot use the recovery file {path}: {exc}") from None


def _recovery_key(data: bytes, name: str) -> Identity:
    if len(data) > MAX_KEY_FILE:
        raise UsageError(f"{name} is too large to be a key file")
    try:
        return Identity.from_pem(data)
    except KeyFileError as exc:
        raise type(exc)(f"cannot use {name}: {exc}") from None


def recover(ledger, recovery: Path, new_recovery: Path, events: list[bytes], *,
            since: int | None, after: bytes | None, passphrase: bytes | None) -> KeyEvent:
    """On a new home: take the member's key events, then rotate to the recovery file's key."""
    if events:
        ledger.ingest(events)
    successor = read_recovery(recovery)
    member = _member_committing(ledger, successor.public_key)
    return _with_file(ledger, ledger.store.key_state(member), successor, new_recovery, since, after, passphrase)


def _with_file(ledger, current: KeyState, successor: Identity, new_recovery: Path, since: int | None,
               after: bytes | None, passphrase: bytes | None) -> KeyEvent:
    """``_take_over``, the next successor written to ``new_recovery`` first (removed if it fails)."""
    following = _new_recovery(new_recovery)
    try:
        return _take_over(ledger, current, successor, following, since, after, passphrase)
    except BaseException:
        new_recovery.unlink(missing_ok=True)
        raise


def _take_over(ledger, current: KeyState, successor: Identity, following: bytes, since: int | None,
               after: bytes | None, passphrase: bytes | None) -> KeyEvent:
    """Rotate to ``successor`` (committing to ``following``), then make it this node's key file.

    The passphrase must open the key file as it is: the new key is written
    with it, and a wrong one would lock the home for good at the next start.
    """
    if load_key(ledger.home.key, passphrase).public_key != ledger.me:
        raise KeyFileError(f"{ledger.home.key} no longer holds this node's key")
    event = keyevents.rotate(current, successor, following, ledger.clock(), since=since, after=after)
    _store(ledger, event)
    replace_key(ledger.home.key, successor, passphrase)
    ledger.identity = successor
    return event


def _member_committing(ledger, successor: bytes) -> bytes:
    commitment = next_commitment(successor)
    for member in ledger.store.keyed_members():
        if ledger.store.key_state(member).next == commitment:
            return member
    raise KeyFileError("no member held here commits to this recovery file's key: "
                       "import the member's key events first (--events FILE)")


# ---- devices -----------------------------------------------------------

def device_request(ledger, member: bytes, deliver: Callable[[dict], object] | None = None) -> dict:
    """What a new node sends to be added to ``member``: its key, signed; remembered here.

    ``deliver`` (say, writing the request file) runs once the pairing is
    remembered; if it fails, the pairing state is put back as it was (none,
    or an earlier request's), so a request that never left leaves nothing
    that ``device_accept`` would act on. The pairing file is replaced
    atomically: a crash leaves the old one or the new one.
    """
    device = ledger.me
    sig = ledger.identity.sign(REQUEST_DOMAIN + member + device)
    request = {"member": member.hex(), "device": device.hex(), "sig": sig.hex()}
    pairing = ledger.home.root / PAIRING_FILE
    try:
        before = pairing.read_bytes()
    except FileNotFoundError:
        before = None
    write_private(pairing, json.dumps({"member": member.hex()}).encode())
    if deliver is not None:
        try:
            deliver(request)
        except BaseException:
            if before is None:
                pairing.unlink(missing_ok=True)
            else:
                write_private(pairing, before)
            raise
    return request


def device_add(ledger, request: dict) -> dict:
    """The add event for a requesting device, signed here, with the chain it follows (an offer)."""
    member, device, sig = (_hex(request, name) for name in ("member", "device", "sig"))
    if member != member_of(ledger):
        raise BadLink("this request asks to join another member")
    if not verify(device, sig, REQUEST_DOMAIN + member + device):
        raise BadLink("the request's signature does not verify: not made by that device")
    return offer_for(ledger, device)


def offer_for(ledger, device: bytes) -> dict:
    """The add of ``device`` signed here, with the member's chain: what the device countersigns."""
    member = member_of(ledger)
    event = keyevents.add_device(state(ledger), ledger.identity, device, ledger.clock())
    chain = [encode(e) for _, e in ledger.store.key_events(member)]
    # the add is not a whole record until the device countersigns: its fields travel as they are
    add = {"seq": event.seq, "prev": event.prev.hex(), "issued": event.issued, "author": event.author.hex(),
           "member": event.member.hex(), "key": event.key.hex(), "sig": event.sig.hex()}
    return {"add": add, "events": [_b64(raw) for raw in chain]}


def device_accept(ledger, offer: dict) -> KeyEvent:
    """Check the offer is for the member asked for, countersign the add and store it."""
    pairing = ledger.home.root / PAIRING_FILE
    try:
        asked = bytes.fromhex(json.loads(pairing.read_text())["member"])
    except (OSError, ValueError, KeyError, TypeError):
        raise UsageError("no device request was made here: run 'trustmesh device request' first") from None
    signed = countersign(ledger, offer, asked)
    pairing.unlink()
    return signed


def countersign(ledger, offer: dict, asked: bytes) -> KeyEvent:
    """Countersign and store the add in ``offer`` if it is for member ``asked`` (its chain stored first)."""
    try:
        add = offer["add"]
        event = KeyEvent(author=_hex(add, "author"), member=_hex(add, "member"), seq=int(add["seq"]),
                         prev=_hex(add, "prev"), issued=int(add["issued"]), kind="add", key=_hex(add, "key"),
                         next=None, since=None, sig=_hex(add, "sig"))
        events = [base64.b64decode(raw, validate=True) for raw in offer["events"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"not a device offer: {exc}") from None
    if event.member != asked:
        raise BadLink("this offer is for another member than the one asked for")
    signed = keyevents.consent(event, ledger.identity)
    ledger.ingest(events)
    _store(ledger, signed)
    return signed


def accept(ledger, offer: dict) -> dict:
    """``device_accept``'s answer: the member this node now acts for, and the add stored."""
    return _accepted(ledger, device_accept(ledger, offer))


def accept_for(ledger, offer: dict, member: bytes) -> dict:
    """``accept`` for an offer whose member was proven otherwise (a pairing code): no pairing file."""
    return _accepted(ledger, countersign(ledger, offer, member))


def _accepted(ledger, event: KeyEvent) -> dict:
    return {"member": peer_id(event.member), "event": _view(ledger, event)}


def revoke(ledger, key: bytes, since: int) -> KeyEvent:
    event = keyevents.revoke(state(ledger), ledger.identity, key, since, ledger.clock())
    _store(ledger, event)
    return event


def revoke_named(ledger, text: str, since: int | None = None) -> dict:
    """Revoke the member's key named by ``text`` (``find_key``) from ``since`` (default: now)."""
    event = revoke(ledger, find_key(state(ledger), text), ledger.clock() if since is None else since)
    return {"revoked": peer_id(event.key), "event": _view(ledger, event)}


def show(ledger) -> dict:
    """This home's member, its own key and the member's keys (``key show``, ``device list``)."""
    view = state_view(state(ledger), ledger.me)
    devices = view.pop("keys")
    return {"member": view.pop("member"), "this_key": peer_id(ledger.me), **view, "devices": devices}


async def on_node(node, action: Callable, *args, **kwargs):
    """``action(node.ledger, ...)`` on a running node: on its store worker, in turn with every
    other write, then announced like any record made there (gossiped at once: one intake)."""
    result = await node.worker.run(action, node.ledger, *args, **kwargs)
    node.intake.announce()
    return result


def state_view(current: KeyState, me: bytes | None = None) -> dict:
    """A member's key state as JSON-ready data: for ``key show``, ``device list`` and the API."""
    return {
        "member": peer_id(current.member),
        "controller": peer_id(current.controller) if current.controller else None,
        "incepted": current.tip is not None, "disputed": current.disputed,
        "forks": [{"seq": seq, "events": [i.hex() for i in ids]} for seq, ids in current.forks],
        "keys": [{"key": peer_id(w.key), "role": w.role, "until": iso(w.until), "this_node": w.key == me}
                 for w in current.windows.values()],
    }


def find_key(current: KeyState, text: str) -> bytes:
    """A key of the member's chain named by its id (PeerID, did:key, hex), or 8+ characters
    of its PeerID (its start or its end, as tables show it) or of its hex."""
    text = text.strip().lstrip("…")
    if len(text) < 8:
        raise UsageError("name a key by its id or 8 characters of it at least")
    try:
        whole = parse_id(text)
    except UsageError:
        whole = None
    found = [k for k in current.windows
             if k == whole or peer_id(k).startswith(text) or peer_id(k).endswith(text)
             or k.hex().startswith(text.lower())]
    if len(found) != 1:
        raise UsageError(f"{'no' if not found else 'more than one'} key of this member starts with {text}")
    return found[0]


def _store(ledger, event: KeyEvent) -> None:
    ledger.store_signed(encode(event))


def _view(ledger, event: KeyEvent) -> dict:
    return stored_view(ledger.store.get(record_id(encode(event))), ledger.clock())


def _new_recovery(path: Path) -> bytes:
    successor = Identity.generate()
    create_key(Path(path), successor)
    return successor.public_key


def _hex(request: dict, name: str) -> bytes:
    try:
        return bytes.fromhex(request[name])
    except (KeyError, TypeError, ValueError):
        raise UsageError(f"not a device request: '{name}' is missing or not hex") from None


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


__all__ = ["incept", "begin", "rotate", "take_over", "recover", "device_request", "device_add", "device_accept",
           "accept", "revoke", "revoke_named", "show", "on_node", "record_id", "InvalidRecord"]
