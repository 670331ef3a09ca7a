"""Managing accounts: add, remove, disable, enable, refresh, test; shared by the CLI and the API.

Routes (admin, guarded like ``/api/tokens*``):

- ``GET /v1/accounts``: every account with its state and why, quota, expiry; never a token
- ``POST /api/accounts``: ``{"name", "kind": "claude-code"|"oauth-token"|"api-key",
  "claude_home" | "token", "priority", "weight", "group"}``
- ``DELETE /api/accounts/{name}``; ``POST /api/accounts/{name}/disable|enable|refresh|test``
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from link_assistant_router.accounts.account import KINDS, validate_name
from link_assistant_router.accounts.pool import AccountPool
from link_assistant_router.accounts.vault import Vault
from link_assistant_router.admin.common import AdminAccess, json_object, json_response
from link_assistant_router.errors import InvalidRequest, NotFound, RouterError
from link_assistant_router.governance.audit import Actor, AuditLog
from link_assistant_router.proxy.headers import upstream_request_headers
from link_assistant_router.proxy.upstream import Upstream
from link_assistant_router.routes import Route
from link_assistant_router.storage.base import Store
from link_assistant_router.storage.records import AccountRecord

__all__ = ["AccountAdmin", "account_routes"]

# Counted, never answered: the cheapest current model (formats.aliases.HAIKU).
_TEST_BODY = orjson.dumps(
    {"model": "claude-haiku-5-5", "messages": [{"role": "user", "content": "ping"}]}
)


def _int(document: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = document.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequest(f"{name} must be a whole number from {low} to {high}")
    return value


class AccountAdmin:
    """What an operator can do to accounts."""

    def __init__(self, pool: AccountPool, store: Store, vault: Vault, audit: AuditLog) -> None:
        self._pool = pool
        self._store = store
        self._vault = vault
        self._audit = audit

    def list(self) -> list[dict[str, Any]]:
        now = time.time()
        return [account.describe(now) for account in self._pool.accounts]

    async def add(self, document: dict[str, Any], actor: Actor) -> dict[str, Any]:
        unknown = set(document) - {
            "name",
            "kind",
            "claude_home",
            "token",
            "priority",
            "weight",
            "group",
        }
        if unknown:
            raise InvalidRequest(f"unknown field(s): {', '.join(sorted(unknown))}")
        name = validate_name(document.get("name"))
        if any(account.name == name for account in self._pool.accounts):
            raise InvalidRequest(f"an account named {name!r} exists already")
        kind = document.get("kind")
        if kind not in KINDS:
            raise InvalidRequest(f"kind must be one of {', '.join(KINDS)}")
        home = document.get("claude_home")
        token = document.get("token")
        if kind == "claude-code":
            if not isinstance(home, str) or not home or token is not None:
                raise InvalidRequest("a claude-code account needs claude_home (and no token)")
            home = str(Path(home).expanduser().absolute())  # noqa: ASYNC240 (no I/O)
        elif not isinstance(token, str) or not token.strip() or home is not None:
            raise InvalidRequest(f"an {kind} account needs token (and no claude_home)")
        secret = token.strip() if isinstance(token, str) else None
        group = document.get("group")
        if group is not None:
            group = validate_name(group)
        record = AccountRecord(
            name=name,
            kind=kind,
            priority=_int(document, "priority", 0, -1000, 1000),
            weight=_int(document, "weight", 1, 1, 100),
            group=group,
            claude_home=home if kind == "claude-code" else None,
            secret=self._vault.encrypt(secret) if secret is not None else None,
            created_at=time.time(),
        )
        await self._store.insert_account(record)
        details = {"kind": kind, "priority": record.priority, "weight": record.weight}
        await self._audit.record("account.add", name, actor, {**details, "group": group})
        await self._pool.sync()
        return self._pool.get(name).describe(time.time())

    async def remove(self, name: str, actor: Actor) -> None:
        account = self._pool.get(name)
        if account.origin != "store":
            raise InvalidRequest(
                f"account {name!r} comes from the settings; change the settings to remove it"
            )
        if not await self._store.delete_account(name):
            raise NotFound(f"no account named {name!r}")
        await self._audit.record("account.remove", name, actor)
        await self._pool.sync()

    async def set_disabled(self, name: str, disabled: bool, actor: Actor) -> dict[str, Any]:
        account = self._pool.get(name)
        await self._pool.set_disabled(account, disabled)
        await self._audit.record("account.disable" if disabled else "account.enable", name, actor)
        return account.describe(time.time())

    async def refresh(self, name: str) -> dict[str, Any]:
        account = self._pool.get(name)
        await self._pool.refresh(account, force=True)
        return account.describe(time.time())

    async def test(self, name: str, upstream: Upstream) -> dict[str, Any]:
        """Send a free request (count_tokens) with the account's credential; report the status."""
        account = self._pool.get(name)
        try:
            credential = await self._pool.credential_for(account)
            headers = upstream_request_headers(
                [("anthropic-version", "2023-06-01"), ("content-type", "application/json")],
                credential,
            )
            started = time.perf_counter()
            response = await upstream.send("POST", "/v1/messages/count_tokens", headers, _TEST_BODY)
            body = await response.read()
            response.close()
        except RouterError as exc:
            return {"name": name, "ok": False, "error": exc.message}
        result: dict[str, Any] = {
            "name": name,
            "ok": response.status == 200,
            "status": response.status,
            "latency_ms": round((time.perf_counter() - started) * 1000, 1),
        }
        if response.status != 200:
            result["error"] = _error_message(body)
        return result


def _error_message(body: bytes) -> str:
    try:
        document = orjson.loads(body)
        return str(document["error"]["message"])[:300]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return "the upstream answered with an error"


def account_routes(admin: AccountAdmin, upstream: Upstream, access: AdminAccess) -> list[Route]:
    async def list_accounts(request: web.Request) -> web.Response:
        access.check(request)
        return json_response({"data": admin.list()})

    async def add(request: web.Request) -> web.Response:
        actor = access.check(request)
        return json_response(await admin.add(await json_object(request), actor))

    async def remove(request: web.Request) -> web.Response:
        actor = access.check(request)
        await admin.remove(request.match_info["name"], actor)
        return json_response({"deleted": request.match_info["name"]})

    async def action(request: web.Request) -> web.Response:
        actor = access.check(request)
        name, verb = request.match_info["name"], request.match_info["action"]
        if verb in ("disable", "enable"):
            return json_response(await admin.set_disabled(name, verb == "disable", actor))
        if verb == "refresh":
            return json_response(await admin.refresh(name))
        if verb == "test":
            return json_response(await admin.test(name, upstream))
        raise NotFound(f"no account action {verb!r}")

    return [
        Route("GET", "/v1/accounts", list_accounts, "admin"),
        Route("POST", "/api/accounts", add, "admin"),
        Route("DELETE", "/api/accounts/{name}", remove, "admin"),
        Route("POST", "/api/accounts/{name}/{action}", action, "admin"),
    ]
