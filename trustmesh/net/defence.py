"""What one peer may cost us: rate limits, a misbehaviour record, bans (pure).

Why our own record: gossipsub scores are wiped when a peer disconnects, so
a bad peer would reset itself by reconnecting. Here a peer's offences and
bans are kept by peer id for as long as the node runs (and saved with the
known peers), and each new ban lasts four times longer than the last.

Two kinds of offence: *hard* ones no honest node can commit (a forged
signature, bytes that are not a record, a frame over the limit, flooding
past the rate limit) ban at once by default; *soft* ones (a record that
breaks a rule of its own, which a node of another version might let
through) ban only when they pile up. What a relay cannot know (our clock,
records it does not hold) is no offence at all (``judge``).

Times are seconds on a monotonic clock, passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from trustmesh.net.config import DefenceConfig
from trustmesh.net.ports import IntakeReport
from trustmesh.protocol.validate import MALFORMED, RULE, SIGNATURE

HARD, SOFT = "hard", "soft"


class TokenBucket:
    """``rate`` tokens a second, holding at most ``burst``."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.stamp = now

    def take(self, n: float, now: float) -> bool:
        """Spend ``n`` tokens if there are that many; False (and spend none) otherwise."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= n:
            self.tokens -= n
            return True
        return False


@dataclass
class PeerConduct:
    """What we hold against one peer."""

    hard: int = 0
    soft: int = 0
    bans: int = 0
    banned_until: float = 0.0
    last_reason: str = ""


class Defence:
    """The per-peer limits and verdicts of one node."""

    def __init__(self, config: DefenceConfig) -> None:
        self.config = config
        self._buckets: dict[str, TokenBucket] = {}
        self.conduct: dict[str, PeerConduct] = {}

    def allow_records(self, peer: str, n: int, now: float) -> bool:
        """True if ``peer`` may send us ``n`` more records now (spends its budget)."""
        bucket = self._buckets.get(peer)
        if bucket is None:
            bucket = self._buckets[peer] = TokenBucket(
                self.config.records_per_s, self.config.records_burst, now)
        return bucket.take(n, now)

    def offence(self, peer: str, kind: str, reason: str, now: float) -> bool:
        """Record an offence by ``peer``; True if it is (now) banned."""
        record = self.conduct.setdefault(peer, PeerConduct())
        record.last_reason = reason
        if kind == HARD:
            record.hard += 1
            over = record.hard >= self.config.hard_offences_to_ban
        else:
            record.soft += 1
            over = record.soft >= self.config.soft_offences_to_ban
        if over and not self.is_banned(peer, now):
            record.bans += 1
            length = min(self.config.ban_max_s, self.config.ban_s * 4 ** (record.bans - 1))
            record.banned_until = now + length
            record.hard = record.soft = 0
        return self.is_banned(peer, now)

    def is_banned(self, peer: str, now: float) -> bool:
        """True while a ban on ``peer`` runs."""
        record = self.conduct.get(peer)
        return record is not None and now < record.banned_until

    def banned(self, now: float) -> list[str]:
        """Every peer banned at ``now``."""
        return [peer for peer, rec in self.conduct.items() if now < rec.banned_until]

    def forget_peer_budget(self, peer: str) -> None:
        """Drop the rate bucket of a disconnected peer (its conduct is kept)."""
        self._buckets.pop(peer, None)

    def export(self, now: float, wall_now: float) -> dict[str, dict]:
        """Conduct worth saving, with ban ends as wall-clock seconds."""
        return {peer: {"bans": rec.bans, "banned_until": wall_now + (rec.banned_until - now),
                       "reason": rec.last_reason}
                for peer, rec in self.conduct.items() if rec.bans}

    def restore(self, saved: dict[str, dict], now: float, wall_now: float) -> None:
        """Take back conduct saved by ``export`` (ban ends are wall-clock seconds)."""
        for peer, item in saved.items():
            try:
                rec = PeerConduct(bans=int(item["bans"]), last_reason=str(item.get("reason", "")))
                rec.banned_until = now + max(0.0, float(item["banned_until"]) - wall_now)
            except (KeyError, TypeError, ValueError):
                continue
            self.conduct[peer] = rec


def judge(report: IntakeReport, relayed: bool = True) -> tuple[str, str] | None:
    """The offence, if any, that a peer committed by sending what ``report`` describes.

    A forwarder is judged only on what it could have checked itself:
    bytes that are not a record and forged signatures are hard offences
    (an honest node checks both before relaying); a record breaking a rule
    of its own is a soft one (an honest node of another version might
    differ). A record issued "in the future" by our clock (theirs may run
    a little ahead), a link rule that needs a record the sender may not
    hold, and our own quota are never the sender's fault.
    """
    for fault, kind in ((MALFORMED, HARD), (SIGNATURE, HARD), (RULE, SOFT)):
        if report.count(fault):
            return kind, report.rejected[fault][1]
    return None
