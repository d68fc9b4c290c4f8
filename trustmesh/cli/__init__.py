"""The ``trustmesh`` command: a thin front over the library.

Conventions every command keeps: ``--home`` goes before the command, every
command that prints data takes ``--json`` after it, errors are one line on
stderr with a non-zero exit (1 for a refused operation, 2 for bad usage),
never a traceback. Heavy imports (libp2p, numpy) happen inside the commands
that need them, so ``trustmesh --help`` stays fast.
"""

from __future__ import annotations

import sys

import click

from trustmesh.version import __version__
from trustmesh.cli.common import CliState, run_guarded


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", envvar="TRUSTMESH_HOME", type=click.Path(file_okay=False),
              help="Node home directory (default: the platform's user data dir; env TRUSTMESH_HOME).")
@click.option("--passphrase-file", envvar="TRUSTMESH_PASSPHRASE_FILE", type=click.Path(dir_okay=False),
              help="File holding the key passphrase, if the key is encrypted.")
@click.version_option(__version__, package_name="trustmesh")
@click.pass_context
def cli(ctx: click.Context, home: str | None, passphrase_file: str | None) -> None:
    """trustmesh: signed attestations, gossip, and trust from your own point of view."""
    ctx.obj = CliState(home, passphrase_file)


def _register() -> None:
    from trustmesh.cli import (
        bundles, config_cmds, contact_cmds, deal_cmds, key_cmds, network_cmds, node_cmds, records_cmds, trust_cmds,
    )
    records_cmds.register(cli)
    deal_cmds.register(cli)
    for command in (bundles.export, bundles.import_, bundles.verify):
        cli.add_command(command)
    for module in (trust_cmds, node_cmds, network_cmds, config_cmds, contact_cmds, key_cmds):
        module.register(cli)


_register()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    sys.exit(run_guarded(cli, argv))
