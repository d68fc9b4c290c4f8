"""Redial backoff: when may we try a peer again after failing to reach it (pure).

Why our own: py-libp2p refuses to redial a peer for a fixed 60 s after a
failure, even once it is back. We clear that cache before each dial and
keep this schedule instead: quick retries first (a restarted peer is back
within seconds), doubling up to a ceiling (a gone peer costs little).
Times are seconds on any monotonic clock, passed in.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _State:
    failures: int = 0
    next_try: float = 0.0


class Backoff:
    """Per-key exponential backoff: ``min_s``, 2x, 4x … capped at ``max_s``."""

    def __init__(self, min_s: float, max_s: float) -> None:
        self.min_s = min_s
        self.max_s = max_s
        self._states: dict[object, _State] = {}

    def due(self, key: object, now: float) -> bool:
        """True when ``key`` may be tried at ``now``."""
        state = self._states.get(key)
        return state is None or now >= state.next_try

    def failed(self, key: object, now: float) -> float:
        """Record a failed try; the time of the next allowed one."""
        state = self._states.setdefault(key, _State())
        delay = min(self.max_s, self.min_s * (2 ** state.failures))
        state.failures += 1
        state.next_try = now + delay
        return state.next_try

    def succeeded(self, key: object) -> None:
        """Forget the failures of ``key``: the next failure starts again at ``min_s``."""
        self._states.pop(key, None)

    def failures(self, key: object) -> int:
        """How many failures in a row ``key`` has."""
        state = self._states.get(key)
        return state.failures if state else 0
