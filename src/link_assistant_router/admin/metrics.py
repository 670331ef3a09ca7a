"""``GET /metrics``: the Prometheus text format, under the admin API's access rules (the admin
key, or a loopback client)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from aiohttp import web

from link_assistant_router.accounts.account import Account
from link_assistant_router.admin.common import AdminAccess
from link_assistant_router.metrics import CONTENT_TYPE, Metrics
from link_assistant_router.routes import Route

__all__ = ["MetricsEndpoint"]


class MetricsEndpoint:
    def __init__(
        self,
        metrics: Metrics,
        accounts: Callable[[], Iterable[Account]],
        access: AdminAccess,
        *,
        upstream: object = None,
    ) -> None:
        self._metrics = metrics
        self._accounts = accounts
        self._access = access
        self._upstream = upstream

    def routes(self) -> list[Route]:
        return [Route("GET", "/metrics", self.handle, "metrics", logged=False)]

    async def handle(self, request: web.Request) -> web.Response:
        self._access.check(request)
        body = self._metrics.exposition(self._accounts(), self._upstream)
        return web.Response(body=body, headers={"content-type": CONTENT_TYPE})
