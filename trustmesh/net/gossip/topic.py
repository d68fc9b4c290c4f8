"""Gossipsub for records: one topic, content-addressed ids, a validating intake.

- Message id = SHA-256 of the message data, so a single-record message's id
  *is* the record id and the same record never travels twice.
- The topic validator decodes and verifies every record (through the node's
  one intake) before gossipsub relays it. Valid records
  are stored right there: that is the one path in. A message is relayed
  only if everything in it was valid and stored; duplicates are harmless
  (True). Invalid data is reported to ``defence`` (our own record, since
  gossipsub scores reset on reconnect) and refused (False).
- Our own publishes also pass the validator; they are already stored, so it
  says yes at once.
- Validations waiting at the same time share one intake call (intake.py).
- Publishing is paced through a PublishQueue (see pacing.py).
- Relays re-pack (net/tuning.py 18): a peer's message is taken in but not
  forwarded as it came; its records not relayed before wait in a second
  queue for ``relay_linger_s`` and leave, with whatever else came in
  meanwhile, as one message to the mesh. Our own records do not wait and
  are flooded to every peer on the topic.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, PROTOCOL_ID_V12

from trustmesh.errors import DecodeError
from trustmesh.net.config import TOPIC, GossipConfig
from trustmesh.net.defence import judge
from trustmesh.net.ports import IntakeReport
from trustmesh.net.gossip.intake import IntakeBatcher
from trustmesh.net.gossip.pacing import PublishQueue
from trustmesh.net.gossip.recent import RecentIds
from trustmesh.protocol.gossip import message_id as content_id, unpack_message
from trustmesh.net.gossip.router import LeanGossipSub, SafePubsub

log = logging.getLogger("trustmesh.p2p.gossip")

QUEUE_ROOM = 8      # RPCs waiting in a peer's outbound queue (of 32) before we hold back
RELAYED_IDS = 65_536    # record ids remembered as relayed (or ours), so that none leaves twice ...
RELAYED_S = 180.0       # ... while copies still circulate (net/gossip/recent.py)

# (records, forwarder peer id) -> report; the node's single intake
Intake = Callable[[list[bytes], ID, str], Awaitable[IntakeReport]]
# (forwarder, kind, reason) -> None
Offence = Callable[[ID, str, str], None]


def message_id(msg) -> bytes:
    """Content address of a gossip message (= the record id for one record)."""
    return content_id(msg.data)


class PerSecond:
    """``fn(peer)`` remembered for a second: the router asks it per relay, weights change slowly."""

    def __init__(self, fn: Callable[[ID], bool]) -> None:
        self._fn = fn
        self._known: dict = {}
        self._since = 0.0

    def __call__(self, peer: ID) -> bool:
        now = trio.current_time()
        if now - self._since >= 1.0:
            self._known, self._since = {}, now
        found = self._known.get(peer)
        if found is None:
            found = self._known[peer] = bool(self._fn(peer))
        return found


class Gossip:
    """The records topic of one host."""

    def __init__(self, host: IHost, config: GossipConfig, intake: Intake, offence: Offence,
                 allowed: Callable[[ID, int], bool],
                 banned: Callable[[ID], bool] = lambda peer: False,
                 valued: Callable[[ID], bool] = lambda peer: False) -> None:
        self.host = host
        self.config = config
        self._offence = offence
        self._allowed = allowed
        self._banned = banned
        self.router = LeanGossipSub(
            [PROTOCOL_ID_V12, PROTOCOL_ID_V11, PROTOCOL_ID],
            config.degree, config.degree_low, config.degree_high,
            heartbeat_interval=config.heartbeat_s,
            heartbeat_initial_delay=0.1,
            spam_protection_enabled=True,
            max_messages_per_topic_per_second=config.max_messages_per_s,
            eclipse_protection_enabled=False,   # all peers share one IP on loopback / a LAN
            adaptive_gossip_enabled=False,      # see gossip/router.LeanGossipSub
            msg_id=message_id,
            degree_lazy=config.degree_lazy,
            valued=PerSecond(valued),
        )
        self.pubsub = SafePubsub(
            host, self.router, msg_id_constructor=message_id,
            strict_signing=config.sign_messages,    # StrictNoSign (docs/protocol.md 16.2)
            max_inbound_rpc_size=config.max_rpc_bytes,
            max_concurrent_validator_count=config.validation_concurrency,
            validation_timeout=60.0,   # intake waits behind sync batches; a timeout would drop the message
            early_dedup=config.early_dedup,
        )
        self.pubsub.deliver = False     # the validator takes records in; nobody reads the subscription
        self.queue = PublishQueue(config.batch_records, config.batch_bytes)
        # relays re-pack (net/tuning.py 18); the signed reference policy forwards as it came
        self.repack = config.repack_relays and not config.sign_messages
        self.router.repack = self.repack
        self.relays = PublishQueue(config.batch_records, config.batch_bytes)
        self._relay_due = 0.0       # when the relay queue's first waiting record has lingered enough
        self._relayed = RecentIds(RELAYED_IDS, RELAYED_S)
        self.relayed_messages = 0
        self.relayed_records = 0
        self.batcher = IntakeBatcher(intake)
        self._wake = trio.Event()
        self.published_messages = 0
        self.published_records = 0

    async def start(self) -> None:
        """Subscribe and install the validator (pubsub and router already running)."""
        await self.pubsub.wait_until_ready()
        self.pubsub.set_topic_validator(TOPIC, self.validate, is_async_validator=True)
        self._subscription = await self.pubsub.subscribe(TOPIC)

    def announce(self, raws: list[bytes]) -> None:
        """Queue records (already stored here) for gossip."""
        if raws:
            self.queue.push(raws)
            if self.repack:
                self._fresh(raws)       # ours: never relayed again when a batch brings them back
            self._wake.set()

    def _fresh(self, raws: list[bytes]) -> list[bytes]:
        """The records of ``raws`` not relayed (nor published) by us before, remembered now."""
        now = trio.current_time()
        return [raw for raw in raws if self._relayed.add(content_id(raw), now)]

    def _relay(self, raws: list[bytes], forwarder: ID) -> None:
        """Queue the records of a peer's clean message that we have not relayed yet (see 18)."""
        new = self._fresh(raws)
        if not new:
            return
        if not len(self.relays):
            self._relay_due = trio.current_time() + self.config.relay_linger_s
        self.relays.push(new, forwarder)
        self._wake.set()

    async def run_publisher(self) -> None:
        """Publish queued records for ever, one paced message at a time."""
        while True:
            item, relay = self.queue.next_message(), False
            if item is None and len(self.relays):
                wait = self._relay_due - trio.current_time()
                if wait > 0:            # the relay queue lingers; our own records do not
                    self._wake = trio.Event()
                    with trio.move_on_after(wait):
                        await self._wake.wait()
                    continue
                item, relay = self.relays.next_message(), True
                sources = self.relays.sources - {None}
            if item is None:
                self._wake = trio.Event()
                await self._wake.wait()
                continue
            data, count = item
            await self._room()
            try:
                if relay:   # all from one peer: not back to it
                    await self.pubsub.relay(TOPIC, data, sources if len(sources) == 1 else ())
                    self.relayed_messages += 1
                    self.relayed_records += count
                else:
                    await self.pubsub.publish(TOPIC, data)
                    self.published_messages += 1
                    self.published_records += count
            except Exception as exc:   # a dying peer stream must not stop publishing
                log.debug("publish failed: %s", exc)
            await trio.sleep(self.config.publish_interval_s)

    async def _room(self) -> None:
        """Wait (at most ``publish_wait_s``) until every peer's outbound RPC queue has room.

        Why: py-libp2p's per-peer queue holds 32 RPCs and drops what does not
        fit, silently; a burst of full batches (256 records each) overran a
        loaded peer's queue at any fixed pace, and sync had to bring most of
        it. Waiting for room is backpressure; the bound keeps one stuck peer
        from holding up everyone (its queue drops, as before).
        """
        deadline = trio.current_time() + self.config.publish_wait_s
        while any(len(q) >= QUEUE_ROOM for q in list(getattr(self.pubsub, "peer_queues", {}).values())):
            if trio.current_time() >= deadline:
                return
            await trio.sleep(self.config.publish_interval_s)

    async def run_intake(self) -> None:
        """Hand validated messages' records to the node's intake, batched (see intake.py)."""
        await self.batcher.run()

    async def run_drain(self) -> None:
        """Empty the subscription (nothing is delivered to it: ``pubsub.deliver`` is False, see
        net/tuning.py 17; kept for a pubsub that delivers): the validator took the records in."""
        while True:
            await self._subscription.get()

    async def validate(self, forwarder: ID, msg) -> bool:
        if forwarder == self.host.get_id():
            return True
        if self._banned(forwarder):        # before pubsub's blacklist or our disconnect caught up
            return False
        try:
            raws = unpack_message(msg.data)
        except DecodeError as exc:
            self._offence(forwarder, "hard", f"gossip: {exc}")
            return False
        if not self._allowed(forwarder, len(raws)):
            self._offence(forwarder, "hard", "gossip: over the rate limit")
            return False
        try:
            report = await self.batcher.take(raws, forwarder)
        except Exception as exc:      # the node never crashes on what a peer sends
            log.warning("intake failed: %s", exc)
            return False
        verdict = judge(report)
        if verdict is not None:
            self._offence(forwarder, verdict[0], f"gossip: {verdict[1]}")
        if report.clean and self.repack:
            self._relay(raws, forwarder)
        return report.clean
