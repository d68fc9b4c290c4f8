"""`trustmesh demo`: real node processes converge and each prints its view of trust."""

from __future__ import annotations

import subprocess
import sys

from trustmesh.testing import environment


def test_demo_converges_and_prints_each_members_view_of_trust():
    out = subprocess.run([sys.executable, "-m", "trustmesh", "demo", "--nodes", "3"],
                         capture_output=True, text=True, timeout=120, env=environment())
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("converged: every node holds the same") for line in lines), out.stdout
    views = [line for line in lines if "its view of trust" in line]
    assert len(views) == 3
    # every member has first-hand evidence about the member it dealt with
    assert sum(1 for line in lines if line.startswith("    ") and "payment" in line) >= 3
    assert lines[-1] == "stopped all nodes"
