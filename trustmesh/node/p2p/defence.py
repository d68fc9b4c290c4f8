"""What one peer may cost us: rate limits, a misbehaviour record, bans, a quota (pure).

Why our own record: gossipsub scores are wiped when a peer disconnects, so
a bad peer would reset itself by reconnecting. Here a peer's offences and
bans are kept by peer id for as long as the node runs (and saved with the
known peers), and each new ban lasts four times longer than the last.

Two kinds of offence: *hard* ones no honest node can commit (a forged
signature, bytes that are not a record, a record breaking a rule of its
own, a frame over the limit, flooding past the rate limit) ban at once by
default; *soft* ones (a stream handler failing on something odd) ban only
when they pile up.

A peer is judged only on what it could have checked itself. A record
refused here for "issued in the future" (our clock may be behind the
relay's) or for a link rule (the relay may not hold the target: the rule
is then applied on reading) is refused and not relayed, but it is no
offence: otherwise an attacker could get one honest node banned by another.

Times are seconds on a monotonic clock, passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trustmesh.node.ingest_jobs import CLOCK, LINK
from trustmesh.node.p2p.config import DefenceConfig

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


class Quota:
    """How many records by authors without weight we hold, against a limit.

    Why: anyone can mint identities and sign records; without a limit a
    sybil flood of valid records would fill the disk. Records by authors
    I trust (weight > 0) are never limited. Once full, an honest stranger's
    records are dropped as well (they cannot be told apart from a flood);
    it gets room when someone with weight vouches for it, and sync brings
    the dropped records then (docs/operating.md).
    """

    def __init__(self, limit: int, held: int = 0) -> None:
        self.limit = limit
        self.held = held

    def room(self) -> int:
        """How many more unweighted records may be stored."""
        return max(0, self.limit - self.held)

    def admit(self, n: int) -> int:
        """How many of ``n`` unweighted records may be stored now (reserves them)."""
        ok = min(n, self.room())
        self.held += ok
        return ok

    def release(self, n: int) -> None:
        """Give back reservations that were not stored (duplicates, rejects)."""
        self.held = max(0, self.held - n)


@dataclass
class IntakeReport:
    """What became of records a peer sent: the node's answer to the network side."""

    accepted: int = 0
    duplicate: int = 0
    over_quota: int = 0
    hard: str | None = None     # first unforgivable problem, if any
    soft: str | None = None     # first forgivable problem, if any
    # refused for what the sender could not check (our clock, a link target): no offence
    excused: int = 0
    link_refused: list[bytes] = field(default_factory=list)    # ids of those refused by a link rule

    @property
    def clean(self) -> bool:
        """True when nothing sent was invalid or dropped (safe to relay)."""
        return self.hard is None and self.soft is None and self.over_quota == 0 and not self.excused


def judge(results, over_quota: int = 0) -> IntakeReport:
    """Sort ingest results into an IntakeReport.

    Bytes that do not decode, forged signatures and records that break a
    rule of their own are hard offences: an honest node checks all of them
    before relaying, so it never sends them. Clock and link refusals are
    excused (see the module's docstring).
    """
    report = IntakeReport(over_quota=over_quota)
    for res in results:
        if res.status == "accepted":
            report.accepted += 1
        elif res.status == "duplicate":
            report.duplicate += 1
        elif res.rule in (CLOCK, LINK):
            report.excused += 1
            if res.rule == LINK and res.id is not None:
                report.link_refused.append(res.id)
        else:
            report.hard = report.hard or res.reason or "rejected"
    return report
