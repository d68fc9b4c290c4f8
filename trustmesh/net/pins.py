"""The upstream py-libp2p functions trustmesh replaces, overrides or relies on, pinned by hash.

Why: every item of ``net/tuning.py`` and the NAT code in ``net/reach/``
depends on the exact source of a libp2p==0.8.1 function. Here each is named
with a hash of its source; tests/test_p2p_tuning.py recomputes them, so an
upgrade that changes one fails by name, and whoever upgrades re-reads that
function before re-pinning it.
"""

from __future__ import annotations

# "module:qualified name" -> the first 16 hex digits of SHA-256 of its source (inspect.getsource)
UPSTREAM = {
    "libp2p.pubsub.utils:maybe_consume_signed_record": "11b2181c27d75df4",
    "libp2p.peer.peerstore:env_to_send_in_RPC": "9fea9d702c187d22",
    "libp2p.pubsub.gossipsub:GossipSub.__init__": "aa2c7451de9a63fa",
    "libp2p.pubsub.gossipsub:GossipSub._get_peers_to_send": "1d2d334126ca87ec",
    "libp2p.pubsub.gossipsub:GossipSub.publish": "b978282af46297f7",
    "libp2p.pubsub.gossipsub:GossipSub._emit_idontwant_for_message": "54753ff6cf35dec6",
    "libp2p.pubsub.pubsub:Pubsub._teardown_if_connected": "49d82691142d33f1",
    "libp2p.pubsub.pubsub:Pubsub._handle_dead_peer": "10026d998d3016b4",
    "libp2p.pubsub.pubsub:Pubsub._forget_all_subscriptions": "5e83d2f0d145fb18",
    "libp2p.pubsub.pubsub:Pubsub.push_msg": "1531483ab4d77674",
    "libp2p.pubsub.pubsub:Pubsub.continuously_read_stream": "ac0c4ad87ca39288",
    "libp2p.utils.varint:read_varint_prefixed_bytes_limited": "75623a1c5c4e2c39",
    "libp2p.network.connection.swarm_connection:SwarmConn._handle_muxed_stream": "fb51f8a3e37c9800",
    "libp2p.network.swarm:Swarm.set_stream_handler": "2a7fda1f18e0bb71",
    "libp2p.network.health.ping_probe:ping_connection": "26ae4051cd744ab3",
    "libp2p.stream_muxer.yamux.yamux:_yamux_release_on_read": "2727aa9962fb8209",
    "libp2p.pubsub.pubsub:Pubsub.publish": "5e875e00e471afb8",
    "libp2p.pubsub.mcache:MessageCache.put": "bb1f483342005e12",
    "libp2p.pubsub.gossipsub:GossipSub._check_equivocation": "4fc307cdaab33ada",
    "libp2p.pubsub.gossipsub:GossipSub._get_adaptive_gossip_peers_count": "9649a5fc46dd311c",
    "libp2p.pubsub.gossipsub:GossipSub._handle_dropped_rpc": "c81733f1db845ea1",
    "libp2p.pubsub.pubsub:Pubsub.notify_subscriptions": "2fb1385e4bbf3c0a",
    "libp2p.pubsub.pubsub:Pubsub._mark_msg_seen": "37cbb7ecfbb6ebc1",   # SafePubsub.relay (18)
    "libp2p.pubsub.pubsub:Pubsub.validate_msg": "9bc61633d2338dc5",     # RecentVerdicts (19)
    "libp2p.pubsub.pubsub:Pubsub._validation_cache_cleanup": "8edc4d1903a4db61",
    "libp2p.tools.anyio_service.trio_manager:TrioManager._find_parent_task": "8aaad50f6da7590d",   # 20
    "libp2p.tools.anyio_service.trio_manager:TrioManager.run_task": "ee6be8e98338d107",
    "libp2p.tools.anyio_service.trio_tasks:FunctionTask.run": "86a00f1899a0f4f2",
    # NAT (net/reach/): overridden, or relied on as read
    "libp2p.host.basic_host:BasicHost.get_addrs": "9d79f88eb0d4824b",
    "libp2p.host.autonat.autonat:AutoNATService._handle_dial": "6feb7f3c283d8f99",
    "libp2p.host.autonat.autonat:AutoNATService.query_server": "de7b70edeae67ac4",
    "libp2p.relay.circuit_v2.protocol:CircuitV2Protocol._handle_connect": "4ad19b34934a7dfc",
    "libp2p.relay.circuit_v2.protocol:CircuitV2Protocol.handle_incoming_connection": "07149e966eb5d9f6",
    "libp2p.kad_dht.kad_dht:KadDHT._do_handle_stream": "5bbaed4d3cdf488c",
    "libp2p.network.swarm:Swarm.dial_peer": "da3b538ccaeaeaa6",
    "libp2p.relay.circuit_v2.dcutr:DCUtRProtocol._perform_hole_punch": "d978c5517fb21282",
    "libp2p.relay.circuit_v2.protocol:CircuitV2Protocol._read_stream_with_retry": "79ebef2a3bfc8f2e",
    "libp2p.relay.circuit_v2.protocol:CircuitV2Protocol._relay_data": "2edf345c0da2cad0",
    "libp2p.relay.circuit_v2.dcutr:DCUtRProtocol._initiate_hole_punch_locked": "2e2ecbf940967b7e",
    "libp2p.relay.circuit_v2.dcutr:DCUtRProtocol._auto_drive_loop": "da5e9e25994ba7ba",
    "libp2p.relay.circuit_v2.dcutr:DCUtRProtocol._try_unilateral_upgrade": "093ad0e04435dd57",
    "libp2p.stream_muxer.yamux.yamux:YamuxStream._auto_tune_and_send_window_update": "6ebcbd822fe7f996",
    "libp2p.network.auto_connector:AutoConnector.start": "52c51ed1bb75cb32",
    "libp2p.network.auto_connector:AutoConnector.maybe_connect": "018fac95eafc2413",
    "libp2p.network.auto_connector:AutoConnector.run_background_task": "eb8fcee6e5a0e385",
}
