"""Reading the usage ledger: ``GET /v1/usage`` (admin) and ``GET /api/me`` (any valid key).

``/v1/usage`` totals requests, tokens and cost, filtered by key, account, model and time range
and grouped by day, key, model, account or session. Ranges reaching into days older than the
retention are answered from the daily totals, whole days at a time (which keep no sessions).
Costs are exact dollars as text: ``cost_usd`` of every request at API prices, of which
``api_equivalent_usd`` was served by subscription accounts (what it would have cost at API
prices); ``unpriced_models`` names the models whose requests had no price. ``/api/me`` shows a
key its own record, limits and where it stands in each budget window, so users can check
themselves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from link_assistant_router.admin.common import AdminAccess, json_response, key_view
from link_assistant_router.errors import InvalidRequest
from link_assistant_router.governance.governor import Governor
from link_assistant_router.governance.keys import KeyService
from link_assistant_router.prices import usd
from link_assistant_router.proxy.headers import client_key
from link_assistant_router.routes import Route
from link_assistant_router.storage.base import Store
from link_assistant_router.storage.records import USAGE_TOTALS, UsageQuery
from link_assistant_router.times import iso, iso_or_none, parse_time

GROUPS = ("day", "key", "model", "account", "session")
_FILTERS = {"key": "key_id", "account": "account", "model": "model"}
# Totals in micro-dollars, and the names the report shows them by, as dollars text.
MONEY = {"cost_micros": "cost_usd", "api_equivalent_micros": "api_equivalent_usd"}


def usage_query(params: Mapping[str, str]) -> UsageQuery:
    """A report's filters from query parameters (or CLI options with the same names)."""
    unknown = set(params) - {"key", "account", "model", "since", "until", "group_by"}
    if unknown:
        raise InvalidRequest(f"unknown parameter(s): {', '.join(sorted(unknown))}")
    group_by = params.get("group_by") or None
    if group_by is not None and group_by not in GROUPS:
        raise InvalidRequest(f"group_by must be one of {', '.join(GROUPS)}")
    filters = {_FILTERS[name]: params[name] for name in _FILTERS if params.get(name)}
    since = parse_time(params["since"], "since") if params.get("since") else None
    until = parse_time(params["until"], "until") if params.get("until") else None
    return UsageQuery(since=since, until=until, group_by=group_by, **filters)


def usage_report(
    query: UsageQuery, groups: list[dict[str, object]], unpriced_models: list[str]
) -> dict[str, Any]:
    """The report as the API and the CLI show it: groups and their sum, costs in dollars."""
    totals = {name: sum(int(g[name]) for g in groups) for name in USAGE_TOTALS}  # type: ignore[call-overload]
    data = []
    for group in groups:
        row = _in_dollars(group)
        if query.group_by == "day" and row["group"] is not None:
            row["group"] = iso(int(row["group"]) * 86400)[:10]
        data.append(row)
    return {
        "group_by": query.group_by,
        "since": iso_or_none(query.since),
        "until": iso_or_none(query.until),
        "data": data if query.group_by else [],
        "totals": _in_dollars(totals),
        "unpriced_models": unpriced_models,
    }


async def read_usage_report(store: Store, query: UsageQuery) -> dict[str, Any]:
    """``usage_report`` of what the store holds."""
    return usage_report(query, await store.usage_totals(query), await store.unpriced_models(query))


def _in_dollars(totals: Mapping[str, object]) -> dict[str, Any]:
    return {MONEY.get(name, name): _money(name, value) for name, value in totals.items()}


def _money(name: str, value: object) -> object:
    return usd(int(value)) if name in MONEY else value  # type: ignore[call-overload]


class UsageApi:
    def __init__(
        self,
        store: Store,
        keys: KeyService,
        governor: Governor,
        access: AdminAccess,
    ) -> None:
        self._store = store
        self._keys = keys
        self._governor = governor
        self._access = access

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/v1/usage", self.usage, "admin"),
            Route("GET", "/api/me", self.me, "me"),
        ]

    async def usage(self, request: web.Request) -> web.Response:
        self._access.check(request)
        query = usage_query(request.query)
        return json_response(await read_usage_report(self._store, query))

    async def me(self, request: web.Request) -> web.Response:
        # Not through Proxy.authenticate: a look at one's own record is not a ledger row.
        key = await self._keys.authenticate(client_key(request.headers))
        windows = await self._governor.windows(key)
        view = key_view(key)
        view.pop("account", None)  # which account serves it is the operator's business
        view.pop("group", None)
        view["windows"] = {
            state.name: {
                "started_at": iso_or_none(state.start),
                "resets_at": None if state.end == math.inf else iso(state.end),
                "tokens": round(state.used),
                "budget": state.budget,
                "cost_usd": usd(state.cost),
                "budget_usd": usd(state.cost_budget) if state.cost_budget else None,
                "utilization": round(state.utilization, 4) if state.budgeted else None,
            }
            for state in windows
        }
        return json_response(view)
