"""The key holder's page (``/me``): their key's windows and budgets, usage over time by model,
recent requests, expiry and limits, and how to set up Claude Code and the SDKs. It shows the
signed-in key's data and nothing else: no parameter names another key, and which account serves
it stays the operator's business."""

from __future__ import annotations

import time

from aiohttp import web

from link_assistant_router.admin.usage import requests_report
from link_assistant_router.console.charts import chosen_range
from link_assistant_router.console.kit import Parts, page, public_url, snippets
from link_assistant_router.console.reports import by_model
from link_assistant_router.limits import WINDOWS
from link_assistant_router.routes import Route

__all__ = ["HolderPage"]

RECENT = 25
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
        span = chosen_range(request.query, time.time(), default="7d")
        recent = await requests_report(self._parts.store, {"key": key.id, "limit": str(RECENT)})
        rows = [{k: v for k, v in row.items() if k not in HIDDEN} for row in recent["data"]]
        context = {
            "key": key,
            "limits": key.limits.to_dict() if key.limits else {},
            "windows": await self._parts.governor.windows(key),
            "span": span,
            "model_chart": await by_model(self._parts.store, key.id, span),
            "rows": rows,
            "now": time.time(),
            "windows_names": WINDOWS,
            "snippets": snippets(public_url(request, self._parts.settings), "la_sk_..."),
        }
        return page(request, viewer, "me.html", context)
