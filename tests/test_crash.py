"""kill -9 in the middle of batch ingests: the store stays sound and keeps every record it reported."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

from trustmesh.store import Store
from trustmesh.protocol.records import record_id

ROOT = Path(__file__).resolve().parent.parent

# The victim: ingests batches of fresh signed attestations into a real store and
# prints each batch's accepted ids on one line as soon as ingest returns.
CHILD = r"""
import sys
from trustmesh.crypto.keys import Identity
from trustmesh.core.ledger import now_ms
from trustmesh.store import ACCEPTED, Store
from trustmesh.protocol.records import Attestation, encode, record_id, sign

path, round_no = sys.argv[1], int(sys.argv[2])
authors = [Identity.from_seed(bytes([round_no, n]) * 16) for n in range(40)]
subject = Identity.from_seed(b"\xee" * 32).public_key
heads = {a.public_key: (0, None) for a in authors}
store = Store.open(path)
print("ready", flush=True)
for batch in range(200):                       # bounded: ends by itself if nobody kills it
    raws = []
    for k in range(1000):
        author = authors[k % len(authors)]
        seq, prev = heads[author.public_key]
        now = now_ms()
        raw = encode(sign(Attestation(author.public_key, seq + 1, prev, now, subject, "payment",
                                      k % 3 != 0, None, None, now, None, None), author))
        heads[author.public_key] = (seq + 1, record_id(raw))
        raws.append(raw)
    results = store.ingest(raws, now_ms())
    sys.stdout.write(" ".join(r.id.hex() for r in results if r.status == ACCEPTED) + "\n")
    sys.stdout.flush()
"""


def test_records_reported_stored_survive_kill_9(tmp_path):
    path = tmp_path / "store.sqlite"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    reported: set[str] = set()
    rng = random.Random(7)
    for round_no in range(1, 4):            # each round reopens the store the last one crashed on
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(round_no)],
                                 stdout=subprocess.PIPE, text=True, env=env)
        try:
            assert child.stdout.readline() == "ready\n"
            for _ in range(round_no + 1):
                line = child.stdout.readline()
                assert line.endswith("\n"), "the child ended before being killed"
                ids = line.split()
                assert len(ids) == 1000
                reported.update(ids)
            # kill while the next batch is being signed, verified or committed
            signal_after = rng.uniform(0.0, 0.15)
            try:
                child.wait(timeout=signal_after)
            except subprocess.TimeoutExpired:
                pass
            os.kill(child.pid, signal.SIGKILL)
            # a batch finished between our last read and the kill was reported too
            for line in child.stdout.read().splitlines(keepends=True):
                if line.endswith("\n"):
                    reported.update(line.split())
        finally:
            if child.poll() is None:
                child.kill()
            child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL

    with Store.open(path) as store:
        assert store.integrity_check() == "ok"
        held = {record_id(raw).hex() for raw in store.iter_raw()}
    assert reported - held == set()
    assert len(reported) >= 9000
    assert len(held) % 1000 == 0                # a batch is one transaction: all of it or none
