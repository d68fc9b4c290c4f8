"""Shared fixtures: fixed identities and a clock, real stores in tmp dirs."""

from __future__ import annotations

import pytest

from trustmesh.crypto.keys import Identity
from trustmesh.core.ledger import Ledger

NOW = 1_790_000_000_000  # a fixed "now" (2026-09-21) for the pure layers


def member(n: int) -> Identity:
    """A deterministic identity: seed = n repeated."""
    return Identity.from_seed(bytes([n]) * 32)


@pytest.fixture
def alice() -> Identity:
    return member(1)


@pytest.fixture
def bob() -> Identity:
    return member(2)


@pytest.fixture
def make_ledger(tmp_path):
    """Ledgers on real SQLite files, each with a fixed identity and a settable clock."""
    opened = []

    def make(n: int, clock=lambda: NOW) -> Ledger:
        ledger = Ledger.create(tmp_path / f"home{n}", identity=member(n))
        ledger.clock = clock
        opened.append(ledger)
        return ledger

    yield make
    for ledger in opened:
        ledger.close()


@pytest.fixture
def web():
    """A plain HTTP client for a test's requests to a node's TCP listener.

    One per test: ``httpx.get`` builds a TLS context on every call (a few
    tenths of a second each on a loaded machine). Requests set their own
    cookies; call ``web.cookies.clear()`` after a response that set one.
    """
    import httpx
    with httpx.Client(timeout=30) as client:
        yield client
