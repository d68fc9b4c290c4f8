"""CLI start-up: how long `trustmesh --help` and a simple offline command take. Prints its figures.

    python bench/cli.py      (target: --help under 0.3 s)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def timed(args: list[str], runs: int = 10) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "trustmesh", *args], capture_output=True, check=True, env=ENV)
        times.append(time.perf_counter() - start)
    return statistics.median(times), max(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        subprocess.run([sys.executable, "-m", "trustmesh", "--home", home, "init"], capture_output=True,
                       check=True, env=ENV)
        for label, args in (("trustmesh --help", ["--help"]), ("trustmesh id", ["--home", home, "id"]),
                            ("trustmesh records", ["--home", home, "records"])):
            median, worst = timed(args)
            print(f"{label:20} median {median * 1000:5.0f} ms, worst {worst * 1000:5.0f} ms over 10 runs")
    modules = subprocess.run([sys.executable, "-c", "import sys, trustmesh.cli; print(' '.join(sorted(sys.modules)))"],
                             capture_output=True, text=True, env=ENV).stdout.split()
    heavy = [m for m in ("libp2p", "numpy", "scipy", "rich", "httpx", "starlette") if m in modules]
    print(f"imported by the CLI before any command: {', '.join(heavy) or 'none of libp2p, numpy, scipy, rich, httpx, starlette'}")


if __name__ == "__main__":
    main()
