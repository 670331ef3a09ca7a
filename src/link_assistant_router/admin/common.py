"""What every admin route shares: who may call it, JSON in and out, and how a key's record is
shown.

``AdminAccess`` says who may call (and who did, for the audit log).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from pydantic import SecretStr

from link_assistant_router.errors import AuthenticationFailed, InvalidRequest, PermissionDenied
from link_assistant_router.governance.audit import Actor
from link_assistant_router.governance.keys import KEY_PREFIX
from link_assistant_router.peers import is_loopback, listener_port, names_a_proxy
from link_assistant_router.proxy.headers import client_key
from link_assistant_router.proxy.pipeline import parse_object
from link_assistant_router.requestlog import REQUEST_LOG
from link_assistant_router.storage.records import KeyRecord
from link_assistant_router.times import iso, iso_or_none

__all__ = [
    "AdminAccess",
    "check_binding",
    "json_object",
    "json_response",
    "key_view",
]


def key_view(record: KeyRecord) -> dict[str, Any]:
    """A key's record as the API and CLI show it: never the key itself."""
    return {
        "id": record.id,
        "label": record.label,
        "created_at": iso(record.created_at),
        "expires_at": iso(record.expires_at),
        "revoked_at": iso_or_none(record.revoked_at),
        "last_used_at": iso_or_none(record.last_used_at),
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


@dataclass(frozen=True)
class AdminAccess:
    """Who may use the admin API.

    With ``TOKEN_ADMIN_KEY`` set: a caller that presents it, on either listener. Without it:
    only a request that arrived on the loopback admin listener (``ADMIN_PORT``), from a
    loopback address, naming no client or proxy in its headers; so a router published behind
    a reverse proxy, or reached through any forwarder, never hands out keys.
    """

    key: SecretStr | None
    port: int  # the admin listener's port (0: there is none)

    def check(self, request: web.Request) -> Actor:
        """The actor making the request, or an error saying why it may not."""
        entry = request.get(REQUEST_LOG)
        request_id = entry.request_id if entry is not None else None
        if self.key is not None:
            presented = client_key(request.headers)
            if presented is None:
                raise AuthenticationFailed("the admin API needs TOKEN_ADMIN_KEY as a Bearer token")
            if hmac.compare_digest(presented.encode(), self.key.get_secret_value().encode()):
                return Actor("admin-key", request_id)
            if presented.startswith(KEY_PREFIX):
                raise PermissionDenied(
                    "la_sk_ keys are for the API; the admin API needs TOKEN_ADMIN_KEY"
                )
            raise AuthenticationFailed("invalid admin key")
        if not self.port or listener_port(request) != self.port:
            where = f"127.0.0.1:{self.port} (ADMIN_PORT)" if self.port else "no listener"
            raise PermissionDenied(
                f"while TOKEN_ADMIN_KEY is unset the admin API answers only on {where}"
            )
        if not is_loopback(request.remote) or names_a_proxy(request.headers):
            raise PermissionDenied(
                "the admin API answers only local clients without proxy headers while "
                "TOKEN_ADMIN_KEY is unset"
            )
        return Actor("loopback", request_id)

    def allows(self, request: web.Request) -> bool:
        """``check`` as a yes or no (for pages that show more to admins)."""
        try:
            self.check(request)
        except (AuthenticationFailed, PermissionDenied):
            return False
        return True


async def json_object(request: web.Request) -> dict[str, Any]:
    """An admin request's body as a JSON object (an empty body is ``{}``)."""
    return parse_object(await request.read(), empty_ok=True)


def json_response(data: Any) -> web.Response:
    return web.Response(body=orjson.dumps(data), content_type="application/json")
