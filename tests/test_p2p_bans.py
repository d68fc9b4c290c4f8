"""Bans hold: across restarts (clean or kill -9), and on every path a banned peer can take.

The clean restart runs the node in this process (``InProcessNode``); kill -9
needs a process to kill.
"""

from __future__ import annotations

import os
import time

import pytest
import trio

import trustmesh
from trustmesh.testing import InProcessNode, NodeProcess, hostile, knock

BAN = {"TRUSTMESH_NET_DEFENCE_BAN_S": "600"}


@pytest.mark.parametrize("stop", ["sigterm", "sigkill"])
def test_a_ban_survives_a_restart(tmp_path, stop):
    node = (NodeProcess if stop == "sigkill" else InProcessNode)(tmp_path / "n", env=BAN).start()
    try:
        seed = os.urandom(32)
        first = hostile(node.addr, "forged", seed=seed)
        deadline = time.monotonic() + 10
        while not any(e["peer"] == first["id"] for e in node.events_of("ban")):
            assert time.monotonic() < deadline, node.events
            time.sleep(0.02)
        if stop == "sigkill":
            node.kill()              # at once: the ban must already be on disk
        else:
            node.stop()
        node.restart()
        again = knock(node.addr, seed=seed)
        assert again["id"] == first["id"]
        assert not again["let_in"] and again["cuts"] == 2, again      # turned away, and on a redial
        if stop == "sigterm":
            honest = knock(node.addr)            # a peer never banned is let in
            assert honest["let_in"], honest
    finally:
        node.stop()


class _Stream:
    """Just enough of a libp2p stream for a handler: what it reads, what it did."""

    def __init__(self, peer, data: bytes = b"") -> None:
        from types import SimpleNamespace
        self.muxed_conn = SimpleNamespace(peer_id=peer)
        self._data = data
        self.written = b""
        self.was_reset = False

    async def read(self, n: int = -1) -> bytes:
        data, self._data = self._data, b""
        return data

    async def write(self, data: bytes) -> None:
        self.written += data

    async def close(self) -> None:
        pass

    async def reset(self) -> None:
        self.was_reset = True

    def get_protocol(self) -> str:
        return "test"


async def test_every_path_turns_a_banned_peer_away(tmp_path):
    from types import SimpleNamespace

    from libp2p.peer.id import ID

    from trustmesh.crypto.keys import Identity
    from trustmesh.core.ledger import now_ms
    from trustmesh.net.config import DEAL_PROTOCOL, PEERS_PROTOCOL, QUERY_PROTOCOL, SYNC_PROTOCOL
    from trustmesh.net.streams import pack_message
    from trustmesh.protocol.framing import frame
    from trustmesh.protocol.records import Deal, Profile, encode, sign

    async with trustmesh.open_node(home=tmp_path / "h", listen=["/ip4/127.0.0.1/tcp/0"]) as node:
        net, mallory = node.net, Identity.generate()
        peer = ID.from_base58(mallory.id)
        assert net.defence.offence(mallory.id, "hard", "a test ban", trio.current_time())
        # gossip: a valid record forwarded by a banned peer is neither stored nor relayed
        raw = encode(sign(Profile(mallory.public_key, 1, None, now_ms(), "m", None, None), mallory))
        assert await net.gossip.validate(peer, SimpleNamespace(data=raw)) is False
        assert await node.count() == 0
        # every stream handler: the stream is reset unread and unanswered
        proposal = encode(sign(Deal(mallory.public_key, node.identity.public_key, "client", b"r" * 32,
                                    None, now_ms()), mallory))
        handlers = net.host.get_mux().handlers
        for protocol, data in ((DEAL_PROTOCOL, frame(pack_message("propose", proposal))),
                               (PEERS_PROTOCOL, b""), (SYNC_PROTOCOL, b""), (QUERY_PROTOCOL, b"")):
            stream = _Stream(peer, data)
            await handlers[protocol](stream)
            assert stream.was_reset and not stream.written, protocol
        assert not node.pending_deals
