"""A small internet with home routers doing NAT, built from Linux network namespaces.

For the NAT tests and ``bench/nat.py``; needs root, ``ip`` and ``nft``.
Every name starts with a prefix unique to the lab, and ``close()`` (also
run by ``with``) deletes every namespace it made, which takes the veth
pairs and any process still inside with it (processes are killed first)::

    public (bridge "sw0", 198.51.100.2)  - relays / bootstrap nodes
      |-- router r1: wan 198.51.100.11, lan 10.0.1.1  -- home h1: 10.0.1.2
      |-- router r2: wan 198.51.100.12, lan 10.0.2.1  -- home h2: 10.0.2.2

Each router masquerades what leaves by ``wan`` and drops new connections
arriving on ``wan`` (what a home router does): a home reaches the public
side, and nothing on the public side can open a connection to a home. The
NAT of a router is "eim" (endpoint-independent mapping: Linux masquerade
keeps the source port, so a hole punched through it works) or "symmetric"
(``masquerade random``: every new connection gets a new random port, so
the port a peer learns is not the one the next connection uses).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

PUBLIC_IP = "198.51.100.2"


def missing() -> str | None:
    """Why the lab cannot be built here (None when it can)."""
    if os.geteuid() != 0:
        return "the NAT lab needs root (network namespaces)"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"the NAT lab needs the `{tool}` command (Debian: iproute2, nftables)"
    return None


def _run(*cmd: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(list(cmd), capture_output=True, text=True, input=input, timeout=20)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {done.stderr.strip() or done.stdout.strip()}")
    return done


class NatLab:
    """The namespaces above; ``exec_prefix(name)`` runs a command inside one."""

    def __init__(self, nats: tuple[str, str] = ("eim", "eim")) -> None:
        self.prefix = "tm" + uuid.uuid4().hex[:6]
        self.nats = nats
        self.namespaces: list[str] = []

    # names: "pub", "r1", "h1", "r2", "h2"
    def ns(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def home_ip(self, i: int) -> str:
        return f"10.0.{i}.2"

    def wan_ip(self, i: int) -> str:
        return f"198.51.100.{10 + i}"

    def exec_prefix(self, name: str) -> list[str]:
        """The argv prefix that runs a command in namespace ``name``."""
        return ["ip", "netns", "exec", self.ns(name)]

    def sh(self, name: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return _run(*self.exec_prefix(name), *cmd, check=check)

    def __enter__(self) -> "NatLab":
        try:
            self.build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _add_ns(self, name: str) -> None:
        _run("ip", "netns", "add", self.ns(name))
        self.namespaces.append(self.ns(name))
        self.sh(name, "ip", "link", "set", "lo", "up")

    def _veth(self, a_ns: str, a: str, b_ns: str, b: str) -> None:
        _run("ip", "link", "add", "name", a, "netns", self.ns(a_ns), "type", "veth",
             "peer", "name", b, "netns", self.ns(b_ns))

    def build(self) -> None:
        why = missing()
        if why:
            raise RuntimeError(why)
        self._add_ns("pub")
        self.sh("pub", "ip", "link", "add", "sw0", "type", "bridge")
        self.sh("pub", "ip", "addr", "add", f"{PUBLIC_IP}/24", "dev", "sw0")
        self.sh("pub", "ip", "link", "set", "sw0", "up")
        for i, nat in enumerate(self.nats, start=1):
            router, home = f"r{i}", f"h{i}"
            self._add_ns(router)
            self._add_ns(home)
            self._veth(router, "wan", "pub", f"w{i}")
            self.sh("pub", "ip", "link", "set", f"w{i}", "master", "sw0")
            self.sh("pub", "ip", "link", "set", f"w{i}", "up")
            self.sh(router, "ip", "addr", "add", f"{self.wan_ip(i)}/24", "dev", "wan")
            self.sh(router, "ip", "link", "set", "wan", "up")
            self._veth(router, "lan", home, "eth0")
            self.sh(router, "ip", "addr", "add", f"10.0.{i}.1/24", "dev", "lan")
            self.sh(router, "ip", "link", "set", "lan", "up")
            self.sh(router, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
            self.sh(home, "ip", "addr", "add", f"{self.home_ip(i)}/24", "dev", "eth0")
            self.sh(home, "ip", "link", "set", "eth0", "up")
            self.sh(home, "ip", "route", "add", "default", "via", f"10.0.{i}.1")
            self.set_nat(i, nat)

    def set_nat(self, i: int, nat: str) -> None:
        """Give router ``i`` an "eim" or a "symmetric" NAT (rules replaced whole)."""
        if nat not in ("eim", "symmetric"):
            raise ValueError(f"unknown NAT kind {nat!r}")
        masq = "masquerade random" if nat == "symmetric" else "masquerade"
        rules = f"""
flush ruleset
table ip nat {{
  chain post {{ type nat hook postrouting priority 100; oifname "wan" {masq}; }}
}}
table ip filter {{
  chain input {{ type filter hook input priority 0; iifname "wan" ct state new drop; }}
  chain forward {{ type filter hook forward priority 0; iifname "wan" ct state new drop; }}
}}
"""
        _run(*self.exec_prefix(f"r{i}"), "nft", "-f", "-", input=rules)

    def can_connect(self, name: str, ip: str, port: int, timeout: float = 2.0) -> bool:
        """True when a TCP connection from namespace ``name`` to ip:port opens."""
        code = (f"import socket,sys\ns=socket.socket();s.settimeout({timeout})\n"
                f"sys.exit(0 if s.connect_ex(({ip!r},{port}))==0 else 1)")
        import sys
        return self.sh(name, sys.executable, "-c", code, check=False).returncode == 0

    def listener(self, name: str, port: int) -> subprocess.Popen:
        """A process accepting TCP on ``port`` in namespace ``name`` (kill it when done)."""
        import sys
        code = (f"import socket\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                f"s.bind(('0.0.0.0',{port}));s.listen()\nprint('ready',flush=True)\n"
                "while True:\n  c,_=s.accept();c.close()\n")
        proc = subprocess.Popen([*self.exec_prefix(name), sys.executable, "-c", code],
                                stdout=subprocess.PIPE, text=True)
        proc.stdout.readline()
        return proc

    def close(self) -> None:
        """Kill every process left in the lab's namespaces, then delete the namespaces."""
        for ns in reversed(self.namespaces):
            pids = _run("ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
        for ns in reversed(self.namespaces):
            _run("ip", "netns", "delete", ns, check=False)
        self.namespaces.clear()


def leftovers(prefix: str) -> list[str]:
    """Namespaces whose name starts with ``prefix`` (none after a lab is closed)."""
    out = _run("ip", "netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(prefix)]


__all__ = ["NatLab", "missing", "leftovers", "PUBLIC_IP"]
