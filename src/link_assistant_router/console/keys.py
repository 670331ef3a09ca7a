"""The operator's keys: the table (search, sort, each budget window's use), issuing a key with
limits (its token shown once), a key's page (usage by model, recent requests), changing its
label and limits, revoking it after a confirmation."""

from __future__ import annotations

import re
import time
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from link_assistant_router.admin.common import check_binding
from link_assistant_router.console.guard import form_text
from link_assistant_router.console.kit import Parts, page, public_url, snippets
from link_assistant_router.console.reports import standing
from link_assistant_router.errors import InvalidRequest
from link_assistant_router.limits import ALL_WINDOWS, WINDOWS
from link_assistant_router.routes import Route
from link_assistant_router.storage.records import KeyRecord

__all__ = ["KeyPages", "limits_from_form"]

SORTS = {
    "created": lambda key: -key.created_at,
    "label": lambda key: key.label.lower(),
    "expires": lambda key: key.expires_at,
    "last_used": lambda key: -(key.last_used_at or 0),
}


def _count(form: MultiDictProxy[Any], name: str) -> int | None:
    text = form_text(form, name, 20).replace("_", "").replace(",", "")
    if not text:
        return None
    if not text.isdigit():
        raise InvalidRequest(f"{name.replace('_', ' ')} must be a whole number")
    return int(text)


def limits_from_form(form: MultiDictProxy[Any]) -> dict[str, Any]:
    """A limits document from the form; an empty field removes its limit."""
    listed = {
        name: [part for part in re.split(r"[\s,]+", form_text(form, name, 5000)) if part] or None
        for name in ("models", "networks")
    }
    return {
        "rpm": _count(form, "rpm"),
        "concurrency": _count(form, "concurrency"),
        "budgets": {window: _count(form, f"budget_{window}") for window in WINDOWS},
        "budgets_usd": {  # dollars as typed, checked as the API checks them
            window: form_text(form, f"budget_usd_{window}", 20) or None for window in ALL_WINDOWS
        },
        **listed,
    }


class KeyPages:
    def __init__(self, parts: Parts) -> None:
        self._parts = parts

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/console/keys", self.table, "console", "html"),
            Route("POST", "/console/keys", self.issue, "console", "html"),
            Route("GET", "/console/keys/{id}", self.key, "console", "html"),
            Route("POST", "/console/keys/{id}", self.update, "console", "html"),
            Route("GET", "/console/keys/{id}/revoke", self.confirm_revoke, "console", "html"),
            Route("POST", "/console/keys/{id}/revoke", self.revoke, "console", "html"),
        ]

    def _bindings(self) -> dict[str, list[str]]:
        accounts = self._parts.pool.accounts
        return {
            "accounts": [account.name for account in accounts],
            "groups": sorted({account.group for account in accounts if account.group}),
        }

    async def table(self, request: web.Request) -> web.Response:
        viewer = await self._parts.guard.operator(request)
        search = request.query.get("q", "").strip().lower()
        sort = request.query.get("sort", "created")
        keys = [
            key
            for key in await self._parts.keys.list()
            if not search or search in key.label.lower() or search in key.id
        ]
        keys.sort(key=SORTS.get(sort, SORTS["created"]))
        windows = {
            key.id: await self._parts.governor.windows(key)
            for key in keys
            if key.limits is not None and key.limits.has_budgets()
        }
        context = {
            "keys": keys,
            "windows": windows,
            "search": search,
            "sort": sort,
            "now": time.time(),
            **self._bindings(),
        }
        return page(request, viewer, "keys.html", context)

    async def issue(self, request: web.Request) -> web.Response:
        viewer = await self._parts.guard.operator(request)
        form = await self._parts.guard.form(request, viewer)
        account, group = _binding(form_text(form, "binding"))
        bindings = self._bindings()
        check_binding(account, group, bindings["accounts"], bindings["groups"])
        ttl = form_text(form, "ttl_hours", 20) or "720"
        try:
            ttl_hours = float(ttl)
        except ValueError:
            raise InvalidRequest("the lifetime must be a number of hours") from None
        issued = await self._parts.keys.issue(
            ttl_hours,
            form_text(form, "label", 200),
            account=account,
            group=group,
            limits=limits_from_form(form),
            actor=viewer.actor,
        )
        base_url = public_url(request, self._parts.settings)
        context = {
            "issued": issued.record,
            "token": issued.token,
            "snippets": snippets(base_url, issued.token),
        }
        return page(request, viewer, "issued.html", context)

    async def _key(self, request: web.Request) -> KeyRecord:
        return await self._parts.keys.get(request.match_info["id"])

    async def key(self, request: web.Request) -> web.Response:
        viewer = await self._parts.guard.operator(request)
        context = await standing(self._parts, await self._key(request), request.query)
        return page(request, viewer, "key.html", context)

    async def update(self, request: web.Request) -> web.Response:
        viewer = await self._parts.guard.operator(request)
        form = await self._parts.guard.form(request, viewer)
        key = await self._key(request)
        document = {"label": form_text(form, "label", 200), "limits": limits_from_form(form)}
        await self._parts.keys.update(key.id, document, viewer.actor)
        raise web.HTTPSeeOther(f"/console/keys/{key.id}")

    async def confirm_revoke(self, request: web.Request) -> web.Response:
        viewer = await self._parts.guard.operator(request)
        return page(request, viewer, "revoke.html", {"key": await self._key(request)})

    async def revoke(self, request: web.Request) -> web.Response:
        viewer = await self._parts.guard.operator(request)
        await self._parts.guard.form(request, viewer)
        key = await self._key(request)
        await self._parts.keys.revoke(key.id, viewer.actor)
        raise web.HTTPSeeOther(f"/console/keys/{key.id}")


def _binding(value: str) -> tuple[str | None, str | None]:
    kind, _, name = value.partition(":")
    if not name:
        return None, None
    return (name, None) if kind == "account" else (None, name)
