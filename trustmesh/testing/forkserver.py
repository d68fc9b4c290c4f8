"""Node processes forked from a process that has already imported trustmesh.

Why: a ``python -m trustmesh node run`` spends about 1.4 s of CPU importing
libp2p, scipy, trio and the rest before it does any work, and the test
suite starts dozens of them on a 2-core machine. A fork of a process that
has done those imports and nothing else (no thread, no event loop, no
socket, no file open) runs the same code on the same argv and environment,
as a process of its own: it is killed with SIGKILL, exits with its own code
and holds its own memory, so the tests that are about processes (kill -9,
SIGTERM, SIGHUP, RSS) still test processes.

The server (``python -m trustmesh.testing.forkserver``) reads one JSON line
per child on stdin (argv, environment, working directory, log file), forks,
answers ``{"pid": N}``, and reports ``{"exit": N, "code": C}`` when it reaps
the child (C negative for a signal, as ``subprocess``). It polls for exits
rather than handling SIGCHLD, so its two kinds of lines never interleave.
On EOF it sends SIGTERM to the children still running and exits.

``NodeProcess`` uses it unless the node runs inside a wrapper (``ip netns
exec``) or ``TRUSTMESH_TEST_FORK=0``; ``run_cli`` and the daemon lifecycle
tests keep starting ``python -m trustmesh`` itself, so that path is tested too.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading

PRELOAD = ("trustmesh.cli", "trustmesh.daemon.run", "trustmesh.daemon.logs", "trustmesh.daemon.settings",
           "trustmesh.api.server", "trustmesh.net.service")
ENV_OFF = "TRUSTMESH_TEST_FORK"


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


# ---- the client -------------------------------------------------------------------------

class ForkedProcess:
    """The part of ``subprocess.Popen`` the test kit uses, for a child of the fork server."""

    def __init__(self, args: list[str], pid: int) -> None:
        self.args = args
        self.pid = pid
        self.returncode: int | None = None
        self._ended = threading.Event()

    def _exited(self, code: int) -> None:
        self.returncode = code
        self._ended.set()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkServer:
    """One server per test process, started on first use; None where it cannot run."""

    _lock = threading.Lock()
    _server: "ForkServer | None" = None
    _failed = False

    def __init__(self, env: dict) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "trustmesh.testing.forkserver"], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        first = json.loads(self.proc.stdout.readline() or b'{"error": "no answer"}')
        if "ready" not in first:
            self.proc.kill()
            raise OSError(first.get("error", "the fork server did not start"))
        self._spawned: list[int] = []
        self._request = threading.Lock()
        self._answer = threading.Condition()
        self._children: dict[int, ForkedProcess] = {}
        self._early: dict[int, int] = {}
        threading.Thread(target=self._read, name="forkserver-reader", daemon=True).start()

    @classmethod
    def get(cls, env: dict) -> "ForkServer | None":
        if os.environ.get(ENV_OFF) == "0" or sys.platform != "linux":
            return None
        with cls._lock:
            if cls._server is None and not cls._failed:
                try:
                    cls._server = cls(env)
                except OSError:
                    cls._failed = True
            return cls._server

    def _read(self) -> None:
        for line in self.proc.stdout:
            message = json.loads(line)
            with self._answer:
                if "pid" in message:
                    self._spawned.append(message["pid"])
                    self._answer.notify_all()
                elif "exit" in message:
                    child = self._children.pop(message["exit"], None)
                    if child is None:
                        self._early[message["exit"]] = message["code"]
                    else:
                        child._exited(message["code"])

    def spawn(self, argv: list[str], env: dict, log: str) -> ForkedProcess:
        request = {"argv": argv, "env": env, "cwd": os.getcwd(), "log": log}
        with self._request:
            with self._answer:
                self.proc.stdin.write((json.dumps(request) + "\n").encode())
                self.proc.stdin.flush()
                if not self._answer.wait_for(lambda: self._spawned, timeout=30):
                    raise OSError("the fork server did not answer")
                pid = self._spawned.pop(0)
                child = ForkedProcess(["trustmesh", *argv], pid)
                if pid in self._early:
                    child._exited(self._early.pop(pid))
                else:
                    self._children[pid] = child
        return child


if __name__ == "__main__":
    serve()
