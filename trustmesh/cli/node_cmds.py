"""Commands that run nodes: ``trustmesh node run`` and ``trustmesh demo``.

libp2p and trio are imported inside the commands, so ``trustmesh --help``
does not pay for them.
"""

from __future__ import annotations

import click

from trustmesh.net.config import DEFAULT_LISTEN


def register(cli: click.Group) -> None:
    cli.add_command(node)
    cli.add_command(demo)


@click.group()
def node() -> None:
    """Run this member's node on the network."""


@node.command("run")
@click.option("--listen", "listen", multiple=True, metavar="MULTIADDR",
              help=f"Address to listen on (repeatable; default {DEFAULT_LISTEN}).")
@click.option("--bootstrap", "bootstrap", multiple=True, metavar="MULTIADDR",
              help="Peer to connect to at start and whenever it is lost: /ip4/…/tcp/…/p2p/<id> (repeatable).")
@click.option("--mdns", is_flag=True, help="Find peers on the local network by mDNS (off by default).")
@click.option("--auto-accept", type=click.Choice(["ask", "accept", "always", "never"]), default=None,
              help="Answer to deal proposals: keep them pending (ask, the default), accept those "
                   "from members with weight (accept), accept all, or decline all.")
@click.option("--api-tcp", metavar="HOST:PORT", default=None,
              help="Also serve the control API on loopback TCP (bearer token in <home>/api.token).")
@click.option("--metrics-tcp", metavar="HOST:PORT", default=None,
              help="Serve /metrics and /v1/health, read-only and without a token, on this TCP address "
                   "(for Prometheus and health checks; see docs/operating.md).")
@click.option("-v", "--verbose", is_flag=True, help="Also log libp2p's own messages.")
@click.pass_context
def run(ctx: click.Context, listen: tuple[str, ...], bootstrap: tuple[str, ...], mdns: bool,
        auto_accept: str | None, api_tcp: str | None, metrics_tcp: str | None, verbose: bool) -> None:
    """Run the node in the foreground until Ctrl-C or SIGTERM.

    Creates this member's identity on first run. Prints the id and the
    listen addresses (also written to <home>/listen-addrs). The control API
    answers on <home>/api.sock (see docs/operating.md).
    """
    import sys

    import trio

    from trustmesh.daemon import run as daemon, settings
    from trustmesh.core.home import resolve_home
    home = resolve_home(ctx.obj.home)
    found = settings.effective(home.root, flags={
        "listen": list(listen), "bootstrap": list(bootstrap), "mdns": mdns,
        "deals.auto_accept": auto_accept, "api_tcp": api_tcp,
        "metrics_tcp": metrics_tcp})
    api = found["api_tcp"].value or None
    metrics = found["metrics_tcp"].value or None
    if api:
        from trustmesh.api.server import check_tcp
        check_tcp(api)                        # refuse a non-loopback address before starting
    if metrics:
        from trustmesh.api.server import parse_address
        parse_address(metrics)
    daemon.setup_logging(verbose, found["log.level"].value, found["log.format"].value,
                         found["log.levels"].value)
    config = settings.net_config(found)
    trio.run(lambda: daemon.run(home, config=config, passphrase=ctx.obj.passphrase(),
                                api_tcp=api, metrics_tcp=metrics, out=click.echo,
                                terminal=sys.stdout.isatty()))


@click.command()
@click.option("--nodes", default=4, show_default=True, type=click.IntRange(2, 20),
              help="How many node processes to start on 127.0.0.1.")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for convergence.")
def demo(nodes: int, timeout: float) -> None:
    """Start N nodes on loopback, make deals and attestations, show each node's view."""
    from trustmesh.cli import demo as demo_mod
    demo_mod.run_demo(nodes, timeout, click.echo)
