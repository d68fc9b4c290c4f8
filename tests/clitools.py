"""Running the real ``trustmesh`` command in a subprocess, as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


def trustmesh(*args: str, home: Path | None = None, timeout: float = 60, **env: str) -> Run:
    """Run ``trustmesh [--home H] args…`` and capture everything."""
    argv = [sys.executable, "-m", "trustmesh"]
    if home is not None:
        argv += ["--home", str(home)]
    proc = subprocess.run(
        argv + list(args), capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", **env},
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)
