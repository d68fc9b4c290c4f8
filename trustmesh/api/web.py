"""The web view's routes: its files, its login, its session, and the member page it shows.

The page (``ui/``) is plain HTML, CSS and JavaScript shipped in the
package: no build step, nothing fetched from elsewhere (its CSP allows
only this origin). It talks to the same API as the CLI, with the session
cookie for reads and the cookie plus ``X-CSRF-Token`` for changes
(``webauth.py``).
"""

from __future__ import annotations

import hmac
import time
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from trustmesh.api import COOKIE, params
from trustmesh.api.webauth import SESSION_S
from trustmesh.errors import NotFound, UsageError

UI_FILES = {"app.js": "text/javascript", "words.js": "text/javascript", "graph.js": "text/javascript",
            "style.css": "text/css"}
_PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; style-src 'self'; img-src 'self' data:",
                 "Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


async def ui(api, request: Request) -> Response:
    response = Response(_ui_file("index.html"), media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS)
    token = request.query_params.get("token", "")
    if api.web is not None and api.token and hmac.compare_digest(token.encode(), api.token.encode()):
        _log_in(response, api.web.new_session(time.time()))       # the older login: the page strips it
    return response


async def ui_file(api, request: Request) -> Response:
    name = request.path_params["name"]
    if name not in UI_FILES:
        raise NotFound(f"no such file: {name}")
    return Response(_ui_file(name), media_type=UI_FILES[name], headers={"Cache-Control": "no-cache"})


async def login(api, request: Request) -> Response:
    """Swap a one-time code for the session cookie, and leave the code's URL at once."""
    session = None
    if api.web is not None:
        session = api.web.redeem(request.query_params.get("code", ""), time.monotonic(), time.time())
    if session is None:
        return log_in_page("This login link was used already or has expired.")
    response = RedirectResponse("/ui", 303, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
    _log_in(response, session)
    return response


async def session(api, request: Request) -> dict:
    """Who I am, and the CSRF token the page sends with every change (null without a cookie)."""
    cookie = request.cookies.get(COOKIE, "")
    csrf = api.web.csrf_for(cookie) if api.web is not None and api.web.session_ok(cookie, time.time()) else None
    return {"me": api.node.id, "csrf": csrf}


async def logout(api, request: Request) -> Response:
    """Forget the session cookie in this browser (a copy of it stays valid until its 30 days end)."""
    response = JSONResponse({"logged_out": True})
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


async def new_login(api, request: Request) -> dict:
    """A fresh one-time login link (``trustmesh web``)."""
    if api.web is None or not api.web.base:
        raise UsageError("the web view is off: start the node with --api-tcp 127.0.0.1:5001")
    return {"url": api.web.login_url(time.monotonic())}


async def member(api, request: Request) -> dict:
    key = params.member(request.path_params["member"], "member")
    return await api.node.member_page(key)


def log_in_page(why: str) -> Response:
    """The 401 a person at a browser gets: what happened, and how to get in."""
    text = (f'<!doctype html><html lang="en"><meta charset="utf-8"><title>trustmesh: log in</title><p>{why}</p>'
            "<p>Run <code>trustmesh web</code> for a new login link (each works once, for an hour).</p></html>\n")
    return Response(text, 401, media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS)


def _log_in(response: Response, session: str) -> None:
    response.set_cookie(COOKIE, session, httponly=True, samesite="strict", path="/", max_age=int(SESSION_S))


def _ui_file(name: str) -> bytes:
    return (files("trustmesh.api") / "ui" / name).read_bytes()


ROUTES: list[tuple] = [
    ("GET", "/ui", ui, "The web view (log in with /ui/login?code=, or ?token= once)."),
    ("GET", "/ui/login", login, "Swap a one-time login code for the web view's session cookie."),
    ("GET", "/ui/{name}", ui_file, "The web view's files."),
    ("GET", "/v1/web/session", session, "My id, and the CSRF token the web view sends with changes."),
    ("POST", "/v1/web/logins", new_login, "A fresh one-time login link for the web view."),
    ("POST", "/v1/web/logout", logout, "Forget the web view's session cookie in this browser."),
    ("GET", "/v1/members/{member}", member, "One member's page: profile, trust explained, records by and about them."),
]
