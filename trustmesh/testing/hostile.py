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
(a well-behaved sync session that pushes a forged record), ``fuzz`` (every
protocol the node registers, ours and libp2p's, fed garbage, truncated
frames and huge varints, one fresh identity per case), ``probe`` (sends
nothing: is this identity still let in?). ``--seed`` fixes the identity, so
a later run comes back as the same peer. Prints one JSON line: what it sent
and whether the target still let it in afterwards.
"""

from __future__ import annotations

import argparse
import json
import random
import sys

import trio
from libp2p.tools.anyio_service import background_trio_service
from multiaddr import Multiaddr

from trustmesh.crypto.keys import Identity
from trustmesh.core.ledger import now_ms
from trustmesh.net.config import DEAL_PROTOCOL, PEERS_PROTOCOL, QUERY_PROTOCOL, SYNC_PROTOCOL, TOPIC
from trustmesh.net.host import build_host, peer_info
from trustmesh.protocol.gossip import pack_message
from trustmesh.protocol.framing import encode_varint
from trustmesh.protocol.records import Attestation, Profile, encode, sign


def forged_record(me: Identity) -> bytes:
    """A profile by ``me`` whose signature's last byte is flipped."""
    raw = encode(sign(Profile(me.public_key, 1, None, now_ms(), "liar", None, None), me))
    return raw[:-1] + bytes([raw[-1] ^ 1])


async def push_by_sync(host, peer, raw: bytes) -> None:
    """Run an honest-looking sync session whose only record is ``raw``."""
    import hashlib

    from trustmesh.net.pump import pump as _pump
    from trustmesh.protocol.sync.session import SyncSession, WantRecords
    from trustmesh.protocol.sync.index import SyncIndex
    session = SyncSession(SyncIndex([hashlib.sha256(raw).digest()]), initiator=True)

    async def on_event(event) -> None:
        if isinstance(event, WantRecords):
            session.provide([raw])

    stream = await host.new_stream(peer, [SYNC_PROTOCOL])
    session.start()
    with trio.move_on_after(10):
        try:
            await _pump(stream, session, on_event, 5.0)
        except Exception:
            pass


def poison_record(me: Identity) -> bytes:
    """A validly signed attestation by ``me`` whose ``expires`` is 2^63 - 1 (past year 9999)."""
    t = now_ms()
    return encode(sign(Attestation(me.public_key, 1, None, t, Identity.generate().public_key, "payment",
                                   True, None, None, t, 2**63 - 1, None), me))


def sybil_records(n: int) -> list[bytes]:
    """``n`` valid profiles, each by a fresh identity."""
    now = now_ms()
    out = []
    for i in range(n):
        ident = Identity.generate()
        out.append(encode(sign(Profile(ident.public_key, 1, None, now, f"sybil {i}", None, None), ident)))
    return out


MESHSUB = ("/meshsub/1.0.0", "/meshsub/1.1.0", "/meshsub/1.2.0")
FUZZ_PROTOCOLS = ("/ipfs/id/1.0.0", "/ipfs/id/push/1.0.0", "/ipfs/ping/1.0.0", *MESHSUB,
                  SYNC_PROTOCOL, QUERY_PROTOCOL, DEAL_PROTOCOL, PEERS_PROTOCOL)


def _rpc(**fields) -> bytes:
    from libp2p.pubsub.pb import rpc_pb2
    body = rpc_pb2.RPC(**fields).SerializeToString()
    return encode_varint(len(body)) + body


def fuzz_cases(protocol: str) -> dict[str, bytes]:
    """What the fuzzer writes on a stream of ``protocol``: name -> bytes."""
    garbage = bytes(random.Random(protocol).randrange(256) for _ in range(300))
    cases = {
        "short": b"\x01\xff",                                # a 1-byte frame that is no message
        "garbage": garbage,
        "truncated": encode_varint(100) + garbage[:10],         # then the stream closes
        "huge-varint": b"\xff" * 9 + b"\x01",                  # a length of 2^63 and more
        "bad-varint": b"\xff" * 11,                            # no varint ends within 10 bytes
        "oversized": encode_varint(1_500_000) + garbage * 100,  # 1.5 MB announced, 30 KB sent
    }
    if protocol in MESHSUB:
        from libp2p.pubsub.pb import rpc_pb2
        cases["rpc-bad-key"] = _rpc(publish=[rpc_pb2.Message(
            from_id=b"\x00\x05bogus", data=b"\x93\x01\x02\x03", seqno=b"\x00" * 8, topicIDs=[TOPIC],
            signature=b"\x01" * 64, key=b"\x08\x01\x12\x03abc")])
        cases["rpc-bad-control"] = _rpc(control=rpc_pb2.ControlMessage(
            graft=[rpc_pb2.ControlGraft(topicID=TOPIC)],
            prune=[rpc_pb2.ControlPrune(topicID=TOPIC, peers=[rpc_pb2.PeerInfo(
                peerID=b"\xff\x00", signedPeerRecord=garbage)], backoff=2**63)],
            iwant=[rpc_pb2.ControlIWant(messageIDs=[garbage[:32]] * 50)],
            ihave=[rpc_pb2.ControlIHave(topicID=TOPIC, messageIDs=[garbage[:32]] * 50)]))
        cases["rpc-bad-record"] = _rpc(senderRecord=garbage, subscriptions=[
            rpc_pb2.RPC.SubOpts(subscribe=True, topicid=TOPIC)])
    return cases


async def fuzz(target: str) -> dict:
    """Feed every fuzz case of every protocol to ``target``, each from a fresh identity."""
    info = peer_info(target)
    results: list[dict] = []
    limit = trio.Semaphore(6)

    async def one(protocol: str, name: str, data: bytes) -> None:
        async with limit:
            host = build_host(Identity.generate())
            out = {"protocol": protocol, "case": name, "id": host.get_id().to_base58(), "error": None}
            async with host.run(listen_addrs=[Multiaddr("/ip4/127.0.0.1/tcp/0")]):
                try:
                    with trio.fail_after(10):
                        await host.connect(info)
                        stream = await host.new_stream(info.peer_id, [protocol])
                        await stream.write(data)
                        if name == "truncated":
                            await stream.close()
                        with trio.move_on_after(1.0):   # until the node answers, resets or closes
                            while await stream.read(65536):
                                pass
                except Exception as exc:    # a reset stream or a refused connection: the node's call
                    out["error"] = type(exc).__name__
                finally:
                    with trio.CancelScope(shield=True), trio.move_on_after(3):
                        await host.close()
            results.append(out)

    async with trio.open_nursery() as nursery:
        for protocol in FUZZ_PROTOCOLS:
            for name, data in fuzz_cases(protocol).items():
                nursery.start_soon(one, protocol, name, data)
    return {"mode": "fuzz", "sent": len(results), "cases": results}


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


GOSSIP_MODES = ("forged", "poison", "malformed", "flood", "sybil")   # sent on the topic: need the mesh


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
    from trustmesh.net.tuning import LeanGossipSub, SafePubsub

    if mode == "fuzz":
        return await fuzz(target)
    me = Identity.from_seed(seed) if seed else Identity.generate()
    host = build_host(me)
    router = LeanGossipSub([PROTOCOL_ID_V12, PROTOCOL_ID_V11], 6, 4, 12, heartbeat_interval=1,
                           spam_protection_enabled=False, eclipse_protection_enabled=False, msg_id=message_id)
    # unsigned, content-addressed messages as nodes send them (StrictNoSign): a signed one
    # would be dropped unread, and the attack would test nothing
    pubsub = SafePubsub(host, router, msg_id_constructor=message_id, strict_signing=False,
                        max_inbound_rpc_size=4 << 20)
    info = peer_info(target)
    sent = 0
    extra: dict = {}
    async with host.run(listen_addrs=[Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        try:
            async with background_trio_service(pubsub), background_trio_service(router):
                await pubsub.wait_until_ready()
                await pubsub.subscribe(TOPIC)
                await host.connect(info)
                if mode in GOSSIP_MODES:         # let the mesh form (heartbeat 1 s)
                    await _until(lambda: info.peer_id in router.mesh.get(TOPIC, ()), 3.0)
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
                    for start in range(0, len(raws), step):
                        await pubsub.publish(TOPIC, pack_message(raws[start:start + step]))
                        sent += len(raws[start:start + step])
                        await trio.sleep(0.001 if mode == "flood" else 0.05)
                def connected() -> bool:
                    return info.peer_id in host.get_connected_peers()
                still = not await _until(lambda: not connected(), 2.0)    # cut off within 2 s?
                readmitted = False
                if not still:                    # a banned peer is turned away on reconnect
                    host.get_network().unblock_peer(info.peer_id)
                    try:
                        with trio.fail_after(5):
                            await host.connect(info)
                        readmitted = not await _until(lambda: not connected(), 1.5)
                    except Exception:
                        readmitted = False
                return {"id": me.id, "mode": mode, "sent": sent, "connected_after": still,
                        "readmitted": readmitted, **extra}
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(3):
                await host.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True)
    parser.add_argument("--mode", required=True,
                        choices=["forged", "malformed", "oversized", "flood", "sybil",
                                 "sync-garbage", "sync-forged", "sync-nested", "query-nested",
                                 "slow-loris", "sync-parallel", "poison", "fuzz", "probe"])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--seed", help="32-byte identity seed, hex (default: a fresh identity)")
    args = parser.parse_args()
    import logging
    logging.disable(logging.CRITICAL)
    seed = bytes.fromhex(args.seed) if args.seed else None
    print(json.dumps(trio.run(main, args.target, args.mode, args.count, seed)))
    sys.stdout.flush()
