"""A running node refuses what would silently break it: a second node on its home, a busy
port, and it cleans up on SIGHUP like on SIGTERM (issue 13). Real processes: the point, except
for the listen rule of several addresses, run in this process (``InProcessNode``)."""

from __future__ import annotations

import signal
import socket
import time

import pytest

from trustmesh.testing import InProcessNode, NodeProcess, run_cli


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    node = NodeProcess(tmp_path_factory.mktemp("everyday") / "a").start()
    yield node
    node.stop()


def _errors(done) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith("trustmesh")]


def test_a_second_node_on_the_same_home_is_refused_and_the_first_keeps_its_api(running):
    done = run_cli(running.home, "node", "run", "--listen", "/ip4/127.0.0.1/tcp/0", timeout=60)
    assert done.returncode == 1, done.stderr
    assert _errors(done) == [f"trustmesh: another node is already running for {running.home}"], done.stderr
    assert "Traceback" not in done.stderr
    assert (running.home / "api").exists() and (running.home / "api.sock").exists()
    assert run_cli(running.home, "status", "--json").returncode == 0


def test_a_busy_listen_port_is_one_line_and_an_exit(running, tmp_path):
    port = int(running.addr.split("/tcp/")[1].split("/")[0])
    done = run_cli(tmp_path / "b", "node", "run", "--listen", f"/ip4/127.0.0.1/tcp/{port}", timeout=60)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "Errno" not in done.stderr, done.stderr
    (line,) = _errors(done)
    assert f"cannot listen on /ip4/127.0.0.1/tcp/{port}: address already in use" in line, done.stderr


def test_a_busy_port_among_several_is_skipped(running, tmp_path):
    port = int(running.addr.split("/tcp/")[1].split("/")[0])
    node = InProcessNode(tmp_path / "c", listen=f"/ip4/127.0.0.1/tcp/{port}",     # the listen rule, not
                         args=["--listen", "/ip4/127.0.0.1/tcp/0"]).start()        # a process, is tested
    try:
        assert node.addrs and all(f"/tcp/{port}/" not in a for a in node.addrs), node.addrs
    finally:
        node.stop()
    assert "not listening on" in node.log_tail(50)


def test_sighup_stops_the_node_cleanly_and_the_start_says_what_next(tmp_path):
    node = NodeProcess(tmp_path / "d", args=["--api-tcp", "127.0.0.1:0"]).start()
    assert (node.home / "listen-addrs").exists()
    said = node.log_tail(50)
    assert f"node {node.id}" in said and "your identity" in said
    assert "web view http://127.0.0.1:" in said and "/ui/login?code=" in said
    token = (node.home / "api.token").read_text().strip()
    assert token not in said                       # not a terminal: the login token is not printed
    assert "trustmesh connect /ip4/THEIR-IP/tcp/4001/p2p/THEIR-ID" in said
    node.proc.send_signal(signal.SIGHUP)
    assert node.proc.wait(20) == 0
    assert not (node.home / "listen-addrs").exists() and not (node.home / "api").exists()
    assert "stopping on SIGHUP" in node.log_tail(50)
    node.start()                  # the home is free again
    node.stop()


def test_ctrl_c_on_an_import_through_the_node_stops_the_nodes_import_too(running, tmp_path):
    from trustmesh.crypto.keys import Identity
    from trustmesh.protocol.bundle import bundle_chunks
    from trustmesh.testing.cluster import environment
    from trustmesh.testing.records import attestation_chain
    import subprocess
    import sys
    people = [Identity.generate() for _ in range(4)]
    raws = [r for p in people for r in attestation_chain(p, [q.public_key for q in people], 6_000)]
    bundle = tmp_path / "big.bundle"
    bundle.write_bytes(b"".join(bundle_chunks(raws)))
    before, held_before = len(running.records), running.status()["total_records"]
    imports_before = len(running.events_of("import"))
    cli = subprocess.Popen([sys.executable, "-m", "trustmesh", "--home", str(running.home), "import", str(bundle)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment())
    deadline = time.monotonic() + 60
    while len(running.records) - before < 2000:
        assert cli.poll() is None and time.monotonic() < deadline, "the import ended before it was interrupted"
        time.sleep(0.02)
    cli.send_signal(signal.SIGINT)
    out, err = cli.communicate(timeout=30)
    assert cli.returncode == 130 and err.decode().strip() == "trustmesh: interrupted", err
    at_exit = running.status()["total_records"]        # stored when the caller was gone
    deadline = time.monotonic() + 30
    while len(ended := running.events_of("import")) == imports_before:   # the node's import is over (its last part stored)
        assert time.monotonic() < deadline, "the node went on importing"
        time.sleep(0.05)
    assert ended[-1]["interrupted"] is True, ended
    final = running.status()["total_records"]
    # what the node had already received when the caller went (its socket and upload buffers,
    # the batch being stored, the last part kept whole) is stored; nothing read after that
    assert final - at_exit <= 4 * 2000 and final - held_before < len(raws), (at_exit, final, len(raws))
    log = (running.home / "node.log").read_text()
    assert sum(1 for line in log.splitlines() if "via import" in line) == 0
    (summary,) = [line for line in log.splitlines() if "import accepted=" in line]
    assert "interrupted=True" in summary, summary
