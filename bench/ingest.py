"""Ingest speed: 100,000 signed attestations from 1,000 authors into a fresh store.

Prints verified records/s for the whole ingest (decode, checks, signature
verification, chain/fork checks, SQLite commit with synchronous=FULL), the
peak RSS, and the raw rates of encode, decode, sign and verify.

    .venv/bin/python bench/ingest.py [--records N] [--authors N] [--batch N]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import resource
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trustmesh.crypto.keys import Identity  # noqa: E402
from trustmesh.crypto.sign import verify  # noqa: E402
from trustmesh.node.store import ACCEPTED, Store  # noqa: E402
from trustmesh.protocol.facets import CORE_FACETS  # noqa: E402
from trustmesh.protocol.records import Attestation, decode, encode, sign, signing_input  # noqa: E402

NOW = 1_790_000_000_000
NOTES = ["paid on time", "delivered two days late", "excellent work", "slow to answer",
         "invoice INV-{} settled", None, None, None]


def generate(n_records: int, n_authors: int) -> list[bytes]:
    """Signed attestations with proper per-author chains, shuffled across authors."""
    rng = random.Random(7)
    authors = [Identity.from_seed(hashlib.sha256(b"author%d" % i).digest()) for i in range(n_authors)]
    keys = [a.public_key for a in authors]
    heads = [(0, None)] * n_authors
    facets = list(CORE_FACETS) + ["skill:accounting", "skill:python"]
    raws = []
    for k in range(n_records):
        i = k % n_authors
        seq, prev = heads[i]
        subject = keys[(i + 1 + rng.randrange(n_authors - 1)) % n_authors]
        note = rng.choice(NOTES)
        record = Attestation(
            keys[i], seq + 1, prev, NOW - rng.randrange(10**9), subject, rng.choice(facets),
            rng.random() < 0.8, rng.randbytes(32) if rng.random() < 0.5 else None, None,
            NOW - 10**9 - rng.randrange(10**9), None, note.format(k) if note else None)
        raw = encode(sign(record, authors[i]))
        heads[i] = (seq + 1, hashlib.sha256(raw).digest())
        raws.append(raw)
    return raws


def rate(label: str, n: int, seconds: float) -> None:
    print(f"  {label:28} {n / seconds:>12,.0f} /s")


def raw_rates(raws: list[bytes]) -> None:
    sample = raws[:20_000]
    records = [decode(r) for r in sample]
    author = Identity.from_seed(b"\x01" * 32)
    t = time.perf_counter(); [encode(r) for r in records]; rate("encode", len(sample), time.perf_counter() - t)
    t = time.perf_counter(); [decode(r) for r in sample]; rate("decode (canonical check)", len(sample), time.perf_counter() - t)
    msgs = [signing_input(r) for r in records[:5000]]
    t = time.perf_counter(); [author.sign(m) for m in msgs]; rate("sign", len(msgs), time.perf_counter() - t)
    jobs = [(r.author, r.sig, m) for r, m in zip(records, msgs)]
    t = time.perf_counter(); [verify(*j) for j in jobs]; rate("verify, 1 thread", len(jobs), time.perf_counter() - t)
    with ThreadPoolExecutor(2) as pool:
        half = len(jobs) // 2
        t = time.perf_counter()
        list(pool.map(lambda part: [verify(*j) for j in part], [jobs[:half], jobs[half:]]))
        rate("verify, 2 threads", len(jobs), time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--authors", type=int, default=1_000)
    parser.add_argument("--batch", type=int, default=5_000)
    args = parser.parse_args()

    t = time.perf_counter()
    raws = generate(args.records, args.authors)
    print(f"generated {len(raws):,} signed attestations from {args.authors:,} authors "
          f"in {time.perf_counter() - t:.1f} s (avg {sum(map(len, raws)) / len(raws):.0f} bytes)")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "store.sqlite")
        accepted = 0
        t = time.perf_counter()
        batches = (raws[start:start + args.batch] for start in range(0, len(raws), args.batch))
        for results in store.ingest_stream(batches, NOW):
            accepted += sum(r.status == ACCEPTED for r in results)
        elapsed = time.perf_counter() - t
        size = os.path.getsize(Path(tmp) / "store.sqlite")
        store.close()
    assert accepted == len(raws), f"only {accepted} accepted"
    print(f"ingest: {accepted:,} verified records in {elapsed:.2f} s = "
          f"{accepted / elapsed:,.0f} records/s  (target >= 20,000/s; batch {args.batch}, "
          f"store {size / 2**20:.0f} MiB)")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB "
          f"(holding all {len(raws):,} records in memory), largest verifier worker "
          f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MiB")
    print("raw rates (this machine, 150-250 byte records):")
    raw_rates(raws)


if __name__ == "__main__":
    main()
