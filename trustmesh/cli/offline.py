"""Commands that work on the local home directory, without any network."""

from __future__ import annotations

import click

from trustmesh.cli.common import emit_json


def register(cli: click.Group) -> None:
    for command in (init, id_):
        cli.add_command(command)


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
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
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
