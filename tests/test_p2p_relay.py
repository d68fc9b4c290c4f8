"""Relays re-pack (net/tuning.py 18), on real libp2p hosts on loopback.

A chain A - B - C (no A - C link): A publishes records one at a time, and
C, which only hears them through B, gets them in fewer messages than
records. A plain peer's one-record message (any libp2p gossipsub client
sends that) still crosses the relay, and its sender is not blamed.
"""

from __future__ import annotations

import trio
from libp2p.pubsub.gossipsub import PROTOCOL_ID_V11, PROTOCOL_ID_V12
from libp2p.tools.anyio_service import background_trio_service
from multiaddr import Multiaddr

from trustmesh.crypto.keys import Identity
from trustmesh.net.config import TOPIC, GossipConfig
from trustmesh.net.gossip.router import LeanGossipSub, SafePubsub
from trustmesh.net.gossip.topic import Gossip, message_id
from trustmesh.net.host import build_host, full_addrs, peer_info
from trustmesh.net.ports import IntakeReport

LOOPBACK = [Multiaddr("/ip4/127.0.0.1/tcp/0")]


class Store:
    """An intake that stores any record once (the records here are opaque bytes)."""

    def __init__(self) -> None:
        self.held: set[bytes] = set()

    async def intake(self, raws, forwarder, source) -> IntakeReport:
        report = IntakeReport()
        for raw in raws:
            if raw in self.held:
                report.duplicate += 1
            else:
                self.held.add(raw)
                report.accepted += 1
        return report


async def until(condition, seconds: float = 20.0) -> None:
    with trio.fail_after(seconds):
        while not condition():
            await trio.sleep(0.02)


class Member:
    """One host with the records topic as a node runs it (``Gossip``), and a store."""

    def __init__(self, config: GossipConfig) -> None:
        self.host = build_host(Identity.generate())
        self.store = Store()
        self.offences: list = []
        self.gossip = Gossip(self.host, config, self.store.intake,
                             lambda peer, kind, reason: self.offences.append((peer, kind, reason)),
                             allowed=lambda peer, n: True)
        self.validated = 0
        validate = self.gossip.validate

        async def counted(forwarder, msg):      # every message that reaches the validator
            self.validated += 1
            return await validate(forwarder, msg)
        self.gossip.validate = counted

    async def run(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with self.host.run(listen_addrs=LOOPBACK):
            async with background_trio_service(self.gossip.pubsub), background_trio_service(self.gossip.router):
                await self.gossip.start()
                async with trio.open_nursery() as inner:
                    inner.start_soon(self.gossip.run_publisher)
                    inner.start_soon(self.gossip.run_intake)
                    task_status.started()
                    await trio.sleep_forever()


class Plain:
    """A gossipsub peer that sends each record as a message of its own and never re-packs."""

    def __init__(self) -> None:
        self.host = build_host(Identity.generate())
        self.router = LeanGossipSub([PROTOCOL_ID_V12, PROTOCOL_ID_V11], 2, 2, 4, heartbeat_interval=1,
                                    heartbeat_initial_delay=0.1, eclipse_protection_enabled=False,
                                    msg_id=message_id)
        self.pubsub = SafePubsub(self.host, self.router, strict_signing=False, msg_id_constructor=message_id)

    async def run(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with self.host.run(listen_addrs=LOOPBACK):
            async with background_trio_service(self.pubsub), background_trio_service(self.router):
                await self.pubsub.wait_until_ready()
                await self.pubsub.subscribe(TOPIC)
                task_status.started()
                await trio.sleep_forever()


async def connect(a, b) -> None:
    await a.host.connect(peer_info(full_addrs(b.host)[0]))


def meshed(x, peer) -> bool:
    router = x.gossip.router if isinstance(x, Member) else x.router
    return peer.host.get_id() in router.mesh.get(TOPIC, ())


async def test_records_crossing_a_relay_arrive_packed_and_a_plain_message_still_crosses():
    config = GossipConfig(heartbeat_s=0.5, relay_linger_s=0.1)
    a, b, c = Member(config), Member(config), Member(config)
    plain = Plain()
    async with trio.open_nursery() as nursery:
        for x in (a, b, c, plain):
            await nursery.start(x.run)
        await connect(a, b)
        await connect(c, b)
        await connect(plain, b)
        await until(lambda: meshed(b, a) and meshed(b, c) and meshed(c, b) and meshed(plain, b))
        assert c.host.get_id() not in a.host.get_network().connections      # a chain: C hears A through B

        records = [b"\x92\x01" + i.to_bytes(2, "big") + bytes(200) for i in range(40)]
        for raw in records:                 # one at a time, as members make them: 40 one-record messages
            a.store.held.add(raw)
            a.gossip.announce([raw])
            await trio.sleep(0.02)
        await until(lambda: all(r in c.store.held for r in records))
        assert a.gossip.published_messages == 40
        assert b.validated == 40                         # B took in A's 40 messages ...
        assert c.validated < 20, c.validated             # ... and C got them from B packed
        assert b.gossip.relayed_records == 40 and b.gossip.relayed_messages == c.validated
        assert b.gossip.router.not_forwarded == 40       # none forwarded as it came
        assert len(b.gossip.pubsub.validation_cache.cache) >= 40   # pubsub's verdicts in ours (tuning 19)

        lone = b"\x92\x02" + bytes(100)                  # a plain one-record message
        await plain.pubsub.publish(TOPIC, lone)
        await until(lambda: lone in c.store.held)
        assert lone in b.store.held
        assert b.offences == [] and c.offences == []     # nobody blamed for anything honest
        nursery.cancel_scope.cancel()


async def test_forwarding_as_it_came_when_re_packing_is_off():
    config = GossipConfig(heartbeat_s=0.5, repack_relays=False)
    a, b, c = Member(config), Member(config), Member(config)
    async with trio.open_nursery() as nursery:
        for x in (a, b, c):
            await nursery.start(x.run)
        await connect(a, b)
        await connect(c, b)
        await until(lambda: meshed(b, a) and meshed(b, c))
        records = [b"\x92\x03" + i.to_bytes(2, "big") + bytes(200) for i in range(10)]
        for raw in records:
            a.store.held.add(raw)
            a.gossip.announce([raw])
            await trio.sleep(0.02)
        await until(lambda: all(r in c.store.held for r in records))
        assert c.validated == 10 and b.gossip.relayed_messages == 0     # one message per record
        nursery.cancel_scope.cancel()
