"""The keep-alive's verdict: a busy peer that answers late keeps its connections, a dead one loses them.

The probe is the seam (``KeepAlive(probe=...)``): the real ping on a real
silent link is in tests/test_p2p_restart.py; here the answer times are
chosen, on trio's clock, so the rule itself is checked.
"""

import trio

from trustmesh.net.keepalive import KeepAlive

RETRY_FACTOR = 3.0


class Conn:
    def __init__(self, peer: str, answers_after: float | None) -> None:
        self.peer, self.answers_after = peer, answers_after
        self.is_closed = False
        self.muxed_conn = self

    @property
    def peer_id(self):
        return self.peer

    async def close(self) -> None:
        self.is_closed = True


class Network:
    def __init__(self, conns) -> None:
        self.conns = conns

    def get_connections(self, peer=None):
        return [c for c in self.conns if not c.is_closed and (peer is None or c.peer == peer)]


class Host:
    def __init__(self, conns) -> None:
        self.network = Network(conns)

    def get_network(self):
        return self.network


async def probe(conn, timeout_s: float) -> bool:
    """Answers after ``conn.answers_after`` seconds (never when None), as a ping would."""
    with trio.move_on_after(timeout_s):
        if conn.answers_after is None:
            await trio.sleep_forever()
        await trio.sleep(conn.answers_after)
        return True
    return False


async def _one_round(conns, replace: bool = False) -> KeepAlive:
    keep = KeepAlive(Host(conns), interval_s=15, timeout_s=10, replace_timeout_s=5,
                     retry_factor=RETRY_FACTOR, probe=probe)
    if replace:
        await keep.replace_stale(conns[0].peer)
    else:
        async with trio.open_nursery() as nursery:
            for conn in conns:
                nursery.start_soon(keep._check, conn, keep.timeout_s)
    return keep


async def test_a_peer_that_answers_late_keeps_its_connections(autojump_clock):
    busy = Conn("busy", answers_after=10 * RETRY_FACTOR - 1)     # misses the first deadline only
    prompt = Conn("prompt", answers_after=0.1)
    keep = await _one_round([busy, prompt])
    assert not busy.is_closed and not prompt.is_closed
    assert keep.closed == 0 and keep.late == 1


async def test_a_factor_of_one_judges_on_the_first_ping(autojump_clock):
    busy = Conn("busy", answers_after=11)
    keep = KeepAlive(Host([busy]), 15, 10, 5, retry_factor=1, probe=probe)
    await keep._check(busy, keep.timeout_s)
    assert busy.is_closed and keep.late == 0


async def test_a_peer_that_never_answers_loses_every_connection_to_it(autojump_clock):
    dead, beside, other = Conn("dead", None), Conn("dead", 0.1), Conn("other", 0.1)
    start = trio.current_time()
    keep = await _one_round([dead, beside, other])
    assert dead.is_closed and beside.is_closed and not other.is_closed
    assert keep.closed == 1
    # judged after both deadlines, not before: 10 s, then 30 s more
    assert trio.current_time() - start >= 10 * (1 + RETRY_FACTOR) - 0.01


async def test_a_reconnect_judges_the_old_link_on_one_short_ping(autojump_clock):
    old, new = Conn("peer", answers_after=6), Conn("peer", answers_after=0.1)
    start = trio.current_time()
    keep = await _one_round([old, new], replace=True)
    assert old.is_closed and keep.closed >= 1 and keep.late == 0
    assert trio.current_time() - start < 6
