"""The ``trustmesh`` command run inside the calling process, as click's ``CliRunner`` runs it.

Why: a ``python -m trustmesh`` child costs its interpreter start and
imports (most of a second on a loaded machine) for a command that itself
takes milliseconds. ``invoke_cli`` runs the very entry point the console
script runs (``cli.run_guarded``: the same error lines and exit codes),
with stdin, stdout and stderr captured and the environment overridden for
the call only. Use ``run_cli`` (a real process) where the process is the
point: start-up imports, a terminal, signals.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

# Variables a user's shell may set that would point a test's command elsewhere.
CLEARED = ("TRUSTMESH_HOME", "TRUSTMESH_PASSPHRASE_FILE", "TRUSTMESH_DEBUG")


@dataclass
class CliResult:
    """What a finished command left: like ``subprocess.CompletedProcess`` with text output."""

    args: list[str]
    returncode: int
    stdout_bytes: bytes
    stderr_bytes: bytes

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode("utf-8", "replace")

    @property
    def stderr(self) -> str:
        return self.stderr_bytes.decode("utf-8", "replace")


def invoke_cli(home: str | os.PathLike | None, *args, env: Mapping[str, str | None] | None = None,
               stdin: bytes | str | None = None, cwd: str | os.PathLike | None = None) -> CliResult:
    """``trustmesh [--home HOME] ARGS`` in this process; its result.

    ``env`` overrides variables for this call (None removes one); the
    ``TRUSTMESH_*`` variables of ``CLEARED`` are removed unless given.
    """
    from click.testing import CliRunner

    from trustmesh.cli import cli
    from trustmesh.cli.common import run_guarded

    argv = (["--home", str(home)] if home is not None else []) + [str(a) for a in args]
    overrides: dict[str, str | None] = {name: None for name in CLEARED}
    overrides.update(env or {})
    runner = CliRunner()
    with contextlib.ExitStack() as stack:
        if cwd is not None:
            stack.enter_context(contextlib.chdir(cwd))
        out, err, _ = stack.enter_context(runner.isolation(input=stdin, env=overrides))
        try:
            code = run_guarded(cli, argv)
        except SystemExit as exc:                 # what a real process would turn into its exit code
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(ValueError, OSError):
                stream.flush()
        return CliResult(argv, code, out.getvalue(), err.getvalue())
