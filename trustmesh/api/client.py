"""The control API's client, as the CLI uses it: find the running node, ask, get JSON.

Finding the node: ``<home>/api`` names the socket (and TCP address) and the
daemon's pid. No file, or a file whose pid is gone (a daemon killed with
-9), means no node is running: ``NodeNotRunning``, which the CLI reports in
one line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from trustmesh.errors import NodeNotRunning, by_name
from trustmesh.api import API_FILE


def running_info(home: Path) -> dict | None:
    """What ``<home>/api`` says, if a node is running for this home."""
    try:
        info = json.loads((home / API_FILE).read_text())
        pid = int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass                                  # alive, someone else's: the socket mode decides
    return info


class ApiClient:
    """Synchronous calls to the node of ``home`` over its Unix socket.

    ``transport`` replaces the socket (an ``httpx.BaseTransport``): tests
    and apps can point the client at a node they run themselves.
    """

    def __init__(self, home: Path, timeout: float = 60.0, transport=None) -> None:
        import httpx
        if transport is None:
            info = running_info(home)
            if info is None:
                raise NodeNotRunning(f"no node is running for home {home} (start one: trustmesh node run)")
            transport = httpx.HTTPTransport(uds=info["socket"])
        self._http = httpx.Client(transport=transport, base_url="http://trustmesh", timeout=timeout)

    def __enter__(self) -> "ApiClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def call(self, method: str, path: str, body: dict | None = None, *, content: bytes | None = None,
             **params: Any) -> Any:
        """One request (a JSON ``body``, or raw ``content``); its JSON answer, or our typed error."""
        import httpx
        query = {k: v for k, v in params.items() if v is not None}
        try:
            try:
                reply = self._http.request(method, path, json=body, content=content, params=query)
            except (httpx.RemoteProtocolError, httpx.ReadError):
                # a keep-alive connection the server closed while idle: whether a write was
                # handled cannot be told, so only a read is sent again (on a new connection)
                if method.upper() not in ("GET", "HEAD"):
                    raise
                reply = self._http.request(method, path, json=body, content=content, params=query)
        except httpx.HTTPError as exc:
            raise NodeNotRunning(f"the node does not answer: {exc}") from None
        if reply.status_code == 200:
            return reply.json()
        try:
            found = reply.json()
            message, kind = found.get("error", reply.text), found.get("type", "")
        except (ValueError, AttributeError):
            message, kind = reply.text, ""
        raise by_name(kind)(message)
