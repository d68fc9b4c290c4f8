"""Gossip validations that wait together share one intake call, with verdicts still per message."""

from __future__ import annotations

import trio

from trustmesh.net.gossip.intake import IntakeBatcher
from trustmesh.net.ports import IntakeReport


def fake_intake(calls: list, bad: set[bytes], gate: trio.Event | None = None):
    async def intake(raws, forwarder, source):
        calls.append((list(raws), forwarder, source))
        if gate is not None:
            await gate.wait()
        report = IntakeReport()
        for raw in raws:
            if raw in bad:
                report.add_rejected("signature", f"forged {raw!r}")
            else:
                report.accepted += 1
        return report
    return intake


async def release_and_wait(gate: trio.Event, reports: dict, n: int) -> None:
    """Let the blocked intake call finish once everything queued behind it; wait for ``n`` verdicts."""
    await trio.testing.wait_all_tasks_blocked()
    gate.set()
    with trio.fail_after(5):
        while len(reports) < n:
            await trio.sleep(0.01)


async def test_a_lone_message_goes_in_at_once_and_waiting_ones_share_a_call():
    calls: list = []
    gate = trio.Event()
    batcher = IntakeBatcher(fake_intake(calls, set(), gate))
    reports: dict = {}

    async def take(name, peer):
        reports[name] = await batcher.take([name], peer)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(batcher.run)
        nursery.start_soon(take, b"first", "p")
        await trio.testing.wait_all_tasks_blocked()
        assert calls == [([b"first"], "p", "gossip")]      # not held back waiting for company
        for i in range(5):                                 # arrive while the first call runs
            nursery.start_soon(take, b"m%d" % i, "p")
        nursery.start_soon(take, b"other", "q")
        await release_and_wait(gate, reports, 7)
        nursery.cancel_scope.cancel()
    # one call per forwarder (in the order their first message queued: trio runs new tasks in any order)
    assert calls[0][1] == "p" and sorted(c[1] for c in calls[1:]) == ["p", "q"]
    assert sorted(next(c[0] for c in calls[1:] if c[1] == "p")) == [b"m%d" % i for i in range(5)]
    assert all(r.clean for r in reports.values())


async def test_a_bad_message_is_blamed_alone_and_its_neighbours_pass():
    calls: list = []
    gate = trio.Event()
    batcher = IntakeBatcher(fake_intake(calls, {b"forged"}, gate))
    reports: dict = {}

    async def take(name):
        reports[name] = await batcher.take([name], "p")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(batcher.run)
        nursery.start_soon(take, b"warm-up")
        await trio.testing.wait_all_tasks_blocked()
        for name in (b"a", b"forged", b"b"):
            nursery.start_soon(take, name)
        await release_and_wait(gate, reports, 4)
        nursery.cancel_scope.cancel()
    assert reports[b"a"].clean and reports[b"b"].clean
    assert not reports[b"forged"].clean and reports[b"forged"].count("signature") == 1
    # the shared call, then each of its messages alone
    assert sorted(calls[1][0]) == [b"a", b"b", b"forged"]
    assert sorted(c[0] for c in calls[2:]) == [[b"a"], [b"b"], [b"forged"]]


async def test_an_intake_failure_reaches_every_waiting_message():
    async def broken(raws, forwarder, source):
        raise OSError("disk gone")
    batcher = IntakeBatcher(broken)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(batcher.run)
        try:
            with trio.fail_after(5):
                await batcher.take([b"x"], "p")
        except OSError as exc:
            assert "disk gone" in str(exc)
        else:
            raise AssertionError("the failure was swallowed")
        nursery.cancel_scope.cancel()
