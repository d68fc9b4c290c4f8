"""A node that dies without its connections closing, and comes back, is heard again.

A power cut or a network change leaves the survivor with a TCP connection
that is dead but never closed. The test puts a proxy between the two nodes
that, on ``drop()``, stops forwarding on the links it carries without
closing them (the survivor sees nothing at all), kills the other node with
kill -9 and restarts it on the same identity: gossip must flow both ways
again within a bound, whichever of the two has the larger peer id. The node
killed with -9 is a process; the others run in this process (``InProcessNode``).
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from trustmesh.testing import InProcessNode, NodeProcess
from trustmesh.crypto.keys import Identity
from trustmesh.core.ledger import Ledger

# only gossip may carry the records; sync would hide a deaf link
GOSSIP_ONLY = {"TRUSTMESH_NET_SYNC_ON_CONNECT": "false", "TRUSTMESH_NET_SYNC_INTERVAL_S": "3600"}
# the survivor pings the old link when the new connection comes (5 s deadline),
# drops both, and the restarted node redials; records made meanwhile are sync's job
BOUND_S = 20.0


class SilentProxy:
    """A loopback TCP proxy to ``port``; ``drop()`` silences the links it carries now.

    A silenced link is still open at both ends: what arrives is read and
    thrown away, nothing is forwarded, and an end closing is not passed on.
    Links accepted after ``drop()`` are forwarded as usual.
    """

    def __init__(self, port: int) -> None:
        self.target = port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self._links: list[dict] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            link = {"socks": (client, upstream), "silent": False}
            with self._lock:
                self._links.append(link)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(link, src, dst), daemon=True).start()

    def _pump(self, link: dict, src: socket.socket, dst: socket.socket) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if link["silent"]:
                if not data:        # the dead end closed: keep the other end open, say nothing
                    return
                continue
            if not data:
                for s in link["socks"]:
                    _close(s)
                return
            try:
                dst.sendall(data)
            except OSError:
                return

    def drop(self) -> None:
        """Stop forwarding on every link carried now, closing none of them."""
        with self._lock:
            for link in self._links:
                link["silent"] = True

    def close(self) -> None:
        _close(self.server)
        with self._lock:
            for link in self._links:
                for s in link["socks"]:
                    _close(s)


def _close(s: socket.socket) -> None:
    try:
        s.close()
    except OSError:
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _identities(restarted_larger: bool) -> tuple[Identity, Identity]:
    """(survivor, restarted) identities whose peer ids compare as the test wants (bytes order)."""
    from libp2p.peer.id import ID
    while True:
        a, b = Identity.generate(), Identity.generate()
        if (ID.from_base58(b.id).to_bytes() > ID.from_base58(a.id).to_bytes()) == restarted_larger:
            return a, b


def _wait(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("restarted_larger", [True, False], ids=["restarted-larger-id", "restarted-smaller-id"])
def test_gossip_flows_again_after_a_silent_link_loss_and_a_restart(tmp_path, restarted_larger):
    survivor_id, restarted_id = _identities(restarted_larger)
    for name, ident in (("survivor", survivor_id), ("restarted", restarted_id)):
        Ledger.create(tmp_path / name, identity=ident).close()
    survivor = InProcessNode(tmp_path / "survivor", listen=f"/ip4/127.0.0.1/tcp/{_free_port()}",
                             env=GOSSIP_ONLY).start()
    proxy = SilentProxy(int(survivor.addr.split("/tcp/")[1].split("/")[0]))
    via_proxy = f"/ip4/127.0.0.1/tcp/{proxy.port}/p2p/{survivor.id}"
    restarted = NodeProcess(tmp_path / "restarted", bootstrap=[via_proxy], env=GOSSIP_ONLY)
    try:
        restarted.start()
        assert _wait(lambda: survivor.peers() and restarted.peers(), 20)
        first = survivor.profile("before")
        assert _wait(lambda: restarted.has([first]), 15), "no gossip before the link loss"

        proxy.drop()                 # the link goes silent: no FIN, no RST, nothing
        restarted.kill()             # and the node behind it dies (kill -9)
        restarted.restart()          # same identity; it dials the survivor (through the proxy) again
        deadline = time.monotonic() + BOUND_S
        sent = {"to-restarted": [], "to-survivor": []}
        while not (restarted.has(sent["to-restarted"][-1:] or ["-"])
                   and survivor.has(sent["to-survivor"][-1:] or ["-"])):
            assert time.monotonic() < deadline, (
                f"no gossip both ways within {BOUND_S} s of the restart: "
                f"{ {k: len(v) for k, v in sent.items()} } records sent\n"
                + survivor.log_tail(20) + "\n-----\n" + restarted.log_tail(20))
            # a fresh record each way each round, until one has crossed each way
            for maker, other, key in ((survivor, restarted, "to-restarted"), (restarted, survivor, "to-survivor")):
                if not other.has(sent[key][-1:] or ["-"]):
                    sent[key].append(maker.attest(other.id, "quality", True))
            time.sleep(0.5)
        # and from now on gossip is prompt, over one live connection
        to_restarted = survivor.profile("after")
        to_survivor = restarted.profile("back")
        assert _wait(lambda: restarted.has([to_restarted]) and survivor.has([to_survivor]), 5)
    finally:
        restarted.stop()
        survivor.stop()
        proxy.close()


def test_a_connection_that_went_silent_is_closed_by_the_keepalive(tmp_path):
    quick = {**GOSSIP_ONLY, "TRUSTMESH_NET_DISCOVERY_KEEPALIVE_INTERVAL_S": "1",
             "TRUSTMESH_NET_DISCOVERY_KEEPALIVE_TIMEOUT_S": "2"}
    survivor = InProcessNode(tmp_path / "survivor", env=quick).start()
    proxy = SilentProxy(int(survivor.addr.split("/tcp/")[1].split("/")[0]))
    other = InProcessNode(tmp_path / "other", env=quick,
                          bootstrap=[f"/ip4/127.0.0.1/tcp/{proxy.port}/p2p/{survivor.id}"])
    try:
        other.start()
        assert _wait(lambda: survivor.peers(), 20)
        proxy.drop()                 # both ends still see an open connection
        assert _wait(lambda: any(e["peer"] == other.id for e in survivor.events_of("peer-down")), 20), \
            survivor.log_tail(20)
        # the other node redials through the proxy (new links are forwarded) and gossip works
        assert _wait(lambda: survivor.peers(), 20)
        rid = other.profile("back")
        assert _wait(lambda: survivor.has([rid]), 10)
    finally:
        other.stop()
        survivor.stop()
        proxy.close()
