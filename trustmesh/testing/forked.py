"""Node processes from the fork server (``forkserver.py``), as ``subprocess.Popen`` gives them.

``NodeProcess`` uses it unless the node runs inside a wrapper (``ip netns
exec``) or ``TRUSTMESH_TEST_FORK=0``; ``run_cli`` and the daemon lifecycle
tests keep starting ``python -m trustmesh`` itself, so that path is tested too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

ENV_OFF = "TRUSTMESH_TEST_FORK"


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
