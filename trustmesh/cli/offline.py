"""Commands that work on the local home directory, without any network.

Making a record needs the key (and its passphrase when encrypted); reading
the store does not, so ``records`` and ``show`` open the store alone.
Bundle commands (export, import, verify) live in ``bundles.py``.
"""

from __future__ import annotations

from pathlib import Path

import click

from trustmesh.cli.common import (
    check_output, emit_json, member, open_store, parse_date, read_small, with_ledger, with_store,
    write_output,
)
from trustmesh.errors import TrustmeshError, UsageError

_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def register(cli: click.Group) -> None:
    from trustmesh.cli import bundles
    for command in (init, id_, profile, attest, retract, reply, deal, records, show,
                    bundles.export, bundles.import_, bundles.verify):
        cli.add_command(command)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.command()
@click.option("--passphrase-file", "passphrase_file", type=click.Path(dir_okay=False),
              help="Encrypt the new key with the passphrase in this file.")
@click.pass_context
def init(ctx: click.Context, passphrase_file: str | None) -> None:
    """Create this node's identity (once; an existing key is never replaced)."""
    from trustmesh.core.keyfile import read_passphrase_file
    from trustmesh.core.ledger import Ledger
    path = passphrase_file or ctx.obj.passphrase_file
    passphrase = read_passphrase_file(path) if path else None
    with Ledger.create(ctx.obj.home, passphrase) as ledger:
        click.echo(f"created identity {ledger.identity.id}")
        click.echo(f"home: {ledger.home.root}")


@click.command("id")
@_JSON
@click.pass_context
def id_(ctx: click.Context, as_json: bool) -> None:
    """Print this node's identity id (a libp2p PeerID) and its did:key."""
    from trustmesh.core.keyfile import load_key
    from trustmesh.core.home import resolve_home
    home = resolve_home(ctx.obj.home)
    identity = load_key(home.key, ctx.obj.passphrase())
    info = {"id": identity.id, "did": identity.did, "public_key": identity.public_key.hex(),
            "home": str(home.root)}
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
    if _through_node(ctx, "PUT", "/v1/profile", {"name": name, "org": org, "url": url}, as_json):
        return
    with_ledger(ctx, lambda ledger: _report_new(
        ledger, ledger.set_profile(name, org, url), as_json))


@profile.command("show")
@click.argument("member_id", required=False)
@_JSON
@click.pass_context
def profile_show(ctx: click.Context, member_id: str | None, as_json: bool) -> None:
    """Show a member's newest profile (mine when no id is given)."""
    from trustmesh.core.ledger import now_ms
    from trustmesh.protocol.jsonview import record_view

    def run(store):
        key = member(member_id, "MEMBER") if member_id else _my_key(ctx)
        items = store.records(author=key, kind="profile")
        if not items:
            raise TrustmeshError("no profile known for that member")
        newest = max(items, key=lambda i: i.record.seq)
        if as_json:
            emit_json(record_view(newest.record, newest.id))
        else:
            from trustmesh.cli.view import Names, print_record
            print_record(newest, Names(store), now_ms(), [])
    with_store(ctx, run)


@click.command()
@click.argument("subject")
@click.argument("facet")
@click.option("--positive/--negative", "positive", default=None,
              help="The verdict: required, one or the other.")
@click.option("--ref", help="The external reference (invoice, order number); only its hash is published.")
@click.option("--deal", "deal_id", metavar="DEAL_ID", help="A deal both of you signed, as evidence.")
@click.option("--occurred", metavar="DATE", help="When it happened (default: now).")
@click.option("--expires", metavar="DATE", help="When this statement stops counting.")
@click.option("--note", help="A short note (at most 280 characters).")
@_JSON
@click.pass_context
def attest(ctx: click.Context, subject: str, facet: str, positive: bool | None, ref: str | None,
           deal_id: str | None, occurred: str | None, expires: str | None, note: str | None,
           as_json: bool) -> None:
    """Sign a statement about one facet of a member you worked with.

    FACET is one of payment, delivery, quality, relation, solvency, or
    skill:<name>.
    """
    from trustmesh.protocol.facets import check_facet
    if positive is None:
        raise UsageError("give --positive or --negative")
    key = member(subject, "SUBJECT")
    check_facet(facet)
    occurred_ms = parse_date(occurred, "--occurred") if occurred else None
    expires_ms = parse_date(expires, "--expires") if expires else None
    if _through_node(ctx, "POST", "/v1/attestations", {
            "subject": subject, "facet": facet, "positive": positive, "ref": ref, "note": note,
            "deal": deal_id, "occurred": occurred_ms, "expires": expires_ms}, as_json):
        return

    def run(ledger):
        deal_key = ledger.store.resolve(deal_id) if deal_id else None
        made = ledger.attest(key, facet, positive, ref=ref, deal=deal_key, occurred=occurred_ms,
                             expires=expires_ms, note=note)
        _report_new(ledger, made, as_json)
    with_ledger(ctx, run)


@click.command()
@click.argument("record_id")
@click.option("--reason", help="Why (published with the retraction).")
@_JSON
@click.pass_context
def retract(ctx: click.Context, record_id: str, reason: str | None, as_json: bool) -> None:
    """Withdraw one of your records (for a deal: either party may)."""
    if _through_node(ctx, "POST", "/v1/retractions", {"target": record_id, "reason": reason}, as_json):
        return

    def run(ledger):
        target = ledger.store.get(ledger.store.resolve(record_id))
        if target.retracted:
            raise TrustmeshError(f"record {target.id.hex()[:12]} is already retracted")
        _report_new(ledger, ledger.retract(target.id, reason), as_json)
    with_ledger(ctx, run)


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
    if _through_node(ctx, "POST", "/v1/replies", {"target": record_id, "stance": stance, "note": note},
                     as_json):
        return

    def run(ledger):
        target = ledger.store.resolve(record_id)
        _report_new(ledger, ledger.reply(target, stance, note), as_json)
    with_ledger(ctx, run)


# ---- deals ----------------------------------------------------------------

@click.group()
def deal() -> None:
    """Deals: real work between two members, signed by both (passed as files)."""


@deal.command("propose")
@click.argument("subject")
@click.option("--ref", required=True, help="The external reference (order, contract); only its hash travels.")
@click.option("--role", required=True, type=click.Choice(["client", "supplier"]), help="Your role in the deal.")
@click.option("--due", metavar="DATE", help="When the work is due.")
@click.option("-o", "--output", metavar="FILE",
              help="Write the proposal to FILE (offline). Without it, the running node sends it "
                   "to SUBJECT's node, which answers at once.")
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@_JSON
@click.pass_context
def deal_propose(ctx: click.Context, subject: str, ref: str, role: str, due: str | None,
                 output: str | None, force: bool, as_json: bool) -> None:
    """Sign a deal proposal for SUBJECT to countersign: live through the node, or as a file."""
    from trustmesh.protocol.bundle import proposal_bytes
    from trustmesh.protocol.validate import check_record
    key = member(subject, "SUBJECT")
    if output is None:
        from trustmesh.cli.remote import propose_live
        propose_live(ctx, subject, ref, role, as_json)
        return
    due_ms = parse_date(due, "--due") if due else None
    check_output(output, force)

    def run(ledger):
        if key == ledger.me:
            raise UsageError("a deal needs two different members")
        proposal = ledger.propose_deal(key, ref, role, due_ms)
        check_record(proposal, ledger.clock(), verify=False)    # refuse here what the other side would
        write_output(output, [proposal_bytes(proposal)], force)
        if as_json:
            from trustmesh.protocol.jsonview import record_view
            emit_json(record_view(proposal, file=output))
        else:
            known = ledger.store.profile(key)
            click.echo(f"wrote the proposal to {output}: you are the {role},"
                       f" {known.name if known else subject} countersigns")
            click.echo(f"they run: trustmesh deal sign {output} -o DEAL_FILE, and send DEAL_FILE back for 'trustmesh import'")
    with_ledger(ctx, run)


@deal.command("sign")
@click.argument("proposal_file", metavar="FILE")
@click.option("-o", "--output", required=True, metavar="FILE", help="Bundle to write, holding the complete deal.")
@click.option("--ref", help="Refuse unless the deal's reference is this text.")
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@_JSON
@click.pass_context
def deal_sign(ctx: click.Context, proposal_file: str, output: str, ref: str | None, force: bool,
              as_json: bool) -> None:
    """Countersign a proposal addressed to you; store the deal and write it as a bundle.

    Send the bundle back to the proposer, who runs 'trustmesh import' on it.
    Signing the same proposal again gives the very same deal.
    """
    from trustmesh.crypto.ids import peer_id
    from trustmesh.protocol.bundle import bundle_chunks, read_proposal
    from trustmesh.protocol.records import reference_hash
    proposal = read_proposal(read_small(proposal_file))
    check_output(output, force)

    def run(ledger):
        if proposal.counter_sig is not None:
            raise TrustmeshError(f"{proposal_file} is already countersigned")
        if proposal.counterparty != ledger.me:
            raise TrustmeshError(f"{proposal_file} is addressed to {peer_id(proposal.counterparty)},"
                                 f" not to me ({ledger.identity.id})")
        if ref is not None and reference_hash(ref, proposal.author, ledger.me) != proposal.ref:
            raise TrustmeshError(f"the deal's reference is not {ref!r}: not signed")
        made = ledger.countersign(proposal)
        write_output(output, bundle_chunks([made.raw]), force)
        if as_json:
            from trustmesh.protocol.jsonview import record_view
            emit_json(record_view(made.record, made.id, file=output))
        else:
            mine = "supplier" if proposal.role == "client" else "client"
            click.echo(f"countersigned deal {made.id.hex()} (you are the {mine}); wrote {output}")
            click.echo(f"send it to {peer_id(proposal.author)}, who runs: trustmesh import {output}")
    with_ledger(ctx, run)


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
    from trustmesh.cli.view import Names, print_table, stored_view
    from trustmesh.core.ledger import now_ms
    from trustmesh.protocol.facets import check_facet
    author_key = member(author, "--author") if author else None
    subject_key = member(subject, "--subject") if subject else None
    if facet:
        check_facet(facet)
    now = now_ms()

    def run(store):
        items = store.records(author=author_key, subject=subject_key, facet=facet, kind=kind,
                              now_ms=now, include_retracted=include_all, include_expired=include_all)
        if as_json:
            emit_json([stored_view(item, now) for item in items])
        elif items:
            print_table(items, Names(store, _my_key(ctx)), now)
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
    from trustmesh.cli.view import Names, print_record, stored_view
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
            print_record(item, Names(store, _my_key(ctx)), now, replies)
    with_store(ctx, run)


# ---- helpers --------------------------------------------------------------

def _my_key(ctx: click.Context) -> bytes | None:
    """My public key if the key file opens without help (None when it is encrypted)."""
    from trustmesh.core.keyfile import load_key
    from trustmesh.core.home import resolve_home
    try:
        return load_key(resolve_home(ctx.obj.home).key, ctx.obj.passphrase()).public_key
    except TrustmeshError:
        return None


def _through_node(ctx: click.Context, method: str, path: str, body: dict, as_json: bool) -> bool:
    """When a node runs for this home, make the record through it (one writer); True if done."""
    from trustmesh.cli.common import running_node
    client = running_node(ctx)
    if client is None:
        return False
    with client:
        made = client.call(method, path, {k: v for k, v in body.items() if v is not None})
    if as_json:
        emit_json(made)
    else:
        what = f"{made.get('facet', '')} {'+' if made.get('positive') else '-'}" \
            if made["type"] == "attestation" else made.get("name") or made.get("stance") or ""
        click.echo(f"{made['type']} {made['id']}  {made.get('subject') or made.get('target') or ''}  "
                   f"{what}  (through the running node)".replace("    ", "  "))
    return True


def _report_new(ledger, made, as_json: bool) -> None:
    """Tell what was just signed and stored: its JSON view, or one line."""
    from trustmesh.cli.view import Names, summary
    if as_json:
        from trustmesh.cli.view import stored_view
        emit_json(stored_view(made, ledger.clock()))
        return
    about, what = summary(made.record, Names(ledger.store, ledger.me))
    click.echo(f"{made.record.NAME} {made.id.hex()}  {about}  {what}".rstrip())
