"""The test kit's in-process seams give what the real process gives."""

from __future__ import annotations

import pytest

from tests.conftest import member
from trustmesh.core.ledger import Ledger
from trustmesh.testing import InProcessNode, NodeError, invoke_cli, run_cli


def test_the_cli_in_this_process_answers_as_the_command_does(tmp_path):
    Ledger.create(tmp_path / "h", identity=member(1)).close()
    for home, args in ((tmp_path / "h", ("id", "--json")), (tmp_path / "h", ("show", "12ab")),
                       (tmp_path / "nobody", ("records",)), (None, ("no-such-command",))):
        real, here = run_cli(home, *args), invoke_cli(home, *args)
        assert (here.returncode, here.stdout, here.stderr) == (real.returncode, real.stdout, real.stderr), args


def test_an_in_process_node_refuses_a_setting_read_once_per_process(tmp_path):
    with pytest.raises(NodeError, match="NodeProcess"):
        InProcessNode(tmp_path / "n", env={"TRUSTMESH_TEST_CLOCK_OFFSET_MS": "-5000"}).start()
    assert not (tmp_path / "n").exists()


class _DropsSecondRequest:
    """An HTTP server on a Unix socket that answers the first request on each connection and
    closes the connection on the second without answering: what a node's server does when it
    closes an idle keep-alive connection just as the client sends on it ("Server disconnected")."""

    def __init__(self, path) -> None:
        import socket
        import threading
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen()
        self.connections = 0
        self.requests: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                for answer in (True, False):
                    head = b""
                    while b"\r\n\r\n" not in head:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        head += chunk
                    if not head:
                        break
                    self.requests.append(head.split(b" ", 2)[1].decode())
                    if answer:
                        body = b'{"n": %d}' % len(self.requests)
                        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                     b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def close(self) -> None:
        self.sock.close()


def test_a_read_is_sent_again_when_the_node_dropped_its_pooled_connection(tmp_path):
    import httpx

    from trustmesh.testing.driven import DrivenNode
    server = _DropsSecondRequest(tmp_path / "api.sock")
    node = DrivenNode(tmp_path / "home")
    node._http = httpx.Client(transport=httpx.HTTPTransport(uds=server.path), base_url="http://node", timeout=10)
    try:
        assert node.api("GET", "/v1/first") == {"n": 1}
        # sent on the pooled connection, which the server drops: sent once more on a new one
        assert node.api("GET", "/v1/second") == {"n": 3}
        assert server.requests == ["/v1/first", "/v1/second", "/v1/second"] and server.connections == 2
        # a change is never sent twice: the caller is told, and decides
        with pytest.raises(NodeError, match="POST /v1/attestations"):
            node.api("POST", "/v1/attestations", {"subject": "x"})
        assert server.requests[-1] == "/v1/attestations" and server.connections == 2
    finally:
        node._close_http()
        server.close()
