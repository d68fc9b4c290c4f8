"""Gossip messages validated at the same time share one call into the node's intake.

Why: pubsub validates every message in a task of its own, and each call into
the intake is a transaction (a commit with its fsync), an announcement and
a hand-off of its own. Under load many validations wait at once; here they
are taken together: each forwarder's waiting messages go into the intake
as one list (one transaction), so the cost per record falls as the load
rises instead of the queue growing. A lone message goes in at once, with
no added delay: the batch is simply whatever arrived while the previous
call ran.

Verdicts stay per message, as gossipsub needs them (relay or refuse, and
whom to blame): when a forwarder's combined call comes back clean, every
one of its messages was; otherwise each of its messages is taken in again
alone (what was stored is then a duplicate, so only the faulty ones cost a
second look), so an honest message is never refused for a neighbour's fault.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable

import trio

from trustmesh.net.ports import IntakeReport

# (records, forwarder, source) -> report; the node's single intake
Intake = Callable[[list, object, str], Awaitable[IntakeReport]]


class _Job:
    __slots__ = ("raws", "forwarder", "report", "error", "done")

    def __init__(self, raws: list[bytes], forwarder) -> None:
        self.raws = raws
        self.forwarder = forwarder
        self.report: IntakeReport | None = None
        self.error: BaseException | None = None
        self.done = trio.Event()


class IntakeBatcher:
    """One intake call per forwarder for all the messages that wait together."""

    def __init__(self, intake: Intake, max_records: int = 2000) -> None:
        self._intake = intake
        self.max_records = max_records
        self._waiting: deque[_Job] = deque()
        self._wake = trio.Event()
        self.calls = 0          # intake calls made, for the benchmark and tests
        self.messages = 0

    async def take(self, raws: list[bytes], forwarder) -> IntakeReport:
        """What became of one message's records (the caller waits for its batch)."""
        job = _Job(raws, forwarder)
        self._waiting.append(job)
        self._wake.set()
        await job.done.wait()
        if job.error is not None:
            raise job.error
        return job.report

    async def run(self) -> None:
        """Feed the intake for ever (one task per node)."""
        while True:
            if not self._waiting:
                self._wake = trio.Event()
                await self._wake.wait()
            batch, size = [], 0
            while self._waiting and (not batch or size + len(self._waiting[0].raws) <= self.max_records):
                job = self._waiting.popleft()
                batch.append(job)
                size += len(job.raws)
            groups: dict = {}
            for job in batch:
                groups.setdefault(job.forwarder, []).append(job)
            for forwarder, jobs in groups.items():
                await self._run_group(forwarder, jobs)

    async def _run_group(self, forwarder, jobs: list[_Job]) -> None:
        self.messages += len(jobs)
        try:
            if len(jobs) == 1:
                jobs[0].report = await self._call(jobs[0].raws, forwarder)
            else:
                report = await self._call([raw for job in jobs for raw in job.raws], forwarder)
                if report.clean:
                    for job in jobs:
                        job.report = IntakeReport()
                else:
                    for job in jobs:        # find whose records were refused
                        try:
                            job.report = await self._call(job.raws, forwarder)
                        except Exception as exc:
                            job.error = exc
        except Exception as exc:        # the intake failed: every waiting message hears of it
            for job in jobs:
                if job.report is None and job.error is None:
                    job.error = exc
        finally:
            for job in jobs:
                if job.report is None and job.error is None:
                    job.error = RuntimeError("intake cancelled")
                job.done.set()

    async def _call(self, raws: list[bytes], forwarder) -> IntakeReport:
        self.calls += 1
        return await self._intake(raws, forwarder, "gossip")
