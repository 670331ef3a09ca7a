"""Who may see a console page and send its forms.

- Operators: the admin API's rule (``AdminAccess``). With ``TOKEN_ADMIN_KEY`` set, a session
  started by signing in with it; without it, only the loopback admin listener, from a local
  client naming no proxy, and only under a local host name (so a page whose name was rebound to
  127.0.0.1 cannot read the console).
- Key holders (``/me``): a session started with their own ``la_sk_`` key, which must still be
  valid on every page: a revoked or expired key ends its sessions at once.
- Every form post: from the console's own origin (``Origin``, ``Sec-Fetch-Site``) with the CSRF
  token of the viewer's cookie.
- Every console response: a strict Content-Security-Policy (scripts and styles only from the
  router, no inline script, no framing) and the other headers a page holding keys needs.
- Sign-in attempts: at most ``SIGN_INS_PER_MINUTE`` per client address, counted in the store so
  every worker and replica shares the count.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from multidict import MultiDictProxy

from link_assistant_router.admin.common import AdminAccess
from link_assistant_router.console.sessions import (
    CSRF_COOKIE,
    HOLDER,
    OPERATOR,
    SessionKeeper,
    csrf_token,
    tokens_match,
)
from link_assistant_router.errors import (
    AuthenticationFailed,
    InvalidRequest,
    PermissionDenied,
    RateLimited,
)
from link_assistant_router.governance.audit import Actor
from link_assistant_router.governance.keys import KeyService
from link_assistant_router.peers import client_address
from link_assistant_router.requestlog import REQUEST_LOG
from link_assistant_router.routes import Handler
from link_assistant_router.storage.base import Store
from link_assistant_router.storage.records import KeyRecord

__all__ = [
    "SIGN_INS_PER_MINUTE",
    "Guard",
    "Viewer",
    "add_security_headers",
    "form_text",
    "with_security_headers",
]

SIGN_INS_PER_MINUTE = 10
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def add_security_headers(response: web.StreamResponse) -> None:
    """The console's headers; pages are never cached."""
    response.headers.update(_HEADERS)
    if "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"


def with_security_headers(handler: Handler) -> Handler:
    """``handler`` whose answers (redirects included) carry the console's headers; error pages
    get them where they are drawn. Nothing is added to any other route's path."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            add_security_headers(exc)
            raise
        add_security_headers(response)
        return response

    return guarded


@dataclass
class Viewer:
    """Who is looking at a page: an operator (``actor``), a key holder (``key``) or nobody yet;
    ``csrf``: the token the page's forms carry; ``new_cookie``: a CSRF cookie to set with it."""

    csrf: str
    actor: Actor | None = None
    key: KeyRecord | None = None
    new_cookie: str | None = None
    loopback: bool = False


class Guard:
    def __init__(
        self,
        access: AdminAccess,
        sessions: SessionKeeper,
        keys: KeyService,
        store: Store,
    ) -> None:
        self._access = access
        self.sessions = sessions
        self._keys = keys
        self._store = store

    @property
    def needs_sign_in(self) -> bool:
        """Whether operators sign in (``TOKEN_ADMIN_KEY`` is set)."""
        return self._access.key is not None

    def anonymous(self, request: web.Request) -> Viewer:
        """Nobody signed in: forms carry the token of the ``lar_csrf`` cookie (new if none)."""
        cookie = request.cookies.get(CSRF_COOKIE)
        if cookie:
            return Viewer(csrf_token(cookie))
        cookie = secrets.token_urlsafe(24)
        return Viewer(csrf_token(cookie), new_cookie=cookie)

    async def operator(self, request: web.Request) -> Viewer:
        """The operator, or an error (a redirect to the sign-in form for a page)."""
        entry = request.get(REQUEST_LOG)
        request_id = entry.request_id if entry is not None else None
        if not self.needs_sign_in:
            actor = self._access.check(request)
            if request.host.rsplit(":", 1)[0] not in _LOCAL_HOSTS:
                raise PermissionDenied(
                    "while TOKEN_ADMIN_KEY is unset the console answers only at 127.0.0.1, "
                    "localhost or [::1]"
                )
            viewer = self.anonymous(request)
            viewer.actor = actor
            viewer.loopback = True
            return viewer
        try:
            token, _ = await self.sessions.find(request, OPERATOR)
        except LookupError:
            raise _sign_in_first(request, "/console/sign-in") from None
        return Viewer(csrf_token(token), actor=Actor("console", request_id))

    async def holder(self, request: web.Request) -> Viewer:
        """The key holder, whose key must still be valid; else their session ends."""
        try:
            token, session = await self.sessions.find(request, HOLDER)
        except LookupError:
            raise _sign_in_first(request, "/me/sign-in") from None
        try:
            key = await self._keys.still_valid(session.key_id or "")
        except (AuthenticationFailed, PermissionDenied) as exc:
            await self._store.delete_session(session.id)
            raise _ended(request, exc.message) from exc
        return Viewer(csrf_token(token), key=key)

    async def form(self, request: web.Request, viewer: Viewer) -> MultiDictProxy[Any]:
        """A posted form, once it is known to come from the console itself."""
        site = request.headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            raise PermissionDenied("a console form must be sent from the console itself")
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != request.host:
            raise PermissionDenied("a console form must be sent from the console itself")
        form = await request.post()
        given = form.get("csrf")
        if not isinstance(given, str) or not tokens_match(given, viewer.csrf):
            raise PermissionDenied(
                "the form has expired or did not come from this console: reload the page"
            )
        return form

    async def admit_sign_in(self, request: web.Request) -> None:
        """Count a sign-in attempt against the client's address; refuse past the limit."""
        address = client_address(request) or "unknown"
        bucket = "signin:" + hashlib.sha256(address.encode()).hexdigest()[:28]
        now = time.time()
        if not await self._store.reserve_requests(bucket, int(now // 60), 1, SIGN_INS_PER_MINUTE):
            raise RateLimited(
                "too many sign-in attempts from this address: wait a minute", 60 - now % 60
            )


def _sign_in_first(request: web.Request, form: str) -> web.HTTPException | PermissionDenied:
    if request.method in ("GET", "HEAD"):
        return web.HTTPSeeOther(form)
    return PermissionDenied("sign in first")


def _ended(request: web.Request, why: str) -> web.HTTPException | PermissionDenied:
    if request.method in ("GET", "HEAD"):  # the session is gone; its cookie names nothing
        return web.HTTPSeeOther("/me/sign-in?ended=1")
    return PermissionDenied(f"your session has ended: {why}")


def form_text(form: MultiDictProxy[Any], name: str, limit: int = 1000) -> str:
    """A form field as text (a file field is refused)."""
    value = form.get(name, "")
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} must be text")
    return value.strip()[:limit]
