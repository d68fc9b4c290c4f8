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

from trustmesh.errors import UsageError
from trustmesh.protocol.records import MAX_NAME, MAX_NOTE, MAX_URL, MAX_TIME_MS, ROLES, STANCES

MAX_BODY = 64 * 1024        # bytes of a JSON body (bundles go to /v1/import, streamed)


# A request the API refuses (400), naming the offending field. The same class as the
# library's own usage errors, so the CLI reports it the same way through a node or not.
BadRequest = UsageError


@dataclass(frozen=True)
class Field:
    """One body field: its JSON type, limits, and whether it must be there."""

    kind: str                   # "string", "boolean", "integer"
    required: bool = False
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] | None = None
    description: str = ""

    def check(self, name: str, value: Any) -> Any:
        if value is None and not self.required:
            return None
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
        out: dict[str, Any] = {"type": self.kind}
        for key, value in (("maxLength", self.max_length), ("minimum", self.minimum),
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
    if not isinstance(body, dict):
        raise BadRequest("the body is a JSON object")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise BadRequest(f"unknown field: {', '.join(unknown)}")
    missing = [name for name, f in fields.items() if f.required and body.get(name) is None]
    if missing:
        raise BadRequest(f"missing field: {', '.join(missing)}")
    return {name: f.check(name, body.get(name)) for name, f in fields.items()}


def openapi_body(route: str) -> dict | None:
    """The OpenAPI request body of ``route`` (None if it takes no JSON body)."""
    fields = BODIES.get(route)
    if fields is None:
        return None
    schema = {"type": "object", "additionalProperties": False,
              "properties": {name: f.openapi() for name, f in fields.items()},
              "required": [name for name, f in fields.items() if f.required]}
    return {"required": True, "content": {"application/json": {"schema": schema}}}
