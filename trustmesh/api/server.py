"""Serving the control API from the daemon: hypercorn on the node's own trio loop.

Why a Unix socket by default: only the owner can open a 0600 socket in the
owner's 0700 home, with no token to leak; the optional TCP listener is for
tools that cannot speak to a socket, refuses non-loopback addresses, and
requires the bearer token of ``<home>/api.token``; it also serves the web
view, whose first one-time login link ``serve`` hands to its starter.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from functools import partial
from pathlib import Path

import trio

from trustmesh.errors import UsageError
from trustmesh.api import API_FILE, SOCKET_FILE, TOKEN_FILE
from trustmesh.api.app import Api
from trustmesh.api.webauth import WebAuth

log = logging.getLogger("trustmesh.api")
# seconds an idle keep-alive connection is kept: several times any client's expiry (serve())
KEEP_ALIVE_S = 30.0


def token_of(home: Path) -> str:
    """The API token of this home, created (0600, once) on first use."""
    path = home / TOKEN_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT``; UsageError otherwise."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise UsageError(f"expected HOST:PORT (127.0.0.1:9464), not {address!r}")
    return host, int(port)


def check_tcp(address: str) -> tuple[str, int]:
    """``HOST:PORT`` on a loopback address; UsageError otherwise."""
    host, port = parse_address(address)
    if host not in ("127.0.0.1", "::1", "localhost"):
        raise UsageError(f"--api-tcp takes a loopback HOST:PORT (127.0.0.1:5001), not {address!r}")
    return host, port


def _unix_listener(path: Path):
    import socket
    path.unlink(missing_ok=True)              # a stale socket from a killed daemon
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)                     # born 0600: no moment where others could connect
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(64)
    return sock


def _tcp_listener(host: str, port: int):
    import socket
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(64)
    return sock


async def serve(node, home: Path, *, tcp: str | None = None, metrics: str | None = None,
                task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Serve until cancelled; ``<home>/api`` exists exactly while the API answers."""
    from hypercorn.config import Config, Sockets
    from hypercorn.trio.run import worker_serve
    from hypercorn.utils import wrap_app

    sock_path = home / SOCKET_FILE
    web = None
    listeners = []
    info = {"pid": os.getpid(), "socket": str(sock_path)}
    if tcp:
        host, port = check_tcp(tcp)
        tcp_sock = _tcp_listener(host, port)
        token = token_of(home)
        info["tcp"] = f"{host}:{tcp_sock.getsockname()[1]}"
        web = WebAuth(token, "http://" + (f"[{host}]" if ":" in host else host) + f":{tcp_sock.getsockname()[1]}")
        listeners.append((Api(node, token=token, web=web).app(), tcp_sock))
    listeners.insert(0, (Api(node, web=web).app(), _unix_listener(sock_path)))   # mints login links too
    if metrics:
        # read-only and tokenless on purpose: what a Prometheus scraper or a health check needs,
        # nothing that reads records or changes anything (docs/operating.md)
        host, port = parse_address(metrics)
        metrics_sock = _tcp_listener(host, port)
        listeners.append((Api(node, only=("/metrics", "/v1/health")).app(), metrics_sock))
        info["metrics"] = f"{host}:{metrics_sock.getsockname()[1]}"
    config = Config()
    config.accesslog = None
    config.errorlog = logging.getLogger("trustmesh.api.server")
    config.graceful_timeout = 1.0
    # An idle keep-alive connection stays open well past the clients' own expiry (httpx: 5 s).
    # With both at 5 s a client could reuse a connection just as the server closed it, and a
    # write on it met ECONNRESET (the soak saw it on POST /v1/attestations under load).
    config.keep_alive_timeout = KEEP_ALIVE_S
    try:
        async with trio.open_nursery() as nursery:
            for app, sock in listeners:
                sockets = Sockets(secure_sockets=[], insecure_sockets=[sock], quic_sockets=[])
                await nursery.start(partial(worker_serve, wrap_app(app, config.wsgi_max_body_size, None),
                                            config, sockets=sockets, shutdown_trigger=trio.sleep_forever))
            _write_info(home, info)
            log.info("control API on %s", ", ".join(str(v) for k, v in info.items() if k != "pid"))
            # the first login link is printed, never written to a file
            task_status.started({**info, "web": web.login_url(time.monotonic())} if web else info)
            await trio.sleep_forever()
    finally:
        (home / API_FILE).unlink(missing_ok=True)
        sock_path.unlink(missing_ok=True)
        for _, sock in listeners:
            sock.close()


def _write_info(home: Path, info: dict) -> None:
    path = home / API_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info) + "\n")
    os.replace(tmp, path)
