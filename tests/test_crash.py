"""A store killed with SIGKILL in the middle of an ingest keeps every record it reported."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from tests.clitools import ROOT
from trustmesh.node.store import Store

WRITER = textwrap.dedent("""
    import sys
    from trustmesh.crypto.keys import Identity
    from trustmesh.node.store import Store
    from trustmesh.protocol.records import Attestation, encode, sign

    store = Store.open(sys.argv[1])
    authors = [Identity.from_seed(bytes([n]) * 32) for n in range(1, 9)]
    subject = Identity.from_seed(b"\\xee" * 32).public_key
    now, heads = 1_790_000_000_000, {}
    for batch_no in range(10_000):
        batch = []
        for author in authors:
            seq, prev = heads.get(author.public_key, (0, None))
            record = sign(Attestation(author.public_key, seq + 1, prev, now, subject, "quality",
                                      True, None, None, now, None, f"batch {batch_no}"), author)
            raw = encode(record)
            batch.append(raw)
            import hashlib
            heads[author.public_key] = (seq + 1, hashlib.sha256(raw).digest())
        for result in store.ingest(batch, now):
            assert result.status == "accepted", result
            print(result.id.hex(), flush=True)
""")


def test_sigkill_mid_ingest_loses_nothing_reported(tmp_path):
    path = tmp_path / "store.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    reported = []
    try:
        for line in proc.stdout:
            reported.append(bytes.fromhex(line.strip()))
            if len(reported) >= 400:
                break
        proc.send_signal(signal.SIGKILL)
        # drain what was printed before the kill: all of it was committed
        reported += [bytes.fromhex(line.strip()) for line in proc.stdout if len(line.strip()) == 64]
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert len(reported) >= 400
    with Store.open(path) as store:
        assert store.integrity_check() == "ok"
        held = set(store.held(reported))
        assert held == set(reported)
        # every author's chain is whole: no gap, no fork, after the crash
        assert store.equivocators() == set()
        assert sum(store.counts().values()) >= len(reported)
