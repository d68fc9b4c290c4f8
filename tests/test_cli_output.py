"""Human output: plain columns when piped or with NO_COLOR, colour only on a terminal; completion.

Piped output in this process (``invoke_cli``); a real process where it is the
point: stdout on a pseudo-terminal, and what the command imports at start.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys

from trustmesh.testing import environment, invoke_cli

BOB = "12D3KooWEN94n2GW3NVygr9HGNfkMGc6dPC5ZkgaACv1TXL9cR2R"


def tm(home, *args, **env):
    return invoke_cli(home, *args, env=env)


def on_terminal(home, *args, **env) -> str:
    """Run with stdout on a pseudo-terminal; what it printed."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "trustmesh", "--home", str(home), *args],
                            stdout=follower, stderr=subprocess.PIPE, env={**environment(), "COLUMNS": "200", **env})
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    proc.wait(30)
    os.close(leader)
    return out.decode()


def test_tables_are_plain_when_piped_and_coloured_only_on_a_terminal(tmp_path):
    home = tmp_path / "h"
    assert tm(home, "init").returncode == 0
    assert tm(home, "attest", BOB, "payment", "--positive", "--new-member", "--note", "a long note " * 5).returncode == 0
    piped = tm(home, "records").stdout
    assert "\x1b[" not in piped
    lines = piped.splitlines()
    assert lines[0].split() == ["ID", "TYPE", "ISSUED", "AUTHOR", "ABOUT", "WHAT", "STATUS"]
    assert len(lines) == 2 and 'payment + "a long note a long note a lon…"' in lines[1]   # never wrapped
    assert "\x1b[1m" in on_terminal(home, "records")                  # bold header on a terminal
    assert "\x1b[" not in on_terminal(home, "records", NO_COLOR="1")
    ranked = tm(home, "rank", "--facet", "payment").stdout.splitlines()
    assert ranked[0].split() == ["VERDICT", "LOWER", "SCORE", "UNCERTAINTY", "EVIDENCE", "MEMBER", "SUBJECT"]
    assert ranked[1].split()[-1] == BOB


def test_completion_scripts_for_each_shell(tmp_path):
    for shell, marker in (("bash", "complete -o nosort -F"), ("zsh", "#compdef trustmesh"),
                          ("fish", "complete --no-files --command trustmesh")):
        out = tm(tmp_path, "completion", shell)
        assert out.returncode == 0 and marker in out.stdout and "_TRUSTMESH_COMPLETE" in out.stdout
    asked = invoke_cli(None, env={"_TRUSTMESH_COMPLETE": "bash_complete",
                                  "COMP_WORDS": "trustmesh sta", "COMP_CWORD": "1"})
    assert "plain,status" in asked.stdout.splitlines()
    assert tm(tmp_path, "completion", "tcsh").returncode == 2


def test_the_cli_starts_without_the_heavy_libraries():
    loaded = subprocess.run([sys.executable, "-c", "import sys, trustmesh.cli; print(' '.join(sys.modules))"],
                            capture_output=True, text=True, timeout=30, env=environment()).stdout.split()
    assert not {"libp2p", "numpy", "scipy", "rich", "httpx", "starlette", "hypercorn"} & set(loaded)
