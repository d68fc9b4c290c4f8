"""The routes of the control API, over the library facade (``Node``).

Every answer is JSON; every failure is ``{"error": "..."}`` with a status
that says whose fault it is: 400 a malformed request, 401 missing or wrong
credentials, 404 unknown record or route, 409 refused by the rules, 503
the network could not do it. A handler never lets an exception reach the
server: the daemon does not crash on a request.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from trustmesh import __version__
from trustmesh.crypto.ids import did_key, parse_id, peer_id
from trustmesh.errors import NetworkError, NotFound, TrustmeshError, UsageError
from trustmesh.core.ledger import now_ms
from trustmesh.protocol.jsonview import iso, record_view

# route table: (method, path, handler name, summary); also the OpenAPI schema's source
ROUTES = [
    ("GET", "/v1/health", "health", "Liveness: the node answers."),
    ("GET", "/v1/version", "version", "trustmesh version."),
    ("GET", "/v1/identity", "identity", "My id, did:key and listen addresses."),
    ("GET", "/v1/status", "status", "Id, addresses, connected peers, record counts, sync, version."),
    ("GET", "/v1/records", "records", "Records held (?subject= &author= &facet= &kind= &limit= &offset=)."),
    ("GET", "/v1/records/{rid}", "record", "One record by id or unique id prefix."),
    ("POST", "/v1/attestations", "attest", "Sign and gossip an attestation {subject, facet, positive, ref?, note?}."),
    ("POST", "/v1/retractions", "retract", "Retract one of my records {target, reason?}."),
    ("POST", "/v1/replies", "reply", "Reply to an attestation about me {target, stance, note?}."),
    ("PUT", "/v1/profile", "profile", "Publish my profile {name, org?, url?}."),
    ("POST", "/v1/deals", "propose", "Propose a deal to a connected member {counterparty, ref, role}."),
    ("GET", "/v1/deals/pending", "pending", "Proposals received and waiting for my answer."),
    ("POST", "/v1/deals/{pid}/accept", "accept", "Countersign a pending proposal."),
    ("POST", "/v1/deals/{pid}/decline", "decline", "Decline a pending proposal."),
    ("GET", "/v1/trust/{subject}", "trust", "My trust in a member (?facet= &explain=1)."),
    ("GET", "/v1/rank", "rank", "Best-known members on a facet (?facet= &limit=)."),
    ("POST", "/v1/import", "import_bundle", "Verify and store a bundle (the request body), gossip what is new."),
    ("POST", "/v1/ask", "ask", "Ask connected peers about a member now {subject} or {author}."),
    ("GET", "/v1/peers", "peers", "Connected peers."),
    ("POST", "/v1/peers", "connect", "Connect to a peer {addr}."),
    ("DELETE", "/v1/peers/{pid}", "disconnect", "Disconnect a peer."),
    ("GET", "/v1/sync", "sync_status", "The last sync with each peer, intake counters."),
    ("POST", "/v1/sync", "sync_now", "Reconcile with every connected peer now."),
    ("GET", "/v1/events", "events", "New events as NDJSON lines (?kinds=record,sync,...)."),
    ("GET", "/v1/members", "members", "Members my network knows, with my trust per facet."),
    ("GET", "/v1/graph", "graph", "My neighbourhood: members within two relations, and the relations."),
    ("GET", "/ui", "ui", "The read-only web view (?token= once, for TCP)."),
    ("GET", "/ui/{name}", "ui_file", "The web view's files."),
    ("GET", "/metrics", "metrics", "Prometheus metrics."),
    ("GET", "/openapi.json", "openapi", "This schema."),
]


COOKIE = "trustmesh_token"
UI_FILES = {"app.js": "text/javascript", "style.css": "text/css"}


class _Failure(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _status_of(exc: Exception) -> int:
    if isinstance(exc, _Failure):
        return exc.status
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, UsageError):
        return 400
    if isinstance(exc, NetworkError):
        return 503
    if isinstance(exc, TrustmeshError):
        return 409
    return 500


class Api:
    """The handlers, bound to one node (and a trust engine made on first use)."""

    def __init__(self, node, token: str | None = None) -> None:
        self.node = node
        self.token = token
        self.started = time.time()
        self._engine = None
        self.trust_refresh_s = 0.0

    # ---- plumbing ---------------------------------------------------------

    def app(self) -> Starlette:
        routes = [Route(path, self._wrap(getattr(self, name)), methods=[method])
                  for method, path, name, _ in ROUTES]
        return Starlette(routes=routes, exception_handlers={404: _not_found, 405: _not_allowed})

    def _wrap(self, handler: Callable) -> Callable:
        async def endpoint(request: Request) -> Response:
            if self.token is not None and not self._authorized(request):
                return JSONResponse({"error": "missing or wrong bearer token"}, 401,
                                    headers={"WWW-Authenticate": "Bearer"})
            try:
                result = await handler(request)
            except Exception as exc:        # one JSON error shape, never a crash
                status = _status_of(exc)
                message = str(exc) if status != 500 else f"internal error: {type(exc).__name__}"
                return JSONResponse({"error": message}, status)
            return result if isinstance(result, Response) else JSONResponse(result)
        return endpoint

    def _authorized(self, request: Request) -> bool:
        """TCP only (the Unix socket's app has no token: its file mode is the gate)."""
        given = request.headers.get("authorization", "")
        if given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), self.token.encode()):
            return True
        # the web view: the token given once as ?token= becomes a SameSite=Strict cookie, good for
        # reading only (no cross-site request carries it, and it never authorizes a change)
        if request.method != "GET":
            return False
        for candidate in (request.cookies.get(COOKIE, ""), request.query_params.get("token", "")):
            if candidate and hmac.compare_digest(candidate.encode(), self.token.encode()):
                return True
        return False

    async def _body(self, request: Request, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()) -> dict:
        try:
            data = json.loads(await request.body() or b"{}")
        except ValueError:
            raise _Failure(400, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise _Failure(400, "the body is a JSON object")
        missing = [k for k in required if k not in data]
        if missing:
            raise _Failure(400, f"missing field: {', '.join(missing)}")
        unknown = set(data) - set(required) - set(optional)
        if unknown:
            raise _Failure(400, f"unknown field: {', '.join(sorted(unknown))}")
        return data

    async def _store(self, fn, *args, **kwargs):
        return await self.node.worker.run(fn, *args, **kwargs)

    def _record_json(self, stored) -> dict:
        """The same JSON the offline CLI prints for a held record (cli/view.stored_view)."""
        expires = getattr(stored.record, "expires", None)
        return record_view(stored.record, stored.id, retracted=stored.retracted, contested=stored.contested,
                           expired=expires is not None and expires <= now_ms(), received=iso(stored.received))

    async def _engine_ready(self):
        from trustmesh.core.trustview import TrustEngine
        if self._engine is None:
            self._engine = TrustEngine(self.node.store, self.node.identity.public_key)
        started = time.perf_counter()
        loads = self._engine.loads
        await self._store(self._engine.refresh, now_ms())
        if self._engine.loads != loads:
            self.trust_refresh_s = time.perf_counter() - started
        return self._engine

    # ---- identity and status ---------------------------------------------------

    async def health(self, request: Request) -> dict:
        return {"ok": True, "uptime_s": round(time.time() - self.started, 1)}

    async def version(self, request: Request) -> dict:
        return {"version": __version__}

    async def identity(self, request: Request) -> dict:
        key = self.node.identity.public_key
        return {"id": self.node.id, "did": did_key(key), "addrs": self.node.addrs()}

    async def status(self, request: Request) -> dict:
        counts = await self._store(self.node.store.counts)
        sync = self.node.sync_status()
        last = max((s.get("finished", 0) for s in sync["peers"].values() if s), default=None)
        return {"id": self.node.id, "version": __version__, "addrs": self.node.addrs(),
                "peers": [p["id"] for p in self.node.peers()], "records": counts,
                "total_records": sum(counts.values()), "last_sync": last, "intake": sync["intake"]}

    # ---- records ------------------------------------------------------------------

    async def records(self, request: Request) -> list:
        q = request.query_params
        unknown = set(q) - {"subject", "author", "facet", "kind", "limit", "offset"}
        if unknown:
            raise _Failure(400, f"unknown parameter: {', '.join(sorted(unknown))}")
        limit, offset = _int(q.get("limit"), 100, 1, 10_000), _int(q.get("offset"), 0, 0, 10**9)
        found = await self._store(
            self.node.store.records, subject=_member(q.get("subject")), author=_member(q.get("author")),
            facet=q.get("facet"), kind=q.get("kind"), now_ms=now_ms(), limit=limit + offset)
        return [self._record_json(s) for s in found[offset:]]

    async def record(self, request: Request) -> dict:
        store = self.node.store
        rid = await self._store(store.resolve, request.path_params["rid"])
        return self._record_json(await self._store(store.get, rid))

    async def attest(self, request: Request) -> dict:
        b = await self._body(request, ("subject", "facet", "positive"),
                             ("ref", "note", "deal", "occurred", "expires"))
        if not isinstance(b["positive"], bool):
            raise _Failure(400, "positive is true or false")
        for key in ("occurred", "expires"):
            if b.get(key) is not None and type(b[key]) is not int:
                raise _Failure(400, f"{key} is milliseconds since the epoch")
        deal = await self._store(self.node.store.resolve, _text(b, "deal")) if b.get("deal") else None
        stored = await self.node.attest(_text(b, "subject"), _text(b, "facet"), b["positive"],
                                        ref=b.get("ref"), note=b.get("note"), deal=deal,
                                        occurred=b.get("occurred"), expires=b.get("expires"))
        return self._record_json(stored)

    async def retract(self, request: Request) -> dict:
        b = await self._body(request, ("target",), ("reason",))
        target = await self._store(self.node.store.resolve, _text(b, "target"))
        return self._record_json(await self.node.retract(target, b.get("reason")))

    async def reply(self, request: Request) -> dict:
        b = await self._body(request, ("target", "stance"), ("note",))
        target = await self._store(self.node.store.resolve, _text(b, "target"))
        return self._record_json(await self.node.reply(target, _text(b, "stance"), b.get("note")))

    async def profile(self, request: Request) -> dict:
        b = await self._body(request, ("name",), ("org", "url"))
        return self._record_json(await self.node.set_profile(_text(b, "name"), b.get("org"), b.get("url")))

    # ---- deals ----------------------------------------------------------------------

    async def propose(self, request: Request) -> dict:
        b = await self._body(request, ("counterparty", "ref", "role"), ("due",))
        outcome = await self.node.propose_deal(_text(b, "counterparty"), _text(b, "ref"), _text(b, "role"))
        return {"status": outcome.status, "reason": outcome.reason,
                "deal": self._record_json(outcome.deal) if outcome.deal else None}

    async def pending(self, request: Request) -> list:
        return [record_view(deal, pid) for pid, deal in self.node.pending_deals.items()]

    async def accept(self, request: Request) -> dict:
        return self._record_json(await self.node.accept_deal(request.path_params["pid"]))

    async def decline(self, request: Request) -> dict:
        self.node.decline_deal(request.path_params["pid"])
        return {"declined": request.path_params["pid"]}

    # ---- trust -------------------------------------------------------------------------

    async def trust(self, request: Request) -> Any:
        q = request.query_params
        subject = _member(request.path_params["subject"])
        engine = await self._engine_ready()
        ask = engine.explain if q.get("explain") in ("1", "true", "yes") else engine.trust
        found = await self._store(ask, subject, q.get("facet"), now_ms())
        return [s.to_dict() for s in found] if isinstance(found, list) else found.to_dict()

    async def rank(self, request: Request) -> list:
        q = request.query_params
        if not q.get("facet"):
            raise _Failure(400, "rank needs ?facet=")
        engine = await self._engine_ready()
        found = await self._store(engine.rank, q["facet"], _int(q.get("limit"), 20, 1, 1000), now_ms())
        return [{"subject": e.subject, "score": e.score, "uncertainty": e.uncertainty, "lower": e.lower}
                for e in found]

    async def import_bundle(self, request: Request) -> dict:
        from trustmesh.errors import DecodeError
        from trustmesh.protocol.bundle import read_bundle
        forks_before = len(await self._store(self.node.store.forks))
        results, damage, batch = [], None, []

        async def flush() -> None:
            for res in await self.node.import_records(batch):
                results.append({"id": res.id.hex() if res.id else None,
                                "type": res.record.NAME if res.record is not None else None,
                                "status": res.status, "reason": res.reason if res.status == "rejected" else None})
            batch.clear()

        try:
            for raw in read_bundle([await request.body()]):   # the owner's file: held whole
                batch.append(raw)
                if len(batch) >= 2000:
                    await flush()
        except DecodeError as exc:
            damage = str(exc)
        await flush()
        forks = len(await self._store(self.node.store.forks)) - forks_before
        return {"records": results, "damaged": damage, "forks": forks}

    async def ask(self, request: Request) -> list:
        b = await self._body(request, (), ("subject", "author"))
        if ("subject" in b) == ("author" in b):
            raise _Failure(400, "ask about a subject or an author")
        found = await (self.node.ask(_text(b, "subject")) if "subject" in b
                       else self.node.ask(author=_text(b, "author")))
        return [self._record_json(s) for s in found]

    # ---- network ----------------------------------------------------------------------

    async def peers(self, request: Request) -> list:
        return self.node.peers()

    async def connect(self, request: Request) -> dict:
        b = await self._body(request, ("addr",))
        return {"id": await self.node.connect(_text(b, "addr"))}

    async def disconnect(self, request: Request) -> dict:
        pid = peer_id(parse_id(request.path_params["pid"]))
        await self.node.disconnect(pid)
        return {"disconnected": pid}

    async def sync_status(self, request: Request) -> dict:
        return self.node.sync_status()

    async def sync_now(self, request: Request) -> list:
        return await self.node.sync_now()

    async def events(self, request: Request) -> StreamingResponse:
        kinds = [k for k in request.query_params.get("kinds", "").split(",") if k] or None
        node = self.node

        async def lines():
            async with node.subscribe(kinds) as events:
                yield b'{"event":"subscribed"}\n'
                async for event in events:
                    yield (json.dumps({"event": event.kind, **_event_json(event.data)}) + "\n").encode()
        return StreamingResponse(lines(), media_type="application/x-ndjson")

    async def members(self, request: Request) -> list:
        from trustmesh.protocol.facets import CORE_FACETS
        engine = await self._engine_ready()
        now = now_ms()
        found: dict[str, dict] = {}
        for facet in CORE_FACETS:
            for e in await self._store(engine.rank, facet, 500, now):
                found.setdefault(e.subject, {"id": e.subject, "facets": {}})["facets"][facet] = {
                    "score": e.score, "uncertainty": e.uncertainty, "lower": e.lower}
        profiles = await self._store(self.node.store.records, kind="profile", now_ms=now)
        names = {s.record.author: s.record.name for s in profiles}
        for member in found.values():
            member["name"] = names.get(parse_id(member["id"]))
        return sorted(found.values(), key=lambda m: -max(f["lower"] for f in m["facets"].values()))

    async def graph(self, request: Request) -> dict:
        me = self.node.identity.public_key
        edges = await self._store(self.node.store.trust_edges)
        near = {me} | {b for a, b in edges if a == me} | {a for a, b in edges if b == me}
        near |= {b for a, b in edges if a in near}
        near = set(list(near)[:200]) | {me}
        engine = await self._engine_ready()
        now = now_ms()
        nodes = []
        for key in near:
            scores = [] if key == me else await self._store(engine.trust, key, None, now)
            known = [s.lower for s in scores if s.evidence]
            nodes.append({"id": peer_id(key), "me": key == me,
                          "lower": max(known) if known else None})
        links = sorted({(peer_id(a), peer_id(b)) for a, b in edges if a in near and b in near and a != b})
        return {"nodes": nodes, "links": [{"from": a, "to": b} for a, b in links]}

    async def ui(self, request: Request) -> Response:
        page = _ui_file("index.html")
        response = Response(page, media_type="text/html; charset=utf-8",
                            headers={"Content-Security-Policy": "default-src 'self'; style-src 'self'",
                                     "Cache-Control": "no-store"})
        token = request.query_params.get("token")
        if token and self.token is not None:
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
        return response

    async def ui_file(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in UI_FILES:
            raise NotFound(f"no such file: {name}")
        return Response(_ui_file(name), media_type=UI_FILES[name])

    async def metrics(self, request: Request) -> Response:
        from trustmesh.api.metrics import render
        counts = await self._store(self.node.store.counts)
        text, content_type = render(self.node, counts, self.trust_refresh_s)
        return Response(text, media_type=content_type)

    async def openapi(self, request: Request) -> dict:
        return openapi_schema()


def openapi_schema() -> dict:
    """The OpenAPI 3.1 description of every route (built from the route table)."""
    paths: dict[str, dict] = {}
    for method, path, name, summary in ROUTES:
        params = [{"name": p.strip("{}"), "in": "path", "required": True, "schema": {"type": "string"}}
                  for p in path.split("/") if p.startswith("{")]
        op = {"operationId": name, "summary": summary,
              "responses": {"200": {"description": "OK"}, "400": {"$ref": "#/components/responses/Error"},
                            "401": {"$ref": "#/components/responses/Error"}}}
        if params:
            op["parameters"] = params
        if method in ("POST", "PUT"):
            op["requestBody"] = {"content": {"application/json": {"schema": {"type": "object"}}}}
        paths.setdefault(path, {})[method.lower()] = op
    error = {"description": "An error", "content": {"application/json": {"schema": {
        "type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}}}}
    return {"openapi": "3.1.0", "info": {"title": "trustmesh control API", "version": __version__},
            "paths": paths, "components": {"responses": {"Error": error},
                                           "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}}}


def _ui_file(name: str) -> bytes:
    from importlib.resources import files
    return (files("trustmesh.api") / "ui" / name).read_bytes()


def _event_json(data: dict) -> dict:
    out = {}
    for key, value in data.items():
        if key == "raw":
            continue
        if key == "record":
            out[key] = record_view(value)
        elif isinstance(value, bytes):
            out[key] = value.hex()
        elif isinstance(value, (str, int, float, bool)) or value is None:
            out[key] = value
        else:
            out[key] = str(value)
    return out


def _int(text: str | None, default: int, low: int, high: int) -> int:
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise _Failure(400, f"{text!r} is not a whole number") from None
    if not low <= value <= high:
        raise _Failure(400, f"{value} is out of range {low}..{high}")
    return value


def _member(text: str | None) -> bytes | None:
    return None if text is None else parse_id(text)


def _text(body: dict, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise _Failure(400, f"{key} is a string")
    return value


async def _not_found(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": f"no such endpoint: {request.url.path}"}, 404)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": f"{request.method} is not allowed on {request.url.path}"}, 405)


__all__ = ["Api", "ROUTES", "openapi_schema", "PlainTextResponse"]
