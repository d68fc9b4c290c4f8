"""A failing machine: kill -9 a node again and again while it imports, syncs and takes gossip.

For ``tests/test_hostile_crash.py`` (a few kills) and ``bench/crash.py``
(twenty and more), so both run the same loop::

    figures = crash_loop(root, kills=5)

A source node A holds a store made beforehand; the victim V joins it fresh
(so its first rounds are a catch-up sync), while a thread posts bundles of
fresh records to V's import API and another keeps A making records that
reach V by gossip. V is killed with SIGKILL at a random moment, then, with
V dead: SQLite's integrity check on its file, and every record V reported
stored must be in it - each bundle whose import answered (all its records),
and each record V announced on its event stream (what it tells the CLI,
the web view and apps). V restarts on the same home each time; at the end,
sync must complete what was missing: V holds everything A holds.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

from trustmesh.core.ledger import now_ms
from trustmesh.crypto.keys import Identity
from trustmesh.protocol.records import record_id
from trustmesh.store import Store
from trustmesh.testing.cluster import NodeError, NodeProcess
from trustmesh.testing.records import attestation_chain, fill_store


def _importer(v: NodeProcess, stop: threading.Event, reported: set[str], rng: random.Random,
              batch: int) -> None:
    """Post bundles of fresh records to V until stopped; what an answered import stored is reported."""
    subjects = [Identity.generate().public_key for _ in range(20)]
    while not stop.is_set():
        raws = attestation_chain(Identity.generate(), subjects, batch, rng=rng)
        try:
            answer = v.import_raws(raws)
        except Exception:           # V died mid-request: nothing of this bundle was reported
            return
        if answer.get("accepted", 0) + answer.get("duplicate", 0) == len(raws):
            reported.update(record_id(r).hex() for r in raws)


def _gossiper(a: NodeProcess, stop: threading.Event) -> None:
    """A makes an attestation every 50 ms (gossiped to V)."""
    subject = Identity.generate().id
    while not stop.is_set():
        try:
            a.attest(subject)
        except NodeError:
            return
        stop.wait(0.05)


def _ids(node: NodeProcess) -> set[str]:
    """The node's record ids; asked again once if a kept-alive connection was closed under us."""
    try:
        return node.ids()
    except NodeError:
        time.sleep(1.0)
        return node.ids()


def check_store(path: Path, reported: set[str]) -> tuple[str, set[str], int]:
    """SQLite's integrity check, the reported ids missing, and the count held, of a dead node's store."""
    with Store.open(path) as store:
        result = store.integrity_check()
        held = {rid.hex() for rid in store.all_ids()}
    return result, reported - held, len(held)


def crash_loop(root: Path, kills: int = 5, *, seed: int = 1, source_records: int = 10_000,
               batch: int = 200, settle_s: float = 60.0, log=print) -> dict:
    """Kill V ``kills`` times (see the module doc); the figures. AssertionError on a lost record."""
    rng = random.Random(seed)
    root = Path(root)
    fill_store(root / "a", source_records, authors=50)
    a = NodeProcess(root / "a").start(60)
    v = NodeProcess(root / "v", bootstrap=[a.addr])
    reported: set[str] = set()
    figures: dict = {"kills": 0, "restart_s": [], "held_at_kill": [], "reported": 0, "integrity": []}
    try:
        started = time.monotonic()
        v.start(60)
        figures["first_start_s"] = round(time.monotonic() - started, 2)
        for k in range(kills):
            stop = threading.Event()
            workers = [threading.Thread(target=_importer, args=(v, stop, reported, rng, batch)),
                       threading.Thread(target=_gossiper, args=(a, stop))]
            for w in workers:
                w.start()
            # the random moment of the crash (not a wait); the first comes early, inside the
            # catch-up of A's records, which the faster sync ingest now ends within about a second
            time.sleep(rng.uniform(0.05, 0.3) if k == 0 else rng.uniform(0.3, 3.0))
            announced = set(v.records)              # what V's event stream said it stored
            v.kill()
            stop.set()
            for w in workers:
                w.join()
            reported |= announced
            integrity, missing, held = check_store(v.home / "store.sqlite", reported)
            figures["integrity"].append(integrity)
            figures["held_at_kill"].append(held)
            assert integrity == "ok", f"kill {k + 1}: integrity check: {integrity}"
            assert not missing, f"kill {k + 1}: {len(missing)} records reported stored are gone"
            started = time.monotonic()
            v.restart(60)
            figures["restart_s"].append(round(time.monotonic() - started, 2))
            figures["kills"] += 1
            log(f"kill {k + 1}/{kills}: V held {held} records, {len(reported)} reported stored, none lost; "
                f"integrity {integrity}; restarted in {figures['restart_s'][-1]} s")
        want = _ids(a)
        started = time.monotonic()
        while time.monotonic() - started < settle_s and not want <= _ids(v):
            time.sleep(0.5)
        missing = want - _ids(v)
        figures["catch_up_s"] = round(time.monotonic() - started, 1)
        figures["reported"] = len(reported)
        figures["source_held"] = len(want)
        assert not missing, f"sync left {len(missing)} of A's records missing on V after {settle_s} s"
        assert reported <= _ids(v), "a record reported stored is missing after the last restart"
    finally:
        v.stop()
        a.stop()
    return figures


__all__ = ["crash_loop", "check_store"]
