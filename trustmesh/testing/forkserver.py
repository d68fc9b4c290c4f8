"""The fork server: node processes forked from a process that has already imported trustmesh.

Why: a ``python -m trustmesh node run`` spends about 1.4 s of CPU importing
libp2p, scipy, trio and the rest before it does any work, and the test
suite starts dozens of them on a 2-core machine. A fork of a process that
has done those imports and nothing else (no thread, no event loop, no
socket, no file open) runs the same code on the same argv and environment,
as a process of its own: it is killed with SIGKILL, exits with its own code
and holds its own memory, so the tests that are about processes (kill -9,
SIGTERM, SIGHUP, RSS) still test processes.

``python -m trustmesh.testing.forkserver`` reads one JSON line per child on
stdin (argv, environment, working directory, log file), forks, answers
``{"pid": N}``, and reports ``{"exit": N, "code": C}`` when it reaps the
child (C negative for a signal, as ``subprocess``). It polls for exits
rather than handling SIGCHLD, so its two kinds of lines never interleave.
On EOF it sends SIGTERM to the children still running and exits.

Nothing imports this module: it runs as a process of its own (the client
side, ``forked.py``, starts it), so that its import of the CLI is no
import circle (the CLI's demo uses the test kit's cluster).
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import threading

PRELOAD = ("trustmesh.cli", "trustmesh.daemon.run", "trustmesh.daemon.logs", "trustmesh.daemon.settings",
           "trustmesh.api.server", "trustmesh.net.service")


# ---- the server -------------------------------------------------------------------------

def _child(request: dict) -> None:
    """In the forked child: become ``trustmesh ARGV``; never returns."""
    code = 1
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(null)
        os.close(log)
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = ["trustmesh", *request["argv"]]
        from trustmesh.core.ledger import read_test_clock_offset
        read_test_clock_offset()        # the one setting read at import (tests only)
        from trustmesh.cli import main
        try:
            main(request["argv"])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        import atexit
        import logging
        atexit._run_exitfuncs()
        logging.shutdown()
    except BaseException:       # noqa: BLE001 - the child must end here, whatever happened
        import traceback
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _send(message: dict) -> None:
    os.write(1, (json.dumps(message) + "\n").encode())     # one write under PIPE_BUF: never interleaved


def serve() -> None:
    for name in PRELOAD:
        __import__(name)
    if threading.active_count() != 1:
        _send({"error": "an import started a thread: forking would be unsafe"})
        return
    _send({"ready": os.getpid()})
    children: set[int] = set()
    pending = b""
    try:
        while True:
            readable, _, _ = select.select([0], [], [], 0.05)
            while children:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                children.discard(pid)
                _send({"exit": pid, "code": os.waitstatus_to_exitcode(status)})
            if not readable:
                continue
            chunk = os.read(0, 65536)
            if not chunk:
                return
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _child(request)
                children.add(pid)
                _send({"pid": pid})
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


if __name__ == "__main__":
    serve()
