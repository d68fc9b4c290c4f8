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
    cli.add_command(web)


@click.group()
def node() -> None:
    """Run this member's node on the network."""


@node.command("run")
@click.option("--listen", "listen", multiple=True, metavar="MULTIADDR",
              help=f"Address to listen on (repeatable; default {DEFAULT_LISTEN}).")
@click.option("--bootstrap", "bootstrap", multiple=True, metavar="MULTIADDR",
              help="Peer to connect to at start and whenever it is lost: /ip4/…/tcp/…/p2p/<id> (repeatable).")
@click.option("--mdns", is_flag=True, help="Find peers on the local network by mDNS (off by default).")
@click.option("--relay", is_flag=True, help="Serve as a circuit relay for nodes behind NAT (off by default; "
                                           "limits in the [nat] settings, see docs/operating.md).")
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
def run(ctx: click.Context, listen: tuple[str, ...], bootstrap: tuple[str, ...], mdns: bool, relay: bool,
        auto_accept: str | None, api_tcp: str | None, metrics_tcp: str | None, verbose: bool) -> None:
    """Run the node in the foreground until Ctrl-C or SIGTERM.

    Creates this member's identity on first run. Prints the id and the
    listen addresses (also written to <home>/listen-addrs). The control API
    answers on <home>/api.sock (see docs/operating.md).
    """
    import trio

    from trustmesh.daemon import run as daemon
    from trustmesh.core.home import resolve_home
    home = resolve_home(ctx.obj.home)
    found, config, api, metrics = node_settings(home.root, listen=listen, bootstrap=bootstrap, mdns=mdns,
                                                relay=relay, auto_accept=auto_accept, api_tcp=api_tcp,
                                                metrics_tcp=metrics_tcp)
    daemon.setup_logging(verbose, found["log.level"].value, found["log.format"].value,
                         found["log.levels"].value)
    trio.run(lambda: daemon.run(home, config=config, passphrase=ctx.obj.passphrase(),
                                api_tcp=api, metrics_tcp=metrics, out=click.echo))


def node_settings(root, *, listen=(), bootstrap=(), mdns=False, relay=False, auto_accept=None, api_tcp=None,
                  metrics_tcp=None, environ=None):
    """The effective settings of ``node run`` with these flags: (settings, NetConfig, api, metrics).

    Addresses are checked before anything starts (a non-loopback API is
    refused). Shared with ``trustmesh.testing.InProcessNode``, which runs
    the same node from the same flags inside a test's process.
    """
    from trustmesh.daemon import settings
    found = settings.effective(root, environ, flags={
        "listen": list(listen), "bootstrap": list(bootstrap), "mdns": mdns, "nat.relay": relay,
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
    return found, settings.net_config(found), api, metrics


@click.command()
@click.option("--nodes", default=4, show_default=True, type=click.IntRange(2, 20),
              help="How many node processes to start on 127.0.0.1.")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for convergence.")
def demo(nodes: int, timeout: float) -> None:
    """Start N nodes on loopback, make deals and attestations, show each node's view."""
    import subprocess
    import sys
    # a process of its own: the demo is a run of the test kit's cluster, above the CLI
    code = subprocess.call([sys.executable, "-m", "trustmesh.testing.demo", "--nodes", str(nodes),
                            "--timeout", str(timeout)])
    if code:
        sys.exit(code)


@click.command()
@click.pass_context
def web(ctx: click.Context) -> None:
    """Print a fresh one-time login link to the running node's web view.

    The link works once, for an hour; opening it logs the browser in and
    leaves the link's URL. The node must serve TCP (--api-tcp).
    """
    from trustmesh.api.client import ApiClient
    from trustmesh.core.home import resolve_home
    with ApiClient(resolve_home(ctx.obj.home).root) as client:
        click.echo(client.call("POST", "/v1/web/logins")["url"])
