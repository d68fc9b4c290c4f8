"""``trustmesh contact``: my names for the members I deal with (petnames).

The book is ``<home>/contacts.json`` (``core/contacts.py``), written
directly with or without a running node (the node reads it afresh, and
serves it to the web view at ``/v1/contacts``). Every command that takes a
member accepts a contact's name; listings show it instead of the profile
name the member publishes.
"""

from __future__ import annotations

import click

from trustmesh.cli.common import emit_json, print_columns

_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def register(cli: click.Group) -> None:
    cli.add_command(contact)


def _book(ctx: click.Context):
    from trustmesh.core.contacts import Contacts
    from trustmesh.core.home import resolve_home
    from trustmesh.errors import KeyFileError
    home = resolve_home(ctx.obj.home)
    if not home.key.exists():
        raise KeyFileError(f"no identity at {home.key}: run 'trustmesh init' first")
    return Contacts.of(home)


@click.group()
def contact() -> None:
    """My contacts book: names I give members, usable wherever a member is taken."""


@contact.command("add")
@click.argument("name")
@click.argument("member_id", metavar="[ID]", required=False)
@_JSON
@click.pass_context
def contact_add(ctx: click.Context, name: str, member_id: str | None, as_json: bool) -> None:
    """Name a member: NAME ID (or just ID: the name they publish in their profile).

    A member has one name; giving another replaces it. A name already
    used for someone else is refused.
    """
    from trustmesh.cli.members import resolve
    from trustmesh.core.ledger import now_ms
    from trustmesh.errors import UsageError
    book = _book(ctx)
    if member_id is None:
        key = resolve(ctx, name, "ID")
        from trustmesh.cli.common import with_store
        profile = with_store(ctx, lambda store: store.profile(key))
        if profile is None:
            raise UsageError("that member publishes no profile name here: give NAME ID")
        name = profile.name
    else:
        key = resolve(ctx, member_id, "ID")
    made = book.add(name, key, now_ms())
    if as_json:
        emit_json(made.to_dict())
    else:
        click.echo(f"contact {made.name}: {made.to_dict()['id']}")


@contact.command("list")
@_JSON
@click.pass_context
def contact_list(ctx: click.Context, as_json: bool) -> None:
    """My contacts, by name, with the name each one publishes."""
    from trustmesh.cli.common import with_store
    from trustmesh.crypto.ids import peer_id
    found = _book(ctx).all()
    if as_json:
        emit_json([c.to_dict() for c in found])
        return
    if not found:
        click.echo("no contacts (add one: trustmesh contact add NAME ID)")
        return
    profiles = with_store(ctx, lambda store: {c.member: store.profile(c.member) for c in found})
    print_columns(("NAME", "ID", "PUBLISHES"),
                  [(c.name, peer_id(c.member), profiles[c.member].name if profiles[c.member] else "-")
                   for c in found])


@contact.command("remove")
@click.argument("name_or_id", metavar="NAME|ID")
@_JSON
@click.pass_context
def contact_remove(ctx: click.Context, name_or_id: str, as_json: bool) -> None:
    """Forget a contact (their records stay; only my name for them goes)."""
    gone = _book(ctx).remove(name_or_id)
    if as_json:
        emit_json(gone.to_dict())
    else:
        click.echo(f"removed contact {gone.name} ({gone.to_dict()['id']})")
