"""Attack-simulation harness for the trust model: the full table quoted in docs/trust.md.

The worlds, the attacks and the measures live in the public test kit
(``trustmesh.testing.worlds``, ``.measures``, ``.scenarios``), shared with
``tests/test_trust_attacks.py``, which runs each row at a small size. Run
``python bench/attacks.py`` for everything, ``--only WORD`` for the rows
whose group contains WORD (sybils, threat, grid, learning, scammer, verdicts,
slander, facets, others, rotation; several as WORD,WORD); ``--set NAME=VALUE``
runs them with one ``TrustConfig`` field changed, as a control; ``--seed N`` builds the
grid's and the learning rows' worlds from another seed (the tails move with the worlds).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trustmesh.testing import scenarios as sc  # noqa: E402
from trustmesh.testing.worlds import TOPOLOGIES  # noqa: E402
from trustmesh.trust import DEFAULT, TrustConfig  # noqa: E402


def groups(config: TrustConfig = DEFAULT, seed: int = 2) -> dict:
    """Each group of rows, as functions to call (full size), all with ``config``; the grid's
    and the learning rows' worlds from ``seed`` (and ``seed + 10``)."""
    c = config
    return {
        "sybils": [lambda g=g: sc.sybil_scenario(10_000, 2_000, 100, graph=g, config=c) for g in TOPOLOGIES]
        + [lambda: sc.sybil_scenario(10_000, 10_000, 100, config=c)],
        "threat": [lambda m=m: sc.threat_scenario(3000, m, config=c) for m in ("liars", "collective")]
        + [lambda: sc.threat_scenario(3000, "camouflaged", sybils=3000, config=c),
           lambda: sc.threat_scenario(3000, "spies", sybils=3000, config=c)],
        "grid": [lambda s=s, m=m, f=f: sc.threat_scenario(3000, m, share=s, f=f, worlds=2, seed=seed, config=c)
                 for s in (0.1, 0.2, 0.3, 0.4)
                 for m, f in (("camouflaged", 0.3), ("camouflaged", 0.5), ("camouflaged", 0.7), ("spies", 0.5))],
        "learning": [lambda s=s: sc.learning_scenario(3000, "camouflaged", share=s, f=0.7, seed=seed, config=c)
                     for s in (0.2, 0.3, 0.4)],
        "scammer": [lambda: sc.scammer_scenario(sybils=1_000, jobs=100, config=c),
                    lambda: sc.scammer_scenario(sybils=5_000, jobs=100, config=c),
                    lambda: sc.scammer_scenario(sybils=1_000, jobs=30, config=c)],
        "verdicts": [lambda: sc.verdict_scenario(config=c), lambda: sc.poor_viewer_scenario(config=c)],
        "slander": [lambda: sc.slander_scenario(3000, config=c), lambda: sc.slander_ring_scenario(config=c)],
        "facets": [lambda: sc.late_payer_scenario(config=c)],
        "others": [lambda: sc.oscillator_scenario(3000, config=c), lambda: sc.whitewash_scenario(3000, config=c)],
        "rotation": [lambda: sc.rotation_scenario(3000, config=c)],
    }


def setting(text: str) -> tuple[str, float]:
    """``NAME=VALUE`` for ``--set``: a ``TrustConfig`` field and its number."""
    name, _, value = text.partition("=")
    if name not in {f.name for f in fields(TrustConfig)}:
        raise argparse.ArgumentTypeError(f"no TrustConfig field {name!r}")
    return name, type(getattr(DEFAULT, name))(value)


def print_row(row: dict) -> None:
    """One line: the scenario, then its metrics as name=value."""
    metrics = "  ".join(f"{k}={v:.4f}" if isinstance(v, float) and not math.isnan(v) else f"{k}={v}"
                        for k, v in row.items() if k != "scenario")
    print(f"{row['scenario']:<58}  {metrics}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run only the groups whose name contains this "
                        "(several words: comma-separated)")
    parser.add_argument("--set", action="append", type=setting, default=[], metavar="NAME=VALUE",
                        help="run with one TrustConfig field changed (a control: e.g. witness_reach=0 "
                        "applies the false-witness rule whatever the reach); repeatable")
    parser.add_argument("--seed", type=int, default=2, help="the grid's and the learning rows' worlds "
                        "from this seed and seed + 10 (default 2: the figures in docs/trust.md)")
    args = parser.parse_args()
    config = replace(DEFAULT, **dict(args.set))
    started = time.perf_counter()
    words = args.only.split(",")
    for name, rows in groups(config, args.seed).items():
        if any(word in name for word in words):
            for make in rows:
                print_row(make())
    print(f"({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
