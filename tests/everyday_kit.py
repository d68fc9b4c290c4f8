"""The ``trustmesh`` command run in this process (click's isolation): fast, same code path
as the console script (``run_guarded``), stdout and stderr apart."""

from __future__ import annotations

import json
from dataclasses import dataclass

from click.testing import CliRunner

from trustmesh.cli import cli
from trustmesh.cli.common import run_guarded


@dataclass
class Done:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


def tm(home, *args, input: str | None = None, env: dict | None = None) -> Done:
    """``trustmesh --home HOME ARGS`` in this process; the exit code and both streams."""
    argv = (["--home", str(home)] if home else []) + [str(a) for a in args]
    base = {"TRUSTMESH_HOME": None, "TRUSTMESH_PASSPHRASE_FILE": None}
    with CliRunner().isolation(input=input, env={**base, **(env or {})}) as (out, err, _):
        code = run_guarded(cli, argv)
        done = Done(code, out.getvalue().decode(), err.getvalue().decode())
    assert "Traceback" not in done.err, done.err
    return done


def ok(home, *args, **kw) -> Done:
    done = tm(home, *args, **kw)
    assert done.code == 0, (args, done.out, done.err)
    return done


def refused(home, *args, code: int, says: str, **kw) -> Done:
    """A command that must fail: exit ``code`` and one line on stderr containing ``says``."""
    done = tm(home, *args, **kw)
    assert done.code == code, (args, done.code, done.out, done.err)
    assert done.err.count("\n") == 1 and says in done.err, done.err
    return done
