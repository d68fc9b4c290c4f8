"""The gossip router and pubsub as trustmesh runs them (items 2, 3, 7, 9 and 18 of net/tuning.py).

Kept beside the topic that uses them; the reasons, and the pinned upstream
sources these classes override, are in ``net/tuning.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.mcache import MessageCache
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub

from trustmesh.net.gossip.recent import VERDICTS, VERDICTS_S, RecentVerdicts
from trustmesh.net.tuning import IDONTWANT_THRESHOLD, dedup_inbound, report_failure
from trustmesh.protocol.gossip import message_id

log = logging.getLogger("trustmesh.p2p")


class ContentMessageCache(MessageCache):
    """The router's message cache keyed by the pubsub message id, not ``from + seqno`` (see 9)."""

    def __init__(self, window_size: int, history_size: int, msg_id: Callable) -> None:
        super().__init__(window_size, history_size)
        self._msg_id = msg_id

    def put(self, msg) -> None:
        mid = self._msg_id(msg)
        if mid in self.msgs:
            return
        self.msgs[mid] = msg
        self.history[0].append(_mcache_entry(mid, msg.topicIDs))


class LeanGossipSub(GossipSub):
    """GossipSub that sends IDONTWANT only for messages worth suppressing (> 1 KiB),
    with a stable mesh (no GRAFT-flood penalty between honest re-grafts), flood
    publishing, and a message cache keyed by ``msg_id`` (see 9)."""

    _small_message = False
    # True: a message validated from a peer is not forwarded; its new records leave in our own
    # relay message (``SafePubsub.relay``, net/tuning.py 18). False: forwarded as it came.
    repack = False

    def __init__(self, *args, msg_id: Callable = lambda msg: message_id(msg.data), degree_lazy: int = 6,
                 valued: Callable = lambda peer: False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.degree_lazy = degree_lazy
        self.valued = valued        # peer id -> bool: a peer whose owner has weight for us, or chosen
        self.valued_added = 0       # relays sent to a valued peer outside the mesh, for tests and status
        self.dropped: dict[str, int] = {}   # outbound RPCs dropped (a peer's 32-slot queue full), by reason
        self.graft_flood_threshold = 0.0
        self.mcache = ContentMessageCache(self.mcache.window_size, self.mcache.history_size, msg_id)
        self.relays: dict[bytes, frozenset] = {}   # our relay messages' ids -> peers not to send them to
        self.not_forwarded = 0      # peers' messages taken in and not forwarded as they came (see 18)

    def _handle_dropped_rpc(self, peer_id, rpc, reason: str) -> None:
        """Upstream's, counted: a full outbound queue drops an RPC with a debug line only."""
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        super()._handle_dropped_rpc(peer_id, rpc, reason)

    def _check_equivocation(self, msg) -> bool:
        if not msg.from_id and not msg.seqno:      # no author, content-addressed: nothing to equivocate
            return True
        return super()._check_equivocation(msg)

    def _get_peers_to_send(self, topic_ids, msg_forwarder, origin, msg_id=None):
        topic_ids = list(topic_ids)
        peers = set(super()._get_peers_to_send(topic_ids, msg_forwarder, origin, msg_id))
        if self.pubsub is None:
            return peers
        if msg_forwarder == self.pubsub.my_id:   # our own publish
            exclude = self.relays.pop(msg_id, None) if msg_id is not None else None
            if exclude is not None:     # a relay message (see 18): the mesh, as any relay
                peers.difference_update(exclude)
                self._add_valued(peers, topic_ids, exclude | {msg_forwarder})
                return peers
            for topic in topic_ids:            # flood publish our own messages
                peers.update(p for p in self.pubsub.peer_topics.get(topic, ())
                             if p in self.peer_protocol and p != origin)
            return peers
        self._add_valued(peers, topic_ids, (msg_forwarder, origin))
        return peers

    def _add_valued(self, peers: set, topic_ids, exclude) -> None:
        """Relay also to valued peers outside the mesh while fewer than D of ``peers`` are valued.

        Why: the mesh is whoever grafted first. Peers with no weight (a
        dozen attackers' hosts) that graft a node fill its mesh, and an
        honest peer left outside it got the node's relays only through
        IHAVE gossip, or the next sync: a quarter to a half of the honest
        records crossed a node under attack in 1 to 30 s instead of
        milliseconds (tests/test_hostile_peers.py). Peers that count for
        us always get our relays, up to D of them, whatever the mesh.
        In a network of peers that all count, the mesh is made of them
        and nothing is added.
        """
        have = sum(1 for p in peers if self.valued(p))
        if have >= self.degree:
            return
        for topic in topic_ids:
            for p in self.pubsub.peer_topics.get(topic, ()):
                if have >= self.degree:
                    return
                if p not in peers and p not in exclude and p in self.peer_protocol and self.valued(p):
                    peers.add(p)
                    have += 1
                    self.valued_added += 1

    def _get_adaptive_gossip_peers_count(self, topic, total_peers: int) -> int:
        # upstream hard-codes D_lazy = 6 (adaptive gossip off)
        return max(self.degree_lazy, int(total_peers * 0.25)) if self.degree_lazy > 0 else 0

    async def publish(self, msg_forwarder, pubsub_msg) -> None:
        if self.repack and self.pubsub is not None and msg_forwarder != self.pubsub.my_id:
            # Taken in (the validator said yes, so the sender is credited, never penalised) but
            # not forwarded: py-libp2p 0.8.1's validators answer a bool, no IGNORE, so the
            # "ignore for forwarding" is here. The records go out in our relay message (see 18).
            self.not_forwarded += 1
            return
        # No await runs between this line and the IDONTWANT emission in
        # GossipSub.publish, so the flag cannot be seen by another message's task.
        self._small_message = len(pubsub_msg.data) <= IDONTWANT_THRESHOLD
        await super().publish(msg_forwarder, pubsub_msg)
        if not self.adaptive_gossip_enabled:
            # upstream appends a timestamp per message published or relayed, and prunes the list
            # only in the adaptive-gossip health check, which we turn off: one float per message
            # for ever (found by the soak, docs/reliability.md)
            self.recent_message_deliveries.clear()

    async def _emit_idontwant_for_message(self, msg_id, topic_ids) -> None:
        if self._small_message:
            return
        await super()._emit_idontwant_for_message(msg_id, topic_ids)


class SafePubsub(Pubsub):
    """Pubsub whose blacklist teardown tolerates the peer having gone meanwhile,
    and whose per-message task cannot fail the service (see 7)."""

    # (forwarder, reason, malformed) -> None; set by the owner to count an offence
    on_failure: "Callable | None" = None
    early_dedup = False
    # False: validated messages are not put on our subscription's channel (see 16)
    deliver = True

    def __init__(self, *args, early_dedup: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.early_dedup = early_dedup     # False: upstream's behaviour, for bench/network.py's reference
        self._validating: set[bytes] = set()
        self.duplicates = 0                # copies dropped before validation (see 15)
        self.validation_cache = RecentVerdicts(VERDICTS_S, VERDICTS)
        if early_dedup:
            dedup_inbound(self.host, self)

    def notify_subscriptions(self, publish_message) -> None:
        if self.deliver:
            super().notify_subscriptions(publish_message)

    def known_message(self, msg) -> bool:
        """Seen, or being validated: this copy adds nothing (counted)."""
        mid = self._msg_id_constructor(msg)
        if mid in self._validating or self.seen_messages.has(mid):
            self.duplicates += 1
            return True
        return False

    async def publish(self, topic_id, data: bytes) -> None:
        """Pubsub's publish; unsigned (StrictNoSign, see 9) unless ``strict_signing``."""
        if self.strict_signing:
            await super().publish(topic_id, data)
            return
        await self.push_msg(self.my_id, unsigned_message(topic_id, data))

    async def push_msg(self, msg_forwarder, msg) -> None:
        if not self.strict_signing and any(msg.HasField(f) for f in _AUTHOR_FIELDS):
            log.debug("dropped a signed gossip message from %s (StrictNoSign)", msg_forwarder)
            return
        mid = None
        if self.early_dedup and msg_forwarder != self.my_id:
            if self.known_message(msg):     # a copy that got past the read loop's filter
                return
            mid = self._msg_id_constructor(msg)
            self._validating.add(mid)
        try:
            await super().push_msg(msg_forwarder, msg)
        except Exception as exc:
            report_failure(self.on_failure, msg_forwarder, "gossip message", exc)
        finally:
            if mid is not None:
                self._validating.discard(mid)

    async def relay(self, topic_id, data: bytes, exclude=frozenset()) -> None:
        """Send records taken in from peers to the mesh in a message of our own (net/tuning.py 18).

        Routed as a relay (mesh and valued peers, none of ``exclude``), not
        flooded as our own records are. Pubsub's seen check is passed by:
        a one-record relay message has the id of the message it came in,
        seen here already, and must still leave.
        """
        msg = unsigned_message(topic_id, data)
        mid = self._msg_id_constructor(msg)
        self.router.relays[mid] = frozenset(exclude)
        self._mark_msg_seen(msg)
        try:
            await self.router.publish(self.my_id, msg)
        finally:
            self.router.relays.pop(mid, None)

    def _handle_dead_peer(self, peer_id) -> None:
        """Pubsub's, except that a peer still connected keeps the topics it told us (see 13).

        A stale stream of a peer that came back (its old connection closed
        by the keep-alive) fails after the new one has carried the peer's
        subscriptions; upstream then forgets them, the peer never sends them
        again, and we stop publishing to it for good.
        """
        if not self._peer_is_connected(peer_id):
            super()._handle_dead_peer(peer_id)
            return
        topics = [topic for topic, peers in self.peer_topics.items() if peer_id in peers]
        count = self._peer_subscription_count.get(peer_id)
        super()._handle_dead_peer(peer_id)
        for topic in topics:
            self.peer_topics.setdefault(topic, set()).add(peer_id)
        if count is not None:
            self._peer_subscription_count[peer_id] = count

    async def _teardown_if_connected(self, peer_id) -> None:
        stream = self.peers.get(peer_id)
        if stream is not None:
            try:
                await stream.reset()
            except Exception:
                pass
            self.peers.pop(peer_id, None)
        self._forget_all_subscriptions(peer_id)


_AUTHOR_FIELDS = ("from_id", "seqno", "signature", "key")   # absent under StrictNoSign


def unsigned_message(topic_id, data: bytes):
    """A StrictNoSign pubsub message: ``data`` and the topics, no other field present."""
    topics = [topic_id] if isinstance(topic_id, str) else list(topic_id)
    return rpc_pb2.Message(data=data, topicIDs=topics)


def _mcache_entry(mid: bytes, topics):
    from libp2p.pubsub.mcache import CacheEntry
    return CacheEntry(mid, topics)
