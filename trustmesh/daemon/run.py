"""``trustmesh node run``: one node as a foreground process.

Takes the home (``home.NodeLock``: a second node on it is refused), prints
its id and listen addresses, writes the addresses to ``<home>/listen-addrs``
(one per line, replaced atomically, removed on a clean stop), serves the
control API (``api/server.py``), logs one line per notable event on
stderr, and stops cleanly on SIGINT, SIGTERM or SIGHUP: the host is closed
and known peers saved; every record reported stored is already on disk
(a kill -9 loses nothing stored either: the next start catches up by sync).
"""

from __future__ import annotations

import logging
import os
import signal
from functools import partial
from pathlib import Path

import trio

from trustmesh.crypto.ids import peer_id, short_id
from trustmesh.core.home import Home
from trustmesh.core.events import batches
from trustmesh.core.node import Node, open_node
from trustmesh.daemon.memtrace import maybe_trace
from trustmesh.daemon.profiling import maybe_profile

log = logging.getLogger("trustmesh.daemon")

ADDRS_FILE = "listen-addrs"


def write_addrs(home: Home, addrs: list[str]) -> Path:
    """Write our listen addresses to the home (atomically); the file's path."""
    path = home.root / ADDRS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(a + "\n" for a in addrs))
    os.replace(tmp, path)
    return path


def setup_logging(verbose: bool = False, level: str = "info", fmt: str = "auto",
                  levels: dict[str, str] | None = None) -> None:
    """Log lines on stderr: human on a terminal, JSON lines otherwise (or as ``fmt`` says).

    ``levels`` sets one subsystem's level (``{"trustmesh.p2p": "debug"}``);
    libp2p's own chatter only when verbose. Nothing secret is ever logged:
    keys, passphrases and the API token never reach a log call.
    """
    from trustmesh.daemon.logs import configure
    configure(level, fmt, levels or {}, verbose)


def fix_malloc_thresholds() -> bool:
    """Keep glibc's mmap threshold at its 128 KiB default, and two heaps; True if set (glibc only).

    Why: glibc raises the threshold to the size of every large block freed
    (up to 32 MiB), after which the node's growing arrays (sync index,
    trust columns: reallocated a little larger each time) come from the
    heap and leave holes there that later blocks do not fit, so the heap
    only grows. Fixed, a large block is its own mapping, given back to the
    system when freed. Measured in the soak (5 nodes, 20 records/s, 220 s):
    free heap bytes +6 MiB with upstream's dynamic threshold, +3 MiB fixed;
    RSS +12.4 to +14.5 MiB against +8.8 (docs/reliability.md).
    """
    import ctypes
    import ctypes.util
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):       # not glibc: nothing to fix
        return False
    M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8
    # Two heaps, not eight per core: Python runs one thread at a time (the GIL), so more
    # heaps buy no speed, and each keeps its own free space (soak, 220 s: +11.4 MiB, +12.4 to
    # +14.5 with glibc's default).
    mallopt(M_ARENA_MAX, 2)
    return bool(mallopt(M_MMAP_THRESHOLD, 128 * 1024))


async def run(home: Home, *, config, passphrase: bytes | None, api_tcp: str | None = None,
              metrics_tcp: str | None = None, out=print) -> None:
    """Run a node with ``config`` (a NetConfig) until SIGINT/SIGTERM/SIGHUP."""
    fix_malloc_thresholds()
    maybe_trace()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async def until_signalled() -> None:
            async for signum in signals:
                log.info("stopping on %s", signal.Signals(signum).name)
                return
        await serve_node(home, config=config, passphrase=passphrase, api_tcp=api_tcp,
                         metrics_tcp=metrics_tcp, out=out, until=until_signalled)


async def serve_node(home: Home, *, config, passphrase: bytes | None, api_tcp: str | None = None,
                     metrics_tcp: str | None = None, out=print, until=trio.sleep_forever,
                     task_status=trio.TASK_STATUS_IGNORED) -> None:
    """What ``node run`` runs, until ``until()`` returns: the node, its addresses file, its log, its API.

    Apart from ``run`` so that a test (``trustmesh.testing.InProcessNode``)
    can run the very same node inside its own process, where signals
    belong to the main thread. Started (``task_status``) with the Node
    once the API answers.
    """
    from trustmesh.api.server import serve
    async with open_node(home, config=config, passphrase=passphrase) as node:
        addrs = node.addrs()
        write_addrs(home, addrs)
        out(f"node {node.id}")
        member = node.store.key_members().get(node.identity.public_key)
        if member is None:
            out(f"  (your identity: the id others attest about, and name with 'trustmesh contact add')")
        else:
            out(f"  a device key of member {peer_id(member)}: the id others attest about "
                f"(trustmesh key show)")
        for addr in addrs:
            out(f"listening {addr}")
        try:
            with maybe_profile():
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_log_events, node)
                    api = await nursery.start(partial(serve, node, home.root, tcp=api_tcp, metrics=metrics_tcp))
                    out(f"control API {api['socket']}" + (f" and {api['tcp']}" if "tcp" in api else ""))
                    if "web" in api:
                        out(f"web view {api['web']}  (a one-time login link; `trustmesh web` makes another)")
                    else:
                        out("web view off (start with --api-tcp 127.0.0.1:5001 to use it)")
                    if "metrics" in api:
                        out(f"metrics http://{api['metrics']}/metrics")
                    for line in next_steps(home, node):
                        out(line)
                    task_status.started(node)
                    await until()
                    nursery.cancel_scope.cancel()
        finally:
            (home.root / ADDRS_FILE).unlink(missing_ok=True)
    log.info("stopped")


def next_steps(home: Home, node: Node) -> list[str]:
    """How to join someone (or be joined) when nothing is connected yet.

    The web link itself is the one-time login printed above (never the API
    token: output may be kept in a terminal's scrollback or a journal).
    """
    lines = []
    peers = node.peers()
    if not peers and not node.config.discovery.bootstrap:
        example = next((a for a in node.addrs() if "/127.0.0.1/" not in a), None) or \
            (node.addrs() or ["/ip4/…/tcp/4001/p2p/" + node.id])[0]
        lines.append("not connected to anyone yet. To join someone, ask them for an address and run")
        lines.append("          trustmesh connect /ip4/THEIR-IP/tcp/4001/p2p/THEIR-ID")
        lines.append(f"          (or keep it: bootstrap = [\"…\"] in {home.config}, or --bootstrap)")
        lines.append(f"          others join you with: trustmesh connect {example}")
    return lines


async def _log_events(node: Node) -> None:
    """One line per event; everything already waiting is written at once.

    Why batched: a catch-up stores 100,000 records in seconds, and a write
    and flush per record cost more than storing them. Records that came by
    sync or an import are logged at debug level only (the sync's and the
    import's own lines sum them up); a sync's come as one line per batch.
    """
    async with node.subscribe(["record", "records"]) as events:
        async for batch in batches(events, 5000):
            debug = log.isEnabledFor(logging.DEBUG)     # else a sync's records are not formatted
            for ev in batch:
                if ev.kind == "records":
                    if debug:
                        log.debug("records %d via %s from %s", ev.data["count"], ev.data["source"],
                                  ev.data["peer"])
                    continue
                quiet = ev.data["source"] in ("sync", "import")
                if quiet and not debug:
                    continue
                rec = ev.data["record"]
                log.log(logging.DEBUG if quiet else logging.INFO, "record %s %s by %s via %s",
                        ev.data["id"].hex()[:12], rec.NAME, short_id(rec.author), ev.data["source"])
