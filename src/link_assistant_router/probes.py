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

from link_assistant_router.credentials import CredentialSource
from link_assistant_router.errors import NoCredential, StoreError
from link_assistant_router.storage import Store


class Probes:
    def __init__(self, store: Store, credentials: CredentialSource) -> None:
        self._store = store
        self._credentials = credentials

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
        try:
            credential = self._credentials.current()
        except NoCredential as exc:
            report["credential"] = None
            reasons.append(exc.message)
        else:
            report["credential"] = credential.describe(time.time())
            if credential.is_expired(time.time()):
                reasons.append(
                    f"the upstream credential from {credential.source} has expired; "
                    "log in again with `claude` or replace the token"
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
