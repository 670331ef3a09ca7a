"""The admin API for keys: ``/api/tokens*``.

With ``TOKEN_ADMIN_KEY`` set, callers must present it (``Authorization: Bearer`` or
``x-api-key``). Without it, only loopback clients that came through no proxy (no ``Forwarded``
or ``X-Forwarded-For`` header) are served, so a router published behind a reverse proxy does
not hand out keys to the internet.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from aiohttp import web
from pydantic import SecretStr

from link_assistant_router.errors import AuthenticationFailed, InvalidRequest, PermissionDenied
from link_assistant_router.governance.audit import request_actor
from link_assistant_router.governance.keys import KeyService
from link_assistant_router.proxy.headers import client_key
from link_assistant_router.storage.records import KeyRecord

_PROXY_HEADERS = ("forwarded", "x-forwarded-for")


def iso(epoch: float | None) -> str | None:
    """RFC 3339 UTC text for a UNIX time, as the API shows times."""
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def key_view(record: KeyRecord) -> dict[str, Any]:
    """A key's record as the API and CLI show it: never the key itself."""
    return {
        "id": record.id,
        "label": record.label,
        "created_at": iso(record.created_at),
        "expires_at": iso(record.expires_at),
        "revoked_at": iso(record.revoked_at),
        "last_used_at": iso(record.last_used_at),
        "account": record.account,
        "group": record.group,
        "limits": record.limits.to_dict() if record.limits is not None else {},
    }


def check_binding(account: Any, group: Any, accounts: Iterable[str], groups: Iterable[str]) -> None:
    """A key may be bound to one existing account or one existing group, not both."""
    if account is not None and group is not None:
        raise InvalidRequest("bind a key to an account or to a group, not both")
    if account is not None and (not isinstance(account, str) or account not in set(accounts)):
        raise InvalidRequest(f"no account named {account!r}")
    if group is not None and (not isinstance(group, str) or group not in set(groups)):
        raise InvalidRequest(f"no account group named {group!r}")


def _is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        return ipaddress.ip_address(remote.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def check_admin(request: web.Request, admin_key: SecretStr | None) -> None:
    """Allow the request to use the admin API, or raise saying why not."""
    if admin_key is not None:
        presented = client_key(request.headers)
        if presented is None:
            raise AuthenticationFailed("the admin API needs TOKEN_ADMIN_KEY as a Bearer token")
        if not hmac.compare_digest(presented.encode(), admin_key.get_secret_value().encode()):
            raise AuthenticationFailed("invalid admin key")
        return
    if not _is_loopback(request.remote) or any(h in request.headers for h in _PROXY_HEADERS):
        raise PermissionDenied(
            "the admin API answers only local clients while TOKEN_ADMIN_KEY is unset"
        )


async def json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidRequest("request body must be a JSON object")
    return document


def json_response(data: Any) -> web.Response:
    return web.Response(body=orjson.dumps(data), content_type="application/json")


class TokenAdmin:
    """Handlers for ``/api/tokens*``."""

    def __init__(
        self,
        keys: KeyService,
        admin_key: SecretStr | None,
        account_names: Callable[[], Iterable[str]],
        group_names: Callable[[], Iterable[str]],
    ) -> None:
        self._keys = keys
        self._admin_key = admin_key
        self._account_names = account_names
        self._group_names = group_names

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/tokens", self.issue),
            web.get("/api/tokens/list", self.list),
            web.post("/api/tokens/revoke", self.revoke),
            web.get("/api/tokens/{id}", self.show),
            web.patch("/api/tokens/{id}", self.update),
        ]

    async def issue(self, request: web.Request) -> web.Response:
        check_admin(request, self._admin_key)
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
            actor=request_actor(request, self._admin_key),
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
        check_admin(request, self._admin_key)
        return json_response({"data": [key_view(record) for record in await self._keys.list()]})

    async def show(self, request: web.Request) -> web.Response:
        check_admin(request, self._admin_key)
        return json_response(key_view(await self._keys.get(request.match_info["id"])))

    async def update(self, request: web.Request) -> web.Response:
        check_admin(request, self._admin_key)
        document = await json_object(request)
        actor = request_actor(request, self._admin_key)
        record = await self._keys.update(request.match_info["id"], document, actor)
        return json_response(key_view(record))

    async def revoke(self, request: web.Request) -> web.Response:
        check_admin(request, self._admin_key)
        document = await json_object(request)
        actor = request_actor(request, self._admin_key)
        return json_response(key_view(await self._keys.revoke(document.get("id"), actor)))
