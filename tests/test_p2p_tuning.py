"""The py-libp2p adjustments of net/tuning.py: still hooked in, still safe, still pinned."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import trio
import trio.testing

import libp2p.pubsub.gossipsub as gossipsub_mod
import libp2p.pubsub.pubsub as pubsub_mod
from libp2p.pubsub.gossipsub import GossipSub

from trustmesh.crypto.keys import Identity
from trustmesh.net import tuning
from trustmesh.net.gossip import router as gossip_router
from trustmesh.net.host import build_host


class _Msg(SimpleNamespace):
    def HasField(self, name: str) -> bool:
        return getattr(self, name, None) is not None


def test_install_hooks_the_names_py_libp2p_calls():
    tuning.install()
    for module in (gossipsub_mod, pubsub_mod):
        assert module.env_to_send_in_RPC is tuning.env_to_send
    assert gossipsub_mod.maybe_consume_signed_record is tuning.consume_signed_record
    assert pubsub_mod.maybe_consume_signed_record is tuning.consume_and_dedup      # the read loop's hook
    assert pubsub_mod.read_varint_prefixed_bytes_limited is tuning.read_rpc
    # guard_streams wraps the handler every inbound stream goes through
    import inspect

    from libp2p.network.connection.swarm_connection import SwarmConn
    assert "swarm.common_stream_handler(" in inspect.getsource(SwarmConn._handle_muxed_stream)
    # the method LeanGossipSub overrides must exist upstream, or the override is dead code
    assert callable(GossipSub._emit_idontwant_for_message)
    router = gossip_router.LeanGossipSub(["/meshsub/1.1.0"], 2, 2, 4)
    assert router.graft_flood_threshold == 0.0 and router._check_graft_flood_protection  # still read upstream


def test_an_accepted_envelope_is_not_rechecked_but_a_forged_one_is_refused():
    alice, mallory = build_host(Identity.generate()), build_host(Identity.generate())
    envelope, _ = tuning.env_to_send(alice)
    peer = alice.get_id()
    assert tuning.consume_signed_record(_Msg(senderRecord=envelope), mallory, peer)
    assert tuning.accepted_envelope(mallory, peer) == envelope
    forged = envelope[:-1] + bytes([envelope[-1] ^ 1])      # the signature's last byte
    assert not tuning.consume_signed_record(_Msg(senderRecord=forged), mallory, peer)
    # someone else's valid envelope presented for alice is refused too
    other, _ = tuning.env_to_send(mallory)
    assert not tuning.consume_signed_record(_Msg(senderRecord=other), alice, peer)
    assert tuning.accepted_envelope(mallory, peer) == envelope and tuning.accepted_envelope(alice, peer) is None
    assert tuning.consume_signed_record(_Msg(senderRecord=None), mallory, peer)


def test_each_host_in_a_process_records_an_envelope_it_accepts(monkeypatch):
    # two nodes in one process (an app's, a test's): the second must not skip what the first
    # checked, or the envelope never reaches its peerstore
    checked = []
    original = tuning._original_consume
    monkeypatch.setattr(tuning, "_original_consume",
                        lambda msg, host, peer: checked.append(host) or original(msg, host, peer))
    alice, bob, carol = (build_host(Identity.generate()) for _ in range(3))
    envelope, _ = tuning.env_to_send(alice)
    peer = alice.get_id()
    for host in (bob, bob, carol, carol):
        assert tuning.consume_signed_record(_Msg(senderRecord=envelope), host, peer)
    assert checked == [bob, carol]                # once per host, then remembered per host
    assert tuning.accepted_envelope(carol, peer) == envelope == tuning.accepted_envelope(bob, peer)


def test_our_envelope_is_reused_within_a_second():
    host = build_host(Identity.generate())
    first, _ = tuning.env_to_send(host)
    again, fresh = tuning.env_to_send(host)
    assert again == first and not fresh


async def test_blacklist_teardown_survives_the_peer_leaving_meanwhile():
    from libp2p.peer.id import ID

    class Stream:
        async def reset(self):
            del pubsub.peers[peer]          # the disconnect handler got there first

    pubsub = gossip_router.SafePubsub.__new__(gossip_router.SafePubsub)
    peer = ID(b"\x00\x01x")
    pubsub.peers = {peer: Stream()}
    pubsub._forget_all_subscriptions = lambda p: None
    await pubsub._teardown_if_connected(peer)
    assert peer not in pubsub.peers


def test_own_messages_are_flood_published_and_relays_follow_the_mesh():
    from libp2p.peer.id import ID
    me, mesh_peer, other, forwarder = (ID(bytes([0, 1, i])) for i in range(4))
    router = gossip_router.LeanGossipSub(["/meshsub/1.1.0"], 2, 2, 4)
    router.pubsub = SimpleNamespace(my_id=me, peer_topics={"t": {mesh_peer, other, forwarder}})
    router.peer_protocol = {p: "/meshsub/1.1.0" for p in (mesh_peer, other, forwarder)}
    router.mesh = {"t": {mesh_peer, forwarder}}
    assert set(router._get_peers_to_send(["t"], me, me)) == {mesh_peer, other, forwarder}
    assert set(router._get_peers_to_send(["t"], forwarder, other)) == {mesh_peer}


def test_every_patched_upstream_function_is_the_one_we_read():
    """An upgrade of py-libp2p that changes a function we rely on (net/pins.py) fails here, by name."""
    import hashlib
    import importlib
    import inspect
    changed = []
    from trustmesh.net.pins import UPSTREAM
    for name, pinned in UPSTREAM.items():
        module, attr = name.split(":")
        obj = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        obj = tuning.REPLACED.get(name, obj)       # a method install() replaced on its class
        if hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16] != pinned:
            changed.append(name)
    assert not changed, f"re-read these upstream functions before re-pinning them in net/pins.py: {changed}"


def test_yamux_never_awaits_while_holding_a_window_lock():
    """What lets ``tuning.window_update`` go without the lock (tuning item 12): every section of
    yamux under a ``window_lock`` is synchronous, so on trio it is atomic by itself. An upgrade
    that awaits inside one fails here, and the lock must come back."""
    import ast
    import inspect
    import libp2p.stream_muxer.yamux.yamux as yamux_mod
    tree = ast.parse(inspect.getsource(yamux_mod))
    sections = [node for node in ast.walk(tree) if isinstance(node, ast.AsyncWith)
                and any("window_lock" in ast.unparse(item.context_expr) for item in node.items)]
    assert len(sections) >= 5                        # the ones read when this was written
    awaiting = [node.lineno for node in sections for inner in node.body for sub in ast.walk(inner)
                if isinstance(sub, (ast.Await, ast.AsyncWith, ast.AsyncFor))]
    assert awaiting == []
    ours = ast.parse(inspect.getsource(tuning.window_update))
    assert not any(isinstance(node, ast.AsyncWith) for node in ast.walk(ours))     # no lock taken


async def test_a_failing_stream_handler_is_contained_and_reported():
    import google.protobuf.message

    from trustmesh.errors import DecodeError

    class Stream:
        muxed_conn = SimpleNamespace(peer_id="peer")
        reset_called = False

        def get_protocol(self):
            return "/meshsub/1.1.0"

        async def reset(self):
            Stream.reset_called = True

    async def crashing(stream):
        raise google.protobuf.message.DecodeError("Error parsing message")

    network = SimpleNamespace(common_stream_handler=crashing)
    network.set_stream_handler = lambda fn: setattr(network, "common_stream_handler", fn)
    seen = []
    tuning.guard_streams(SimpleNamespace(get_network=lambda: network),
                         lambda *args: seen.append(args))
    await network.common_stream_handler(Stream())
    assert Stream.reset_called
    assert seen == [("peer", "/meshsub/1.1.0: DecodeError: Error parsing message", True)]
    assert tuning.malformed(DecodeError("x")) and not tuning.malformed(KeyError("x"))


def test_unsigned_messages_are_cached_by_content_and_never_taken_for_equivocation():
    """StrictNoSign: py-libp2p keyed its message cache and equivocation check by from + seqno,
    which every unsigned message shares (empty); both must follow the content id instead."""
    from libp2p.pubsub.pb import rpc_pb2

    from trustmesh.protocol.gossip import message_id
    router = gossip_router.LeanGossipSub(["/meshsub/1.1.0"], 2, 2, 4)
    first, second = (rpc_pb2.Message(data=d, topicIDs=["t"]) for d in (b"\x91\x01", b"\x91\x02"))
    for msg in (first, second, first):
        assert router._check_equivocation(msg)
        router.mcache.put(msg)
    assert router.mcache.window("t") == [message_id(first.data), message_id(second.data)]
    assert router.mcache.get(message_id(second.data)) is second
    # a signed message still gets upstream's check: same author and seqno, other data
    signed = [rpc_pb2.Message(data=d, topicIDs=["t"], from_id=b"\x00\x01a", seqno=b"\x01") for d in (b"a", b"b")]
    assert router._check_equivocation(signed[0]) and not router._check_equivocation(signed[1])


async def test_unsigned_publish_has_no_author_fields_and_signed_messages_are_dropped(monkeypatch):
    from libp2p.peer.id import ID
    from libp2p.pubsub.pb import rpc_pb2

    pushed = []

    async def upstream_push(self, forwarder, msg):       # what reaches py-libp2p's push_msg
        pushed.append((forwarder, msg))
    monkeypatch.setattr(gossip_router.Pubsub, "push_msg", upstream_push)
    me = ID(b"\x00\x01me")
    pubsub = gossip_router.SafePubsub.__new__(gossip_router.SafePubsub)
    pubsub.strict_signing = False
    pubsub.host = SimpleNamespace(get_id=lambda: me)
    await pubsub.publish("t", b"\x91\x01")
    forwarder, msg = pushed.pop()
    assert forwarder == me and msg.data == b"\x91\x01" and list(msg.topicIDs) == ["t"]
    assert not any(msg.HasField(f) for f in ("from_id", "seqno", "signature", "key"))
    assert msg.SerializeToString() == b"\x12\x02\x91\x01\x22\x01t"     # data and topic, nothing else
    for field in ("from_id", "seqno", "signature", "key"):
        await pubsub.push_msg(ID(b"\x00\x01x"), rpc_pb2.Message(data=b"\x91\x01", topicIDs=["t"],
                                                                **{field: b""}))
    assert pushed == []      # present, even empty: not StrictNoSign
    await pubsub.push_msg(ID(b"\x00\x01x"), rpc_pb2.Message(data=b"\x91\x01", topicIDs=["t"]))
    assert len(pushed) == 1


async def test_copies_seen_or_being_validated_are_dropped_before_a_task_or_a_second_validation(monkeypatch):
    from libp2p.peer.id import ID
    from libp2p.pubsub.pb import rpc_pb2
    from libp2p.tools.timed_cache.last_seen_cache import LastSeenCache

    validated, release = [], trio.Event()

    async def upstream_push(self, forwarder, msg):       # validation waits: copies arrive meanwhile
        validated.append(forwarder)
        await release.wait()
        self.seen_messages.add(self._msg_id_constructor(msg))
    monkeypatch.setattr(gossip_router.Pubsub, "push_msg", upstream_push)
    a, b = ID(b"\x00\x01a"), ID(b"\x00\x01b")
    pubsub = gossip_router.SafePubsub.__new__(gossip_router.SafePubsub)
    pubsub.strict_signing, pubsub.early_dedup, pubsub._validating, pubsub.duplicates = False, True, set(), 0
    pubsub.host = build_host(Identity.generate())       # a real host: the filter is per host
    pubsub.seen_messages = LastSeenCache(60, 60)
    pubsub._msg_id_constructor = lambda m: bytes(m.data)
    tuning.dedup_inbound(pubsub.host, pubsub)
    msg = rpc_pb2.Message(data=b"\x91\x01", topicIDs=["t"])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pubsub.push_msg, a, msg)
        await trio.testing.wait_all_tasks_blocked()
        rpc = rpc_pb2.RPC(publish=[msg, rpc_pb2.Message(data=b"\x91\x02", topicIDs=["t"])])
        assert tuning.consume_and_dedup(rpc, pubsub.host, b)        # the read loop, before its spawn
        assert [m.data for m in rpc.publish] == [b"\x91\x02"]       # the copy in flight is gone
        await pubsub.push_msg(b, msg)           # one that got past the filter: no second validation
        release.set()
    assert validated == [a] and pubsub.duplicates == 2
    rpc = rpc_pb2.RPC(publish=[msg])
    assert tuning.consume_and_dedup(rpc, pubsub.host, b) and len(rpc.publish) == 0     # seen: dropped
    await pubsub.push_msg(pubsub.my_id, msg)    # our own publish is never taken for a copy
    assert validated == [a, pubsub.my_id]


def test_a_pubsub_that_does_not_deliver_puts_nothing_on_its_subscription():
    from libp2p.pubsub.pb import rpc_pb2

    send, receive = trio.open_memory_channel(4)
    pubsub = gossip_router.SafePubsub.__new__(gossip_router.SafePubsub)
    pubsub.subscribed_topics_send, pubsub.subscribed_topics_receive = {"t": send}, {"t": receive}
    msg = rpc_pb2.Message(data=b"\x91\x01", topicIDs=["t"])
    pubsub.notify_subscriptions(msg)
    assert receive.receive_nowait() == msg          # delivering, as upstream
    pubsub.deliver = False
    pubsub.notify_subscriptions(msg)
    with pytest.raises(trio.WouldBlock):
        receive.receive_nowait()


def test_relays_reach_valued_peers_outside_a_mesh_of_strangers_up_to_d():
    from libp2p.peer.id import ID
    me, forwarder, honest, chosen, spare, *strangers = (ID(bytes([0, 2, i])) for i in range(9))
    valued = {forwarder, honest, chosen, spare}
    router = gossip_router.LeanGossipSub(["/meshsub/1.1.0"], 2, 2, 4, valued=lambda p: p in valued)
    everyone = {forwarder, honest, chosen, spare, *strangers}
    router.pubsub = SimpleNamespace(my_id=me, peer_topics={"t": everyone})
    router.peer_protocol = {p: "/meshsub/1.1.0" for p in everyone}
    router.mesh = {"t": {forwarder, *strangers}}         # attackers grafted first
    peers = set(router._get_peers_to_send(["t"], forwarder, forwarder))
    assert set(strangers) <= peers and forwarder not in peers
    assert len(peers & valued) == 2 and router.valued_added == 2     # D valued peers, not all of them
    router.mesh = {"t": {forwarder, honest, chosen}}     # a mesh of peers that count: nothing added
    assert set(router._get_peers_to_send(["t"], forwarder, forwarder)) == {honest, chosen}
    assert router.valued_added == 2


def test_ihave_goes_to_degree_lazy_peers_and_none_when_zero():
    router = gossip_router.LeanGossipSub(["/meshsub/1.1.0"], 2, 2, 4, degree_lazy=1)
    assert router._get_adaptive_gossip_peers_count("t", 3) == 1
    assert router._get_adaptive_gossip_peers_count("t", 40) == 10          # a quarter, as upstream
    router.degree_lazy = 0
    assert router._get_adaptive_gossip_peers_count("t", 40) == 0


def test_own_unsigned_messages_are_flood_published_too():
    from libp2p.peer.id import ID
    me, mesh_peer, other = (ID(bytes([0, 1, i])) for i in range(3))
    router = gossip_router.LeanGossipSub(["/meshsub/1.1.0"], 2, 2, 4)
    router.pubsub = SimpleNamespace(my_id=me, peer_topics={"t": {mesh_peer, other}})
    router.peer_protocol = {p: "/meshsub/1.1.0" for p in (mesh_peer, other)}
    router.mesh = {"t": {mesh_peer}}
    assert set(router._get_peers_to_send(["t"], me, ID(b""))) == {mesh_peer, other}


async def test_yamux_sends_a_window_update_only_once_half_the_window_is_used():
    """go-yamux's rule (tuning item 10): no WINDOW_UPDATE frame for each small read."""
    import trio

    tuning.install()
    sent = []

    class Stream:
        _auto_tune_and_send_window_update = tuning.window_update
        window_lock = trio.Lock()
        stream_id = 1
        target_recv_window = 256 * 1024
        recv_window = 256 * 1024
        _pending_recv_release = 0
        conn = SimpleNamespace(stream_buffers={})

        def _grow_threshold(self):
            return self.target_recv_window // 2

        def _grow_to_delta(self, buffered):
            delta = self.target_recv_window - (self.recv_window + buffered)
            self.recv_window += delta
            return delta

        def _apply_autotune_epoch(self, buffered):
            return 0

        async def send_window_update(self, increment, skip_lock=False):
            sent.append(increment)

    from libp2p.stream_muxer.yamux.yamux import YamuxStream
    assert YamuxStream._auto_tune_and_send_window_update is tuning.window_update
    stream = Stream()
    for _ in range(500):                  # 500 gossip RPCs of 300 bytes arrive and are read
        stream.recv_window -= 300
        await stream._auto_tune_and_send_window_update(bytes_read=300)
    assert sent == [131_100]              # one update, once half the window (128 KiB) was read
    assert stream.recv_window == 256 * 1024 - 300 * (500 - 437)


def test_the_publisher_can_see_each_peers_outbound_queue():
    """Gossip._room reads py-libp2p's per-peer queues (Pubsub.peer_queues, RpcQueue.__len__)."""
    import inspect

    from libp2p.pubsub import rpc_queue
    assert "self.peer_queues[peer_id] = queue" in inspect.getsource(pubsub_mod.Pubsub)
    queue = rpc_queue.RpcQueue()
    assert len(queue) == 0 and queue.push(pubsub_mod.rpc_pb2.RPC()) and len(queue) == 1
    assert rpc_queue.OutBoundQueueSize == 32


def test_a_still_connected_peer_keeps_its_topics_when_a_stale_stream_of_it_dies(monkeypatch):
    peer, other = object(), object()

    def upstream(self, peer_id):        # what upstream's _handle_dead_peer does to the topics
        for peers in self.peer_topics.values():
            peers.discard(peer_id)
        self._peer_subscription_count.pop(peer_id, None)

    monkeypatch.setattr(gossip_router.Pubsub, "_handle_dead_peer", upstream)
    pubsub = gossip_router.SafePubsub.__new__(gossip_router.SafePubsub)
    pubsub.peer_topics = {"trustmesh": {peer, other}}
    pubsub._peer_subscription_count = {peer: 1, other: 1}
    connected = {peer}
    monkeypatch.setattr(gossip_router.SafePubsub, "_peer_is_connected", lambda self, p: p in connected)
    pubsub._handle_dead_peer(peer)
    assert pubsub.peer_topics["trustmesh"] == {peer, other} and pubsub._peer_subscription_count[peer] == 1
    pubsub._handle_dead_peer(other)          # gone for good: forgotten as upstream does
    assert pubsub.peer_topics["trustmesh"] == {peer} and other not in pubsub._peer_subscription_count


def test_punch_dials_first_only_what_can_answer():
    from multiaddr import Multiaddr

    from trustmesh.net.reach.punch import _may_answer
    import ipaddress
    lan = [ipaddress.ip_network("10.0.1.0/24")]
    assert _may_answer(Multiaddr("/ip4/8.8.8.8/tcp/4001"), lan)            # global: it may be reachable
    assert _may_answer(Multiaddr("/ip4/10.0.1.7/tcp/4001"), lan)           # our own LAN
    assert not _may_answer(Multiaddr("/ip4/10.0.2.2/tcp/4001"), lan)       # another home's LAN, behind its NAT
    assert not _may_answer(Multiaddr("/ip4/192.168.1.5/tcp/4001"), lan)
    assert not _may_answer(Multiaddr("/dns4/example.org/tcp/4001"), lan)   # no address to judge


async def test_punch_rounds_pause_briefly_and_nothing_else_changes():
    import trio

    import libp2p.relay.circuit_v2.dcutr as dcutr
    from trustmesh.net.reach import punch
    punch.install()
    assert dcutr._HOLE_PUNCH_ROUND_TIMEOUT == punch.PUNCH_ROUND_S
    assert dcutr.trio.TooSlowError is trio.TooSlowError                     # the rest of trio as it is
    start = trio.current_time()
    await dcutr.trio.sleep(2.0)                                              # upstream's pause between rounds
    assert trio.current_time() - start < 1.0
    start = trio.current_time()
    await dcutr.trio.sleep(0.3)                                              # any other sleep untouched
    assert trio.current_time() - start >= 0.3


def test_only_the_smaller_id_punches_at_once():
    import trio
    from libp2p.crypto.ed25519 import create_new_key_pair
    from libp2p.peer.id import ID

    from trustmesh.net.reach.punch import PATIENCE_S, Punch

    ids = sorted((ID.from_pubkey(create_new_key_pair().public_key) for _ in range(2)), key=lambda p: p.to_bytes())
    small, large = ids
    relayed = SimpleNamespace(get_transport_addresses=lambda: ["/ip4/1.2.3.4/tcp/1/p2p/x/p2p-circuit"])
    started = []

    def host_of(me, other):
        network = SimpleNamespace(connections={other: [relayed]}, get_connections=lambda p: [relayed])
        return SimpleNamespace(get_id=lambda: me, get_network=lambda: network)

    async def record(self, peer):
        started.append((self.host.get_id(), peer))

    for me, other in ((small, large), (large, small)):
        p = Punch.__new__(Punch)                         # no service machinery: only the drive decision
        p.host, p._relayed_since = host_of(me, other), {}
        p._in_progress, p._direct_connections, p._hole_punch_attempts = set(), set(), {}
        p.initiate_hole_punch = record.__get__(p)
        trio.run(p._drive_once, 100.0)
        trio.run(p._drive_once, 100.0 + PATIENCE_S / 2)
        assert started == ([(small, large)] * 2 if me == small else [])
        trio.run(p._drive_once, 100.0 + PATIENCE_S)      # the larger side steps in once the other never did
        assert started[-1] == (me, other)
        started.clear()


async def test_py_libp2p_auto_connector_never_dials_peers_our_discovery_holds_off():
    import multiaddr
    from libp2p.peer.id import ID

    host = build_host(Identity.generate())
    connector = host.get_network().auto_connector
    other = ID.from_base58(Identity.generate().id)
    host.get_peerstore().add_addrs(other, [multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/9")], 3600)
    dialled = []

    async def dial(peer_id, *args, **kwargs):
        dialled.append(peer_id)
    host.get_network().dial_peer = dial
    await connector.start()            # what the swarm does when it runs
    assert await connector._get_candidate_peers() == [other]    # upstream would dial it
    await connector.maybe_connect()
    assert not connector._started and dialled == []
