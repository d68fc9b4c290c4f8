"""A node run on a thread of the calling process: the daemon's code, without the process.

Why: a ``trustmesh node run`` child costs its interpreter, libp2p's and
numpy's imports and a cold start, seconds on a loaded 2-core machine, for
tests where the process itself is not under test (the API's answers, the
CLI through a running node, two nodes talking). ``InProcessNode`` parses
the same ``node run`` flags, reads the same settings (its ``env`` over this
process's environment), and runs ``daemon.run.serve_node``: the node, its
``<home>/api`` file, its control API on the Unix socket, all in a trio loop
of its own on a thread. The test drives it exactly as a process
(``driven.DrivenNode``), and the CLI finds it as it finds a daemon.

What stays a process (``NodeProcess``): kill -9, signals and exit codes,
memory and CPU of a node, a clock offset (read once per process), and
networks whose point is one core per node.
"""

from __future__ import annotations

import logging
import os
import threading
from functools import partial

from trustmesh.testing.driven import DrivenNode, NodeError

# Read once per process (core/ledger.py): a node with its own clock needs its own process.
PROCESS_WIDE = ("TRUSTMESH_TEST_CLOCK_OFFSET_MS",)


class InProcessNode(DrivenNode):
    """One node on a thread of this process, driven through its API; ``node`` is the Node itself.

    ``node`` belongs to the node's own trio loop: read it from a test only
    for what a plain attribute read can tell, or call into it with
    ``call(async_fn, *args)``, which runs there.
    """

    def __init__(self, home: str | os.PathLike, **options) -> None:
        super().__init__(home, **options)
        self.node = None
        self.failure: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._token = None
        self._stop = None
        self._log: logging.Handler | None = None

    def start(self, timeout: float = 30.0) -> "InProcessNode":
        """Start the node's thread and wait until its API answers; NodeError if it does not."""
        from trustmesh.cli.node_cmds import node_settings, run as run_command
        from trustmesh.core.home import resolve_home
        if self._thread is not None and self._thread.is_alive():
            raise NodeError(f"node in {self.home} is already running")
        for name in PROCESS_WIDE:
            if name in (self.env or {}):
                raise NodeError(f"{name} is read once per process: use a NodeProcess")
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "api").unlink(missing_ok=True)
        argv = ["--listen", self.listen] + [a for addr in self.bootstrap for a in ("--bootstrap", addr)] + self.args
        with run_command.make_context("run", argv) as ctx:
            flags = {k: v for k, v in ctx.params.items() if k != "verbose"}
        _, config, api, metrics = node_settings(self.home, environ={**os.environ, **(self.env or {})}, **flags)
        home = resolve_home(self.home)
        ready = threading.Event()
        self.failure = None
        self._thread = threading.Thread(target=self._run, args=(home, config, api, metrics, ready),
                                        name=f"node {self.home.name}", daemon=True)
        self._thread.start()
        self._follow_log()
        if not ready.wait(timeout) or self.failure is not None or self.node is None:
            self.stop()
            raise NodeError(f"node in {self.home} did not start: {self.failure!r}\n{self.log_tail()}")
        self._attach(timeout)
        return self

    def _run(self, home, config, api, metrics, ready: threading.Event) -> None:
        import trio

        from trustmesh.daemon.run import serve_node

        async def main() -> None:
            self._token = trio.lowlevel.current_trio_token()
            self._stop = trio.Event()
            async with trio.open_nursery() as nursery:
                self.node = await nursery.start(partial(
                    serve_node, home, config=config, passphrase=None, api_tcp=api, metrics_tcp=metrics,
                    out=self._out, until=self._stop.wait))
                ready.set()
        try:
            trio.run(main)
        except BaseException as exc:         # reported by start, stop and log_tail
            self.failure = exc
            logging.getLogger("trustmesh.testing").warning("node in %s failed: %r", self.home, exc)
        finally:
            self.node = None
            ready.set()

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self.node is not None

    def rss_mb(self) -> float:
        """Resident memory in MiB of this process, which holds the node (Linux): a stricter bound."""
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def call(self, async_fn, *args):
        """Run ``async_fn(*args)`` in the node's loop; its result."""
        import trio
        return trio.from_thread.run(async_fn, *args, trio_token=self._token)

    def stop(self, timeout: float = 15.0) -> int | None:
        """Stop the node as SIGTERM would (cleanly); 0, or 1 if it had failed."""
        import trio
        self._close_http()
        thread = self._thread
        if thread is None:
            return None
        if thread.is_alive() and self._stop is not None:
            try:
                trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
            except trio.RunFinishedError:
                pass
        thread.join(timeout)
        if thread.is_alive():
            raise NodeError(f"node in {self.home} did not stop within {timeout} s")
        self._unfollow_log()
        return 1 if self.failure is not None else 0

    # ---- the node's log, kept in <home>/node.log as a process's would be ------

    def _out(self, line: str) -> None:
        with open(self.home / "node.log", "a") as log:
            log.write(line + "\n")

    def _follow_log(self) -> None:
        thread = self._thread

        class OwnThread(logging.Filter):
            def filter(self, record: logging.LogRecord) -> bool:
                return record.thread == thread.ident
        self._log = logging.FileHandler(self.home / "node.log")
        self._log.addFilter(OwnThread())
        self._log.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logging.getLogger("trustmesh").addHandler(self._log)

    def _unfollow_log(self) -> None:
        if self._log is not None:
            logging.getLogger("trustmesh").removeHandler(self._log)
            self._log.close()
            self._log = None
