"""Signing in and out: operators with ``TOKEN_ADMIN_KEY`` (``/console/sign-in``), key holders
with their own ``la_sk_`` key (``/me/sign-in``).

Each attempt is throttled per client address and audited, failures too (never with the key
that was tried). A sign-in starts a server-side session; signing out deletes it.
"""

from __future__ import annotations

import hmac
from typing import Any

from aiohttp import web

from link_assistant_router.console.guard import Viewer, form_text
from link_assistant_router.console.kit import Parts, page
from link_assistant_router.console.sessions import HOLDER, OPERATOR
from link_assistant_router.errors import AuthenticationFailed, PermissionDenied
from link_assistant_router.governance.audit import Actor
from link_assistant_router.peers import client_address
from link_assistant_router.requestlog import REQUEST_LOG
from link_assistant_router.routes import Route

__all__ = ["SignIn"]

ENDED = "Your session has ended: the key was revoked or has expired."


class SignIn:
    def __init__(self, parts: Parts) -> None:
        self._parts = parts

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/console/sign-in", self.operator_form, "console", "html"),
            Route("POST", "/console/sign-in", self.operator_sign_in, "console", "html"),
            Route("POST", "/console/sign-out", self.operator_sign_out, "console", "html"),
            Route("GET", "/me/sign-in", self.holder_form, "console", "html"),
            Route("POST", "/me/sign-in", self.holder_sign_in, "console", "html"),
            Route("POST", "/me/sign-out", self.holder_sign_out, "console", "html"),
        ]

    def _actor(self, request: web.Request, kind: str) -> Actor:
        entry = request.get(REQUEST_LOG)
        return Actor(kind, entry.request_id if entry is not None else None)

    async def _failed(self, request: web.Request, target: str, why: str) -> None:
        details = {"client": client_address(request), "why": why}
        await self._parts.audit.record(
            "console.sign_in_failed", target, self._actor(request, "anonymous"), details
        )

    def _form(
        self, request: web.Request, viewer: Viewer, template: str, error: str | None
    ) -> web.Response:
        context: dict[str, Any] = {"error": error}
        return page(request, viewer, template, context, 401 if error else 200)

    async def operator_form(self, request: web.Request) -> web.Response:
        if not self._parts.guard.needs_sign_in:
            raise web.HTTPSeeOther("/console/")
        return self._form(request, self._parts.guard.anonymous(request), "sign_in.html", None)

    async def operator_sign_in(self, request: web.Request) -> web.Response:
        guard = self._parts.guard
        viewer = guard.anonymous(request)
        form = await guard.form(request, viewer)
        await guard.admit_sign_in(request)
        admin_key = self._parts.settings.token_admin_key
        given = form_text(form, "admin_key", 1000)
        if admin_key is None or not hmac.compare_digest(
            given.encode(), admin_key.get_secret_value().encode()
        ):
            await self._failed(request, "operator", "wrong admin key")
            return self._form(request, viewer, "sign_in.html", "That is not the admin key.")
        response = web.HTTPSeeOther("/console/")
        await guard.sessions.start(request, response, OPERATOR)
        await self._parts.audit.record(
            "console.sign_in",
            "operator",
            self._actor(request, "console"),
            {"client": client_address(request)},
        )
        raise response

    async def operator_sign_out(self, request: web.Request) -> web.Response:
        guard = self._parts.guard
        viewer = await guard.operator(request)
        await guard.form(request, viewer)
        response = web.HTTPSeeOther("/console/sign-in" if guard.needs_sign_in else "/console/")
        await guard.sessions.end(request, response, OPERATOR)
        if viewer.actor is not None and not viewer.loopback:
            await self._parts.audit.record("console.sign_out", "operator", viewer.actor)
        raise response

    async def holder_form(self, request: web.Request) -> web.Response:
        viewer = self._parts.guard.anonymous(request)
        notice = ENDED if request.query.get("ended") else None
        return page(request, viewer, "me_sign_in.html", {"error": None, "notice": notice})

    async def holder_sign_in(self, request: web.Request) -> web.Response:
        guard = self._parts.guard
        viewer = guard.anonymous(request)
        form = await guard.form(request, viewer)
        await guard.admit_sign_in(request)
        try:
            key = await self._parts.keys.authenticate(form_text(form, "key", 4000))
        except (AuthenticationFailed, PermissionDenied) as exc:
            await self._failed(request, "me", exc.message)
            context = {"error": exc.message, "notice": None}
            return page(request, viewer, "me_sign_in.html", context, 401)
        response = web.HTTPSeeOther("/me")
        await guard.sessions.start(request, response, HOLDER, key.id, ends_by=key.expires_at)
        await self._parts.audit.record(
            "console.sign_in",
            key.id,
            self._actor(request, "key-holder"),
            {"client": client_address(request), "label": key.label},
        )
        raise response

    async def holder_sign_out(self, request: web.Request) -> web.Response:
        guard = self._parts.guard
        viewer = await guard.holder(request)
        await guard.form(request, viewer)
        response = web.HTTPSeeOther("/me/sign-in")
        await guard.sessions.end(request, response, HOLDER)
        raise response
