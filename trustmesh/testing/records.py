"""Valid signed records in bulk, for tests and benchmarks (made in this process, no node)."""

from __future__ import annotations

import random
from pathlib import Path

from trustmesh.core.ledger import Ledger, now_ms
from trustmesh.crypto.keys import Identity
from trustmesh.protocol.records import Attestation, encode, record_id, sign


def attestation_chain(author: Identity, subjects: list[bytes], n: int, *, issued: int | None = None,
                      facet: str = "payment", rng: random.Random | None = None) -> list[bytes]:
    """``n`` chained positive attestations by ``author`` about random ``subjects``; their bytes."""
    rng = rng or random.Random()
    now = now_ms() - 60_000 if issued is None else issued
    raws, prev = [], None
    for seq in range(1, n + 1):
        subject = rng.choice(subjects)
        if subject == author.public_key:
            subject = next(s for s in subjects if s != author.public_key)
        raw = encode(sign(Attestation(author.public_key, seq, prev, now, subject, facet, True,
                                      None, None, now, None, None), author))
        prev = record_id(raw)
        raws.append(raw)
    return raws


def fill_store(home: Path, n_records: int, authors: int = 1000) -> int:
    """Make a node home holding ``n_records`` valid attestations by ``authors`` others; their total size."""
    ledger = Ledger.create(home)
    people = [Identity.generate() for _ in range(authors)]
    subjects = [p.public_key for p in people] + [ledger.identity.public_key]
    per = -(-n_records // authors)
    total = made = 0
    try:
        for person in people:
            count = min(per, n_records - made)
            if count <= 0:
                break
            raws = attestation_chain(person, subjects, count)
            for start in range(0, len(raws), 20_000):
                ledger.store.ingest(raws[start:start + 20_000], now_ms())
            total += sum(len(r) for r in raws)
            made += count
    finally:
        ledger.close()
    return total


def store_unchecked(path: Path, raw: bytes) -> bytes:
    """Write ``raw`` into the store file at ``path`` with no check at all; its id.

    For tests only: it stands for a record that an older version, with
    looser rules, stored and that today's rules refuse.
    """
    import sqlite3

    from trustmesh.protocol.records import decode
    from trustmesh.store.checks import row
    from trustmesh.store.schema import COLUMNS
    rid = record_id(raw)
    conn = sqlite3.connect(path)
    try:
        conn.execute(f"INSERT INTO records ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                     row(rid, decode(raw, allow_proposal=True, stored=True), raw, now_ms()))
        conn.commit()
    finally:
        conn.close()
    return rid
