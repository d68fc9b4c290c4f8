"""How a node treats peers that misbehave: offences, bans, and streams from banned peers.

A mixin of ``NetService`` (service.py), apart because it is its own
concern: the rules (what an offence costs, when a ban starts) live in
``defence.py``; this is what the running host does about them.
"""

from __future__ import annotations

import logging

import trio
from libp2p.peer.id import ID

from trustmesh.net.defence import HARD, SOFT

log = logging.getLogger("trustmesh.p2p")


class Policing:
    """Offences, bans and the gate on every stream handler (needs ``defence``, ``port``,
    ``host``, ``gossip``, ``save`` and ``_nursery`` from the service)."""

    def banned(self, peer: ID) -> bool:
        """True while a ban on ``peer`` runs."""
        return self.defence.is_banned(peer.to_base58(), trio.current_time())

    def _unless_banned(self, handler):
        """``handler`` for streams from peers not banned; a banned peer's stream is reset.

        Why at every handler: a banned peer is disconnected when it connects,
        but streams it opens at once reach the handlers first.
        """
        async def gated(stream) -> None:
            if self.banned(stream.muxed_conn.peer_id):
                await _reset(stream)
                return
            await handler(stream)
        return gated

    def _allow(self, peer: ID, n: int) -> bool:
        return self.defence.allow_records(peer.to_base58(), n, trio.current_time())

    def offence(self, peer: ID, kind: str, reason: str) -> None:
        """Record misbehaviour by ``peer``; ban and disconnect it when it has earned it."""
        pid = peer.to_base58()
        now = trio.current_time()
        was = self.defence.is_banned(pid, now)
        banned = self.defence.offence(pid, kind, reason, now)
        log.warning("offence by %s (%s): %s", pid, kind, reason)
        self.port.notify("offence", peer=pid, severity=kind, reason=reason)
        if banned and not was:
            log.warning("banning %s: %s", pid, reason)
            self.save()                      # at once: a kill -9 a moment later must not lose it
            self.port.notify("ban", peer=pid, reason=reason)
            self._ban(peer)

    def _stream_failed(self, peer: ID, reason: str, malformed: bool) -> None:
        """A stream handler (ours or libp2p's) raised on what ``peer`` sent.

        Its stream is already reset; bytes no honest node sends are a hard
        offence, any other failure a soft one (it may be a bug of ours).
        """
        if peer == self.host.get_id():
            log.warning("own stream failed: %s", reason)
            return
        self.offence(peer, HARD if malformed else SOFT, reason)

    def _ban(self, peer: ID) -> None:
        try:
            self.gossip.pubsub.add_to_blacklist(peer)
        except Exception:
            pass
        if self._nursery is not None:
            self._nursery.start_soon(self._disconnect, peer)

    async def _disconnect(self, peer: ID) -> None:
        try:
            with trio.move_on_after(5):
                await self.host.disconnect(peer)
        except Exception as exc:
            log.debug("disconnect %s: %s", peer, exc)


async def _reset(stream) -> None:
    try:
        await stream.reset()
    except Exception:
        pass
