"""The operator's overview: requests and tokens over time, error rate, time to first byte,
active streams, and the accounts at a glance. The page refreshes its live part by itself."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from link_assistant_router.console.charts import TOKEN_SERIES, chosen_range, series
from link_assistant_router.console.kit import Parts, page
from link_assistant_router.console.reports import report
from link_assistant_router.routes import Route

__all__ = ["Overview"]

REQUEST_SERIES = {"requests": "requests", "errors": "errors"}
LATENCY_SPAN_S = 3600  # time to first byte: over the last hour, like the live numbers beside it


class Overview:
    def __init__(self, parts: Parts) -> None:
        self._parts = parts

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/console", self.redirect, "console", "html"),
            Route("GET", "/console/", self.overview, "console", "html"),
        ]

    async def redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/console/")

    async def overview(self, request: web.Request) -> web.Response:
        viewer = await self._parts.guard.operator(request)
        now = time.time()
        span = chosen_range(request.query, now)
        found = await report(self._parts.store, span.params())
        totals = found["totals"]
        requests = int(totals["requests"])
        latency = await self._parts.store.ttfb_percentiles(now - LATENCY_SPAN_S, now)
        accounts = [account.describe(now) for account in self._parts.pool.accounts]
        context: dict[str, Any] = {
            "span": span,
            "totals": totals,
            "tokens": sum(int(totals[column]) for column in TOKEN_SERIES),
            "error_rate": int(totals["errors"]) / requests if requests else None,
            "latency": latency,
            "active_streams": self._parts.metrics.registry.get_sample_value("lar_active_streams"),
            "token_chart": series(found, span.since, TOKEN_SERIES),
            "request_chart": series(found, span.since, REQUEST_SERIES),
            "accounts": accounts,
            "now": now,
            "has_keys": bool(await self._parts.keys.list()),
        }
        return page(request, viewer, "overview.html", context)
