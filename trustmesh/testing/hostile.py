"""A deliberately misbehaving peer, for the defence tests (never used by a node).

    python -m trustmesh.testing.hostile --target /ip4/127.0.0.1/tcp/N/p2p/ID --mode forged

Modes: ``forged`` (a record whose signature does not verify), ``malformed``
(bytes that are not a record), ``oversized`` (a stream frame announcing
10 MB), ``flood`` (many valid records from throwaway identities, as fast as
possible), ``sybil`` (valid records from throwaway identities, at a polite
pace: exercises the quota, not the rate limit), ``sync-garbage`` (a sync
stream carrying bytes that are not protocol messages), ``sync-nested`` /
``query-nested`` (a frame of arrays nested 500 deep), ``poison`` (a validly
signed attestation with ``expires`` = 2^63 - 1), ``slow-loris`` (a
sync frame fed one byte a second, for at most ``--count`` seconds: reports
how long the node held it), ``sync-parallel`` (``--count`` sync streams at
once, saying nothing: reports how many the node kept open), ``sync-forged``
(a well-behaved sync session that pushes a forged record), ``wrong-author``
(a record naming another member as author, signed by us), ``non-canonical``
(a validly signed record in a longer msgpack encoding), ``future`` (a validly
signed record issued a day ahead), ``fork`` (two validly signed records at
one chain position: give ``--seed`` to know the forker), ``replay`` (records
heard on the topic for a while, sent again by gossip and by sync),
``sync-stall`` (a sync session opened properly, then never answered: reports
how long the node held it), ``fuzz`` (every
protocol the node registers, ours and libp2p's, fed garbage, truncated
frames and huge varints, one fresh identity per case: ``wirefuzz.py``), ``probe`` (sends
nothing: is this identity still let in?). ``--seed`` fixes the identity, so
a later run comes back as the same peer. Prints one JSON line: what it sent
and whether the target still let it in afterwards. Several modes separated
by commas run at once in this one process, each as its own peer (its own
identity; ``--seed`` goes to the first); the line is then a list of results.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys

import trio
from libp2p.tools.anyio_service import background_trio_service
from multiaddr import Multiaddr

from trustmesh.crypto.keys import Identity
from trustmesh.net.config import DEAL_PROTOCOL, QUERY_PROTOCOL, SYNC_PROTOCOL, TOPIC
from trustmesh.net.host import build_host, peer_info
from trustmesh.net.pump import pump
from trustmesh.protocol.framing import encode_varint
from trustmesh.protocol.gossip import pack_message, unpack_message
from trustmesh.protocol.sync.index import SyncIndex
from trustmesh.protocol.sync.session import SyncSession, WantRecords
from trustmesh.testing.badrecords import (
    fork_records, forged_record, future_record, non_canonical_record, poison_record, sybil_records,
    wrong_author_record,
)
from trustmesh.testing.wirefuzz import fuzz


async def push_by_sync(host, peer, raw: bytes | list[bytes]) -> None:
    """Run an honest-looking sync session whose only records are ``raw``."""
    raws = {hashlib.sha256(r).digest(): r for r in ([raw] if isinstance(raw, bytes) else raw)}
    session = SyncSession(SyncIndex(raws), initiator=True)

    async def on_event(event) -> None:
        if isinstance(event, WantRecords):
            session.provide([raws[i] for i in event.ids if i in raws])

    stream = await host.new_stream(peer, [SYNC_PROTOCOL])
    session.start()
    with trio.move_on_after(10):
        try:
            await pump(stream, session, on_event, 5.0)
        except Exception:
            pass


async def listen(pubsub, seconds: float) -> list[bytes]:
    """The records heard on the topic for ``seconds`` (one gossip message may carry a batch)."""
    sub = await pubsub.subscribe(TOPIC)
    heard: list[bytes] = []
    with trio.move_on_after(seconds):
        while True:
            message = await sub.get()
            try:
                heard.extend(unpack_message(message.data))
            except Exception:
                pass
    return heard


async def stall_sync(host, peer, seconds: float) -> float:
    """Open a sync session properly (our first RECONCILE), then never answer; how long it was held."""
    session = SyncSession(SyncIndex([bytes([i]) * 32 for i in range(1, 40)]), initiator=True)
    session.start()
    stream = await host.new_stream(peer, [SYNC_PROTOCOL])
    start = trio.current_time()
    await stream.write(session.data_to_send())
    with trio.move_on_after(seconds):
        try:
            while await stream.read(65536):     # read its answer, and say nothing more
                pass
        except Exception:
            pass
    return round(trio.current_time() - start, 1)


async def slow_loris(host, peer, seconds: float) -> float:
    """Feed a sync frame one byte a second; how long until the node ended the stream."""
    stream = await host.new_stream(peer, [SYNC_PROTOCOL])
    start = trio.current_time()
    ended = trio.Event()

    async def reader() -> None:
        try:
            while await stream.read(65536):
                pass
        except Exception:
            pass
        ended.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        with trio.move_on_after(seconds):
            await stream.write(encode_varint(1000))
            while not ended.is_set():
                with trio.move_on_after(1.0):
                    await ended.wait()
                try:
                    await stream.write(b"\x00")
                except Exception:
                    break
            await ended.wait()
        nursery.cancel_scope.cancel()
    return round(trio.current_time() - start, 1)


async def parallel_syncs(host, peer, n: int) -> int:
    """Open ``n`` sync streams at once and say nothing; how many the node still holds after 2 s."""
    held = 0

    async def one() -> None:
        nonlocal held
        try:
            stream = await host.new_stream(peer, [SYNC_PROTOCOL])
        except Exception:
            return
        with trio.move_on_after(2.0) as wait:
            try:
                await stream.read(65536)       # refused: reset or closed at once
            except Exception:
                pass
        if wait.cancelled_caught:
            held += 1

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(one)
    return held


GOSSIP_MODES = ("forged", "poison", "malformed", "flood", "sybil", "wrong-author", "non-canonical",
                "future", "fork", "replay")   # sent on the topic: need the mesh


async def _until(condition, seconds: float) -> bool:
    """Poll ``condition`` every 20 ms for at most ``seconds``; whether it held."""
    with trio.move_on_after(seconds):
        while not condition():
            await trio.sleep(0.02)
        return True
    return False


async def main(target: str, mode: str, count: int, seed: bytes | None = None) -> dict:
    from libp2p.pubsub.gossipsub import PROTOCOL_ID_V11, PROTOCOL_ID_V12

    from trustmesh.net.gossip.topic import message_id
    from trustmesh.net.gossip.router import LeanGossipSub, SafePubsub

    if mode == "fuzz":
        return await fuzz(target)
    me = Identity.from_seed(seed) if seed else Identity.generate()
    host = build_host(me)
    # it speaks the protocol (unsigned messages, docs/protocol.md 16.2), so what it sends
    # reaches the node's validator instead of being dropped as a message of another policy
    router = LeanGossipSub([PROTOCOL_ID_V12, PROTOCOL_ID_V11], 6, 4, 12, heartbeat_interval=1,
                           spam_protection_enabled=False, eclipse_protection_enabled=False)
    pubsub = SafePubsub(host, router, strict_signing=False, msg_id_constructor=message_id,
                        max_inbound_rpc_size=4 << 20)
    info = peer_info(target)
    sent = 0
    extra: dict = {}
    result: dict | None = None
    try:
        async with host.run(listen_addrs=[Multiaddr("/ip4/127.0.0.1/tcp/0")]):
            try:
                async with background_trio_service(pubsub), background_trio_service(router):
                    await pubsub.wait_until_ready()
                    if mode != "replay":
                        await pubsub.subscribe(TOPIC)
                    await host.connect(info)
                    began = trio.current_time()
                    with trio.move_on_after(15):     # until we know the node listens on the topic
                        while info.peer_id not in pubsub.peer_topics.get(TOPIC, ()):
                            await trio.sleep(0.05)
                    extra["topic_s"] = round(trio.current_time() - began, 1)
                    if mode in GOSSIP_MODES:         # and the mesh formed (heartbeat 1 s)
                        await _until(lambda: info.peer_id in router.mesh.get(TOPIC, ()), 3.0)
                    try:
                        if mode == "forged":
                            await pubsub.publish(TOPIC, forged_record(me))
                            sent = 1
                        elif mode == "sync-forged":
                            await push_by_sync(host, info.peer_id, forged_record(me))
                            sent = 1
                        elif mode == "sync-garbage":
                            stream = await host.new_stream(info.peer_id, [SYNC_PROTOCOL])
                            await stream.write(encode_varint(12) + b"\xc1" * 12)
                            sent = 1
                        elif mode in ("sync-nested", "query-nested"):   # [1, [[[... 500 deep ...]]]]
                            protocol = SYNC_PROTOCOL if mode == "sync-nested" else QUERY_PROTOCOL
                            stream = await host.new_stream(info.peer_id, [protocol])
                            body = b"\x92\x01" + b"\x91" * 500 + b"\x01"
                            await stream.write(encode_varint(len(body)) + body)
                            sent = 1
                        elif mode == "slow-loris":
                            extra["held_s"] = await slow_loris(host, info.peer_id, count)
                            sent = 1
                        elif mode == "sync-parallel":
                            extra["held"] = await parallel_syncs(host, info.peer_id, count)
                            sent = count
                        elif mode in ("wrong-author", "non-canonical", "future"):
                            make = {"wrong-author": wrong_author_record, "non-canonical": non_canonical_record,
                                    "future": future_record}[mode]
                            for _ in range(max(1, min(count, 50))):
                                await pubsub.publish(TOPIC, make(me))
                                sent += 1
                                await trio.sleep(0.02)
                        elif mode == "fork":
                            one, two = fork_records(me)
                            await pubsub.publish(TOPIC, one)
                            await trio.sleep(0.3)
                            await pubsub.publish(TOPIC, two)
                            sent = 2
                            extra["ids"] = [hashlib.sha256(r).hexdigest() for r in (one, two)]
                        elif mode == "replay":
                            heard = await listen(pubsub, min(count, 10))
                            for raw in heard[:200]:
                                await pubsub.publish(TOPIC, raw)
                                sent += 1
                                await trio.sleep(0.005)
                            if heard:
                                await push_by_sync(host, info.peer_id, heard[:200])
                            extra["heard"] = len(heard)
                        elif mode == "sync-stall":
                            extra["held_s"] = await stall_sync(host, info.peer_id, count)
                            sent = 1
                        elif mode == "poison":          # validly signed, expires = 2^63 - 1
                            await pubsub.publish(TOPIC, poison_record(me))
                            sent = 1
                        elif mode == "malformed":
                            await pubsub.publish(TOPIC, b"\x93\x01\x05not a record")
                            sent = 1
                        elif mode == "oversized":
                            stream = await host.new_stream(info.peer_id, [DEAL_PROTOCOL])
                            await stream.write(encode_varint(10_000_000) + b"x" * 1000)
                            sent = 1
                        elif mode in ("flood", "sybil"):
                            raws = sybil_records(count)
                            step = 50 if mode == "flood" else 10
                            began = trio.current_time()
                            for start in range(0, len(raws), step):
                                await pubsub.publish(TOPIC, pack_message(raws[start:start + step]))
                                sent += len(raws[start:start + step])
                                await trio.sleep(0.001 if mode == "flood" else 0.05)
                            extra["per_s"] = round(sent / max(trio.current_time() - began, 1e-3))
                    except Exception as exc:     # the node reset or closed what we were writing: its answer
                        extra["refused"] = type(exc).__name__
                    with trio.move_on_after(5.0):    # time for the node to judge us (a loaded machine is slow)
                        while info.peer_id in host.get_connected_peers():
                            await trio.sleep(0.1)
                    still = info.peer_id in host.get_connected_peers()
                    readmitted = False
                    if not still:                    # a banned peer is turned away on reconnect
                        host.get_network().unblock_peer(info.peer_id)
                        try:
                            with trio.fail_after(5):
                                await host.connect(info)
                            # 5 s: the node turns us away at once, but a loaded machine
                            # (CI runs the suite on 4 workers) may take a second or more
                            readmitted = not await _until(
                                lambda: info.peer_id not in host.get_connected_peers(), 5.0)
                        except Exception:
                            readmitted = False
                    result = {"id": me.id, "mode": mode, "sent": sent, "connected_after": still,
                              "readmitted": readmitted, **extra}
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(3):
                    await host.close()
    except Exception:       # py-libp2p may raise while tearing down streams the node reset
        if result is None:
            raise
    return result


MODES = ("forged", "malformed", "oversized", "flood", "sybil", "sync-garbage", "sync-forged", "sync-nested",
         "query-nested", "slow-loris", "sync-parallel", "poison", "fuzz", "probe", "wrong-author",
         "non-canonical", "future", "fork", "replay", "sync-stall")


async def many(target: str, modes: list[str], count: int, seed: bytes | None) -> list[dict]:
    """Every mode at once, each as its own peer; their results in the order given.

    A mode may carry its own count and seed: ``flood:3000`` or ``fork:1:<hex seed>``.
    """
    results: list[dict] = [{} for _ in modes]

    async def one(i: int, spec: str) -> None:
        mode, *rest = spec.split(":")
        n = int(rest[0]) if rest and rest[0] else count
        own = bytes.fromhex(rest[1]) if len(rest) > 1 else (seed if i == 0 else None)
        try:
            results[i] = await main(target, mode, n, own)
        except Exception as exc:        # one attacker failing must not hide the others' results
            import traceback
            results[i] = {"mode": mode, "error": "".join(traceback.format_exception(exc))[-1500:]}

    async with trio.open_nursery() as nursery:
        for i, spec in enumerate(modes):
            nursery.start_soon(one, i, spec)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True)
    parser.add_argument("--mode", required=True,
                        help="one of " + ", ".join(MODES) + "; or several, comma-separated, at once")
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--seed", help="32-byte identity seed, hex (default: a fresh identity)")
    args = parser.parse_args()
    import logging
    logging.disable(logging.CRITICAL)
    seed = bytes.fromhex(args.seed) if args.seed else None
    modes = args.mode.split(",")
    unknown = sorted({m.split(":")[0] for m in modes} - set(MODES))
    if unknown:
        parser.error(f"unknown mode: {', '.join(unknown)}")
    if len(modes) == 1 and ":" not in modes[0]:
        print(json.dumps(trio.run(main, args.target, modes[0], args.count, seed)))
    else:
        print(json.dumps(trio.run(many, args.target, modes, args.count, seed)))
    sys.stdout.flush()
