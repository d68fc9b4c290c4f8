"""The long fuzz run: at least 1,000,000 cases over every decoder, cases/s and any failure.

    python bench/fuzz.py [--cases 1000000] [--seed 1] [--jobs 2]

Each job runs the kit in ``trustmesh/testing/fuzzing.py`` with its own seed
(seed, seed+1, ...), so a run replays exactly. Prints, per target, the
cases run and the failures, the overall cases/s, and for each distinct
failure the target, the error, the traceback and the input in hex
(``tests/test_fuzz.py`` checks that the mutated inputs get past the first
check often enough to mean something).
As a reference measured in the same run, it prints the cases/s of the
seeds alone (unmutated inputs, the honest path): the ratio says what the
mutated inputs cost against honest ones on this machine, now.
Exit status 1 if anything but our typed errors came out.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trustmesh.testing.fuzzing import _SEED_OF, TARGETS, cases, run_case, seeds  # noqa: E402


def job(args: tuple[int, int]) -> tuple[Counter, Counter, list[str], float]:
    seed, n = args
    per, errors, failures, seen = Counter(), Counter(), [], set()
    start = time.perf_counter()
    for target, data in cases(seed=seed, n=n):
        per[target] += 1
        failure = run_case(target, data)
        if failure is not None:
            errors[target] += 1
            key = (target, failure.error[:80])
            if key not in seen:
                seen.add(key)
                failures.append(failure.describe())
    return per, errors, failures, time.perf_counter() - start


def honest_rate(seconds: float = 3.0) -> float:
    """Cases/s of the unmutated seeds: the reference for this machine, now."""
    pool = seeds()
    work = [(t, d) for t in TARGETS for d in pool[_SEED_OF.get(t, t)]]
    for target, data in work:           # warm up: the first deal/peers case imports libp2p
        run_case(target, data)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for target, data in work:
            run_case(target, data)
        done += len(work)
    return done / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    reference = honest_rate()
    share = -(-args.cases // args.jobs)
    start = time.perf_counter()
    with multiprocessing.Pool(args.jobs) as pool:
        results = pool.map(job, [(args.seed + i, share) for i in range(args.jobs)])
    wall = time.perf_counter() - start
    per, errors, failures = Counter(), Counter(), []
    for p, e, f, _ in results:
        per += p
        errors += e
        failures += f
    total = sum(per.values())
    print(f"fuzz: {total:,} cases over {len(per)} targets, seeds {args.seed}..{args.seed + args.jobs - 1}, "
          f"{args.jobs} jobs, {wall:.1f} s")
    for target in sorted(per):
        print(f"  {target:16} {per[target]:>9,} cases  {errors[target]} failures")
    rate = total / wall
    print(f"cases/s: {rate:,.0f} (all jobs); honest seeds alone, one job: {reference:,.0f}/s; "
          f"ratio mutated/honest per job: {rate / args.jobs / reference:.2f}")
    print(f"failures: {sum(errors.values())} ({len(failures)} distinct)")
    for text in failures:
        print(text)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
