"""Attack-simulation harness for the trust model: the full table quoted in docs/trust.md.

The worlds, the attacks and the measures live in the public test kit
(``trustmesh.testing.worlds``, ``.measures``, ``.scenarios``), shared with
``tests/test_trust_attacks.py``, which runs each row at a small size. Run
``python bench/attacks.py`` for everything, ``--only WORD`` for the rows
whose group contains WORD (sybils, threat, grid, scammer, verdicts,
slander, facets, others, rotation; several as WORD,WORD).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trustmesh.testing import scenarios as sc  # noqa: E402
from trustmesh.testing.worlds import TOPOLOGIES  # noqa: E402


def groups() -> dict:
    """Each group of rows, as functions to call (full size)."""
    return {
        "sybils": [lambda g=g: sc.sybil_scenario(10_000, 2_000, 100, graph=g) for g in TOPOLOGIES]
        + [lambda: sc.sybil_scenario(10_000, 10_000, 100)],
        "threat": [lambda m=m: sc.threat_scenario(3000, m) for m in ("liars", "collective")]
        + [lambda: sc.threat_scenario(3000, "camouflaged", sybils=3000),
           lambda: sc.threat_scenario(3000, "spies", sybils=3000)],
        "grid": [lambda s=s, m=m, f=f: sc.threat_scenario(3000, m, share=s, f=f, worlds=2)
                 for s in (0.1, 0.2, 0.3, 0.4)
                 for m, f in (("camouflaged", 0.3), ("camouflaged", 0.5), ("camouflaged", 0.7), ("spies", 0.5))],
        "scammer": [lambda: sc.scammer_scenario(sybils=1_000, jobs=100),
                    lambda: sc.scammer_scenario(sybils=5_000, jobs=100),
                    lambda: sc.scammer_scenario(sybils=1_000, jobs=30)],
        "verdicts": [lambda: sc.verdict_scenario()],
        "slander": [lambda: sc.slander_scenario(3000), lambda: sc.slander_ring_scenario()],
        "facets": [lambda: sc.late_payer_scenario()],
        "others": [lambda: sc.oscillator_scenario(3000), lambda: sc.whitewash_scenario(3000)],
        "rotation": [lambda: sc.rotation_scenario(3000)],
    }


def print_row(row: dict) -> None:
    """One line: the scenario, then its metrics as name=value."""
    metrics = "  ".join(f"{k}={v:.4f}" if isinstance(v, float) and not math.isnan(v) else f"{k}={v}"
                        for k, v in row.items() if k != "scenario")
    print(f"{row['scenario']:<58}  {metrics}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run only the groups whose name contains this "
                        "(several words: comma-separated)")
    args = parser.parse_args()
    started = time.perf_counter()
    words = args.only.split(",")
    for name, rows in groups().items():
        if any(word in name for word in words):
            for make in rows:
                print_row(make())
    print(f"({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
