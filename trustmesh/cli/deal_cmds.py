"""``trustmesh deal``: real work between two members, signed by both.

Two ways, one record: live between two running nodes (``propose`` without
``-o`` sends it to the counterparty's node, which answers at once or keeps
it pending for its owner: ``pending``, ``accept``, ``decline``; the
proposer sees the answers with ``sent``), or by hand with files
(``propose -o FILE``, ``sign``, then ``import``), for members who are not
online together.
"""

from __future__ import annotations

import click

from trustmesh.cli.common import (
    api_call, check_output, emit_json, parse_date, print_columns, read_small, with_ledger, write_output,
)
from trustmesh.cli.members import resolve
from trustmesh.cli.view import names_for
from trustmesh.errors import TrustmeshError

_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
json_option = _JSON


def register(cli: click.Group) -> None:
    cli.add_command(deal)


@click.group()
def deal() -> None:
    """Deals: real work between two members, signed by both (live between nodes, or as files)."""


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
    from trustmesh.crypto.ids import peer_id
    from trustmesh.protocol.bundle import proposal_bytes
    key = resolve(ctx, subject, "SUBJECT")
    due_ms = parse_date(due, "--due") if due else None
    if output is None:
        found = api_call(ctx, "POST", "/v1/deals", {"counterparty": peer_id(key), "ref": ref, "role": role,
                                                    "due": due_ms})
        if as_json:
            emit_json(found)
        else:
            click.echo(found["status"] + (f": {found['reason']}" if found.get("reason") else ""))
        return
    check_output(output, force)

    def run(ledger):
        proposal = ledger.propose_deal(key, ref, role, due_ms)
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



@deal.command("pending")
@json_option
@click.pass_context
def deal_pending(ctx: click.Context, as_json: bool) -> None:
    """Deal proposals received by the node and waiting for my answer."""
    found = api_call(ctx, "GET", "/v1/deals/pending")
    if as_json:
        emit_json(found)
        return
    if not found:
        click.echo("no pending proposals")
        return
    with names_for(ctx) as names:
        print_columns(("PROPOSAL", "FROM", "CLIENT", "SUPPLIER", "DUE", "ISSUED"),
                      [(d["id"][:16], names.label_of(d["author"]),
                        *(names.label_of(x) for x in _client_supplier(d)),
                        (d.get("due") or "-")[:10], d["issued"]) for d in found])


def _client_supplier(view: dict) -> tuple[str, str]:
    """(client, supplier) PeerIDs of a deal's JSON view (``role`` is the proposer's)."""
    if view["role"] == "client":
        return view["author"], view["counterparty"]
    return view["counterparty"], view["author"]


@deal.command("accept")
@click.argument("proposal_id")
@json_option
@click.pass_context
def deal_accept(ctx: click.Context, proposal_id: str, as_json: bool) -> None:
    """Countersign a pending proposal (the deal is stored and gossiped)."""
    found = api_call(ctx, "POST", f"/v1/deals/{proposal_id}/accept")
    emit_json(found) if as_json else click.echo(f"deal {found['id']} countersigned")


@deal.command("decline")
@click.argument("proposal_id")
@json_option
@click.pass_context
def deal_decline(ctx: click.Context, proposal_id: str, as_json: bool) -> None:
    """Decline a pending proposal."""
    found = api_call(ctx, "POST", f"/v1/deals/{proposal_id}/decline")
    emit_json(found) if as_json else click.echo(f"declined {found['declined']}")


@deal.command("sent")
@json_option
@click.pass_context
def deal_sent(ctx: click.Context, as_json: bool) -> None:
    """Proposals I sent live, with their answers (accepted, declined, pending)."""
    found = api_call(ctx, "GET", "/v1/deals/sent")
    if as_json:
        emit_json(found)
        return
    if not found:
        click.echo("no proposals sent")
        return
    with names_for(ctx) as names:
        print_columns(("PROPOSAL", "TO", "ROLE", "STATUS", "ISSUED"),
                      [(d["id"][:16], names.label_of(d["counterparty"]), d["role"],
                        d["status"] + (f": {d['reason']}" if d.get("reason") else ""), d["issued"])
                       for d in found])
