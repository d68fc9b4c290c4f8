"""connect, disconnect and live deals say and keep what the owner meant (issue 13), in-process."""

from __future__ import annotations

import dataclasses

import pytest
import trio

import trustmesh
from tests.conftest import member
from trustmesh.errors import NetworkError
from trustmesh.net.config import NetConfig

LOOPBACK = ["/ip4/127.0.0.1/tcp/0"]


def _config(**discovery) -> NetConfig:
    base = NetConfig()
    return dataclasses.replace(base, discovery=dataclasses.replace(base.discovery, maintain_interval_s=0.2,
                                                                   redial_min_s=0.2, **discovery))


async def _until(condition, timeout: float = 10.0) -> None:
    with trio.fail_after(timeout):
        while not condition():
            await trio.sleep(0.05)


def _connected(a, b) -> bool:
    return any(p["id"] == b.id for p in a.peers())


async def test_connect_to_a_connected_peer_keeps_no_bogus_address(tmp_path):
    async with trustmesh.open_node(tmp_path / "a", listen=LOOPBACK) as a, \
            trustmesh.open_node(tmp_path / "b", listen=LOOPBACK) as b:
        assert await a.connect(b.addrs()[0]) == b.id
        bogus = f"/ip4/127.0.0.1/tcp/9/p2p/{b.id}"
        assert await a.connect(bogus) == b.id
        from libp2p.peer.id import ID
        kept = [str(x) for x in a.net.host.get_peerstore().addrs(ID.from_base58(b.id))]
        assert not any("/tcp/9" in x for x in kept), kept
        a.net.save()
        assert "/tcp/9/" not in (tmp_path / "a" / "peers.json").read_text()


async def test_a_disconnected_bootstrap_peer_is_held_off(tmp_path):
    quiet = _config(target_peers=0)          # b dials nobody by itself: only a's redials count
    async with trustmesh.open_node(tmp_path / "b", listen=LOOPBACK, config=quiet) as b:
        async with trustmesh.open_node(tmp_path / "a", listen=LOOPBACK, bootstrap=b.addrs(),
                                       config=_config(disconnect_hold_s=30)) as a:
            await _until(lambda: _connected(a, b))
            await a.disconnect(b.id)
            await _until(lambda: not _connected(a, b) and not _connected(b, a))
            with trio.move_on_after(2.0):                   # ten redial rounds of this config
                await _until(lambda: _connected(a, b), timeout=3)
                pytest.fail("the disconnected peer was dialled again")
            assert await a.connect(b.addrs()[0]) == b.id     # the owner's connect ends the hold
            assert _connected(a, b)


async def test_a_live_proposal_to_an_offline_member_answers_in_words(tmp_path):
    async with trustmesh.open_node(tmp_path / "a", listen=LOOPBACK) as a:
        with pytest.raises(NetworkError) as caught:
            await a.propose_deal(member(9).id, "PO-1", "client")
    text = str(caught.value)
    assert "not reachable now" in text and "-o FILE" in text
    assert "multiaddr" not in text.lower() and "swarm" not in text.lower() and "Errno" not in text


async def test_a_pending_proposal_is_accepted_by_an_eight_digit_prefix(tmp_path):
    async with trustmesh.open_node(tmp_path / "a", listen=LOOPBACK) as a, \
            trustmesh.open_node(tmp_path / "b", listen=LOOPBACK) as b:
        await a.connect(b.addrs()[0])
        outcome = await a.propose_deal(b.id, "PO-7", "client")
        assert outcome.status == "pending"
        (pid,) = b.pending_deals
        stored = await b.accept_deal(pid.hex()[:8])
        assert stored.record.author == a.identity.public_key
