"""``trustmesh node run``: one node as a foreground process.

Prints its id and listen addresses, writes the addresses to
``<home>/listen-addrs`` (one per line, replaced atomically, removed on a
clean stop), logs one line per notable event on stderr, and stops cleanly
on SIGINT or SIGTERM: the host is closed and known peers saved; every
record reported stored is already on disk (a kill -9 loses nothing stored
either: the next start catches up by sync).

``driven`` mode (used by tests, the demo and the benchmark, until the
control API exists): JSON lines on stdin are commands, answers and events
are JSON lines on stdout.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from functools import partial
from pathlib import Path

import trio

from trustmesh.crypto.ids import parse_id, short_id
from trustmesh.errors import TrustmeshError
from trustmesh.node.node import Node, open_node
from trustmesh.node.paths import Home

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
    from trustmesh.node.logs import configure
    configure(level, fmt, levels or {}, verbose)


async def run(home: Home, *, config, passphrase: bytes | None, driven: bool = False,
              api_tcp: str | None = None, out=print) -> None:
    """Run a node with ``config`` (a NetConfig) until SIGINT/SIGTERM (or "stop" when driven)."""
    async with open_node(home, config=config, passphrase=passphrase) as node:
        addrs = node.addrs()
        write_addrs(home, addrs)
        if driven:
            _emit({"event": "ready", "id": node.id, "addrs": addrs})
        else:
            out(f"node {node.id}")
            for addr in addrs:
                out(f"listening {addr}")
        try:
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_log_events, node, driven)
                    from trustmesh.node.api.server import serve
                    api = await nursery.start(partial(serve, node, home.root, tcp=api_tcp))
                    if not driven:
                        out(f"control API {api['socket']}" + (f" and {api['tcp']}" if "tcp" in api else ""))
                    if driven:
                        nursery.start_soon(_commands, node, nursery.cancel_scope)
                    async for signum in signals:
                        log.info("stopping on %s", signal.Signals(signum).name)
                        nursery.cancel_scope.cancel()
                        break
        finally:
            (home.root / ADDRS_FILE).unlink(missing_ok=True)
    log.info("stopped")


async def _log_events(node: Node, driven: bool) -> None:
    """One line per event; everything already waiting is written at once.

    Why batched: a catch-up stores 100,000 records in seconds, and a write
    and flush per record cost more than storing them. Records that came by
    sync are logged at debug level only (the sync's own line sums them up).
    """
    async with node.subscribe() as events:
        async for event in events:
            batch = [event]
            while len(batch) < 5000:
                try:
                    batch.append(events.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            lines = []
            now = time.time()
            for ev in batch:
                if ev.kind == "record":
                    if driven:
                        lines.append({"event": "record", "id": ev.data["id"].hex(),
                                      "source": ev.data["source"], "t": now})
                    else:
                        rec = ev.data["record"]
                        log.log(logging.DEBUG if ev.data["source"] == "sync" else logging.INFO,
                                "record %s %s by %s via %s", ev.data["id"].hex()[:12], rec.NAME,
                                short_id(rec.author), ev.data["source"])
                elif driven:
                    lines.append({"event": ev.kind, **{k: str(v) for k, v in ev.data.items()}})
            if lines:
                _emit(*lines)


def _emit(*objs: dict) -> None:
    sys.stdout.write("".join(json.dumps(obj) + "\n" for obj in objs))
    sys.stdout.flush()


async def _commands(node: Node, scope: trio.CancelScope) -> None:
    stdin = trio.lowlevel.FdStream(os.dup(0))
    buf = b""
    async with trio.open_nursery() as nursery:
        while True:
            data = await stdin.receive_some(65536)
            if not data:
                scope.cancel()       # our driver went away: stop
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    nursery.start_soon(_command, node, line, scope)


async def _command(node: Node, line: bytes, scope: trio.CancelScope) -> None:
    try:
        cmd = json.loads(line)
        tag = cmd.get("tag")
    except ValueError:
        _emit({"ok": False, "error": "not JSON"})
        return
    try:
        result = await _do(node, cmd, scope)
        _emit({"tag": tag, "ok": True, "result": result})
    except TrustmeshError as exc:
        _emit({"tag": tag, "ok": False, "error": str(exc)})
    except Exception as exc:   # a driver's mistake must not stop the node
        _emit({"tag": tag, "ok": False, "error": f"{type(exc).__name__}: {exc}"})


async def _do(node: Node, cmd: dict, scope: trio.CancelScope):
    op = cmd.get("op")
    if op == "attest":
        rec = await node.attest(cmd["subject"], cmd.get("facet", "payment"), bool(cmd.get("positive", True)),
                                ref=cmd.get("ref"), note=cmd.get("note"))
        return rec.id.hex()
    if op == "attest-many":
        ids = []
        for subject in cmd["subjects"]:
            ids.append((await node.attest(subject, cmd.get("facet", "payment"), True)).id.hex())
        return ids
    if op == "profile":
        return (await node.set_profile(cmd["name"], cmd.get("org"))).id.hex()
    if op == "deal":
        outcome = await node.propose_deal(cmd["peer"], cmd.get("ref", "deal"), cmd.get("role", "client"))
        return {"status": outcome.status, "reason": outcome.reason,
                "id": outcome.deal.id.hex() if outcome.deal else None}
    if op == "import":       # the owner's import, as POST /v1/import: stored, then gossiped
        results = await node.import_records([bytes.fromhex(h) for h in cmd["raws"]])
        return [{"status": r.status, "reason": r.reason} for r in results]
    if op == "pending-deals":
        return [pid.hex() for pid in node.pending_deals]
    if op == "accept-deal":
        return (await node.accept_deal(cmd["id"])).id.hex()
    if op == "connect":
        return await node.connect(cmd["addr"])
    if op == "peers":
        return node.peers()
    if op == "sync":
        return await node.sync_now()
    if op == "ask":
        if cmd.get("subject"):
            found = await node.ask(cmd["subject"])
        else:
            found = await node.ask(author=cmd["author"])
        return [r.id.hex() for r in found]
    if op == "status":
        return {"id": node.id, "records": await node.count(), "peers": len(node.peers()),
                "sync": node.sync_status()}
    if op == "ids":
        raws = await node.worker.run(lambda: list(node.store.iter_raw()))
        from trustmesh.protocol.records import record_id
        return sorted(record_id(r).hex() for r in raws)
    if op == "weight":
        if node.reach_stale:
            await node.refresh_reach()
        return node.weight_of(parse_id(cmd["member"]))
    if op == "stop":
        scope.cancel()
        return "stopping"
    raise ValueError(f"unknown op {op!r}")
