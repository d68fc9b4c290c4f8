"""The web view's login, its session cookie, and its guard against cross-site writes.

Why one-time codes: ``trustmesh node run`` prints a login link, and a link
lands in terminal scrollback, shell history and logs. The code in it works
once and for ``CODE_TTL_S``; opening it swaps the code for a session cookie
and redirects to ``/ui``, so nothing secret stays in the URL bar. A new
link any time: ``trustmesh web``.

Why a signed cookie and no session table: the cookie is ``issued.nonce.mac``
with ``mac = HMAC(api token, issued.nonce)``, so it survives a node
restart, costs no memory per browser, stops working after SESSION_S, and
deleting ``<home>/api.token`` logs every browser out. The raw token is
never stored in the browser.

Why a header for writes: the cookie is SameSite=Strict and HttpOnly, but
SameSite is the browser's promise, not ours. A change made with the cookie
must also carry ``X-CSRF-Token`` = HMAC(api token, "csrf" + cookie): the
page reads it from ``GET /v1/web/session`` (same origin; another site's
script cannot read that answer), and a cross-site form or image cannot set
a header at all. Without it the answer is 403.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict

CSRF_HEADER = "x-csrf-token"
CODE_TTL_S = 3600.0         # a printed link works for an hour, once
MAX_CODES = 32              # live codes kept; minting more drops the oldest
SESSION_S = 30 * 86_400     # a login lasts 30 days


class WebAuth:
    """Login codes, session cookies and CSRF tokens of one node's web view."""

    def __init__(self, token: str, base: str = "") -> None:
        self._key = token.encode()
        self.base = base                          # http://HOST:PORT of the TCP listener
        self._codes: OrderedDict[str, float] = OrderedDict()    # sha256(code) -> expiry (monotonic s)

    # ---- one-time login codes ----------------------------------------------------

    def new_code(self, now_s: float) -> str:
        """A fresh one-time code, good for CODE_TTL_S seconds."""
        code = secrets.token_urlsafe(18)
        self._codes[_digest(code)] = now_s + CODE_TTL_S
        while len(self._codes) > MAX_CODES:
            self._codes.popitem(last=False)
        return code

    def login_url(self, now_s: float) -> str:
        """The web address with a fresh one-time login code."""
        return f"{self.base}/ui/login?code={self.new_code(now_s)}"

    def redeem(self, code: str, now_s: float, wall_s: float) -> str | None:
        """A new session cookie for a live code (the code is spent), or None."""
        expiry = self._codes.pop(_digest(code), None) if code else None
        if expiry is None or expiry < now_s:
            return None
        return self.new_session(wall_s)

    # ---- sessions and CSRF ---------------------------------------------------------

    def new_session(self, wall_s: float) -> str:
        """A session cookie issued at ``wall_s`` (seconds since the epoch: it outlives the process)."""
        opened = f"{int(wall_s)}.{secrets.token_urlsafe(18)}"
        return f"{opened}.{self._mac('session', opened)}"

    def session_ok(self, cookie: str, wall_s: float) -> bool:
        """True for a cookie this node signed less than SESSION_S ago (or, as before sessions, the API token)."""
        if not cookie:
            return False
        if hmac.compare_digest(cookie.encode(), self._key):
            return True
        opened, _, mac = cookie.rpartition(".")
        issued = opened.partition(".")[0]
        if not (mac and issued.isdigit()) or not hmac.compare_digest(mac, self._mac("session", opened)):
            return False
        return 0 <= wall_s - int(issued) < SESSION_S

    def csrf_for(self, cookie: str) -> str:
        """The CSRF token bound to this session cookie."""
        return self._mac("csrf", cookie)

    def csrf_ok(self, cookie: str, header: str) -> bool:
        return bool(header) and hmac.compare_digest(header, self.csrf_for(cookie))

    def _mac(self, purpose: str, text: str) -> str:
        return hmac.new(self._key, f"{purpose}\0{text}".encode(), hashlib.sha256).hexdigest()


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()
