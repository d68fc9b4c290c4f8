"""One schema per request body: the validator of every route, and its OpenAPI description.

Why one table for both: the schema a client reads in ``/openapi.json`` is
the one that refuses its request, so they cannot drift. A body that breaks
it gets a 400 naming the field; nothing malformed reaches the core (no
``AttributeError`` for a number where text belongs, no overflow for a
time of 2^70, no ``UnicodeEncodeError`` for a lone surrogate).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from trustmesh.core.keyfile import MAX_KEY_FILE
from trustmesh.errors import UsageError
from trustmesh.protocol.codec import MAX_RECORD_SIZE
from trustmesh.protocol.keystate import MAX_KEY_EVENTS, MAX_KEY_SEQ
from trustmesh.protocol.records import MAX_NAME, MAX_NOTE, MAX_URL, MAX_TIME_MS, ROLES, STANCES

MAX_BODY = 64 * 1024        # bytes of a JSON body (bundles go to /v1/import, streamed)


# A request the API refuses (400), naming the offending field. The same class as the
# library's own usage errors, so the CLI reports it the same way through a node or not.
BadRequest = UsageError


@dataclass(frozen=True)
class Field:
    """One body field: its JSON type, limits, and whether it must be there."""

    kind: str                   # "string", "boolean", "integer", "object", "array"
    required: bool = False
    max_length: int | None = None       # of a string; of an array: its items
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] | None = None
    description: str = ""
    fields: dict[str, "Field"] | None = None     # of an object
    items: "Field | None" = None                 # of an array

    def check(self, name: str, value: Any) -> Any:
        if value is None and not self.required:
            return None
        if self.kind == "object":
            return check_object(value, self.fields or {}, f"{name}.")
        if self.kind == "array":
            if not isinstance(value, list):
                raise BadRequest(f"{name} is a list")
            if self.max_length is not None and len(value) > self.max_length:
                raise BadRequest(f"{name} has more than {self.max_length} items")
            return [self.items.check(f"{name}[{i}]", item) for i, item in enumerate(value)]
        if self.kind == "string":
            if not isinstance(value, str):
                raise BadRequest(f"{name} is a string")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise BadRequest(f"{name} is not valid Unicode text") from None
            if self.max_length is not None and len(value) > self.max_length:
                raise BadRequest(f"{name} is longer than {self.max_length} characters")
            if self.choices is not None and value not in self.choices:
                raise BadRequest(f"{name} is one of {', '.join(self.choices)}")
        elif self.kind == "boolean":
            if not isinstance(value, bool):
                raise BadRequest(f"{name} is true or false")
        elif self.kind == "integer":
            if type(value) is not int:
                raise BadRequest(f"{name} is a whole number")
            if (self.minimum is not None and value < self.minimum) or \
                    (self.maximum is not None and value > self.maximum):
                raise BadRequest(f"{name} is out of range {self.minimum}..{self.maximum}")
        return value

    def openapi(self) -> dict:
        if self.kind == "object":
            return {**object_schema(self.fields or {}), **({"description": self.description} if self.description else {})}
        out: dict[str, Any] = {"type": self.kind}
        if self.kind == "array":
            out["items"] = self.items.openapi()
        for key, value in (("maxLength" if self.kind == "string" else "maxItems", self.max_length),
                           ("minimum", self.minimum),
                           ("maximum", self.maximum), ("enum", list(self.choices) if self.choices else None),
                           ("description", self.description or None)):
            if value is not None:
                out[key] = value
        return out


def _member(required: bool = True, description: str = "a member: PeerID, did:key or 64 hex digits") -> Field:
    return Field("string", required, max_length=200, description=description)


def _time(description: str) -> Field:
    return Field("integer", minimum=0, maximum=MAX_TIME_MS, description=description + " (ms since the epoch)")


def _record(required: bool = True) -> Field:
    return Field("string", required, max_length=64, description="a record id or a unique prefix (8+ hex digits)")


_NOTE = Field("string", max_length=MAX_NOTE)


def _hex(size: int, description: str) -> Field:
    return Field("string", True, max_length=2 * size, description=f"{description} ({2 * size} hex digits)")


_RECOVERY = {"recovery": Field("string", True, max_length=MAX_KEY_FILE,
                               description="the recovery file's content (PEM): used once, never kept"),
             "since": _time("the old key's records from then on are void"),
             "passphrase": Field("string", max_length=4096,
                                 description="the key file's passphrase, base64, if it is encrypted: the new key "
                                             "file is encrypted with it (never kept)")}
# what `device add` signs for: a new device's request, as `device request` writes it
_REQUEST = {"member": _hex(32, "the member to join"), "device": _hex(32, "the device's key"),
            "sig": _hex(64, "the device's signature over the member and its key")}
# what the device countersigns: the add signed by the member, and the member's key events
_ADD = {"seq": Field("integer", True, minimum=0, maximum=MAX_KEY_SEQ), "prev": _hex(32, "the event before"),
        "issued": Field("integer", True, minimum=0, maximum=MAX_TIME_MS), "author": _hex(32, "the signer"),
        "member": _hex(32, "the member"), "key": _hex(32, "the device's key"), "sig": _hex(64, "the signature")}
_OFFER = {"add": Field("object", True, fields=_ADD, description="the device add, signed by the member"),
          "events": Field("array", True, max_length=MAX_KEY_EVENTS,
                          items=Field("string", True, max_length=4 * MAX_RECORD_SIZE // 3 + 4,
                                      description="a key event (base64)"),
                          description="the member's key events")}

BODIES: dict[str, dict[str, Field]] = {
    "attest": {"subject": _member(), "facet": Field("string", True, max_length=100),
               "positive": Field("boolean", True), "ref": Field("string", max_length=200),
               "note": _NOTE, "deal": _record(False), "occurred": _time("when it happened"),
               "expires": _time("when it stops counting")},
    "retract": {"target": _record(), "reason": _NOTE},
    "reply": {"target": _record(), "stance": Field("string", True, choices=STANCES), "note": _NOTE},
    "profile": {"name": Field("string", True, max_length=MAX_NAME), "org": Field("string", max_length=MAX_NAME),
                "url": Field("string", max_length=MAX_URL)},
    "propose": {"counterparty": _member(), "ref": Field("string", True, max_length=200),
                "role": Field("string", True, choices=ROLES), "due": _time("when the work is due")},
    "ask": {"subject": _member(False), "author": _member(False)},
    "contact": {"name": Field("string", True, max_length=100, description="my name for the member (a petname)"),
                "id": _member()},
    "key_init": {},
    "key_rotate": _RECOVERY,
    "key_recover": {**_RECOVERY, "after": _record(False)},
    "device_add": _REQUEST,
    "device_accept": _OFFER,
    "device_code": {"ttl_s": Field("integer", minimum=1, maximum=3600,
                                   description="how long the code is good for, in seconds (default 300)")},
    "device_join": {"code": Field("string", True, max_length=40, description="the code the member's node shows"),
                    "addr": Field("string", True, max_length=1000,
                                  description="the member's node: a multiaddr ending in /p2p/<id>")},
    "device_revoke": {"key": Field("string", True, max_length=200,
                                   description="the key: its id, or 8+ characters of it (start or end)"),
                      "since": _time("its records from then on are void (default: now)")},
    "connect": {"addr": Field("string", True, max_length=1000, description="a multiaddr ending in /p2p/<id>, or a peer id alone "
                                                                "(found through known addresses and the DHT)")},
}


def parse_body(data: bytes, route: str) -> dict[str, Any]:
    """The validated body of ``route``: every field checked, unknown ones refused."""
    fields = BODIES[route]
    if len(data) > MAX_BODY:
        raise BadRequest(f"the body is over {MAX_BODY} bytes")
    try:
        body = json.loads(data or b"{}")
    except RecursionError:
        raise BadRequest("the body is nested too deeply") from None
    except ValueError:
        raise BadRequest("the body is not JSON") from None
    return check_object(body, fields)


def check_object(value: Any, fields: dict[str, Field], prefix: str = "") -> dict[str, Any]:
    """``value`` checked against ``fields`` (every one present, None when absent), unknown ones refused;
    a nested field is named by its path (``add.seq``)."""
    if not isinstance(value, dict):
        raise BadRequest(f"{prefix.rstrip('.') or 'the body'} is a JSON object")
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise BadRequest(f"unknown field: {', '.join(prefix + name for name in unknown)}")
    missing = [prefix + name for name, f in fields.items() if f.required and value.get(name) is None]
    if missing:
        raise BadRequest(f"missing field: {', '.join(missing)}")
    return {name: f.check(prefix + name, value.get(name)) for name, f in fields.items()}


def openapi_body(route: str) -> dict | None:
    """The OpenAPI request body of ``route`` (None if it takes no JSON body)."""
    fields = BODIES.get(route)
    if fields is None:
        return None
    return {"required": True, "content": {"application/json": {"schema": object_schema(fields)}}}


def object_schema(fields: dict[str, Field]) -> dict:
    return {"type": "object", "additionalProperties": False,
            "properties": {name: f.openapi() for name, f in fields.items()},
            "required": [name for name, f in fields.items() if f.required]}
