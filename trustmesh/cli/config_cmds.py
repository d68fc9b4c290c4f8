"""``trustmesh config show`` (the settings a node on this home would run with, and why) and ``backup``."""

from __future__ import annotations

import json

import click

from trustmesh.cli.common import emit_json


def register(cli: click.Group) -> None:
    cli.add_command(config)
    cli.add_command(backup)


@click.group()
def config() -> None:
    """The node's settings: flags > environment > <home>/config.toml > defaults."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show(ctx: click.Context, as_json: bool) -> None:
    """Every effective setting, its value and where it came from."""
    from trustmesh.daemon import settings
    from trustmesh.core.home import resolve_home
    found = settings.effective(resolve_home(ctx.obj.home).root)
    if as_json:
        emit_json({name: {"value": s.value, "source": s.source} for name, s in sorted(found.items())})
        return
    width = max(len(name) for name in found)
    for name, s in sorted(found.items()):
        click.echo(f"{name:{width}}  {json.dumps(s.value):30}  {s.source}")


@click.command()
@click.argument("dest", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def backup(ctx: click.Context, dest: str, as_json: bool) -> None:
    """Copy the store into a new file DEST, consistently, even while the node runs.

    To restore: stop the node, put DEST in place of <home>/store.sqlite (or
    'trustmesh import' an export into a fresh home), start it; sync brings
    anything newer from peers. The key file is not copied: back it up once.
    """
    from trustmesh.cli.common import with_store
    count = with_store(ctx, lambda store: store.backup(dest))
    if as_json:
        emit_json({"file": dest, "records": count})
    else:
        click.echo(f"wrote {count} records to {dest}")
