"""The admin API for keys: ``/api/tokens*``.

With ``TOKEN_ADMIN_KEY`` set, callers must present it (``Authorization: Bearer`` or
``x-api-key``). Without it, only loopback clients that came through no proxy (no ``Forwarded``
or ``X-Forwarded-For`` header) are served, so a router published behind a reverse proxy does
not hand out keys to the internet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from aiohttp import web

from link_assistant_router.admin.common import (
    AdminAccess,
    check_binding,
    json_object,
    json_response,
    key_view,
)
from link_assistant_router.errors import InvalidRequest
from link_assistant_router.governance.keys import KeyService
from link_assistant_router.routes import Route
from link_assistant_router.times import iso

__all__ = ["TokenAdmin"]


class TokenAdmin:
    """Handlers for ``/api/tokens*``."""

    def __init__(
        self,
        keys: KeyService,
        access: AdminAccess,
        account_names: Callable[[], Iterable[str]],
        group_names: Callable[[], Iterable[str]],
    ) -> None:
        self._keys = keys
        self._access = access
        self._account_names = account_names
        self._group_names = group_names

    def routes(self) -> list[Route]:
        return [
            Route("POST", "/api/tokens", self.issue, "admin"),
            Route("GET", "/api/tokens/list", self.list, "admin"),
            Route("POST", "/api/tokens/revoke", self.revoke, "admin"),
            Route("GET", "/api/tokens/{id}", self.show, "admin"),
            Route("PATCH", "/api/tokens/{id}", self.update, "admin"),
        ]

    async def issue(self, request: web.Request) -> web.Response:
        actor = self._access.check(request)
        document = await json_object(request)
        unknown = set(document) - {"ttl_hours", "label", "account", "group", "limits"}
        if unknown:
            raise InvalidRequest(f"unknown field(s): {', '.join(sorted(unknown))}")
        account, group = document.get("account"), document.get("group")
        check_binding(account, group, self._account_names(), self._group_names())
        issued = await self._keys.issue(
            document.get("ttl_hours", 24),
            document.get("label", ""),
            account=account,
            group=group,
            limits=document.get("limits"),
            actor=actor,
        )
        ttl = document.get("ttl_hours", 24)
        return json_response(
            {
                "token": issued.token,
                "id": issued.record.id,
                "ttl_hours": ttl,
                "label": issued.record.label,
                "expires_at": iso(issued.record.expires_at),
                "account": issued.record.account,
                "group": issued.record.group,
                "limits": key_view(issued.record)["limits"],
            }
        )

    async def list(self, request: web.Request) -> web.Response:
        self._access.check(request)
        return json_response({"data": [key_view(record) for record in await self._keys.list()]})

    async def show(self, request: web.Request) -> web.Response:
        self._access.check(request)
        return json_response(key_view(await self._keys.get(request.match_info["id"])))

    async def update(self, request: web.Request) -> web.Response:
        actor = self._access.check(request)
        document = await json_object(request)
        record = await self._keys.update(request.match_info["id"], document, actor)
        return json_response(key_view(record))

    async def revoke(self, request: web.Request) -> web.Response:
        actor = self._access.check(request)
        document = await json_object(request)
        return json_response(key_view(await self._keys.revoke(document.get("id"), actor)))
