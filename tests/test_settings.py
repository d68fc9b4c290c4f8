"""Settings precedence (flags > environment > config.toml > defaults), config show, logs."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from trustmesh.errors import ConfigError
from trustmesh.daemon import settings
from trustmesh.testing import invoke_cli
from trustmesh.daemon.logs import configure


def write(home, text):
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(text)


def test_each_layer_overrides_the_one_below(tmp_path):
    write(tmp_path, 'listen = ["/ip4/127.0.0.1/tcp/4100"]\nmdns = true\n[gossip]\ndegree = 3\n'
                    '[defence]\nban_s = 30\n[log]\nlevel = "debug"\n[log.levels]\n"trustmesh.p2p" = "info"\n')
    env = {"TRUSTMESH_GOSSIP_DEGREE": "4", "TRUSTMESH_NET_DEFENCE_BAN_S": "45", "PATH": "/bin"}
    found = settings.effective(tmp_path, env, flags={"listen": ["/ip4/127.0.0.1/tcp/4200"], "mdns": False})
    assert found["listen"] == settings.Setting(["/ip4/127.0.0.1/tcp/4200"], "flag")
    assert found["mdns"] == settings.Setting(True, "file")          # a flag left off is no flag
    assert found["gossip.degree"] == settings.Setting(4, "env TRUSTMESH_GOSSIP_DEGREE")
    assert found["defence.ban_s"] == settings.Setting(45.0, "env TRUSTMESH_NET_DEFENCE_BAN_S")
    assert found["log.level"].value == "debug" and found["log.levels"].value == {"trustmesh.p2p": "info"}
    assert found["sync.interval_s"].source == "default"
    net = settings.net_config(found)
    assert net.listen == ("/ip4/127.0.0.1/tcp/4200",) and net.gossip.degree == 4
    assert net.defence.ban_s == 45.0 and net.discovery.mdns is True


@pytest.mark.parametrize("text, env, message", [
    ("nonsense = 1\n", {}, "nonsense: no such setting"),
    ("[gossip]\ndegree = \"many\"\n", {}, "gossip.degree: 'many' is not a valid int"),
    ("listen = [\n", {}, "not valid TOML"),
    ("[log]\nlevel = \"loud\"\n", {}, "is not one of debug"),
    ("", {"TRUSTMESH_GOSSIP_DEGREEE": "3"}, "TRUSTMESH_GOSSIP_DEGREEE: no such setting"),
    ("", {"TRUSTMESH_MDNS": "perhaps"}, "TRUSTMESH_MDNS: 'perhaps' is not a valid bool"),
    # frame limits are protocol constants (docs/protocol.md), not settings: these did nothing
    ("[sync]\nmax_frame = 1048576\n", {}, "sync.max_frame: no such setting"),
    ("", {"TRUSTMESH_DEFENCE_MAX_FRAME": "4096"}, "TRUSTMESH_DEFENCE_MAX_FRAME: no such setting"),
])
def test_mistakes_are_named_not_ignored(tmp_path, text, env, message):
    write(tmp_path, text)
    with pytest.raises(ConfigError, match=message):
        settings.effective(tmp_path, env)


def test_config_show_prints_values_and_sources(tmp_path):
    write(tmp_path, "[sync]\ninterval_s = 10\n")
    run = lambda *args, **env: invoke_cli(tmp_path, "config", "show", *args, env=env)  # noqa: E731
    shown = json.loads(run("--json", TRUSTMESH_LOG_FORMAT="json").stdout)
    assert shown["sync.interval_s"] == {"value": 10.0, "source": "file"}
    assert shown["log.format"] == {"value": "json", "source": "env TRUSTMESH_LOG_FORMAT"}
    assert shown["gossip.degree"]["source"] == "default"
    human = run()
    assert any(line.split()[0] == "sync.interval_s" and line.endswith("file") for line in human.stdout.splitlines())
    write(tmp_path, "[sync]\ninterval_s = 'soon'\n")
    bad = run()
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "sync.interval_s" in bad.stderr


def test_logs_are_json_lines_off_a_terminal_and_never_show_a_token():
    out = io.StringIO()
    configure("info", "auto", {"trustmesh.quiet": "error"}, stream=out)
    try:
        logging.getLogger("trustmesh.api").info("client sent Authorization: Bearer abc123secret")
        logging.getLogger("trustmesh.quiet").info("not shown")
        logging.getLogger("trustmesh.node").debug("not shown either")
    finally:
        configure("warning", "human", {}, stream=sys.stderr)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 1
    assert lines[0]["logger"] == "trustmesh.api" and lines[0]["level"] == "info"
    assert "abc123secret" not in out.getvalue() and "[redacted]" in lines[0]["msg"]


def test_backup_copies_the_store_consistently_and_restores(tmp_path):
    from trustmesh.core.ledger import Ledger
    ledger = Ledger.create(tmp_path / "home")
    ledger.set_profile("Alice")
    ledger.close()
    out = invoke_cli(tmp_path / "home", "backup", str(tmp_path / "copy.sqlite"), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["records"] == 1
    again = invoke_cli(tmp_path / "home", "backup", str(tmp_path / "copy.sqlite"))
    assert again.returncode == 2 and "exists" in again.stderr        # never overwritten
    restored = Ledger.create(tmp_path / "restored")
    restored.close()
    (tmp_path / "copy.sqlite").replace(tmp_path / "restored" / "store.sqlite")
    from trustmesh.store import Store
    with Store.open(tmp_path / "restored" / "store.sqlite") as store:
        assert store.integrity_check() == "ok" and sum(store.counts().values()) == 1


def test_the_memory_trace_writes_lines_that_tell_python_from_the_rest(tmp_path):
    """TRUSTMESH_MEMTRACE (daemon/memtrace.py) in a process of its own: tracemalloc and the
    trace thread must not run inside the test process; the setting is not a config name."""
    import os
    import subprocess
    from trustmesh.daemon.settings import _env_name
    assert _env_name("TRUSTMESH_MEMTRACE", {}) is None and _env_name("TRUSTMESH_MEMTRACE_EVERY", {}) is None
    script = ("import time, pathlib, sys\n"
              "from trustmesh.daemon.memtrace import maybe_trace\n"
              "assert maybe_trace()\n"
              "keep = [bytes(1000) for _ in range(2000)]\n"
              "path = pathlib.Path(sys.argv[1].replace('{pid}', str(__import__('os').getpid())))\n"
              "deadline = time.monotonic() + 30\n"
              "while time.monotonic() < deadline and (not path.exists() or len(path.read_text().splitlines()) < 2):\n"
              "    time.sleep(0.02)\n")
    target = str(tmp_path / "{pid}.jsonl")
    env = {**os.environ, "TRUSTMESH_MEMTRACE": target, "TRUSTMESH_MEMTRACE_EVERY": "0.1"}
    subprocess.run([sys.executable, "-c", script, target], env=env, check=True, timeout=60)
    [path] = tmp_path.glob("*.jsonl")
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) >= 2
    assert lines[1]["rss"] > 0 and lines[1]["anon"] > 0 and lines[1]["python"] > 0
    assert {"heap", "used", "free", "mmapped"} <= set(lines[1]["malloc"])
    assert lines[-1]["python"] > 2_000_000             # the 2 MB kept above, traced
    assert all(len(row) == 3 for row in lines[-1]["growth"])   # (file:line, bytes, blocks) since line 1
