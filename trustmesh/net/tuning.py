"""Per-message costs of py-libp2p 0.8.1 that we take off, each for a measured reason.

A record is ~250 bytes; at 50 records/s among 10 nodes on 2 cores, py-libp2p's
own per-RPC work (not our verification) saturated the machine and gossip
latency grew to seconds (bench/network.py, docs/architecture.md). Profiles
showed, per small message and per peer:

1. Every pubsub RPC carries the sender's signed peer record and every
   receiver checks its signature again, although it is the same envelope
   on every RPC of that peer. We keep the last envelope accepted from each
   peer and skip the check for the identical bytes (a changed envelope is
   verified as before). Sending side: the marshalled envelope is reused
   for a second instead of being checked against our addresses per RPC.
2. Gossipsub v1.2 sends an IDONTWANT RPC to every mesh peer for every
   message it receives, even for messages smaller than the IDONTWANT RPC
   itself; go-libp2p only does so above 1 KiB (IDontWantMessageThreshold).
   ``LeanGossipSub`` does the same.
3. Mesh churn. py-libp2p's "adaptive gossip" moves the mesh bounds with a
   health estimate, and its GRAFT-flood check penalises a peer that grafts
   within 10 s of having *pruned* us (the check is kept on the wrong side).
   Two honest nodes that pruned and re-grafted once at connection time then
   refused each other's mesh for a minute, and with few peers there is no
   IHAVE gossip to fall back on: records crossed only by the next sync. We
   keep the configured bounds (adaptive off) and leave flood control to our
   own defence (``graft_flood_threshold = 0``).
4. A crash: ``Pubsub._teardown_if_connected`` (run when a peer is
   blacklisted, which our ban does) deletes the peer's entry after an
   await, and the disconnect we start at the same time deleted it first:
   the KeyError failed pubsub's service and took the node down under a
   flood. ``SafePubsub`` removes the entry only if it is still there.
5. Flood publishing (go-libp2p's default, missing in py-libp2p): our own
   records go to every connected peer on the topic, not only to the mesh,
   so a record reaches the first hop even while the mesh is being rebuilt.
   Relayed messages still follow the mesh.
6. Yamux answers every read with a WINDOW_UPDATE frame
   (``PY_YAMUX_RELEASE_ON_READ=1`` default); go-yamux batches updates until
   half the window is consumed. ``PY_YAMUX_RELEASE_ON_READ=0`` (read by
   py-libp2p at call time) gives go's behaviour.
7. A crash: an exception from any stream handler escapes
   ``SwarmConn._handle_muxed_stream`` into the connection's nursery and
   fails the swarm service, which stops the host: the node process exits.
   Pubsub's handler lets protobuf's ``DecodeError`` out, so two bytes
   (``01 ff``) on a ``/meshsub/1.1.0`` stream killed a node. ``guard_streams``
   wraps the swarm's one entry point for inbound streams: a failing handler
   costs its stream (reset) and is reported to our defence, never the node.
   For the same reason ``SafePubsub.push_msg`` (run as a pubsub service task
   per message: a garbage ``key`` raised out of the signature check) is
   contained and reported.
8. Pubsub resets a stream whose RPC announces more than
   ``max_inbound_rpc_size`` (or a varint over 64 bits) but tells nobody, so a
   peer could repeat it for free. The read is wrapped to raise our own
   ``FrameTooLarge`` / ``DecodeError`` instead, which pubsub does not catch:
   they reach ``guard_streams`` and count as an offence.

9. Unsigned messages (the StrictNoSign policy of docs/protocol.md 16.2):
   py-libp2p's ``strict_signing=False`` still puts ``from`` and ``seqno`` in
   every message, accepts signed ones, and its router keys two things by
   ``from + seqno`` whatever the message id function: the message cache
   behind IHAVE/IWANT (so every unsigned message had the same key, and
   IHAVE ids never matched the seen cache's content ids even when signed),
   and an equivocation check that refuses a second message with the same
   key (every unsigned message after the first). ``SafePubsub.publish``
   builds messages with only ``data`` and ``topicIDs`` (the fields absent,
   not empty, as libp2p's StrictNoSign says) and ``push_msg`` drops one
   that carries any of the four fields; ``LeanGossipSub`` keys its message
   cache by the pubsub message id, and skips the equivocation check for
   messages without an author (a content-addressed message cannot
   equivocate).

10. ``BasicHost.get_addrs`` strips a trailing ``/p2p/<id>`` by decapsulating at
   the *first* ``/p2p`` of an address, so a relayed address
   ``<relay addr>/p2p/<relay>/p2p-circuit`` (given through ``addrs_factory``)
   came out as ``<relay addr>/p2p/<us>``: we advertised the relay's address
   under our id, and peers dialling it reached the relay (noise: wrong peer).
   ``advertise_circuits`` appends relayed addresses after that step.

11. DCUtR gave each of its three punching rounds 5 s, then slept 2 s, both
   sides started sessions at once, and a unilateral dial of a NATed peer's
   LAN address held up every punch: ``net/reach/punch.py`` says why and what
   it does instead (one side starts, rounds of 2 s with a 0.25 s pause).

12. Yamux sent a WINDOW_UPDATE frame after nearly every read even with
    ``PY_YAMUX_RELEASE_ON_READ=0``: its "partial slack" branch releases any
    positive delta below the half-window threshold at once, so a small
    gossip RPC cost its receiver a frame written and its sender a frame read
    (in a profile, window updates were 70% of the frames a receiver wrote).
    ``window_update`` keeps go-yamux's rule: an update once half the window
    is consumed (or pending), which a sender reading the window it was given
    never waits for. It takes no ``window_lock``: every holder of that lock
    in yamux keeps it over synchronous code only (upstream's rule: "never
    hold window_lock across an await"), so on trio a section without an
    await is already atomic, and the lock's acquire cost a checkpoint, a
    task switch, per read.
13. A peer that comes back after a silent link loss went deaf one way under
    load (CI: test_p2p_restart, restarted -> survivor only): pubsub keeps one
    topic list per peer, and when the peer's stale stream failed *after* its
    new connection had carried its subscriptions, ``_handle_dead_peer``
    forgot them; the peer never sends them again, so we stopped publishing
    to it for good. ``SafePubsub._handle_dead_peer`` keeps the topics of a
    peer that is still connected (upstream reopens our stream to it).
14. A second dialler. py-libp2p's ``AutoConnector`` dials every peer in
    the peerstore it is not connected to whenever the swarm holds fewer
    than 50 connections (every 10 s, and at once after each disconnect):
    always, in networks of our size. It knows nothing of our rules
    (``net/peers/discovery.py``: the number of peers we want, back-off, the
    owner's ``disconnect`` hold), so a peer the owner disconnected came back
    within seconds (test_everyday_net, under load). ``quiet_auto_connector``
    leaves it never started; our discovery is the one dialler.
15. Honest gossip lost through a node under attack (tests/test_hostile_peers.py:
    p95 12-56 s): not the 32-slot queues (the node under attack dropped no
    outbound RPC; ``LeanGossipSub.dropped`` counts them now), but the mesh.
    A node keeps D=2..4 mesh peers, whoever grafted; a dozen attacker hosts
    grafting it filled it, the honest peer was outside, and relays reached
    it only by IHAVE or the next sync (32 of 148 relays in one run).
    ``LeanGossipSub._add_valued`` relays also to peers that count for us
    (weight, or chosen), up to D of them, whatever the mesh. Upstream also
    hard-codes D_lazy = 6 (``_get_adaptive_gossip_peers_count``); it is
    ``gossip.degree_lazy`` here, measured (bench/network.py --services).
16. Duplicates. Each record reaches a node from every mesh peer that relays
    it (and by flood publish), and pubsub's read loop spawns a service task
    (a FunctionTask: cancel scope, event, task tree) per message before
    ``push_msg`` finds it seen; worse, a copy that arrives while the first
    is still being validated is not "seen" yet, so it is validated again
    (an intake call) and relayed again to every mesh peer, and the longer
    validation waits under load, the more of them. ``SafePubsub`` keeps the
    ids being validated; the read loop's call of the envelope check
    (``consume_and_dedup``, the one hook between the parse and the spawn)
    drops messages seen or being validated, and ``push_msg`` drops an
    in-flight copy that got past it. A copy is dropped only when the first
    is already decided or will be; the verdict is the message's (its
    content's), as upstream's validation cache already makes it.
17. Every validated message was also put on our subscription's channel
    (32 slots) and taken off by a task that throws it away (the validator
    has already taken the records in); under load the channel overflowed
    with a warning logged per message. ``SafePubsub.deliver = False`` (set
    by ``Gossip``) skips it; the subscription stays, as the router needs.
18. Relays re-pack. A record made by one member at a time travels as a
    one-record message, and a relay forwarded the message as it came, so
    under steady load every node handled ~D messages per record, and a
    message costs a node the same trio, yamux, noise and pubsub work
    whatever it carries (a burst packed 256 to a message cost 0.17 ms per
    record per node, one record per message ~4 ms). With
    ``gossip.repack_relays`` a peer's message is taken in (the validator
    says yes: the sender is credited, never penalised; py-libp2p 0.8.1's
    validators answer a bool, with no IGNORE, so the "do not forward" is
    ``LeanGossipSub.publish`` returning for a peer's message) and the
    records not relayed by us before wait ``gossip.relay_linger_s`` in a
    relay queue (``Gossip._relay``); everything that came in meanwhile
    leaves as one message (``SafePubsub.relay``), routed as a relay (mesh
    and valued peers, not back to the one peer all of it came from), not
    flooded as our own records are. A one-record relay message has the id
    of the one it came in, which the seen cache already holds, so
    ``relay`` passes by pubsub's seen check. The linger adds to every hop;
    bench/network.py ``--reference relay`` measures it against forwarding
    as it came in the same run.
19. Pubsub's validation cache (results by message id, so that a copy is
    not validated twice) keeps its LRU order in a list: every result put
    scans it (120 us at 10,000 entries: per message validated, on the
    event loop) and every entry lived 300 s, so a node's memory grew for
    five minutes of traffic (bench/soak.py: ``ValidationResult`` and its id
    among the top growth in ``TRUSTMESH_MEMTRACE``). ``RecentVerdicts`` is
    the same cache in an ordered dict (O(1) steps) that keeps 4,096 results
    for 120 s, as long as the seen cache keeps the id: after that a copy is
    new to pubsub anyway.
20. Every gossip message read is a service task (``manager.run_task``), and
    the service manager found each new task's parent by walking all the
    service's tasks: a quarter of a receiver's event loop at 50 records/s
    (``net/servicetasks.py`` looks it up instead).

Everything here is pinned to libp2p==0.8.1 (pyproject.toml):
``net/pins.py`` holds a hash of the source of every upstream function we
replace, override or depend on.
"""

from __future__ import annotations

import logging
import os
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable

import libp2p.pubsub.gossipsub as _gossipsub_mod
import libp2p.pubsub.pubsub as _pubsub_mod
from google.protobuf.message import DecodeError as _ProtobufDecodeError
from libp2p.exceptions import ParseError as _ParseError
from libp2p.io.exceptions import MessageTooLarge as _MessageTooLarge
from libp2p.peer import peerstore as _peerstore_mod
from libp2p.pubsub import utils as _utils_mod
from libp2p.peer.id import ID
from libp2p.stream_muxer.yamux import yamux as _yamux_mod
from libp2p.utils import varint as _varint_mod

from trustmesh.errors import DecodeError, FrameTooLarge
from trustmesh.net import servicetasks

log = logging.getLogger("trustmesh.p2p")
IDONTWANT_THRESHOLD = 1024      # bytes of message data, as go-libp2p
_KNOWN_ENVELOPES = 4096          # peers whose last envelope we remember
ENVELOPE_RECHECK_S = 1.0         # how stale our own envelope may be

_original_consume = _utils_mod.maybe_consume_signed_record
_original_env = _peerstore_mod.env_to_send_in_RPC
# host -> (peer id bytes -> envelope bytes): per host, as the peerstore each accepted envelope
# goes into, so that two nodes in one process (an app's, a test's) each record their peers
_accepted: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_sent: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()   # host -> (when built, envelope)


def consume_signed_record(msg, host, peer_id) -> bool:
    """``maybe_consume_signed_record`` that skips re-verifying an envelope already accepted."""
    if not msg.HasField("senderRecord"):
        return True
    key = peer_id.to_bytes()
    envelope = msg.senderRecord
    known = _accepted.get(host)
    if known is not None and known.get(key) == envelope:
        known.move_to_end(key)
        return True
    ok = _original_consume(msg, host, peer_id)
    if ok:
        if known is None:
            known = _accepted[host] = OrderedDict()
        known[key] = envelope
        while len(known) > _KNOWN_ENVELOPES:
            known.popitem(last=False)
    return ok


# host -> its pubsub, for the read loop's filter of messages already seen (see 15)
_dedup: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def dedup_inbound(host, pubsub) -> None:
    """Let ``host``'s pubsub read loop drop messages ``pubsub.known_message(msg)`` says it has (see 15)."""
    _dedup[host] = pubsub


def consume_and_dedup(msg, host, peer_id) -> bool:
    """``consume_signed_record`` as pubsub's read loop calls it, which then drops known messages (see 15)."""
    if not consume_signed_record(msg, host, peer_id):
        return False
    pubsub = _dedup.get(host)
    if pubsub is not None and len(msg.publish):
        for i in range(len(msg.publish) - 1, -1, -1):
            if pubsub.known_message(msg.publish[i]):
                del msg.publish[i]
    return True


def accepted_envelope(host, peer_id) -> bytes | None:
    """The last envelope ``host`` accepted from ``peer_id`` (not checked again while it stays the same)."""
    return _accepted.get(host, {}).get(peer_id.to_bytes())


def env_to_send(host) -> tuple[bytes, bool]:
    """``env_to_send_in_RPC`` that reuses the marshalled envelope for up to a second.

    py-libp2p rebuilds the address set (parsing multiaddrs) on every RPC to
    notice a change of listen addresses; once a second is soon enough.
    """
    now = time.monotonic()
    cached = _sent.get(host)
    if cached is not None and now - cached[0] < ENVELOPE_RECHECK_S:
        return cached[1], False
    data, fresh = _original_env(host)
    _sent[host] = (now, data)
    return data, fresh


def malformed(exc: BaseException) -> bool:
    """True when ``exc`` (or every exception in a group) says the peer sent bytes no honest node sends."""
    if isinstance(exc, BaseExceptionGroup):
        return all(malformed(e) for e in exc.exceptions)
    return isinstance(exc, (DecodeError, _ProtobufDecodeError))


def report_failure(on_failure, peer, what: str, exc: BaseException) -> None:
    """Tell ``on_failure`` (the offence hook) of a contained failure; log it if there is none."""
    reason = f"{what}: {type(exc).__name__}: {str(exc)[:120]}".rstrip(": ")
    if on_failure is None:
        log.warning("%s from %s failed: %s", what, peer, reason)
        return
    try:
        on_failure(peer, reason, malformed(exc))
    except Exception as hook_exc:       # the hook must not turn a contained failure into a crash
        log.warning("offence hook failed: %s", hook_exc)


def quiet_auto_connector(host) -> None:
    """Leave the swarm's AutoConnector unstarted (see 14): both its loops return at once then."""
    connector = host.get_network().auto_connector

    async def never_started() -> None:
        connector._started = False
    connector.start = never_started


def guard_streams(host, on_failure: Callable) -> None:
    """Contain every inbound stream handler of ``host`` (see 7).

    ``on_failure(peer, reason, malformed)`` is told of each handler that
    raised; the stream is reset first. Cancellation still propagates.
    """
    network = host.get_network()
    inner = network.common_stream_handler

    async def guarded(stream) -> None:
        try:
            await inner(stream)
        except Exception as exc:
            try:
                await stream.reset()
            except Exception:
                pass
            try:
                peer = stream.muxed_conn.peer_id
                protocol = stream.get_protocol() or "stream"
            except Exception:
                return
            report_failure(on_failure, peer, str(protocol), exc)

    network.set_stream_handler(guarded)


def advertise_circuits(host, circuits: Callable) -> None:
    """``host.get_addrs()`` followed by ``circuits()`` (relayed addresses, each given
    ``/p2p/<our id>``), intact (see 10). Identify, peer records and DCUtR all read it."""
    original = host.get_addrs
    me = host.get_id().to_base58()

    def get_addrs():
        import multiaddr
        return list(original()) + [multiaddr.Multiaddr(f"{c}/p2p/{me}") for c in circuits()]

    host.get_addrs = get_addrs


async def read_rpc(reader, max_length: int) -> bytes:
    """Pubsub's RPC read, raising our typed errors for what pubsub would swallow (see 8)."""
    try:
        return await _original_read_rpc(reader, max_length)
    except _MessageTooLarge as exc:
        raise FrameTooLarge(f"gossip RPC over the limit: {exc}") from None
    except _ParseError as exc:
        raise DecodeError(f"gossip RPC length: {exc}") from None


_original_read_rpc = _varint_mod.read_varint_prefixed_bytes_limited


_original_window_update = _yamux_mod.YamuxStream._auto_tune_and_send_window_update
# what install() replaces on a class: the pinned source is the original's, not ours
REPLACED = {"libp2p.stream_muxer.yamux.yamux:YamuxStream._auto_tune_and_send_window_update":
            _original_window_update,
            "libp2p.tools.anyio_service.trio_manager:TrioManager._find_parent_task":
            servicetasks.original_find_parent}


async def window_update(self, *, bytes_read: int = 0) -> None:
    """``YamuxStream._auto_tune_and_send_window_update`` without the per-read update (see 12)."""
    total_delta = 0
    # no await from here to the send: atomic on trio without window_lock (see 12)
    if bytes_read > 0:
        self._pending_recv_release += bytes_read
    buffered = len(self.conn.stream_buffers.get(self.stream_id, b""))
    delta = self.target_recv_window - (self.recv_window + buffered)
    threshold = self._grow_threshold()
    if delta >= threshold and delta > 0:
        total_delta = self._grow_to_delta(buffered) + self._apply_autotune_epoch(buffered)
        self._pending_recv_release = 0
    elif self._pending_recv_release >= threshold and self._pending_recv_release > 0:
        total_delta = self._pending_recv_release
        self.recv_window += total_delta
        self._pending_recv_release = 0
        total_delta += self._apply_autotune_epoch(buffered)
    if total_delta > 0:
        await self.send_window_update(total_delta, skip_lock=True)


def install() -> None:
    """Apply the adjustments (idempotent); called before any host is built."""
    os.environ.setdefault("PY_YAMUX_RELEASE_ON_READ", "0")
    for module in (_gossipsub_mod, _pubsub_mod):
        module.maybe_consume_signed_record = consume_signed_record
        module.env_to_send_in_RPC = env_to_send
    _pubsub_mod.maybe_consume_signed_record = consume_and_dedup
    _pubsub_mod.read_varint_prefixed_bytes_limited = read_rpc
    from trustmesh.net.reach import punch
    punch.install()
    _yamux_mod.YamuxStream._auto_tune_and_send_window_update = window_update
    servicetasks.install()
