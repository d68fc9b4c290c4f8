"""Commands answered by the running node, through its control API.

They need the network (peers, connect, ask, live deals) or the node's
state (status, pending proposals); with no node running they say so in one
line and exit 1.
"""

from __future__ import annotations

import click

from trustmesh.cli.common import api_call, emit_json, format_ms, print_columns
from trustmesh.cli.members import member_text
from trustmesh.cli.view import names_for

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def register(cli: click.Group) -> None:
    for command in (status, peers, connect, disconnect, ask, completion):
        cli.add_command(command)


@click.command()
@json_option
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """The running node: id, addresses, peers, records, last sync, version."""
    found = api_call(ctx, "GET", "/v1/status")
    if as_json:
        emit_json(found)
        return
    with names_for(ctx) as names:
        me = names.name(names.key_of(found["id"]))
        click.echo(f"id       {found['id']}" + (f"  ({me})" if me else ""))
        for addr in found["addrs"]:
            click.echo(f"listen   {addr}")
        click.echo(f"reach    {describe_reach(found.get('reach') or {})}")
        click.echo(f"peers    {len(found['peers'])}"
                   + "".join(f"\n         {names.label_of(p)}  {p}" for p in found["peers"]))
    click.echo("records  " + ", ".join(f"{n} {k}" for k, n in found["records"].items() if n)
               + f" ({found['total_records']} in all)")
    click.echo(f"synced   {_when(found['last_sync'])}")
    click.echo(f"version  {found['version']}")


def describe_reach(reach: dict) -> str:
    """One line: "reachable at …", "behind NAT, reachable through relay …", or not known yet."""
    kind = reach.get("reachability", "unknown")
    if kind == "public":
        return f"reachable at {reach.get('reached_at') or 'its listen addresses'}"
    if kind == "private":
        relayed = reach.get("relayed_addrs") or []
        return ("behind NAT, reachable through relay " + " ".join(relayed)) if relayed else \
            "behind NAT, no relay reservation yet"
    return "not known yet (no peer has checked it)"


@click.command()
@json_option
@click.pass_context
def peers(ctx: click.Context, as_json: bool) -> None:
    """Peers the node is connected to."""
    found = api_call(ctx, "GET", "/v1/peers")
    if as_json:
        emit_json(found)
        return
    if not found:
        click.echo("no peers connected")
        return
    with names_for(ctx) as names:
        print_columns(("PEER", "ID", "ADDRESSES", "OFFENCES", "BANNED"),
                      [(names.label_of(p["id"]), p["id"], " ".join(p.get("addrs", [])), str(p.get("offences", 0)),
                        "yes" if p.get("banned") else "") for p in found])


@click.command()
@click.argument("multiaddr")
@json_option
@click.pass_context
def connect(ctx: click.Context, multiaddr: str, as_json: bool) -> None:
    """Connect the node to a peer now: /ip4/…/tcp/…/p2p/<id>, or the peer id alone (12D3KooW…: found
    through known addresses and the DHT)."""
    before = {p["id"] for p in api_call(ctx, "GET", "/v1/peers")}
    found = api_call(ctx, "POST", "/v1/peers", {"addr": multiaddr})
    if as_json:
        emit_json(found)
    elif found["id"] in before:
        click.echo(f"already connected to {found['id']} (the address given is not kept)")
    else:
        click.echo(f"connected to {found['id']}")


@click.command()
@click.argument("peer")
@json_option
@click.pass_context
def disconnect(ctx: click.Context, peer: str, as_json: bool) -> None:
    """Close the node's connections to a peer, and dial it no more for a while (not a ban).

    The node does not dial PEER again for discovery.disconnect_hold_s
    (300 s by default), bootstrap or not; 'connect' ends the hold.
    """
    found = api_call(ctx, "DELETE", f"/v1/peers/{member_text(ctx, peer, 'PEER')}")
    emit_json(found) if as_json else click.echo(f"disconnected {found['disconnected']}")


@click.command()
@click.argument("subject")
@json_option
@click.pass_context
def ask(ctx: click.Context, subject: str, as_json: bool) -> None:
    """Ask my network now about a member (records are verified and kept).

    Prints everything then known about them: what peers answered and what
    my store already held (deals I made with them included).
    """
    pid = member_text(ctx, subject, "SUBJECT")
    found = api_call(ctx, "POST", "/v1/ask", {"subject": pid})
    if as_json:
        emit_json(found)
        return
    with names_for(ctx) as names:
        click.echo(f"{len(found)} records known about {names.label_of(pid)} ({pid})")
        for rec in found:
            what = f"{rec.get('facet', '')} {'+' if rec.get('positive') else '-'}" \
                if rec["type"] == "attestation" else ""
            click.echo(f"  {rec['type']:11} {rec['id'][:12]}  {rec['issued'][:10]}  by {names.label_of(rec['author'])}"
                       f"  {what}".rstrip())


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the shell completion script: eval "$(trustmesh completion bash)"."""
    from click.shell_completion import get_completion_class
    root = ctx.find_root().command
    script = get_completion_class(shell)(root, {}, "trustmesh", "_TRUSTMESH_COMPLETE").source()
    click.echo(script)


def _when(value) -> str:
    """An API time (ISO text, or milliseconds from an older node) as ISO 8601 UTC."""
    if value is None:
        return "not yet"
    if isinstance(value, (int, float)):
        return format_ms(int(value * 1000) if value < 10**11 else int(value)) or str(value)
    return str(value)
