"""Console sign-ins: server-side sessions in the store, their cookies, and the CSRF token each
form carries.

A session's cookie holds a random token; the store keeps only its SHA-256, so a copy of the
database signs nobody in. Every worker and replica finds the same sessions; signing out deletes
one at once. Operators' cookies are scoped to ``/console``, key holders' to ``/me``, so neither
is even sent to the other's pages. Cookies are ``HttpOnly`` and ``SameSite=Strict``, ``Secure``
when the browser reached the router over TLS.

A form's CSRF token is derived from a cookie the page's script cannot read: the session's, or,
before signing in (and on the loopback console, which has no session), a random ``lar_csrf``
cookie set with the form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from link_assistant_router.peers import client_address, from_trusted_proxy
from link_assistant_router.storage.base import Store
from link_assistant_router.storage.records import ConsoleSession

__all__ = [
    "CSRF_COOKIE",
    "HOLDER",
    "OPERATOR",
    "CookieRules",
    "SessionKeeper",
    "csrf_token",
    "tokens_match",
]


@dataclass(frozen=True, slots=True)
class SessionKind:
    name: str
    cookie: str
    path: str


OPERATOR = SessionKind("operator", "lar_console", "/console")
HOLDER = SessionKind("holder", "lar_me", "/me")
CSRF_COOKIE = "lar_csrf"


def csrf_token(cookie_value: str) -> str:
    """The form token that goes with a cookie's value."""
    return hashlib.sha256(b"lar-csrf:" + cookie_value.encode()).hexdigest()[:40]


def tokens_match(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _hashed(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class CookieRules:
    """How the console's cookies are sent: ``Secure`` over TLS, directly or through a TLS
    proxy (``BEHIND_TLS_PROXY``, or ``X-Forwarded-Proto: https`` from a trusted proxy)."""

    behind_tls_proxy: bool

    def secure(self, request: web.Request) -> bool:
        if request.secure or self.behind_tls_proxy:
            return True
        forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip()
        return forwarded.lower() == "https" and from_trusted_proxy(request)

    def set(
        self,
        request: web.Request,
        response: web.StreamResponse,
        name: str,
        value: str,
        path: str,
        max_age: int | None = None,
    ) -> None:
        response.set_cookie(
            name,
            value,
            path=path,
            max_age=max_age,
            httponly=True,
            samesite="Strict",
            secure=self.secure(request),
        )

    def clear(
        self, request: web.Request, response: web.StreamResponse, name: str, path: str
    ) -> None:
        self.set(request, response, name, "", path, max_age=0)


class SessionKeeper:
    """Starts, finds and ends console sessions."""

    def __init__(
        self,
        store: Store,
        ttl_s: float,
        cookies: CookieRules,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self.cookies = cookies
        self._clock = clock

    async def start(
        self,
        request: web.Request,
        response: web.StreamResponse,
        kind: SessionKind,
        key_id: str | None = None,
        ends_by: float | None = None,
    ) -> None:
        """A new session, its cookie set on ``response``; it lasts ``CONSOLE_SESSION_HOURS``
        and not past ``ends_by`` (a key's expiry)."""
        now = self._clock()
        expires_at = now + self._ttl_s if ends_by is None else min(now + self._ttl_s, ends_by)
        token = secrets.token_urlsafe(32)
        await self._store.insert_session(
            ConsoleSession(
                _hashed(token), kind.name, key_id, now, expires_at, client_address(request)
            )
        )
        max_age = max(1, int(expires_at - now))
        self.cookies.set(request, response, kind.cookie, token, kind.path, max_age)

    async def find(self, request: web.Request, kind: SessionKind) -> tuple[str, ConsoleSession]:
        """The request's session of this kind and its token, or ``LookupError``."""
        token = request.cookies.get(kind.cookie)
        if not token:
            raise LookupError(kind.name)
        session = await self._store.get_session(_hashed(token), self._clock())
        if session is None or session.kind != kind.name:
            raise LookupError(kind.name)
        return token, session

    async def end(
        self, request: web.Request, response: web.StreamResponse, kind: SessionKind
    ) -> None:
        """End the request's session of this kind (if any) and clear its cookie."""
        token = request.cookies.get(kind.cookie)
        if token:
            await self._store.delete_session(_hashed(token))
        self.cookies.clear(request, response, kind.cookie, kind.path)
