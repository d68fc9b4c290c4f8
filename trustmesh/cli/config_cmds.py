"""``trustmesh config show``: the settings a node on this home would run with, and why."""

from __future__ import annotations

import json

import click

from trustmesh.cli.common import emit_json


def register(cli: click.Group) -> None:
    cli.add_command(config)


@click.group()
def config() -> None:
    """The node's settings: flags > environment > <home>/config.toml > defaults."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show(ctx: click.Context, as_json: bool) -> None:
    """Every effective setting, its value and where it came from."""
    from trustmesh.node import settings
    from trustmesh.node.paths import resolve_home
    found = settings.effective(resolve_home(ctx.obj.home).root)
    if as_json:
        emit_json({name: {"value": s.value, "source": s.source} for name, s in sorted(found.items())})
        return
    width = max(len(name) for name in found)
    for name, s in sorted(found.items()):
        click.echo(f"{name:{width}}  {json.dumps(s.value):30}  {s.source}")
