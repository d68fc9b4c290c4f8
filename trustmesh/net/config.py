"""Every network tunable in one frozen object, each with the reason for its default.

Pure (no libp2p): the daemon and tests build these without paying the
import cost of libp2p. The daemon's flags, environment and config file
are applied to them by ``daemon/settings.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from trustmesh.protocol.query.wire import PROTOCOL_ID as QUERY_PROTOCOL  # noqa: F401 (one source)
from trustmesh.protocol.sync.wire import PROTOCOL_ID as SYNC_PROTOCOL  # noqa: F401 (one source)

TOPIC = "trustmesh/records/1"
DEAL_PROTOCOL = "/trustmesh/deal/1.0.0"
PEERS_PROTOCOL = "/trustmesh/peers/1.0.0"

DEFAULT_PORT = 4001
DEFAULT_LISTEN = f"/ip4/0.0.0.0/tcp/{DEFAULT_PORT}"


@dataclass(frozen=True)
class GossipConfig:
    """Gossipsub settings (py-libp2p's defaults drop bursts; see docs/operating.md)."""

    # D: mesh peers per topic. The spec's 6/4/12 is sized for thousands of
    # nodes; each mesh edge carries every record once (and duplicates grow
    # with D), and in py-libp2p every message received costs a node ~2 ms of
    # CPU. 10 nodes on 2 cores at 50 records/s used 1.6 cores with D=3 and
    # queued for seconds after any hiccup; D=2 uses ~1.3 and delivers in
    # ~15 ms (bench/network.py, docs/architecture.md). Lost or slow gossip is
    # repaired by IHAVE gossip to non-mesh peers each heartbeat, and by sync.
    degree: int = 2
    degree_low: int = 2
    degree_high: int = 4
    heartbeat_s: float = 1.0        # py-libp2p's default of 120 s heals a mesh far too slowly
    # D_lazy: non-mesh peers sent IHAVE (the ids of the last 3 heartbeats' messages) each
    # heartbeat, at least this many (upstream's 6, or a quarter of the non-mesh peers if more).
    degree_lazy: int = 6
    # py-libp2p applies this per forwarder *and* to our own publishes; our
    # pacer stays well under it and ``defence`` does the real per-peer limit.
    max_messages_per_s: float = 400.0
    max_rpc_bytes: int = 1 << 20    # an inbound RPC above this resets the stream
    # One gossip message carries up to this many records / bytes; above one
    # record the payload is a batch (see pacing.py): whatever waits when the
    # publisher is ready goes in one message, up to the protocol's 256 records
    # (protocol/gossip.py MAX_BATCH, what receivers accept whatever their own
    # setting). Every message costs each node its noise, yamux, protobuf and
    # pubsub work once per copy, whatever it carries, so the fuller the cheaper;
    # 256 records of at most 2 KiB stay well under the 1 MiB RPC limit.
    batch_records: int = 256
    batch_bytes: int = 256 * 1024
    publish_interval_s: float = 0.004   # pause between publishes: the 32-slot queues
    # ... and before each, wait up to this long for every peer's outbound queue to
    # have room (net/gossip/topic.py, Gossip._room)
    publish_wait_s: float = 2.0
    validation_concurrency: int = 64
    # The protocol's signing policy is StrictNoSign (docs/protocol.md, 16.2): every
    # record carries its author's signature, so a message signature only costs. True
    # signs every message (the policy before) and refuses unsigned ones: for
    # bench/network.py's same-run reference only; such a node gossips with no other.
    sign_messages: bool = False
    # Copies of a message already seen, or still being validated, are dropped as they are
    # read (net/tuning.py, 16): no task, no second validation, no second relay. False is
    # py-libp2p's behaviour, for bench/network.py's same-run reference only.
    early_dedup: bool = True
    # Relays re-pack (net/tuning.py, 18): records taken in from a peer are not forwarded in that
    # peer's message; they wait ``relay_linger_s`` in our relay queue, and everything new that came
    # in meanwhile leaves as one message to the mesh. Each message costs every node the same work
    # whatever it carries, so under steady load a node handles ~D messages per *window* instead of
    # per record. The linger adds to every hop; chosen by bench/network.py --reference relay.
    # False forwards each message as it came (py-libp2p's way), for that same-run reference.
    repack_relays: bool = True
    relay_linger_s: float = 0.05


@dataclass(frozen=True)
class SyncConfig:
    """Anti-entropy: when and how hard to reconcile with peers."""

    # Of two connected nodes, the one whose peer id is the smaller byte string
    # opens the sync (docs/protocol.md, "Sync"): on connect, then every interval_s.
    # No frame-size setting: the frame limit is a protocol constant (256 KiB), the
    # same on both sides, or an honest peer's frames would look like an attack.
    on_connect: bool = True
    interval_s: float = 30.0        # periodic sync toward each connected peer we open syncs for
    timeout_s: float = 120.0        # a whole session (100,000 records take ~10 s)
    idle_timeout_s: float = 20.0    # no byte from the peer for this long ends it
    ingest_batch: int = 4096        # records per intake batch (two in flight: one verified while one commits)


@dataclass(frozen=True)
class DefenceConfig:
    """Limits that keep one peer from hurting the node."""

    # Gossip only: a sync or query peer can only send the records we asked for.
    records_per_s: float = 2000.0   # per peer, records in gossip messages, sustained
    records_burst: float = 20000.0  # per peer, a burst
    # (Each protocol's frame limit is a protocol constant, see docs/protocol.md.)
    hard_offences_to_ban: int = 1   # forged signature, malformed bytes, oversized frame
    soft_offences_to_ban: int = 20  # rule breaks an honest clock skew could cause
    ban_s: float = 60.0             # first ban; each further ban is 4x longer
    ban_max_s: float = 24 * 3600.0
    # Records by authors with no weight from my point of view are kept up to
    # this many; past it they are dropped (a sybil flood cannot fill the disk).
    unweighted_quota: int = 200_000
    # ... and at most this many an hour (a burst of as many), so a flood of valid records
    # from fresh identities stores at most this much per hour, and is refused before its
    # signatures are checked once the hour's room is spent. Honest newcomers' records
    # beyond it are dropped too; sync brings them once someone with weight vouches.
    unweighted_per_hour: int = 2_000
    reach_refresh_s: float = 10.0   # recompute the weighted set at most this often
    # A record the strangers' quota refused is answered for in sync as if held, for this
    # long, toward peers the quota holds back, so they stop offering it in every session
    # (core/withheld.py); at most this many at once (the oldest are offered again). At most
    # an hour: the hourly room refills in an hour, and the record comes once it is let go.
    over_quota_hold_s: float = 600.0
    over_quota_withheld: int = 20_000


@dataclass(frozen=True)
class DiscoveryConfig:
    """Finding and keeping peers."""

    bootstrap: tuple[str, ...] = ()
    mdns: bool = False
    target_peers: int = 8           # dial more known peers while below this
    max_peers: int = 64
    redial_min_s: float = 1.0
    redial_max_s: float = 60.0
    # A peer the owner disconnected (``trustmesh disconnect``) is not dialled
    # again by this node for this long (bootstrap and known peers alike);
    # ``connect`` ends the hold at once. Not a ban: the peer may dial us.
    disconnect_hold_s: float = 300.0
    exchange_peers: int = 32        # addresses given per peer-exchange answer
    maintain_interval_s: float = 1.0
    save_interval_s: float = 30.0
    # Every connection is pinged this often and closed without an answer in
    # keepalive_timeout_s: a peer that vanished without closing its TCP
    # connection (power cut, network change) is not kept for the kernel's
    # ~15 minutes. A missed ping gets a second one with a deadline
    # keepalive_retry_factor times longer (a peer under load answers late,
    # not never; 1 = judge on the first ping). When a peer connects again
    # while a connection to it is open, the open ones are pinged at once,
    # with replace_timeout_s and no second ping.
    keepalive_interval_s: float = 15.0
    keepalive_timeout_s: float = 10.0
    keepalive_retry_factor: float = 3.0
    replace_timeout_s: float = 5.0


@dataclass(frozen=True)
class DealConfig:
    """How a node answers deal proposals when no callback is set."""

    # "ask": keep it pending for the user; "accept": countersign every
    # proposal from a peer with weight; "always": countersign all; "never".
    auto_accept: str = "ask"
    timeout_s: float = 30.0
    max_pending: int = 256


@dataclass(frozen=True)
class NatConfig:
    """Reaching and being reached from behind NAT (docs/operating.md, "Behind NAT")."""

    # AutoNAT: peers we reached directly are asked to dial us back; the verdict
    # (the majority of the last answers, at least ``autonat_confirmations``
    # agreeing) says "reachable" or "behind NAT". Checked every 2 s until a
    # verdict, then every ``autonat_interval_s``. One confirmation by default: a
    # trust network has few peers, and a wrong verdict costs little (a relay slot
    # taken, or one not taken, until the next check).
    autonat: bool = True
    autonat_confirmations: int = 1
    autonat_servers: int = 3            # asked per check
    autonat_interval_s: float = 60.0
    # Circuit relay v2, serving (off: a relay carries others' traffic). Limits
    # are per relay: reservations held at once, circuits per reserved peer, how
    # long a reservation lasts, and how long / how many bytes one circuit may
    # carry before the relay closes it. A circuit is the fallback when hole
    # punching fails, so it must carry a whole sync (100,000 records are ~30 MB).
    relay: bool = False
    relay_max_reservations: int = 32
    relay_max_circuits: int = 8
    relay_reservation_ttl_s: int = 3600
    relay_circuit_duration_s: int = 3600
    relay_circuit_bytes: int = 64 << 20
    # Relay client: behind NAT, hold reservations on this many relays (the
    # ``relays`` listed, then connected peers that serve as relays), and
    # advertise their /p2p-circuit addresses.
    reserve: bool = True
    relays: tuple[str, ...] = ()
    max_reservations: int = 2
    # DCUtR: upgrade a relayed connection to a direct one by hole punching.
    dcutr: bool = True
    # Kademlia DHT (/ipfs/kad/1.0.0): server mode when reachable, client behind
    # NAT; peer routing only (docs/protocol.md section 14 says what it reveals).
    dht: bool = True
    dial_timeout_s: float = 10.0        # one dial by id (DHT look-up, then each address)


@dataclass(frozen=True)
class NetConfig:
    """Everything the network side needs, with documented defaults."""

    listen: tuple[str, ...] = (DEFAULT_LISTEN,)
    gossip: GossipConfig = field(default_factory=GossipConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    defence: DefenceConfig = field(default_factory=DefenceConfig)
    discovery: DiscoveryConfig = field(default_factory=DiscoveryConfig)
    deals: DealConfig = field(default_factory=DealConfig)
    nat: NatConfig = field(default_factory=NatConfig)
    query_timeout_s: float = 10.0


def with_peers(base: NetConfig, listen: Iterable[str] | None = None, bootstrap: Iterable[str] | None = None,
               mdns: bool = False) -> NetConfig:
    """``base`` with listen addresses, more bootstrap peers and mDNS applied (the library's arguments)."""
    listen = tuple(listen or ()) or base.listen
    discovery = replace(base.discovery, bootstrap=tuple(bootstrap or ()) + base.discovery.bootstrap,
                        mdns=mdns or base.discovery.mdns)
    return replace(base, listen=listen, discovery=discovery)
