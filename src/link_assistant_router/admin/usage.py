"""Reading the usage ledger: ``GET /v1/usage`` and ``GET /v1/usage/requests`` (admin), ``GET
/api/me`` (any valid key); the reports the CLI and the console show too.

``/v1/usage`` totals requests, tokens and cost, filtered by key, account, model and time range
and grouped by time bucket (minute, hour, day: every bucket of the range listed, empty ones
too), key, model, account or session. Ranges reaching into days older than the retention are
answered from the daily totals, whole days at a time (in a day's first bucket; they keep no
sessions). Costs are exact dollars as text: ``cost_usd`` of every request at API prices, of
which ``api_equivalent_usd`` was served by subscription accounts (what it would have cost at API
prices); ``unpriced_models`` names the models whose requests had no price.
``/v1/usage/requests`` lists the ledger's rows, newest first, a page at a time. ``/api/me``
shows a key its own record, limits and where it stands in each budget window, so users can
check themselves.
"""

from __future__ import annotations

import csv
import io
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
from link_assistant_router.storage.records import BUCKETS, USAGE_TOTALS, UsageQuery, UsageRow
from link_assistant_router.times import iso, iso_or_none, parse_time

__all__ = [
    "COLUMNS",
    "GROUPS",
    "MAX_BUCKETS",
    "MAX_ROWS",
    "MONEY",
    "UsageApi",
    "bucket_label",
    "read_usage_report",
    "report_rows",
    "request_view",
    "requests_report",
    "usage_csv",
    "usage_query",
    "usage_report",
]

GROUPS = ("minute", "hour", "day", "key", "model", "account", "session")
# More buckets than a chart or a table can show: the range is too long for the bucket.
MAX_BUCKETS = 10_000
MAX_ROWS = 500
_FILTERS = {"key": "key_id", "account": "account", "model": "model"}
# Totals in micro-dollars, and the names reports show them by, as dollars text.
MONEY = {"cost_micros": "cost_usd", "api_equivalent_micros": "api_equivalent_usd"}
# A report's columns (in its groups, totals and CSV), in order.
COLUMNS = tuple(MONEY.get(name, name) for name in USAGE_TOTALS)


def usage_query(params: Mapping[str, str], *, more: tuple[str, ...] = ()) -> UsageQuery:
    """A report's filters from query parameters (or CLI options with the same names);
    ``more``: other parameters the caller reads itself."""
    unknown = set(params) - {"key", "account", "model", "since", "until", "group_by", *more}
    if unknown:
        raise InvalidRequest(f"unknown parameter(s): {', '.join(sorted(unknown))}")
    group_by = params.get("group_by") or None
    if group_by is not None and group_by not in GROUPS:
        raise InvalidRequest(f"group_by must be one of {', '.join(GROUPS)}")
    filters = {_FILTERS[name]: params[name] for name in _FILTERS if params.get(name)}
    since = parse_time(params["since"], "since") if params.get("since") else None
    until = parse_time(params["until"], "until") if params.get("until") else None
    query = UsageQuery(since=since, until=until, group_by=group_by, **filters)
    if group_by in BUCKETS and since is not None and until is not None:
        _check_buckets(group_by, math.floor(since / BUCKETS[group_by]), until)
    return query


def _check_buckets(group_by: str, first: int, until: float) -> None:
    if math.ceil(until / BUCKETS[group_by]) - first > MAX_BUCKETS:
        raise InvalidRequest(
            f"more than {MAX_BUCKETS} {group_by}s: narrow the range or group by a longer bucket"
        )


def bucket_label(group_by: str, number: int) -> str:
    """A bucket as reports show it: ``2026-11-01`` for a day, its start time for the others."""
    start = iso(number * BUCKETS[group_by])
    return start[:10] if group_by == "day" else start


def _filled(query: UsageQuery, groups: list[dict[str, object]]) -> list[dict[str, object]]:
    """Every bucket from the range's start (or the first with data) to its end (or the last
    with data), the empty ones with zeros."""
    assert query.group_by is not None
    size = BUCKETS[query.group_by]
    found = {int(g["group"]): g for g in groups if g["group"] is not None}  # type: ignore[call-overload]
    if query.since is None and not found:
        return []
    first = math.floor(query.since / size) if query.since is not None else min(found)
    end = math.ceil(query.until / size) if query.until is not None else max([*found, first]) + 1
    last = end - 1
    _check_buckets(query.group_by, first, (last + 1) * size)
    empty = {name: 0 for name in USAGE_TOTALS}
    return [found.get(number, {"group": number, **empty}) for number in range(first, last + 1)]


def usage_report(
    query: UsageQuery, groups: list[dict[str, object]], unpriced_models: list[str] | None = None
) -> dict[str, Any]:
    """The report as the API, the CLI and the console show it: groups and their sum, costs in
    dollars."""
    totals = {name: sum(int(g[name]) for g in groups) for name in USAGE_TOTALS}  # type: ignore[call-overload]
    if query.group_by in BUCKETS:
        groups = [
            {**group, "group": bucket_label(query.group_by, int(group["group"]))}  # type: ignore[call-overload]
            for group in _filled(query, groups)
        ]
    data = [_in_dollars(group) for group in groups]
    return {
        "group_by": query.group_by,
        "since": iso_or_none(query.since),
        "until": iso_or_none(query.until),
        "data": data if query.group_by else [],
        "totals": _in_dollars(totals),
        "unpriced_models": unpriced_models or [],
    }


async def read_usage_report(store: Store, query: UsageQuery) -> dict[str, Any]:
    """``usage_report`` of what the store holds."""
    return usage_report(query, await store.usage_totals(query), await store.unpriced_models(query))


def _in_dollars(totals: Mapping[str, object]) -> dict[str, Any]:
    return {MONEY.get(name, name): _money(name, value) for name, value in totals.items()}


def _money(name: str, value: object) -> object:
    return usd(int(value)) if name in MONEY else value  # type: ignore[call-overload]


def report_rows(report: dict[str, Any], columns: tuple[str, ...] = COLUMNS) -> list[list[str]]:
    """The report's lines as text cells (of ``columns``): one per group, then the total."""
    rows = [[str(row["group"]), *(str(row[name]) for name in columns)] for row in report["data"]]
    rows.append(["total", *(str(report["totals"][name]) for name in columns)])
    return rows


def usage_csv(report: dict[str, Any]) -> str:
    """The report as CSV (``usage --csv`` and the console's export): a header, the rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([report["group_by"] or "group", *COLUMNS])
    writer.writerows(report_rows(report))
    return out.getvalue()


def request_view(row: UsageRow) -> dict[str, Any]:
    """One ledger row as the API and the console show it."""
    view: dict[str, Any] = row._asdict()
    view["at"] = iso(row.at)
    view["complete"] = bool(row.complete)
    view["subscription"] = bool(row.subscription)
    view["unpriced"] = bool(row.unpriced)
    view["cost_usd"] = usd(row.cost_micros)
    del view["day"], view["cost_micros"]
    return view


async def requests_report(store: Store, params: Mapping[str, str]) -> dict[str, Any]:
    """The newest ledger rows that match ``params`` (the report's filters, ``before``: older
    than this time, ``errors``: only failed requests, ``limit``), and where the next page
    starts."""
    query = usage_query(params, more=("before", "errors", "limit"))
    before = parse_time(params["before"], "before") if params.get("before") else None
    limit = params.get("limit") or "50"
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_ROWS:
        raise InvalidRequest(f"limit must be a whole number from 1 to {MAX_ROWS}")
    rows = await store.recent_usage(
        query,
        before=before,
        errors_only=params.get("errors") in ("1", "true", "on"),
        limit=int(limit),
    )
    return {
        "data": [request_view(row) for row in rows],
        "next_before": repr(rows[-1].at) if len(rows) == int(limit) else None,
    }


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
            Route("GET", "/v1/usage/requests", self.requests, "admin"),
            Route("GET", "/api/me", self.me, "me"),
        ]

    async def usage(self, request: web.Request) -> web.Response:
        self._access.check(request)
        query = usage_query(request.query)
        return json_response(await read_usage_report(self._store, query))

    async def requests(self, request: web.Request) -> web.Response:
        self._access.check(request)
        return json_response(await requests_report(self._store, request.query))

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
