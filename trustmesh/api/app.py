"""The control API: a thin translation of the ``Node`` facade to HTTP + JSON.

Each route checks its input (``schemas.py`` for bodies, ``params.py`` for
query and path values), makes one call into the node, and turns the answer
into JSON. Every failure is ``{"error": "...", "type": "<error class>"}``
with the status the error class carries (``errors.py``): 400 a malformed
request, 401 missing or wrong credentials, 404 unknown record or route, 409
refused by the rules, 503 the network or the store could not do it. A
handler never lets an exception reach the server: the daemon does not
crash on a request, and never answers 500 for bad input.

Credentials (TCP only; the Unix socket's file mode is its gate): the bearer
token in the Authorization header on every route. The web view logs in
with a one-time link (``/ui/login?code=``, printed by ``node run`` and by
``trustmesh web``) or once with ``/ui?token=`` (the only places a secret
is read from a URL); either sets a SameSite=Strict, HttpOnly session
cookie. The cookie alone is good for reads; a change made with it also
needs the session's ``X-CSRF-Token`` header, or it is refused with 403
(``webauth.py``).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trustmesh.api import COOKIE
from trustmesh.api.routes import ROUTES as _HANDLERS
from trustmesh.api.schemas import openapi_body, parse_body
from trustmesh.api.web import log_in_page
from trustmesh.api.webauth import CSRF_HEADER, WebAuth
from trustmesh.errors import TrustmeshError
from trustmesh.version import __version__

log = logging.getLogger("trustmesh.api")

OPEN = ("/ui/login",)       # its one-time code is the credential

async def openapi(api, request: Request) -> dict:
    return openapi_schema()


# (method, path, handler, summary): the route table, also the OpenAPI schema's source
ROUTES = [*_HANDLERS, ("GET", "/openapi.json", openapi, "This schema.")]


class Api:
    """The handlers' shared state: one node, and the token of a TCP listener."""

    def __init__(self, node, token: str | None = None, only: tuple[str, ...] | None = None,
                 web: WebAuth | None = None) -> None:
        self.node = node
        self.token = token
        self.only = only            # serve just these paths (the tokenless metrics listener)
        self.web = web if web is not None or token is None else WebAuth(token)
        self.started = time.time()

    def app(self) -> Starlette:
        table = [Route(path, self._wrap(handler), methods=[method]) for method, path, handler, _ in ROUTES
                 if self.only is None or path in self.only]
        return Starlette(routes=table, exception_handlers={404: _not_found, 405: _not_allowed})

    async def body(self, request: Request, route: str) -> dict:
        """The request's JSON body, validated against ``route``'s schema."""
        return parse_body(await request.body(), route)

    def _wrap(self, handler: Callable) -> Callable:
        async def endpoint(request: Request) -> Response:
            refused = None if self.token is None else self._refused(request)
            if refused is not None:
                return refused
            try:
                result = await handler(self, request)
            except TrustmeshError as exc:       # one JSON error shape, never a crash
                return JSONResponse({"error": str(exc), "type": type(exc).__name__}, exc.http_status)
            except Exception as exc:            # a bug: logged, and still one line for the caller
                log.exception("request %s %s failed", request.method, request.url.path)
                return JSONResponse({"error": f"internal error: {type(exc).__name__}", "type": "InternalError"},
                                    500)
            return result if isinstance(result, Response) else JSONResponse(result)
        return endpoint

    def _refused(self, request: Request) -> Response | None:
        """None when the request may go on; else the 401 or 403 answer."""
        given = request.headers.get("authorization", "")
        if given.startswith("Bearer ") and _same(given[7:], self.token):
            return None
        if request.url.path in OPEN:
            return None
        if request.method == "GET" and request.url.path == "/ui" \
                and _same(request.query_params.get("token", ""), self.token):
            return None
        cookie = request.cookies.get(COOKIE, "")
        if self.web is not None and self.web.session_ok(cookie, time.time()):
            if request.method == "GET" or self.web.csrf_ok(cookie, request.headers.get(CSRF_HEADER, "")):
                return None
            return JSONResponse({"error": "a change from the web view needs its X-CSRF-Token header",
                                 "type": "Forbidden"}, 403)
        if request.url.path == "/ui":        # a person at a browser, not a program: say what to do
            return log_in_page("Open the login link the node printed at start.")
        return JSONResponse({"error": "missing or wrong bearer token", "type": "Unauthorized"}, 401,
                            headers={"WWW-Authenticate": "Bearer"})


def _same(candidate: str, token: str) -> bool:
    return bool(candidate) and hmac.compare_digest(candidate.encode(), token.encode())


def openapi_schema() -> dict:
    """The OpenAPI 3.1 description of every route (built from the route table and the schemas)."""
    paths: dict[str, dict] = {}
    for method, path, handler, summary in ROUTES:
        name = handler.__name__
        params = [{"name": p.strip("{}"), "in": "path", "required": True, "schema": {"type": "string"}}
                  for p in path.split("/") if p.startswith("{")]
        op = {"operationId": name, "summary": summary,
              "responses": {"200": {"description": "OK"}, "400": {"$ref": "#/components/responses/Error"},
                            "401": {"$ref": "#/components/responses/Error"}}}
        if params:
            op["parameters"] = params
        body = openapi_body(name)
        if body is not None:
            op["requestBody"] = body
        paths.setdefault(path, {})[method.lower()] = op
    error = {"description": "An error", "content": {"application/json": {"schema": {
        "type": "object", "properties": {"error": {"type": "string"}, "type": {"type": "string"}},
        "required": ["error"]}}}}
    return {"openapi": "3.1.0", "info": {"title": "trustmesh control API", "version": __version__},
            "paths": paths, "components": {"responses": {"Error": error},
                                           "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}}}


async def _not_found(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": f"no such endpoint: {request.url.path}", "type": "NotFound"}, 404)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": f"{request.method} is not allowed on {request.url.path}",
                         "type": "UsageError"}, 405)


__all__ = ["Api", "ROUTES", "openapi_schema", "COOKIE"]
