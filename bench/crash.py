"""kill -9 a node twenty times in a row during import, sync and gossip; what survived, how fast it came back.

    python bench/crash.py [--kills 20] [--records 20000] [--seed 1]

Runs ``trustmesh.testing.chaos.crash_loop`` (the loop ``tests/test_hostile_crash.py``
runs five times) and prints, per kill, the records held and reported stored
(none may be lost: the run stops with an AssertionError otherwise), the
integrity check, the restart time, and at the end the time the next sync took
to complete what was missing. Reference measured in the same run: the time a
clean first start of the same node took (restart times are printed as a ratio
to it, since the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trustmesh.testing.chaos import crash_loop  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--records", type=int, default=20_000, help="records the source node holds")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trustmesh-crash-") as root:
        figures = crash_loop(Path(root), args.kills, seed=args.seed, source_records=args.records)
    restarts = figures["restart_s"]
    first = figures["first_start_s"]
    print(f"kills: {figures['kills']}, integrity ok: {figures['integrity'].count('ok')}/{figures['kills']}, "
          f"records reported stored: {figures['reported']}, lost: 0")
    print(f"restart: median {statistics.median(restarts):.2f} s, max {max(restarts):.2f} s "
          f"(first clean start {first:.2f} s; ratio median/first {statistics.median(restarts) / first:.2f})")
    print(f"catch-up after the last restart: {figures['catch_up_s']} s to hold all "
          f"{figures['source_held']} records of the source")
    return 0


if __name__ == "__main__":
    sys.exit(main())
