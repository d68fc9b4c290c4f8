"""What one key event costs on a large store (issue 15): the store of ``bench/trust.py`` (1M attestations).

    python bench/trust.py --dir DIR          # fills the store once (minutes)
    cp DIR/store-100000-250000-1000000.sqlite /tmp/k.sqlite
    python bench/key_event.py /tmp/k.sqlite  # adds two key events to that copy

A member of the bench world (its key comes from the bench's fixed seeds)
starts its key chain and rotates to its successor. Printed: the full trust
read of the store, the ingest of each key event, and the trust load after
the rotation (what the engine re-reads: the rows by and about the rekeyed
member, not the store) against the full read, in the same run.
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nacl.bindings import crypto_sign_seed_keypair  # noqa: E402

from trustmesh.core.trustview import TrustEngine  # noqa: E402
from trustmesh.crypto.keys import Identity  # noqa: E402
from trustmesh.protocol import keyevents  # noqa: E402
from trustmesh.protocol.records import encode  # noqa: E402
from trustmesh.store import Store  # noqa: E402


def seed(i: int) -> bytes:
    return hashlib.sha256(b"trustmesh-bench-%d" % i).digest()     # as bench/trust.py


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    store = Store.open(Path(sys.argv[1]))
    now = int(time.time() * 1000)
    engine = TrustEngine(store, crypto_sign_seed_keypair(seed(12_345))[0])
    t = time.perf_counter(); engine.load(now); full = time.perf_counter() - t
    engine.refresh(now)
    member = Identity.from_seed(seed(54_321))
    successor, following = Identity.generate(), Identity.generate()
    incept = keyevents.incept(member, successor.public_key, now)
    t = time.perf_counter(); store.ingest([encode(incept)], now); ingest_incept = time.perf_counter() - t
    rotate = keyevents.rotate(store.key_state(member.public_key), successor, following.public_key, now + 1)
    t = time.perf_counter(); store.ingest([encode(rotate)], now + 1); ingest_rotate = time.perf_counter() - t
    full_before = engine.full_loads
    t = time.perf_counter(); engine.load(now + 2); after = time.perf_counter() - t
    t = time.perf_counter(); engine.refresh(now + 2); refresh = time.perf_counter() - t
    print(f"store: {store.counts()}")
    print(f"full trust read {full:.2f} s; ingest: inception {ingest_incept * 1000:.1f} ms, "
          f"rotation {ingest_rotate * 1000:.1f} ms")
    print(f"trust load after the rotation {after:.2f} s = {after / full:.2f}x the full read "
          f"(a full read again: {engine.full_loads > full_before}); weights refresh after it {refresh:.2f} s")
    store.close()


if __name__ == "__main__":
    main()
