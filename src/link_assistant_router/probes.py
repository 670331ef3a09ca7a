"""Answers the router gives by itself: liveness, readiness, and Claude Code's side calls.

``/api/hello`` and ``/api/event_logging/batch`` are calls Claude Code makes to its base URL;
they are answered here and never forwarded, so neither telemetry nor a connectivity check
reaches the upstream under the router's credential.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from link_assistant_router.accounts.pool import AccountPool
from link_assistant_router.errors import StoreError
from link_assistant_router.storage.base import Store


class Probes:
    def __init__(self, store: Store, pool: AccountPool) -> None:
        self._store = store
        self._pool = pool

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/health", self.health),
            web.get("/ready", self.ready),
            web.get("/api/hello", self.hello),  # aiohttp answers HEAD from the GET route
            web.post("/api/event_logging/batch", self.event_logging),
        ]

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def ready(self, request: web.Request) -> web.Response:
        reasons: list[str] = []
        report: dict[str, Any] = {}
        try:
            await self._store.ping()
            report["store"] = "ok"
        except StoreError as exc:
            report["store"] = "unavailable"
            reasons.append(exc.message)
        now = time.time()
        accounts = [account.describe(now) for account in self._pool.accounts]
        report["accounts"] = accounts
        if not any(account["state"] == "ready" for account in accounts):
            reasons.append(
                "no upstream account can serve: "
                + "; ".join(f"{a['name']}: {a['reason']}" for a in accounts)
                if accounts
                else "no upstream account is configured"
            )
        report["status"] = "not_ready" if reasons else "ready"
        if reasons:
            report["reasons"] = reasons
        return web.Response(
            status=503 if reasons else 200,
            body=orjson.dumps(report),
            content_type="application/json",
        )

    async def hello(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def event_logging(self, request: web.Request) -> web.Response:
        return web.Response(body=b"{}", content_type="application/json")
