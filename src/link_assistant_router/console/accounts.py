"""The operator's accounts: each one's state and why, its quota windows, token expiry, requests
served and last error; adding one, taking it out of rotation and back, refreshing its login,
testing it. The actions are ``AccountAdmin``'s, as the admin API and the CLI have them."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from link_assistant_router.accounts.account import KINDS
from link_assistant_router.console.guard import Viewer, form_text
from link_assistant_router.console.kit import Parts, page
from link_assistant_router.errors import InvalidRequest, NotFound
from link_assistant_router.routes import Route

__all__ = ["AccountPages"]

ACTIONS = ("disable", "enable", "refresh", "test")


class AccountPages:
    def __init__(self, parts: Parts) -> None:
        self._parts = parts

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/console/accounts", self.table, "console", "html"),
            Route("POST", "/console/accounts", self.add, "console", "html"),
            Route("POST", "/console/accounts/{name}/{action}", self.act, "console", "html"),
        ]

    def _page(
        self, request: web.Request, viewer: Viewer, done: str | None = None, status: int = 200
    ) -> web.Response:
        now = time.time()
        accounts = [account.describe(now) for account in self._parts.pool.accounts]
        context = {"accounts": accounts, "kinds": KINDS, "done": done, "now": now}
        return page(request, viewer, "accounts.html", context, status)

    async def table(self, request: web.Request) -> web.Response:
        return self._page(request, await self._parts.guard.operator(request))

    async def add(self, request: web.Request) -> web.Response:
        viewer = await self._parts.guard.operator(request)
        assert viewer.actor is not None
        form = await self._parts.guard.form(request, viewer)
        kind = form_text(form, "kind")
        document: dict[str, Any] = {"name": form_text(form, "name", 100), "kind": kind}
        if kind == "claude-code":
            document["claude_home"] = form_text(form, "claude_home", 1000)
        else:
            document["token"] = form_text(form, "token", 10_000)
        for name in ("priority", "weight"):
            text = form_text(form, name, 10)
            if text:
                try:
                    document[name] = int(text)
                except ValueError:
                    raise InvalidRequest(f"{name} must be a whole number") from None
        if form_text(form, "group", 100):
            document["group"] = form_text(form, "group", 100)
        added = await self._parts.accounts.add(document, viewer.actor)
        return self._page(request, viewer, f"Added {added['name']} ({added['state']}).")

    async def act(self, request: web.Request) -> web.Response:
        viewer = await self._parts.guard.operator(request)
        assert viewer.actor is not None
        await self._parts.guard.form(request, viewer)
        name, action = request.match_info["name"], request.match_info["action"]
        if action not in ACTIONS:
            raise NotFound(f"no account action {action!r}")
        accounts = self._parts.accounts
        if action in ("disable", "enable"):
            await accounts.set_disabled(name, action == "disable", viewer.actor)
            done = f"{name}: {action}d."
        elif action == "refresh":
            described = await accounts.refresh(name)
            done = f"{name}: refreshed; the login now expires {described['token_expires_at']}."
        else:
            result = await accounts.test(name, self._parts.upstream)
            if result["ok"]:
                took = f"{result['latency_ms']} ms"
                done = f"{name}: the upstream answered {result['status']} in {took}."
            else:
                done = f"{name}: the test failed: {result.get('error') or result.get('status')}."
        return self._page(request, viewer, done)
