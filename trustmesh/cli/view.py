"""How records look to a person (tables, one record) and to a script (JSON).

Why its own module: the commands stay short, and every command shows a
record the same way (short ids, profile names when known, ISO dates, the
same status marks).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import click

from trustmesh.crypto.ids import peer_id, short_id
from trustmesh.store import Store, StoredRecord
from trustmesh.protocol.jsonview import iso, record_view
from trustmesh.protocol.records import Attestation, Deal, Profile, Record, Reply, Retraction

SHORT_ID = 12       # hex digits of a record id in tables: unique enough to paste back
MAX_CELL = 40


class Names:
    """How members are shown: my name for them (contacts) first, else their profile name,
    with the PeerID's tail, and "me" for me; each looked up once."""

    def __init__(self, store: Store | None, me: bytes | None = None,
                 contacts: dict[bytes, str] | None = None) -> None:
        self._store = store
        self._me = me
        self._contacts = contacts or {}
        self._cache: dict[bytes, str | None] = {}

    def name(self, key: bytes) -> str | None:
        """My contact name for the member, else their newest profile name, else None."""
        if key in self._contacts:
            return self._contacts[key]
        if key not in self._cache:
            profile = self._store.profile(key) if self._store is not None else None
            self._cache[key] = profile.name if profile else None
        return self._cache[key]

    def is_me(self, key: bytes) -> bool:
        return self._me is not None and key == self._me

    def label(self, key: bytes) -> str:
        """A short label for tables: the name and the PeerID's tail, or "me"."""
        name = self.name(key)
        tag = "me" if self.is_me(key) else short_id(key)
        return f"{_cut(name, 24)} ({tag})" if name else tag

    @staticmethod
    def key_of(pid: str) -> bytes | None:
        from trustmesh.crypto.ids import parse_id
        from trustmesh.errors import UsageError
        try:
            return parse_id(pid)
        except UsageError:
            return None

    def label_of(self, pid: str) -> str:
        """``label`` for a member given as its PeerID text (the API's answers)."""
        from trustmesh.crypto.ids import parse_id
        from trustmesh.errors import UsageError
        try:
            return self.label(parse_id(pid))
        except UsageError:
            return pid

    def full(self, key: bytes) -> str:
        """The PeerID, preceded by the name when known."""
        name = self.name(key)
        return f"{name}  {peer_id(key)}" if name else peer_id(key)


@contextlib.contextmanager
def names_for(ctx):
    """The Names of the home in ``ctx`` while the block runs: its store, contacts, my key.

    Usable beside a running node (the store is only read); a home without a
    store yet shows bare ids.
    """
    from trustmesh.cli.members import my_key
    from trustmesh.core.contacts import Contacts
    from trustmesh.core.home import resolve_home
    home = resolve_home(ctx.obj.home)
    store = None
    if home.store.exists() and home.key.exists():
        store = Store.open(home.store, verify_threads=1)
    try:
        yield Names(store, my_key(ctx), Contacts.of(home).names())
    finally:
        if store is not None:
            store.close()


def marks(item: StoredRecord, now_ms: int) -> list[str]:
    """The status words shown next to a record: retracted, contested, expired."""
    out = []
    if item.retracted:
        out.append("retracted")
    if item.contested:
        out.append("contested")
    if is_expired(item.record, now_ms):
        out.append("expired")
    return out


def is_expired(record: Record, now_ms: int) -> bool:
    expires = getattr(record, "expires", None)
    return expires is not None and expires <= now_ms


def summary(record: Record, names: Names) -> tuple[str, str]:
    """(about, what) columns for one record in a table."""
    if isinstance(record, Attestation):
        what = f"{record.facet} {'+' if record.positive else '-'}"
        if record.deal:
            what += f" deal:{record.deal.hex()[:8]}"
        if record.note:
            what += f" \"{_cut(record.note, 30)}\""
        return names.label(record.subject), what
    if isinstance(record, Deal):
        due = f" due {iso(record.due)[:10]}" if record.due is not None else ""
        return names.label(record.counterparty), f"proposer is {record.role}{due}"
    if isinstance(record, Retraction):
        return f"record {record.target.hex()[:SHORT_ID]}", _cut(record.reason or "", MAX_CELL)
    if isinstance(record, Reply):
        note = f" \"{_cut(record.note, 30)}\"" if record.note else ""
        return f"record {record.target.hex()[:SHORT_ID]}", record.stance + note
    if isinstance(record, Profile):
        parts = [record.name, record.org, record.url]
        return "-", _cut(" / ".join(p for p in parts if p), MAX_CELL + 20)
    return "-", ""


def print_table(items: Sequence[StoredRecord], names: Names, now_ms: int) -> None:
    """Aligned columns, one record a line, oldest first."""
    from trustmesh.cli.common import print_columns
    rows = []
    for item in items:
        about, what = summary(item.record, names)
        rows.append((item.id.hex()[:SHORT_ID], item.record.NAME, iso(item.record.issued)[:10],
                     names.label(item.record.author), about, what, ",".join(marks(item, now_ms))))
    print_columns(("ID", "TYPE", "ISSUED", "AUTHOR", "ABOUT", "WHAT", "STATUS"), rows)


def print_record(item: StoredRecord, names: Names, now_ms: int, replies: Sequence[StoredRecord]) -> None:
    """Every field of one record, a line each, then its status and the replies to it."""
    view = record_view(item.record, item.id)
    lines: list[tuple[str, str]] = []
    for key, value in view.items():
        if value is None:
            continue
        if key in ("author", "subject", "counterparty"):
            value = names.full(getattr(item.record, key))
        elif key == "positive":
            key, value = "verdict", "positive" if value else "negative"
        lines.append((key, str(value)))
    if isinstance(item.record, Deal):
        lines.append(("client", names.full(item.record.client)))
        lines.append(("supplier", names.full(item.record.supplier)))
    lines.append(("received", iso(item.received)))
    lines.append(("status", ", ".join(marks(item, now_ms)) or "in force"))
    for key, value in lines:
        click.echo(f"{key:12} {value}")
    for reply in replies:
        rec = reply.record
        note = f": {rec.note}" if rec.note else ""
        click.echo(f"{'reply':12} {iso(rec.issued)} {rec.stance} by {names.label(rec.author)}{note}"
                   f" ({reply.id.hex()[:SHORT_ID]})")


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"
