"""The key holder's page (``/me``): their key's windows and budgets, usage over time by model,
recent requests, expiry and limits, and how to set up Claude Code and the SDKs. It shows the
signed-in key's data and nothing else: no parameter names another key, and which account serves
it stays the operator's business."""

from __future__ import annotations

from aiohttp import web

from link_assistant_router.console.kit import Parts, page, public_url, snippets
from link_assistant_router.console.reports import standing
from link_assistant_router.routes import Route

__all__ = ["HolderPage"]

HIDDEN = ("account",)  # columns of a ledger row a key holder is not shown


class HolderPage:
    def __init__(self, parts: Parts) -> None:
        self._parts = parts

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/me", self.me, "console", "html"),
            Route("GET", "/me/", self.me, "console", "html"),
        ]

    async def me(self, request: web.Request) -> web.Response:
        viewer = await self._parts.guard.holder(request)
        key = viewer.key
        assert key is not None
        context = await standing(self._parts, key, request.query)
        # Which account served a request is the operator's business.
        context["rows"] = [
            {k: v for k, v in row.items() if k not in HIDDEN} for row in context["rows"]
        ]
        context["snippets"] = snippets(public_url(request, self._parts.settings), "la_sk_...")
        return page(request, viewer, "me.html", context)
