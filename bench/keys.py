"""What key events cost (issue 15): ingest and trust with rotated members and second devices.

    python bench/keys.py [--members 20000] [--per-member 10]

Two worlds from one seed, on real store files: the same scale-free network
of members and the same attestations among neighbours (a few deal-backed);
in the second, 10% of the members rotated once halfway through their
history (their later records are signed by the successor, and later
records about them name it) and 20% have a second device that signs half
of their records, with the key events that say so. Printed, as ratios in
this run (the machine is shared): ingest time, the first trust read and
weights refresh, one trust() answer; then on the keyed store the cost of one
more key event (a device revoked, voiding what it signed after a date):
the load after it against a full read, and how many rows it re-read.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trustmesh.core.trustview import EvidenceColumns, TrustEngine  # noqa: E402
from trustmesh.crypto.keys import Identity  # noqa: E402
from trustmesh.protocol import keyevents  # noqa: E402
from trustmesh.protocol.keystate import resolve  # noqa: E402
from trustmesh.protocol.records import Attestation, encode, record_id, sign  # noqa: E402
from trustmesh.store import Store  # noqa: E402
from trustmesh.testing.worlds import scale_free  # noqa: E402

T0 = 1_780_000_000_000
STEP = 60_000


def world(members: int, per_member: int, keyed: bool, seed: int = 7):
    """(raws, viewer key, a (member, device, first) to revoke later or None)."""
    rng = random.Random(seed)
    np_rng = np.random.default_rng(seed)
    edges = scale_free(members, 3, np_rng)
    neighbours: list[list[int]] = [[] for _ in range(members)]
    for a, b in edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
    firsts = [Identity.from_seed(rng.randbytes(32)) for _ in range(members)]
    half = T0 + per_member * STEP // 2
    rotated = set(rng.sample(range(members), members // 10)) if keyed else set()
    devices = {m: Identity.from_seed(rng.randbytes(32)) for m in rng.sample(range(members), members // 5)} if keyed else {}
    successors = {m: Identity.from_seed(rng.randbytes(32)) for m in rotated}
    raws: list[bytes] = []
    states = {}
    for m in sorted(rotated | set(devices)):
        first = firsts[m]
        nxt = successors.get(m) or Identity.generate()
        events = [keyevents.incept(first, nxt.public_key, T0 - 10 * STEP)]
        state = resolve(first.public_key, [(record_id(encode(e)), e) for e in events])
        if m in devices:
            events.append(keyevents.consent(keyevents.add_device(state, first, devices[m].public_key,
                                                                 T0 - 9 * STEP), devices[m]))
            state = resolve(first.public_key, [(record_id(encode(e)), e) for e in events])
        if m in rotated:
            events.append(keyevents.rotate(state, successors[m], Identity.generate().public_key, half))
        raws.extend(encode(e) for e in events)
        states[m] = events

    def key_of(m: int, at: int, signer: bool, k: int) -> Identity | bytes:
        if m in rotated and at >= half:
            ident = successors[m]
        elif signer and m in devices and k % 2:
            ident = devices[m]
        else:
            ident = firsts[m]
        return ident if signer else ident.public_key

    heads: dict[bytes, tuple[int, bytes | None]] = {}
    for m in range(members):
        for k in range(per_member):
            at = T0 + k * STEP
            author = key_of(m, at, True, k)
            subject = key_of(rng.choice(neighbours[m]), at, False, k)
            seq, prev = heads.get(author.public_key, (0, None))
            raw = encode(sign(Attestation(author.public_key, seq + 1, prev, at, subject, "quality",
                                          rng.random() < 0.9, None, None, at, None, None), author))
            heads[author.public_key] = (seq + 1, record_id(raw))
            raws.append(raw)
    revoke = None
    if devices:
        m = next(m for m in devices if m not in rotated)
        revoke = (firsts[m], devices[m].public_key, states[m])
    return raws, firsts[0].public_key, revoke


def measure(members: int, per_member: int, keyed: bool, folder: Path) -> dict:
    raws, viewer, revoke = world(members, per_member, keyed)
    path = folder / ("keyed.db" if keyed else "plain.db")
    out: dict = {"records": len(raws)}
    with Store.open(path) as store:
        start = time.perf_counter()
        for _ in store.ingest_stream(raws, T0 + 10**9):
            pass
        out["ingest_s"] = time.perf_counter() - start
        engine = TrustEngine(store, viewer)
        start = time.perf_counter()
        model = engine.load(T0 + 10**9)
        out["first_read_s"] = time.perf_counter() - start
        start = time.perf_counter()
        model.weights(T0 + 10**9)
        out["refresh_s"] = time.perf_counter() - start
        if revoke is not None:
            first, device, _ = revoke
            event = keyevents.revoke(store.key_state(first.public_key), first, device,
                                     T0 + per_member * STEP // 2, T0 + 10**9)
            before = engine.full_loads
            start = time.perf_counter()
            store.ingest([encode(event)], T0 + 10**9)
            out["event_ingest_s"] = time.perf_counter() - start
            start = time.perf_counter()
            engine.refresh(T0 + 10**9)
            out["after_event_s"] = time.perf_counter() - start
            out["after_event_full_read"] = engine.full_loads > before
            start = time.perf_counter()
            EvidenceColumns.read(store)
            out["full_read_s"] = time.perf_counter() - start
            out["voided"] = len(store.voided(device))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--per-member", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plain = measure(args.members, args.per_member, False, Path(tmp))
        keyed = measure(args.members, args.per_member, True, Path(tmp))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"{args.members} members, {plain['records']} records (plain) / {keyed['records']} (keyed)")
    for name in ("ingest_s", "first_read_s", "refresh_s"):
        print(f"{name:14} plain {plain[name]:7.2f} s   keyed {keyed[name]:7.2f} s   ratio {keyed[name] / plain[name]:.2f}x")
    print(f"one more key event (a device revoked, {keyed['voided']} records voided): ingest "
          f"{keyed['event_ingest_s'] * 1000:.1f} ms; the trust load after it {keyed['after_event_s']:.2f} s "
          f"({'a full read' if keyed['after_event_full_read'] else 'incremental'}) against a full read "
          f"{keyed['full_read_s']:.2f} s: ratio {keyed['after_event_s'] / keyed['full_read_s']:.2f}x")


if __name__ == "__main__":
    main()
