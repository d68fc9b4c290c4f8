"""A fuzz kit for every decoder a peer or a caller can reach: valid seeds, mutators, targets.

Why a kit of our own rather than a coverage-guided fuzzer: the contract to
check is simple and total - whatever bytes arrive, a decoder either returns
or raises one of *our* errors (``trustmesh.errors``) - and the decoders are
pure, so a seeded ``random.Random`` over valid seeds reaches deep enough,
runs anywhere (CI, ``bench/fuzz.py``) and replays exactly: a failure is
reported with the bytes that caused it.

    for case in cases(seed=1, n=10_000):       # (target name, input bytes)
        failure = run_case(*case)               # None, or a Failure to print
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from trustmesh.crypto.keys import Identity
from trustmesh.errors import TrustmeshError
from trustmesh.protocol.bundle import BUNDLE_MAGIC, PROPOSAL_MAGIC, read_bundle, read_proposal
from trustmesh.protocol.codec import pack
from trustmesh.protocol.framing import frame
from trustmesh.protocol.gossip import pack_message, unpack_message
from trustmesh.protocol.jsonview import record_view
from trustmesh.protocol.messages import RecordsReceived
from trustmesh.protocol.query.session import QueryAsked, QueryClient, QueryServer
from trustmesh.protocol.query.wire import QueryRequest
from trustmesh.protocol.records import (
    Attestation, Deal, Profile, Reply, Retraction, countersign, decode, encode, record_id, sign,
)
from trustmesh.protocol.sync.index import SyncIndex
from trustmesh.protocol.sync.session import SyncSession, WantRecords
from trustmesh.protocol.validate import check_link, check_record, link_target
from trustmesh.testing.mutators import mutate, split_frames

T0 = 1_760_000_000_000      # a fixed "now" (ms): the seeds and the checks never read the clock


@dataclass
class Failure:
    """A case whose decoder raised something other than our errors."""

    target: str
    data: bytes
    error: str
    trace: str

    def describe(self) -> str:
        """What to print: the target, the error, and the input to reproduce it (hex)."""
        return (f"target {self.target}: {self.error}\n  input ({len(self.data)} bytes, hex): {self.data.hex()}\n"
                f"  reproduce: trustmesh.testing.fuzzing.TARGETS[{self.target!r}](bytes.fromhex(...))\n"
                f"{self.trace}")


# ---- valid seeds ---------------------------------------------------------------

@functools.cache
def _seed_records() -> tuple[bytes, ...]:
    alice, bob = Identity.from_seed(b"a" * 32), Identity.from_seed(b"b" * 32)
    prof = encode(sign(Profile(alice.public_key, 1, None, T0, "Alice", "Acme", "https://a.example"), alice))
    att = encode(sign(Attestation(alice.public_key, 2, record_id(prof), T0, bob.public_key, "payment", True,
                                  b"\x11" * 32, None, T0 - 1000, T0 + 86_400_000, "paid on time"), alice))
    deal = sign(Deal(bob.public_key, alice.public_key, "client", b"\x22" * 32, T0 + 5000, T0), bob)
    deal_raw = encode(countersign(deal, alice))
    ret = encode(sign(Retraction(alice.public_key, 3, record_id(att), T0, record_id(att), "mistake"), alice))
    rep = encode(sign(Reply(bob.public_key, 1, None, T0, record_id(att), "contest", "no"), bob))
    return (prof, att, deal_raw, ret, rep)


def seed_records() -> list[bytes]:
    """One valid record of every type (a deal countersigned, a chain of three), fixed keys."""
    return list(_seed_records())


def seed_proposal() -> bytes:
    alice, bob = Identity.from_seed(b"a" * 32), Identity.from_seed(b"b" * 32)
    return encode(sign(Deal(bob.public_key, alice.public_key, "supplier", b"\x33" * 32, None, T0), bob))


def _sync_transcript(mine: list[bytes], theirs: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """The chunks each side of a real in-memory sync wrote: (initiator's, responder's)."""
    from trustmesh.testing.memsync import Link, MemoryPeer, handle_sync_event, pump
    a, b = MemoryPeer.holding(mine), MemoryPeer.holding(theirs)
    sa, sb = SyncSession(a.index, initiator=True), SyncSession(b.index, initiator=False)
    sa.start()
    sb.start()
    link = Link()
    out: tuple[list[bytes], list[bytes]] = ([], [])
    for session, sent in ((sa, out[0]), (sb, out[1])):      # record every chunk as it is written
        def capture(session=session, sent=sent, orig=session.data_to_send):
            data = orig()
            if data:
                sent.append(data)
            return data
        session.data_to_send = capture
    pump(sa, sb, lambda e: handle_sync_event(a, sa, e), lambda e: handle_sync_event(b, sb, e), link=link)
    return out


def _query_transcript(records: list[bytes]) -> tuple[bytes, bytes]:
    alice = Identity.from_seed(b"a" * 32)
    client = QueryClient(QueryRequest(subject=None, author=alice.public_key, limit=10))
    client.start()
    ask = client.data_to_send()
    server = QueryServer()
    server.receive_data(ask)
    server.next_event()
    server.provide(records[:3], records[3:])
    return ask, server.data_to_send()


def seeds() -> dict[str, list[bytes]]:
    """Valid inputs of every target: what an honest peer or caller sends."""
    return {name: list(group) for name, group in _seeds().items()}


@functools.cache
def _seeds() -> dict[str, list[bytes]]:
    recs = seed_records()
    more = [encode(sign(Profile(Identity.from_seed(bytes([i]) * 32).public_key, 1, None, T0, f"p{i}",
                                None, None), Identity.from_seed(bytes([i]) * 32))) for i in range(1, 40)]
    init, _ = _sync_transcript(recs + more[:20], recs)        # the responder target holds ``recs``
    _, resp = _sync_transcript(recs, recs[:2] + more[15:])    # and so does the initiator target
    ask, answer = _query_transcript(recs)
    addrs = ["/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWEN94n2GW3NVygr9HGNfkMGc6dPC5ZkgaACv1TXL9cR2R",
             "/ip6/::1/tcp/9/p2p/12D3KooWEN94n2GW3NVygr9HGNfkMGc6dPC5ZkgaACv1TXL9cR2R"]
    out = {
        "record": recs + [seed_proposal()],
        "gossip": recs[:2] + [pack_message(recs), pack_message(more[:5])],
        "bundle": [BUNDLE_MAGIC + b"".join(frame(r) for r in recs), BUNDLE_MAGIC],
        "proposal": [PROPOSAL_MAGIC + seed_proposal()],
        "sync-responder": [b"".join(init), init[0]],
        "sync-initiator": [b"".join(resp), resp[0]],
        "query-server": [ask],
        "query-client": [answer],
        "deal-frame": [frame(pack(["propose", seed_proposal()]))],
        "peers-frame": [frame(pack(["peers", *addrs]))],
        "pair-frame": [frame(pack(["join", b"\x01" * 32, b"\x02" * 64]))],
    }
    for route, bodies in api_seeds().items():
        out[f"api-{route}"] = [json.dumps(b).encode() for b in bodies]
    return out


def api_seeds() -> dict[str, list[dict]]:
    """A valid body of every API route that takes one (``api/schemas.py``)."""
    bob = "12D3KooWEN94n2GW3NVygr9HGNfkMGc6dPC5ZkgaACv1TXL9cR2R"
    return {
        "attest": [{"subject": bob, "facet": "payment", "positive": True, "ref": "inv-1", "note": "ok",
                    "occurred": T0, "expires": T0 + 10**9}],
        "retract": [{"target": "ab" * 32, "reason": "typo"}],
        "reply": [{"target": "ab" * 32, "stance": "contest", "note": "no"}],
        "profile": [{"name": "Alice", "org": "Acme", "url": "https://a.example"}],
        "propose": [{"counterparty": bob, "ref": "job 7", "role": "client", "due": T0}],
        "ask": [{"subject": bob}, {"author": bob}],
        "connect": [{"addr": "/ip4/127.0.0.1/tcp/4001/p2p/" + bob}],
        "key_rotate": [{"recovery": _pem(), "since": T0, "passphrase": "c2VjcmV0"}],
        "key_recover": [{"recovery": _pem(), "after": "ab" * 32}],
        "device_add": [{"member": "ab" * 32, "device": "cd" * 32, "sig": "ef" * 64}],
        "device_accept": [{"add": {"seq": 1, "prev": "ab" * 32, "issued": T0, "author": "ab" * 32,
                                   "member": "ab" * 32, "key": "cd" * 32, "sig": "ef" * 64},
                           "events": ["AAEC"]}],
        "device_revoke": [{"key": bob[-10:], "since": T0}],
        "device_code": [{"ttl_s": 60}],
        "device_join": [{"code": "ABCDE-12345", "addr": "/ip4/127.0.0.1/tcp/4001/p2p/" + bob}],
    }


@functools.cache
def _pem() -> str:
    return Identity.from_seed(bytes([7]) * 32).to_pem().decode()


# ---- targets: bytes in, return or raise TrustmeshError --------------------------

def t_record(data: bytes, verify: bool = True) -> None:
    """Decode, check, verify and show: what every intake does with a record."""
    rec = decode(data, allow_proposal=True)
    record_view(rec, record_id(data))
    try:
        check_record(rec, T0, verify=verify)
    except TrustmeshError:
        pass
    if link_target(rec) is not None:
        check_link(rec, _target())


@functools.cache
def _target():
    return decode(_seed_records()[1])


def t_stored(data: bytes) -> None:
    """A record read back from the store is always showable (``stored=True``)."""
    record_view(decode(data, allow_proposal=True, stored=True), record_id(data))


def _records(raws) -> None:
    """Each record through ``t_record``, unverified: a record refused is an answer, not a failure."""
    for raw in raws:
        try:
            t_record(raw, verify=False)
        except TrustmeshError:
            pass


def t_gossip(data: bytes) -> None:
    _records(unpack_message(data))


def t_bundle(data: bytes) -> None:
    """A bundle read in uneven chunks (the import streams it)."""
    rng = random.Random(len(data))
    chunks, pos = [], 0
    while pos < len(data):
        step = rng.choice((1, 7, 64, 4096))
        chunks.append(data[pos:pos + step])
        pos += step
    _records(read_bundle(chunks))


def t_proposal(data: bytes) -> None:
    read_proposal(data)


def _drive(session, data: bytes, on_event: Callable[[Any], None]) -> None:
    """Feed ``data`` in two pieces then EOF, taking every event, as a pump does."""
    cut = len(data) // 2
    for piece in (data[:cut], data[cut:], b""):
        if session.state in ("done", "failed", "error"):
            return
        session.receive_data(piece)
        for _ in range(10_000):
            session.data_to_send()
            event = session.next_event()
            if event is None:
                break
            on_event(event)


def _opened(session):
    """A session that speaks first, its opening sent: ``data`` is the peer's answer."""
    session.start()
    session.data_to_send()
    return session


@functools.cache
def _held() -> dict[bytes, bytes]:
    return {record_id(r): r for r in seed_records()}


def _sync(data: bytes, initiator: bool) -> None:
    """A sync session holding the seed records, fed ``data`` as its peer's bytes."""
    held = _held()
    session = SyncSession(SyncIndex(held), initiator=initiator)
    if initiator:
        _opened(session)

    def on_event(event) -> None:
        if isinstance(event, WantRecords):
            session.provide([held[i] for i in event.ids if i in held])
        elif isinstance(event, RecordsReceived):
            _records(event.raws)
            session.index.add([hashlib.sha256(r).digest() for r in event.raws])
    _drive(session, data, on_event)


def t_sync_responder(data: bytes) -> None:
    _sync(data, initiator=False)


def t_sync_initiator(data: bytes) -> None:
    _sync(data, initiator=True)


def t_query_server(data: bytes) -> None:
    session = QueryServer()
    recs = seed_records()

    def on_event(event) -> None:
        if isinstance(event, QueryAsked):
            session.provide(recs[:event.limit], recs[:1])
    _drive(session, data, on_event)


def t_query_client(data: bytes) -> None:
    session = _opened(QueryClient(QueryRequest(subject=b"\x01" * 32, limit=10)))

    def on_event(event) -> None:
        if isinstance(event, RecordsReceived):
            _records(event.raws)
    _drive(session, data, on_event)


def t_deal_frame(data: bytes) -> None:
    """What the deal handler does with a peer's first frame (``net/deals``)."""
    from trustmesh.net.deals.handler import MAX_FRAME, read_proposal_frame
    for body in split_frames(data, MAX_FRAME)[:1]:
        proposal = read_proposal_frame(body)
        check_record(proposal, T0, verify=True)


def t_peers_frame(data: bytes) -> None:
    """What peer exchange does with an answer: every address through ``peer_info``."""
    from trustmesh.net.host import peer_info
    from trustmesh.net.peers.discovery import MAX_FRAME, read_peers_frame
    for body in split_frames(data, MAX_FRAME)[:1]:
        for addr in read_peers_frame(body, 16):
            try:
                peer_info(addr)
            except TrustmeshError:
                pass


def t_pair_frame(data: bytes) -> None:
    """What the pairing handler does with a peer's first frame (``net/pair``)."""
    from trustmesh.net.pair.handler import MAX_FRAME, _read_join
    for body in split_frames(data, MAX_FRAME)[:1]:
        _read_join(body)


def _api_target(route: str) -> Callable[[bytes], None]:
    def target(data: bytes) -> None:
        from trustmesh.api.schemas import parse_body
        parse_body(data, route)
    target.__doc__ = f"The schema validator of the {route!r} body."
    return target


TARGETS: dict[str, Callable[[bytes], None]] = {
    "record": t_record, "stored": t_stored, "gossip": t_gossip, "bundle": t_bundle, "proposal": t_proposal,
    "sync-responder": t_sync_responder, "sync-initiator": t_sync_initiator,
    "query-server": t_query_server, "query-client": t_query_client,
    "deal-frame": t_deal_frame, "peers-frame": t_peers_frame, "pair-frame": t_pair_frame,
    **{f"api-{route}": _api_target(route) for route in api_seeds()},
}
_SEED_OF = {"stored": "record"}     # targets sharing another's seeds


def run_case(target: str, data: bytes) -> Failure | None:
    """Run one case: None if only our errors came out, else the Failure."""
    try:
        TARGETS[target](data)
    except TrustmeshError:
        return None
    except Exception as exc:        # the point: anything else is a bug to report
        return Failure(target, data, f"{type(exc).__name__}: {exc}"[:300], traceback.format_exc(limit=8))
    return None


def cases(seed: int = 0, n: int = 1000, targets: list[str] | None = None) -> Iterator[tuple[str, bytes]]:
    """``n`` fuzz cases, round-robin over ``targets`` (default all): (target, input), reproducible."""
    rng = random.Random(seed)
    pool = seeds()
    names = list(targets or TARGETS)
    every = [s for group in pool.values() for s in group]
    for i in range(n):
        name = names[i % len(names)]
        own = pool[_SEED_OF.get(name, name)]
        data = rng.choice(own)
        if rng.random() < 0.02:
            yield name, data           # the seeds themselves must pass too
            continue
        yield name, mutate(rng, data, rng.choice(own if rng.random() < 0.7 else every), name)


__all__ = ["TARGETS", "Failure", "cases", "mutate", "run_case", "seeds", "seed_records", "api_seeds"]
