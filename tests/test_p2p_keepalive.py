"""The keep-alive's rule: two unanswered pings in a row make a connection dead, one late answer does not."""

from __future__ import annotations

from trustmesh.net import keepalive


class _Conn:
    def __init__(self, peer: str) -> None:
        self.is_closed = False
        self.muxed_conn = type("M", (), {"peer_id": peer})()

    async def close(self) -> None:
        self.is_closed = True


class _Host:
    def __init__(self, conns) -> None:
        self.conns = conns

    def get_network(self):
        host = self

        class Net:
            def get_connections(self, peer=None):
                return [c for c in host.conns if peer is None or c.muxed_conn.peer_id == peer]
        return Net()


def _answers(monkeypatch, *replies: bool) -> list:
    asked = []

    async def alive(conn, timeout_s):
        asked.append(conn)
        return replies[min(len(asked), len(replies)) - 1]
    monkeypatch.setattr(keepalive, "alive", alive)
    return asked


async def test_one_late_answer_keeps_the_connections(monkeypatch):
    old, new = _Conn("p"), _Conn("p")
    asked = _answers(monkeypatch, False, True)
    guard = keepalive.KeepAlive(_Host([old, new]), 1, 1, 1)
    await guard._check(old, 1)
    assert len(asked) == 2 and guard.closed == 0 and not old.is_closed and not new.is_closed


async def test_two_unanswered_pings_close_every_connection_to_the_peer(monkeypatch):
    old, new, other = _Conn("p"), _Conn("p"), _Conn("q")
    asked = _answers(monkeypatch, False)
    guard = keepalive.KeepAlive(_Host([old, new, other]), 1, 1, 1)
    await guard._check(old, 1)
    assert len(asked) == keepalive.PINGS == 2 and guard.closed == 1
    assert old.is_closed and new.is_closed and not other.is_closed


async def test_a_new_connection_replaces_a_silent_one_but_not_when_none_answers(monkeypatch):
    old, new = _Conn("p"), _Conn("p")

    async def alive(conn, timeout_s):
        return conn is new
    monkeypatch.setattr(keepalive, "alive", alive)
    guard = keepalive.KeepAlive(_Host([old, new]), 1, 1, 1)
    assert await guard.replace_stale("p") == 1 and old.is_closed and new.is_closed

    old, new = _Conn("p"), _Conn("p")

    async def silent(conn, timeout_s):
        return False
    monkeypatch.setattr(keepalive, "alive", silent)
    guard = keepalive.KeepAlive(_Host([old, new]), 1, 1, 1)
    assert await guard.replace_stale("p") == 0 and not old.is_closed and not new.is_closed
