"""The operator's report pages: usage (chart, table, CSV), requests, the audit log and the
settings. Each reads the same report functions as the admin API and the CLI."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from link_assistant_router.admin.audit import audit_report
from link_assistant_router.admin.usage import (
    read_usage_report,
    requests_report,
    usage_csv,
    usage_query,
)
from link_assistant_router.console.charts import TOKEN_SERIES, Range, chosen_range, series
from link_assistant_router.console.kit import Parts, page
from link_assistant_router.errors import StoreError
from link_assistant_router.routes import Route
from link_assistant_router.storage.base import Store
from link_assistant_router.storage.records import BUCKETS, KeyRecord

__all__ = ["Reports", "by_model", "report", "standing"]

_FILTERS = ("key", "model", "account")
TOP_MODELS = 5
RECENT = 20


async def report(store: Store, params: dict[str, str]) -> dict[str, Any]:
    """``/v1/usage``'s report for these parameters."""
    return await read_usage_report(store, usage_query(params))


async def by_model(store: Store, key_id: str, span: Range) -> dict[str, Any]:
    """A key's tokens over the range, one series per model (the busiest few, then the rest)."""
    base = {"key": key_id, **span.params()}
    models = await report(store, {**base, "group_by": "model"})
    ranked = sorted(models["data"], key=lambda row: -_tokens(row))[:TOP_MODELS]
    total = await report(store, base)
    chart = series(total, span.since, {})
    rest = [_tokens(row) for row in total["data"]]
    for model in ranked:
        one = await report(store, {**base, "model": str(model["group"])})
        values = [_tokens(row) for row in one["data"]]
        rest = [a - b for a, b in zip(rest, values, strict=True)]
        chart["series"].append({"label": str(model["group"]), "values": values})
    if any(rest):
        chart["series"].append({"label": "other", "values": rest})
    return chart


async def standing(parts: Parts, key: KeyRecord, params: Mapping[str, str]) -> dict[str, Any]:
    """What a key's page and its holder's page show: its limits, windows, tokens by model over
    the chosen range (7 days unless told), and its recent requests."""
    span = chosen_range(params, time.time(), default="7d")
    recent = await requests_report(parts.store, {"key": key.id, "limit": str(RECENT)})
    return {
        "key": key,
        "limits": key.limits.to_dict() if key.limits else {},
        "windows": await parts.governor.windows(key),
        "span": span,
        "model_chart": await by_model(parts.store, key.id, span),
        "rows": recent["data"],
        "now": time.time(),
    }


def _tokens(row: dict[str, Any]) -> int:
    return sum(int(row[column]) for column in TOKEN_SERIES)


class Reports:
    def __init__(self, parts: Parts) -> None:
        self._parts = parts

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/console/usage", self.usage, "console", "html"),
            Route("GET", "/console/usage.csv", self.usage_csv, "console", "html"),
            Route("GET", "/console/requests", self.requests, "console", "html"),
            Route("GET", "/console/audit", self.audit, "console", "html"),
            Route("GET", "/console/settings", self.settings, "console", "html"),
        ]

    def _usage_params(self, request: web.Request) -> tuple[Range, dict[str, str]]:
        span = chosen_range(request.query, time.time())
        group_by = request.query.get("group_by") or span.bucket
        params = {**span.params(), "group_by": group_by}
        params |= {name: request.query[name] for name in _FILTERS if request.query.get(name)}
        return span, params

    async def usage(self, request: web.Request) -> web.Response:
        viewer = await self._parts.guard.operator(request)
        span, params = self._usage_params(request)
        found = await report(self._parts.store, params)
        token_chart = None
        if params["group_by"] in BUCKETS:
            token_chart = series(found, span.since, TOKEN_SERIES)
        keys = await self._parts.keys.list()
        return page(
            request,
            viewer,
            "usage.html",
            {
                "span": span,
                "params": params,
                "report": found,
                "token_chart": token_chart,
                "keys": keys,
                "labels": {key.id: key.label for key in keys},
                "accounts": [account.name for account in self._parts.pool.accounts],
                "query": dict(request.query),
            },
        )

    async def usage_csv(self, request: web.Request) -> web.Response:
        await self._parts.guard.operator(request)
        _, params = self._usage_params(request)
        body = usage_csv(await report(self._parts.store, params))
        return web.Response(
            text=body,
            content_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="usage.csv"'},
        )

    async def requests(self, request: web.Request) -> web.Response:
        viewer = await self._parts.guard.operator(request)
        params = {
            name: request.query[name]
            for name in (*_FILTERS, "before", "errors")
            if request.query.get(name)
        }
        found = await requests_report(self._parts.store, params)
        keys = await self._parts.keys.list()
        return page(
            request,
            viewer,
            "requests.html",
            {
                "rows": found["data"],
                "next_before": found["next_before"],
                "params": params,
                "labels": {key.id: key.label for key in keys},
            },
        )

    async def audit(self, request: web.Request) -> web.Response:
        viewer = await self._parts.guard.operator(request)
        params = {
            name: request.query[name]
            for name in ("action", "target", "since", "until", "limit")
            if request.query.get(name)
        }
        found = await audit_report(self._parts.store, params)
        return page(request, viewer, "audit.html", {"records": found["data"], "params": params})

    async def settings(self, request: web.Request) -> web.Response:
        viewer = await self._parts.guard.operator(request)
        settings = self._parts.settings
        try:
            await self._parts.store.ping()
            store: dict[str, Any] = {"ok": True}
        except StoreError as exc:
            store = {"ok": False, "error": exc.message}
        now = time.time()
        accounts = [account.describe(now) for account in self._parts.pool.accounts]
        return page(
            request,
            viewer,
            "settings.html",
            {
                "settings": settings.masked(),
                "warnings": settings.warnings(),
                "store": store,
                "accounts": accounts,
                "serving": any(account["state"] == "ready" for account in accounts),
            },
        )
