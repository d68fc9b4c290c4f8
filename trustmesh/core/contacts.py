"""My contacts book: the names I give members (petnames), in ``<home>/contacts.json``.

Why a file of its own and not the store: the store is written only by the
running node (its one writer), while contacts are the owner's own words,
added from the CLI with or without a node and from the web view through
the API. A small JSON file, changed under an ``flock`` and replaced
atomically, lets every one of them write without a second store writer.

Why petnames: a profile name is what a member says of themself, and anyone
can publish "Bob". A name in my book is mine: it wins over the profile
name when members are shown, and only my names (never profile names)
resolve to ids when a command takes a member.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from trustmesh.core.home import Home, write_private
from trustmesh.crypto.ids import parse_id, peer_id
from trustmesh.errors import StoreError, UsageError

FILE = "contacts.json"
MAX_NAME = 100
MAX_CONTACTS = 10_000
RESERVED = {"me"}


@dataclass(frozen=True)
class Contact:
    name: str
    member: bytes
    added: int          # ms since the epoch

    def to_dict(self) -> dict:
        from trustmesh.protocol.jsonview import iso
        return {"name": self.name, "id": peer_id(self.member), "added": iso(self.added)}


def check_name(name: str) -> str:
    """A contact name: 1..100 printable characters, not an id and not "me"."""
    if not isinstance(name, str):
        raise UsageError("a contact name is text")
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise UsageError(f"a contact name is 1 to {MAX_NAME} printable characters")
    if name.casefold() in RESERVED:
        raise UsageError(f"{name!r} is reserved (it names you)")
    with contextlib.suppress(UsageError):
        parse_id(name)
        raise UsageError("a contact name cannot be a member id")
    return name


class Contacts:
    """The contacts book of one home (read afresh at each call: other processes write it too)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def of(cls, home: Home) -> "Contacts":
        return cls(home.root / FILE)

    def all(self) -> list[Contact]:
        """Every contact, by name."""
        return sorted(self._read(), key=lambda c: c.name.casefold())

    def find(self, name: str) -> Contact | None:
        """The contact called ``name`` (case does not matter), or None."""
        wanted = name.strip().casefold()
        return next((c for c in self._read() if c.name.casefold() == wanted), None)

    def names(self) -> dict[bytes, str]:
        """Member key -> my name for them."""
        return {c.member: c.name for c in self._read()}

    def add(self, name: str, member: bytes, now_ms: int) -> Contact:
        """Name ``member``; a member has one name (a new one replaces the old).

        UsageError when the name is taken by another member: a name that
        silently moved to someone else would send attestations astray.
        """
        name = check_name(name)
        with self._locked() as items:
            clash = next((c for c in items if c.name.casefold() == name.casefold() and c.member != member), None)
            if clash is not None:
                raise UsageError(f"the name {clash.name!r} is already {peer_id(clash.member)}:"
                                 " remove it first or pick another")
            kept = [c for c in items if c.member != member]
            if len(kept) >= MAX_CONTACTS:
                raise UsageError(f"the contacts book holds {MAX_CONTACTS} contacts at most")
            made = Contact(name, member, now_ms)
            items[:] = kept + [made]
        return made

    def remove(self, name_or_id: str) -> Contact:
        """Forget a contact named by my name for them or by their id; NotFound otherwise."""
        from trustmesh.errors import NotFound
        key = None
        with contextlib.suppress(UsageError):
            key = parse_id(name_or_id)
        with self._locked() as items:
            wanted = name_or_id.strip().casefold()
            found = next((c for c in items if c.member == key or c.name.casefold() == wanted), None)
            if found is None:
                raise NotFound(f"no contact {name_or_id!r}")
            items[:] = [c for c in items if c is not found]
        return found

    # ---- the file --------------------------------------------------------------

    def _read(self) -> list[Contact]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read the contacts book {self.path}: {exc}") from None
        try:
            return [Contact(str(c["name"]), parse_id(c["id"]), int(c.get("added_ms", 0)))
                    for c in data.get("contacts", [])]
        except (KeyError, TypeError, ValueError, AttributeError, UsageError) as exc:
            raise StoreError(f"the contacts book {self.path} is damaged: {exc}") from None

    @contextlib.contextmanager
    def _locked(self):
        """The contacts, to change in place; written back atomically (0600) if the block succeeds."""
        lock = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            items = self._read()
            yield items
            doc = {"version": 1, "contacts": [{"name": c.name, "id": peer_id(c.member), "added_ms": c.added}
                                              for c in items]}
            write_private(self.path, json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8"))
        finally:
            os.close(lock)
