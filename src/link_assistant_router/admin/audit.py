"""Reading the audit log: ``GET /api/audit`` (admin) and the ``audit`` command's query."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from link_assistant_router.admin.common import AdminAccess, json_response
from link_assistant_router.errors import InvalidRequest
from link_assistant_router.governance.audit import audit_view
from link_assistant_router.routes import Route
from link_assistant_router.storage.base import Store
from link_assistant_router.times import parse_time

__all__ = ["MAX_LIMIT", "audit_query", "audit_report", "audit_routes"]

MAX_LIMIT = 1000


def audit_query(params: Mapping[str, str]) -> dict[str, Any]:
    """``Store.list_audit``'s arguments from query parameters (or the command's options)."""
    unknown = set(params) - {"since", "until", "action", "target", "limit"}
    if unknown:
        raise InvalidRequest(f"unknown parameter(s): {', '.join(sorted(unknown))}")
    query: dict[str, Any] = {
        "action": params.get("action") or None,
        "target": params.get("target") or None,
        "since": parse_time(params["since"], "since") if params.get("since") else None,
        "until": parse_time(params["until"], "until") if params.get("until") else None,
    }
    limit = params.get("limit") or "100"
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    query["limit"] = int(limit)
    return query


async def audit_report(store: Store, params: Mapping[str, str]) -> dict[str, Any]:
    records = await store.list_audit(**audit_query(params))
    return {"data": [audit_view(record) for record in records]}


def audit_routes(store: Store, access: AdminAccess) -> list[Route]:
    async def audit(request: web.Request) -> web.Response:
        access.check(request)
        return json_response(await audit_report(store, request.query))

    return [Route("GET", "/api/audit", audit, "admin")]
