"""Is this identity let in? A peer that dials a node, says nothing, and knows within a second.

Why not the hostile peer's ``probe``: it waits for the node's topic
subscription, which a turned-away peer never gets (15 s of waiting), then
holds the link 5 s to see it stay. Here both answers are events: the node
treats us as a peer (it opens its peer exchange with us, as it does with
every peer it keeps), or it cuts the link as soon as it is up, and again
on a second dial.
"""

from __future__ import annotations

import trio
from multiaddr import Multiaddr

from trustmesh.crypto.keys import Identity
from trustmesh.net.config import PEERS_PROTOCOL
from trustmesh.net.host import build_host, peer_info


async def knock(target: str, seed: bytes | None = None, timeout: float = 20.0) -> dict:
    """Dial ``target`` as the identity of ``seed``: ``{"id", "let_in", "cuts"}``.

    ``let_in`` is True once the node opened a peer exchange with us, False
    once it cut two links in a row; TimeoutError (after ``timeout``) if
    neither happened.
    """
    me = Identity.from_seed(seed) if seed else Identity.generate()
    host = build_host(me)
    info = peer_info(target)
    asked = trio.Event()

    async def exchange(stream) -> None:      # the node asks who we know: it keeps us
        asked.set()
        await stream.reset()
    host.set_stream_handler(PEERS_PROTOCOL, exchange)
    cuts = 0
    async with host.run(listen_addrs=[Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        try:
            with trio.fail_after(timeout):
                while cuts < 2 and not asked.is_set():
                    host.get_network().unblock_peer(info.peer_id)
                    try:
                        await host.connect(info)
                    except Exception:             # refused during the handshake: a cut too
                        cuts += 1
                        continue
                    while info.peer_id in host.get_connected_peers() and not asked.is_set():
                        await trio.sleep(0.02)
                    if not asked.is_set():
                        cuts += 1
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(3):
                await host.close()
    return {"id": me.id, "let_in": asked.is_set(), "cuts": cuts}
