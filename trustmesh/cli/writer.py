"""The CLI's one writer interface: every command that writes says what, never how.

Two implementations with the same methods and the same answers (the JSON
view of the record made, or an import report):

- ``NodeWriter``: through the running node's control API, when a node owns
  the home (records are gossiped at once; the node stays the store's one
  writer);
- ``LedgerWriter``: on the ledger directly, when no node runs.

``writer_for`` picks one. Every rule (a typo'd facet, a retraction of a
record already retracted, a due date the other side would refuse) is
checked by the core both ways, so a command behaves the same with or
without a node (``tests/test_cli_writers.py`` runs each both ways).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from trustmesh.errors import NodeNotRunning


class Writer(Protocol):
    """What a writing command may ask for."""

    via: str        # "node" or "ledger", for the human line "(through the running node)"

    def attest(self, subject: str, facet: str, positive: bool, *, ref: str | None = None,
               note: str | None = None, deal: str | None = None, occurred: int | None = None,
               expires: int | None = None) -> dict: ...

    def retract(self, target: str, reason: str | None = None) -> dict: ...

    def reply(self, target: str, stance: str, note: str | None = None) -> dict: ...

    def set_profile(self, name: str, org: str | None = None, url: str | None = None) -> dict: ...

    def import_bundle(self, chunks: Iterable[bytes]) -> dict: ...

    # the member's keys (core/keys.py): a recovery file travels as its bytes, in and out;
    # the caller writes the one in the answer (the node keeps none)
    def key_show(self) -> dict: ...

    def key_init(self) -> dict: ...

    def key_rotate(self, recovery: bytes, since: int | None, passphrase: bytes | None) -> dict: ...

    def key_recover(self, recovery: bytes, since: int | None, after: str | None, passphrase: bytes | None) -> dict: ...

    def device_add(self, request: dict) -> dict: ...

    def device_accept(self, offer: dict) -> dict: ...

    def device_revoke(self, key: str, since: int | None) -> dict: ...

    def device_code(self, ttl_s: int | None) -> dict: ...          # pairing by a code: a running node only

    def device_join(self, code: str, addr: str) -> dict: ...

    def close(self) -> None: ...


class NodeWriter:
    """Writes through the running node's API."""

    via = "node"

    def __init__(self, client) -> None:
        self.client = client

    def _post(self, method: str, path: str, body: dict) -> dict:
        return self.client.call(method, path, body)

    def attest(self, subject, facet, positive, *, ref=None, note=None, deal=None, occurred=None, expires=None):
        return self._post("POST", "/v1/attestations", {
            "subject": subject, "facet": facet, "positive": positive, "ref": ref, "note": note,
            "deal": deal, "occurred": occurred, "expires": expires})

    def retract(self, target, reason=None):
        return self._post("POST", "/v1/retractions", {"target": target, "reason": reason})

    def reply(self, target, stance, note=None):
        return self._post("POST", "/v1/replies", {"target": target, "stance": stance, "note": note})

    def set_profile(self, name, org=None, url=None):
        return self._post("PUT", "/v1/profile", {"name": name, "org": org, "url": url})

    def propose(self, counterparty: str, ref: str, role: str, due: int | None = None) -> dict:
        return self._post("POST", "/v1/deals", {"counterparty": counterparty, "ref": ref, "role": role,
                                                "due": due})

    def import_bundle(self, chunks):
        return self.client.call("POST", "/v1/import", content=iter(chunks))

    def key_show(self):
        return self.client.call("GET", "/v1/keys")

    def key_init(self):
        return self._post("POST", "/v1/keys/init", {})

    def key_rotate(self, recovery, since, passphrase):
        return self._post("POST", "/v1/keys/rotate", _recovery_body(recovery, since, passphrase))

    def key_recover(self, recovery, since, after, passphrase):
        return self._post("POST", "/v1/keys/recover", {**_recovery_body(recovery, since, passphrase), "after": after})

    def device_add(self, request):
        return self._post("POST", "/v1/devices", request)

    def device_accept(self, offer):
        return self._post("POST", "/v1/devices/accept", offer)

    def device_revoke(self, key, since):
        return self._post("POST", "/v1/devices/revoke", {"key": key, "since": since})

    def device_code(self, ttl_s):
        return self._post("POST", "/v1/devices/codes", {"ttl_s": ttl_s})

    def device_join(self, code, addr):
        return self._post("POST", "/v1/devices/join", {"code": code, "addr": addr})

    def close(self) -> None:
        self.client.__exit__(None, None, None)


def _recovery_body(recovery: bytes, since: int | None, passphrase: bytes | None) -> dict:
    import base64
    try:
        text = recovery.decode("ascii")
    except UnicodeDecodeError:
        from trustmesh.errors import DamagedKeyFile
        raise DamagedKeyFile("cannot use the recovery file: it is not a key file (PEM)") from None
    return {"recovery": text, "since": since,
            "passphrase": base64.b64encode(passphrase).decode() if passphrase is not None else None}


class LedgerWriter:
    """Writes on the ledger when no node runs (a node started meanwhile makes it HomeLocked)."""

    via = "ledger"

    def __init__(self, ledger) -> None:
        self.ledger = ledger

    def _view(self, stored) -> dict:
        from trustmesh.protocol.jsonview import stored_view
        return stored_view(stored, self.ledger.clock())

    def attest(self, subject, facet, positive, *, ref=None, note=None, deal=None, occurred=None, expires=None):
        return self._view(self.ledger.attest(subject, facet, positive, ref=ref, note=note, deal=deal,
                                             occurred=occurred, expires=expires))

    def retract(self, target, reason=None):
        return self._view(self.ledger.retract(target, reason))

    def reply(self, target, stance, note=None):
        return self._view(self.ledger.reply(target, stance, note))

    def set_profile(self, name, org=None, url=None):
        return self._view(self.ledger.set_profile(name, org, url))

    def import_bundle(self, chunks):
        from trustmesh.core.imports import import_into_ledger
        return import_into_ledger(self.ledger, chunks).to_dict()

    def key_show(self):
        from trustmesh.core import keys
        return keys.show(self.ledger)

    def key_init(self):
        from trustmesh.core import keys
        return keys.begin(self.ledger)

    def key_rotate(self, recovery, since, passphrase):
        from trustmesh.core import keys
        return keys.take_over(self.ledger, recovery, since=since, passphrase=passphrase)

    def key_recover(self, recovery, since, after, passphrase):
        from trustmesh.core import keys
        return keys.take_over(self.ledger, recovery, recover=True, since=since,
                              after=self.ledger.record_id(after) if after else None, passphrase=passphrase)

    def device_add(self, request):
        from trustmesh.core import keys
        return keys.device_add(self.ledger, request)

    def device_accept(self, offer):
        from trustmesh.core import keys
        return keys.accept(self.ledger, offer)

    def device_revoke(self, key, since):
        from trustmesh.core import keys
        return keys.revoke_named(self.ledger, key, since)

    def device_code(self, ttl_s):
        raise NodeNotRunning("pairing by a code goes over the network: start the node first (trustmesh node run),"
                             " or pair by files (device request / add / accept)")

    def device_join(self, code, addr):
        return self.device_code(None)

    def close(self) -> None:
        self.ledger.close()


def writer_for(state, wait_s: float = 15.0) -> Writer:
    """The node's writer when a node owns the home (waiting for its API if it is starting),
    else the ledger's."""
    from trustmesh.api.client import ApiClient, running_info
    from trustmesh.core.home import node_running, resolve_home
    home = resolve_home(state.home)
    deadline = time.monotonic() + wait_s
    while True:
        if running_info(home.root) is not None:
            return NodeWriter(ApiClient(home.root).__enter__())
        if not node_running(home):
            return LedgerWriter(state.ledger())
        if time.monotonic() > deadline:
            raise NodeNotRunning(f"a node holds {home.root} but its control API does not answer")
        time.sleep(0.1)


def with_writer(state, act) -> tuple[Any, str]:
    """``act(writer)`` with the writer ``writer_for`` picks, closed after; the answer and its ``via``."""
    writer = writer_for(state)
    try:
        return act(writer), writer.via
    finally:
        writer.close()


def api_client(state, home: Path | None = None) -> Any:
    """The running node's API client; NodeNotRunning (one line, exit 1) if none runs."""
    from trustmesh.api.client import ApiClient
    from trustmesh.core.home import resolve_home
    return ApiClient(home or resolve_home(state.home).root)
