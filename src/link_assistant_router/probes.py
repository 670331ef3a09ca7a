"""Answers the router gives by itself: liveness, readiness, and Claude Code's side calls.

``/api/hello`` and ``/api/event_logging/batch`` are calls Claude Code makes to its base URL;
they are answered here and never forwarded, so neither telemetry nor a connectivity check
reaches the upstream under the router's credential.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from link_assistant_router.accounts.pool import AccountPool
from link_assistant_router.errors import StoreError
from link_assistant_router.routes import Route
from link_assistant_router.storage.base import Store

__all__ = ["Probes"]


# /ready answers within about this long, however the store is doing.
READY_STORE_TIMEOUT_S = 1.0


class Probes:
    """``details_for(request)``: whether the caller may see ``/ready``'s details (the accounts,
    their sources and errors: the admin API's rule); everyone else gets the verdict and general
    reasons."""

    def __init__(
        self, store: Store, pool: AccountPool, details_for: Callable[[web.Request], bool]
    ) -> None:
        self._store = store
        self._pool = pool
        self._details_for = details_for

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/health", self.health, "health", logged=False),
            Route("GET", "/ready", self.ready, "ready", logged=False),
            Route("GET", "/api/hello", self.hello, "claude_code"),  # HEAD too
            Route("POST", "/api/event_logging/batch", self.event_logging, "claude_code"),
        ]

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def ready(self, request: web.Request) -> web.Response:
        reasons: list[str] = []
        details: list[str] = []
        report: dict[str, Any] = {}
        degraded = False
        try:
            async with asyncio.timeout(READY_STORE_TIMEOUT_S):
                await self._store.ping()
            report["store"] = "ok"
        except (StoreError, TimeoutError) as exc:
            report["store"] = "unavailable"
            degraded = True
            details.append(
                exc.message if isinstance(exc, StoreError) else "the store did not answer in time"
            )
        now = time.time()
        accounts = [account.describe(now) for account in self._pool.accounts]
        if not any(account["state"] == "ready" for account in accounts):
            reasons.append("no upstream account can serve")
            details.append(
                "; ".join(f"{a['name']}: {a['reason']}" for a in accounts)
                if accounts
                else "no upstream account is configured"
            )
        report["status"] = "not_ready" if reasons else "degraded" if degraded else "ready"
        if degraded:
            reasons.append("the store is unavailable: serving without it (see the README)")
        if reasons:
            report["reasons"] = reasons
        if self._details_for(request):
            report["accounts"] = accounts
            if details:
                report["details"] = details
        return web.Response(
            status=503 if report["status"] == "not_ready" else 200,
            body=orjson.dumps(report),
            content_type="application/json",
        )

    async def hello(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def event_logging(self, request: web.Request) -> web.Response:
        return web.Response(body=b"{}", content_type="application/json")
