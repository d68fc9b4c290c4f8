"""Commands that work on the local home directory, without any network."""

from __future__ import annotations

from pathlib import Path

import click

from trustmesh.cli.common import (
    emit_json, open_output, parse_date, read_bundle_file, show_records, with_ledger,
)

INGEST_BATCH = 2000


def register(cli: click.Group) -> None:
    for command in (init, id_, profile, attest, retract, reply, deal, records, show,
                    export, import_, verify):
        cli.add_command(command)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.command()
@click.option("--passphrase-file", "passphrase_file", type=click.Path(dir_okay=False),
              help="Encrypt the new key with the passphrase in this file.")
@click.pass_context
def init(ctx: click.Context, passphrase_file: str | None) -> None:
    """Create this node's identity (once; an existing key is never replaced)."""
    from trustmesh.node.keyfile import read_passphrase_file
    from trustmesh.node.ledger import Ledger
    path = passphrase_file or ctx.obj.passphrase_file
    passphrase = read_passphrase_file(path) if path else None
    with Ledger.create(ctx.obj.home, passphrase) as ledger:
        click.echo(f"created identity {ledger.identity.id}")
        click.echo(f"home: {ledger.home.root}")


@click.command("id")
@json_option
@click.pass_context
def id_(ctx: click.Context, as_json: bool) -> None:
    """Print this node's identity id (a libp2p PeerID) and its did:key."""
    from trustmesh.node.keyfile import load_key
    from trustmesh.node.paths import resolve_home
    home = resolve_home(ctx.obj.home)
    identity = load_key(home.key, ctx.obj.passphrase())
    info = {"id": identity.id, "did": identity.did, "public_key": identity.public_key.hex(),
            "home": str(home.root)}
    if as_json:
        emit_json(info)
    else:
        for key, value in info.items():
            click.echo(f"{key:11} {value}")


@click.group()
def profile() -> None:
    """My self-description (display name, organisation, URL)."""


@profile.command("set")
@click.option("--name", required=True, help="Display name.")
@click.option("--org", help="Organisation.")
@click.option("--url", help="Web page (http or https).")
@json_option
@click.pass_context
def profile_set(ctx: click.Context, name: str, org: str | None, url: str | None, as_json: bool) -> None:
    """Publish a new profile; it replaces the previous one."""
    stored = with_ledger(ctx, lambda ledger: ledger.set_profile(name, org, url))
    show_records([stored], as_json, single=True)


@click.command()
@click.argument("subject")
@click.argument("facet")
@click.option("--positive/--negative", default=None, help="The verdict (one is required).")
@click.option("--ref", help="External reference (invoice, order); only its hash is published.")
@click.option("--deal", "deal_id", help="Id of the deal this is about.")
@click.option("--occurred", help="When it happened (YYYY-MM-DD), default now.")
@click.option("--expires", help="When it stops counting (YYYY-MM-DD).")
@click.option("--note", help="A short note (at most 280 characters, one line).")
@json_option
@click.pass_context
def attest(ctx: click.Context, subject: str, facet: str, positive: bool | None, ref: str | None,
           deal_id: str | None, occurred: str | None, expires: str | None, note: str | None,
           as_json: bool) -> None:
    """Sign an attestation about SUBJECT on FACET (payment, delivery, quality, relation,
    solvency, skill:NAME)."""
    if positive is None:
        raise click.UsageError("give --positive or --negative")
    occurred_ms = parse_date(occurred, "--occurred") if occurred else None
    expires_ms = parse_date(expires, "--expires") if expires else None

    def act(ledger):
        deal = ledger.store.resolve(deal_id) if deal_id else None
        return ledger.attest(subject, facet, positive, ref=ref, deal=deal,
                             occurred=occurred_ms, expires=expires_ms, note=note)
    show_records([with_ledger(ctx, act)], as_json, single=True)


@click.command()
@click.argument("record_id")
@click.option("--reason", help="Why (optional, one line).")
@json_option
@click.pass_context
def retract(ctx: click.Context, record_id: str, reason: str | None, as_json: bool) -> None:
    """Withdraw one of my records."""
    stored = with_ledger(ctx, lambda ledger: ledger.retract(ledger.store.resolve(record_id), reason))
    show_records([stored], as_json, single=True)


@click.command()
@click.argument("record_id")
@click.option("--contest", "stance", flag_value="contest", help="I dispute this attestation.")
@click.option("--acknowledge", "stance", flag_value="acknowledge", help="I accept it.")
@click.option("--note", help="My answer (at most 280 characters, one line).")
@json_option
@click.pass_context
def reply(ctx: click.Context, record_id: str, stance: str | None, note: str | None, as_json: bool) -> None:
    """Answer an attestation about me (the right of reply)."""
    if stance is None:
        raise click.UsageError("give --contest or --acknowledge")
    stored = with_ledger(ctx, lambda ledger: ledger.reply(ledger.store.resolve(record_id), stance, note))
    show_records([stored], as_json, single=True)


@click.group()
def deal() -> None:
    """Deals: real work between two members, signed by both."""


@deal.command("propose")
@click.argument("subject")
@click.option("--ref", required=True, help="External reference (invoice, order number).")
@click.option("--role", type=click.Choice(["client", "supplier"]), required=True, help="My role in the deal.")
@click.option("--due", help="Due date (YYYY-MM-DD).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Proposal file to write.")
@click.option("--force", is_flag=True, help="Overwrite the output file.")
@click.pass_context
def deal_propose(ctx: click.Context, subject: str, ref: str, role: str, due: str | None,
                 output: str, force: bool) -> None:
    """Sign a deal proposal for SUBJECT to countersign (give them the file)."""
    from trustmesh.protocol.bundle import proposal_bytes
    due_ms = parse_date(due, "--due") if due else None
    proposal = with_ledger(ctx, lambda ledger: ledger.propose_deal(subject, ref, role, due_ms))
    with open_output(output, force) as out:
        out.write(proposal_bytes(proposal))
    click.echo(f"proposal written to {output}: have the counterparty run 'trustmesh deal sign {Path(output).name} -o FILE'")


@deal.command("sign")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Bundle with the countersigned deal, for the proposer to import.")
@click.option("--force", is_flag=True, help="Overwrite the output file.")
@json_option
@click.pass_context
def deal_sign(ctx: click.Context, file: str, output: str, force: bool, as_json: bool) -> None:
    """Countersign a deal proposal addressed to me and store the deal."""
    from trustmesh.protocol.bundle import bundle_chunks, read_proposal
    proposal = read_proposal(Path(file).read_bytes())
    stored = with_ledger(ctx, lambda ledger: ledger.countersign(proposal))
    with open_output(output, force) as out:
        for chunk in bundle_chunks([stored.raw]):
            out.write(chunk)
    if as_json:
        show_records([stored], True, single=True)
    else:
        show_records([stored], False, single=True)
        click.echo(f"deal stored; send {output} to the proposer to 'trustmesh import'")


@click.command()
@click.option("--author", help="Only records by this member.")
@click.option("--subject", help="Only records about this member (or deals with them).")
@click.option("--facet", help="Only attestations on this facet.")
@click.option("--type", "kind", type=click.Choice(["attestation", "deal", "retraction", "reply", "profile"]),
              help="Only records of this type.")
@click.option("--all", "everything", is_flag=True, help="Include retracted and expired records.")
@json_option
@click.pass_context
def records(ctx: click.Context, author: str | None, subject: str | None, facet: str | None,
            kind: str | None, everything: bool, as_json: bool) -> None:
    """List the records I hold, oldest first."""
    from trustmesh.crypto.ids import parse_id
    from trustmesh.protocol.facets import check_facet
    author_key = parse_id(author) if author else None
    subject_key = parse_id(subject) if subject else None
    if facet:
        check_facet(facet)

    def act(ledger):
        return ledger.store.records(author=author_key, subject=subject_key, facet=facet, kind=kind,
                                    now_ms=ledger.clock(), include_retracted=everything,
                                    include_expired=everything)
    show_records(with_ledger(ctx, act), as_json)


@click.command()
@click.argument("record_id")
@json_option
@click.pass_context
def show(ctx: click.Context, record_id: str, as_json: bool) -> None:
    """Show one record in full."""
    stored = with_ledger(ctx, lambda ledger: ledger.store.get(ledger.store.resolve(record_id)))
    show_records([stored], as_json, single=True, full=True)


@click.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Bundle file (default: stdout).")
@click.option("--force", is_flag=True, help="Overwrite the output file.")
@click.pass_context
def export(ctx: click.Context, output: str | None, force: bool) -> None:
    """Write every record I hold as a bundle."""
    from trustmesh.protocol.bundle import bundle_chunks

    def act(ledger):
        count = 0
        with open_output(output, force) as out:
            for chunk in bundle_chunks(ledger.export()):
                out.write(chunk)
                count += 1
        return count - 1
    count = with_ledger(ctx, act)
    if output:
        click.echo(f"exported {count} records to {output}")


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@json_option
@click.pass_context
def import_(ctx: click.Context, file: str, as_json: bool) -> None:
    """Verify a bundle and store its records; report each one. Exit 1 if any was rejected."""
    from trustmesh.errors import DecodeError

    def act(ledger):
        outcome, damage, batch = [], None, []
        try:
            for raw in read_bundle_file(file):
                batch.append(raw)
                if len(batch) >= INGEST_BATCH:
                    outcome.extend(ledger.ingest(batch)); batch = []
        except DecodeError as exc:
            damage = str(exc)
        if batch:
            outcome.extend(ledger.ingest(batch))
        return outcome, damage
    results, damage = with_ledger(ctx, act)
    _report(results, damage, as_json, verb="import")


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@json_option
@click.pass_context
def verify(ctx: click.Context, file: str, as_json: bool) -> None:
    """Verify a bundle without storing anything. Exit 1 if any record is bad."""
    from trustmesh.errors import DecodeError
    from trustmesh.node.ledger import now_ms
    from trustmesh.node.store import ACCEPTED, REJECTED, IngestResult
    from trustmesh.protocol.verify import verify_records
    raws, damage = [], None
    try:
        for raw in read_bundle_file(file):
            raws.append(raw)
    except DecodeError as exc:
        damage = str(exc)
    results = [IngestResult(v.id, ACCEPTED if v.ok else REJECTED, v.reason, v.record)
               for v in verify_records(raws, now_ms())]
    _report(results, damage, as_json, verb="verify")


def _report(results, damage: str | None, as_json: bool, verb: str) -> None:
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    for r in results:
        counts[r.status] += 1
    label = {"import": ("accepted", "duplicate", "rejected"), "verify": ("valid", "duplicate", "invalid")}[verb]
    if as_json:
        emit_json({
            **{label[i]: counts[k] for i, k in enumerate(counts) if not (verb == "verify" and k == "duplicate")},
            "damaged": damage,
            "records": [{"id": r.id.hex() if r.id else None, "status": label[list(counts).index(r.status)],
                         **({"reason": r.reason} if r.reason else {})} for r in results],
        })
    else:
        for r in results:
            if r.status == "rejected":
                click.echo(f"{label[2]:9} {(r.id.hex()[:16] if r.id else '?'):16}  {r.reason}")
        parts = [f"{counts['accepted']} {label[0]}"]
        if verb == "import":
            parts.append(f"{counts['duplicate']} duplicate")
        parts.append(f"{counts['rejected']} {label[2]}")
        click.echo(", ".join(parts))
        if damage:
            click.echo(f"trustmesh: the bundle is damaged after record {len(results)}: {damage}", err=True)
    if counts["rejected"] or damage:
        click.get_current_context().exit(1)
