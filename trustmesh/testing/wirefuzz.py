"""The hostile peer's ``fuzz`` mode: every protocol a node registers fed bytes no peer should send.

Apart from ``hostile.py``: it shares nothing with the other modes' one
peer (each case is a host and identity of its own, so a ban earned by one
case cannot hide how the node treats the next), and its cases are data
a test can read (``fuzz_cases``).
"""

from __future__ import annotations

import random

import trio
from multiaddr import Multiaddr

from trustmesh.crypto.keys import Identity
from trustmesh.net.config import DEAL_PROTOCOL, PEERS_PROTOCOL, QUERY_PROTOCOL, SYNC_PROTOCOL, TOPIC
from trustmesh.net.host import build_host, peer_info
from trustmesh.protocol.framing import encode_varint

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
