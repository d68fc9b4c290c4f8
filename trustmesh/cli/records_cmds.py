"""Commands that make and read records: init, id, profile, attest, retract, reply, records, show.

Making a record goes through the one writer interface (``writer.py``):
the running node when there is one, else the ledger, with the same checks
and the same answer either way. Reading the store needs no key, so
``records`` and ``show`` open the store alone (read-only beside a node).
"""

from __future__ import annotations

import click

from trustmesh.cli.common import emit_json, parse_date, with_store
from trustmesh.cli.members import confirm_known, my_key as _my_key, resolve
from trustmesh.errors import TrustmeshError, UsageError

_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def register(cli: click.Group) -> None:
    for command in (init, id_, profile, attest, retract, reply, records, show):
        cli.add_command(command)


@click.command()
@click.option("--passphrase-file", "passphrase_file", type=click.Path(dir_okay=False),
              help="Encrypt the new key with the passphrase in this file.")
@click.option("--recovery", "recovery", type=click.Path(dir_okay=False),
              help="Also start the key chain (as 'key init'): the recovery file to write (it must not exist).")
@click.pass_context
def init(ctx: click.Context, passphrase_file: str | None, recovery: str | None) -> None:
    """Create this node's identity (once; an existing key is never replaced)."""
    from pathlib import Path

    from trustmesh.cli.key_cmds import check_recovery_path
    from trustmesh.core.keyfile import read_passphrase_file
    from trustmesh.core.ledger import Ledger
    path = passphrase_file or ctx.obj.passphrase_file
    passphrase = read_passphrase_file(path) if path else None
    if recovery is not None:
        check_recovery_path(Path(recovery))     # before the identity: a refusal leaves nothing made
    with Ledger.create(ctx.obj.home, passphrase) as ledger:
        click.echo(f"created identity {ledger.identity.id}")
        click.echo(f"home: {ledger.home.root}")
        if recovery is None:
            click.echo("key chain not started: run 'trustmesh key init --recovery FILE' (docs/keys.md)")
            return
        from trustmesh.cli.key_cmds import told_recovery
        from trustmesh.core import keys
        keys.incept(ledger, Path(recovery))
        click.echo("key chain started")
    told_recovery(Path(recovery))


@click.command("id")
@_JSON
@click.pass_context
def id_(ctx: click.Context, as_json: bool) -> None:
    """Print this node's identity id (a libp2p PeerID), its did:key, and its member when that differs."""
    from trustmesh.core.keyfile import load_key
    from trustmesh.core.home import resolve_home
    home = resolve_home(ctx.obj.home)
    identity = load_key(home.key, ctx.obj.passphrase())
    info = {"id": identity.id, "did": identity.did, "public_key": identity.public_key.hex(),
            "home": str(home.root)}
    member = with_store(ctx, lambda store: store.key_members().get(identity.public_key))
    if member is not None:      # a device or a successor: the member it acts for is not this key
        from trustmesh.crypto.ids import peer_id
        info["member"] = peer_id(member)
    if as_json:
        emit_json(info)
    else:
        for key, value in info.items():
            click.echo(f"{key:11} {value}")


# ---- making records -------------------------------------------------------

@click.group()
def profile() -> None:
    """Describe yourself (the newest profile wins)."""


@profile.command("set")
@click.option("--name", required=True, help="Display name.")
@click.option("--org", help="Organisation.")
@click.option("--url", help="An http(s) URL.")
@_JSON
@click.pass_context
def profile_set(ctx: click.Context, name: str, org: str | None, url: str | None, as_json: bool) -> None:
    """Publish a new self-description (name, organisation, URL)."""
    write(ctx, lambda w: w.set_profile(name, org, url), as_json)


@profile.command("show")
@click.argument("member_id", required=False)
@_JSON
@click.pass_context
def profile_show(ctx: click.Context, member_id: str | None, as_json: bool) -> None:
    """Show a member's newest profile (mine when no id is given)."""
    from trustmesh.core.ledger import now_ms
    from trustmesh.protocol.jsonview import record_view

    def run(store):
        key = resolve(ctx, member_id, "MEMBER") if member_id else _my_key(ctx)
        items = store.records(author=key, kind="profile")
        if not items:
            raise TrustmeshError("no profile known for that member")
        newest = max(items, key=lambda i: i.record.seq)
        if as_json:
            emit_json(record_view(newest.record, newest.id))
        else:
            from trustmesh.cli.view import Names, print_record
            print_record(newest, _names(ctx, store), now_ms(), [])
    with_store(ctx, run)


@click.command()
@click.argument("subject")
@click.argument("facet")
@click.option("--positive", is_flag=True, help="The verdict is good (give this or --negative).")
@click.option("--negative", is_flag=True, help="The verdict is bad (give this or --positive).")
@click.option("--ref", help="The external reference (invoice, order number); only its hash is published.")
@click.option("--deal", "deal_id", metavar="DEAL_ID", help="A deal both of you signed, as evidence.")
@click.option("--occurred", metavar="DATE", help="When it happened (default: now).")
@click.option("--expires", metavar="DATE", help="When this statement stops counting.")
@click.option("--note", help="A short note (at most 280 characters).")
@click.option("--new-member", is_flag=True,
              help="SUBJECT is new to this node (no record by or about them, not a contact): sign anyway.")
@_JSON
@click.pass_context
def attest(ctx: click.Context, subject: str, facet: str, positive: bool, negative: bool, ref: str | None,
           deal_id: str | None, occurred: str | None, expires: str | None, note: str | None,
           new_member: bool, as_json: bool) -> None:
    """Sign a statement about one facet of a member you worked with.

    FACET is one of payment, delivery, quality, relation, solvency, or
    skill:<name>. SUBJECT is an id, a contact's name, or a unique fragment
    (8+ characters) of the id of a member known here.
    """
    from trustmesh.crypto.ids import peer_id
    from trustmesh.protocol.facets import check_facet
    if positive == negative:
        raise UsageError("give --positive or --negative" if not positive else
                         "--positive and --negative exclude each other: give one")
    key = resolve(ctx, subject, "SUBJECT")
    check_facet(facet)
    occurred_ms = parse_date(occurred, "--occurred") if occurred else None
    expires_ms = parse_date(expires, "--expires") if expires else None
    subject = peer_id(key)

    def check(_writer):       # once the key opened (a passphrase error comes first)
        if key != _my_key(ctx):     # about oneself: the core's refusal says it best
            confirm_known(ctx, key, new_member, "Sign an attestation about them")
    write(ctx, lambda w: check(w) or w.attest(subject, facet, positive, ref=ref, note=note, deal=deal_id,
                                  occurred=occurred_ms, expires=expires_ms), as_json)


@click.command()
@click.argument("record_id")
@click.option("--reason", help="Why (published with the retraction).")
@_JSON
@click.pass_context
def retract(ctx: click.Context, record_id: str, reason: str | None, as_json: bool) -> None:
    """Withdraw one of your records (for a deal: either party may)."""
    write(ctx, lambda w: w.retract(record_id, reason), as_json)


@click.command()
@click.argument("record_id")
@click.option("--contest", "stance", flag_value="contest", help="You dispute it.")
@click.option("--acknowledge", "stance", flag_value="acknowledge", help="You accept it.")
@click.option("--note", help="Your answer (at most 280 characters).")
@_JSON
@click.pass_context
def reply(ctx: click.Context, record_id: str, stance: str | None, note: str | None, as_json: bool) -> None:
    """Answer an attestation about you: the right of reply."""
    if stance is None:
        raise UsageError("give --contest or --acknowledge")
    write(ctx, lambda w: w.reply(record_id, stance, note), as_json)


# ---- reading --------------------------------------------------------------

@click.command()
@click.option("--author", help="Only records signed by this member.")
@click.option("--subject", help="Only records about this member (a deal's counterparty too).")
@click.option("--facet", help="Only attestations of this facet.")
@click.option("--type", "kind", type=click.Choice(["attestation", "deal", "retraction", "reply", "profile"]),
              help="Only records of this type.")
@click.option("--all", "include_all", is_flag=True, help="Include retracted and expired records.")
@_JSON
@click.pass_context
def records(ctx: click.Context, author: str | None, subject: str | None, facet: str | None,
            kind: str | None, include_all: bool, as_json: bool) -> None:
    """List the records held here, oldest first (in force only, unless --all)."""
    from trustmesh.cli.view import Names, print_table
    from trustmesh.protocol.jsonview import stored_view
    from trustmesh.core.ledger import now_ms
    from trustmesh.protocol.facets import check_facet
    author_key = resolve(ctx, author, "--author") if author else None
    subject_key = resolve(ctx, subject, "--subject") if subject else None
    if facet:
        check_facet(facet)
    now = now_ms()

    def run(store):
        items = store.records(author=author_key, subject=subject_key, facet=facet, kind=kind,
                              now_ms=now, include_retracted=include_all, include_expired=include_all)
        if as_json:
            emit_json([stored_view(item, now) for item in items])
        elif items:
            print_table(items, _names(ctx, store), now)
        else:
            click.echo("no records" + ("" if include_all else " in force (--all shows retracted and expired ones)"),
                       err=True)
    with_store(ctx, run)


@click.command()
@click.argument("record_id")
@_JSON
@click.pass_context
def show(ctx: click.Context, record_id: str, as_json: bool) -> None:
    """Show one record: every field, its status, and the replies to it."""
    from trustmesh.cli.view import Names, print_record
    from trustmesh.protocol.jsonview import stored_view
    from trustmesh.core.ledger import now_ms
    from trustmesh.protocol.jsonview import record_view
    from trustmesh.protocol.records import Attestation
    now = now_ms()

    def run(store):
        item = store.get(store.resolve(record_id))
        replies = []
        if isinstance(item.record, Attestation):
            replies = [r for r in store.records(author=item.record.subject, kind="reply")
                       if r.record.target == item.id]
        if as_json:
            emit_json(stored_view(item, now, raw=item.raw.hex(),
                                  replies=[record_view(r.record, r.id) for r in replies]))
        else:
            print_record(item, _names(ctx, store), now, replies)
    with_store(ctx, run)


# ---- helpers --------------------------------------------------------------

def _names(ctx: click.Context, store):
    """Names for a listing: my contacts' names first, then profile names; "me" for me."""
    from trustmesh.cli.view import Names
    from trustmesh.core.contacts import Contacts
    from trustmesh.core.home import resolve_home
    return Names(store, _my_key(ctx), Contacts.of(resolve_home(ctx.obj.home)).names())


def write(ctx: click.Context, make, as_json: bool) -> None:
    """Make a record with the one writer (node or ledger) and report it: JSON, or one line."""
    from trustmesh.cli.writer import with_writer
    made, via = with_writer(ctx.obj, make)
    if as_json:
        emit_json(made)
        return
    what = f"{made.get('facet', '')} {'+' if made.get('positive') else '-'}" \
        if made["type"] == "attestation" else made.get("name") or made.get("stance") or ""
    about = made.get("subject") or made.get("target") or ""
    through = "  (through the running node)" if via == "node" else ""
    click.echo("  ".join(x for x in (f"{made['type']} {made['id']}", about, what) if x) + through)
