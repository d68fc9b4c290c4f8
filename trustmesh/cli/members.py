"""Naming members on the command line: ids, my contacts' names, "me", unique id fragments.

Why here and not in ``crypto.ids``: only the owner's own words may turn a
name into an id (a profile name is what anyone says of themself), and an
id fragment means something only against the members this home knows.
The store is opened read-only (it works beside a running node).
"""

from __future__ import annotations

import sys

import click

from trustmesh.crypto.ids import parse_id, peer_id
from trustmesh.errors import TrustmeshError, UsageError

MIN_FRAGMENT = 8


def resolve(ctx: click.Context, text: str, option: str) -> bytes:
    """The key of the member ``text`` names (UsageError naming ``option``, NotFound-like errors in words).

    In order: a full id (PeerID, did:key, 64 hex); ``me``; a name in my
    contacts book; a unique prefix or suffix of 8+ characters of the PeerID
    of a member held here or in my contacts (tables show ``…`` + the last 8).
    """
    try:
        return parse_id(text)
    except UsageError:
        pass
    from trustmesh.core.contacts import Contacts
    from trustmesh.core.home import resolve_home
    home = resolve_home(ctx.obj.home)
    if text.strip().casefold() == "me":
        key = my_key(ctx)
        if key is None:
            raise UsageError(f"{option}: 'me' needs the key file (give --passphrase-file)")
        return key
    contacts = Contacts.of(home)
    found = contacts.find(text)
    if found is not None:
        return found.member
    fragment = text.strip().lstrip("…").lstrip(".")
    if len(fragment) < MIN_FRAGMENT or not fragment.isalnum():
        raise UsageError(f"{option}: not an Ed25519 identity id, nor a contact's name: {text[:80]!r}"
                         " (see 'trustmesh contact list')")
    known = set(contacts.names())
    if home.store.exists():
        from trustmesh.cli.common import with_store
        known |= with_store(ctx, lambda store: store.members())
    matches = sorted(k for k in known if _fits(peer_id(k), fragment))
    if not matches:
        raise UsageError(f"{option}: no member known here has an id starting or ending with {fragment!r}")
    if len(matches) > 1:
        raise UsageError(f"{option}: {fragment!r} fits {len(matches)} members"
                         f" ({', '.join(peer_id(k) for k in matches[:3])}…): give more characters")
    return matches[0]


def _fits(pid: str, fragment: str) -> bool:
    return pid.startswith(fragment) or pid.endswith(fragment)


def member_text(ctx: click.Context, text: str, option: str) -> str:
    """The PeerID of the member ``text`` names (for the node's API)."""
    return peer_id(resolve(ctx, text, option))


def my_key(ctx: click.Context) -> bytes | None:
    """My public key if the key file opens without help (None when it is encrypted)."""
    from trustmesh.core.home import resolve_home
    from trustmesh.core.keyfile import load_key
    try:
        return load_key(resolve_home(ctx.obj.home).key, ctx.obj.passphrase()).public_key
    except TrustmeshError:
        return None


def confirm_known(ctx: click.Context, key: bytes, new_member: bool, what: str) -> None:
    """Refuse to sign about a member this home has never seen, unless the user says so.

    Why: a one-character typo in an id is another valid id, of nobody; an
    attestation about them is signed, gossiped and can never be unsaid.
    Known: a record held by or about them, or a name in my contacts book.
    On a terminal the user is asked; otherwise ``--new-member`` is needed.
    """
    if new_member:
        return
    from trustmesh.core.contacts import Contacts
    from trustmesh.core.home import resolve_home
    if key in Contacts.of(resolve_home(ctx.obj.home)).names():
        return
    from trustmesh.cli.common import with_store
    if with_store(ctx, lambda store: store.knows_member(key)):
        return
    pid = peer_id(key)
    if interactive():
        if click.confirm(f"{pid} is a member this node has never seen (a typo?). {what} anyway?",
                         default=False, err=True):
            return
        raise TrustmeshError("not signed")
    raise TrustmeshError(f"{pid} is a member this node has never seen (a typo?):"
                         " check the id, or give --new-member")


def interactive() -> bool:
    """True when a person can answer a question (stdin and stderr are terminals)."""
    return sys.stdin.isatty() and sys.stderr.isatty()
