"""``doctor``: what the router would run with, and whether each part of it works.

Checks the resolved settings (secrets masked), the store, the upstream credential and whether
the upstream answers. Every check reports what it found; none prints a secret.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from link_assistant_router.accounts.pool import AccountPool
from link_assistant_router.accounts.vault import build_vault
from link_assistant_router.config import Settings
from link_assistant_router.errors import RouterError
from link_assistant_router.governance.keys import load_signing_secret
from link_assistant_router.storage.sql import open_store

__all__ = ["diagnose", "render"]

_UPSTREAM_CHECK_TIMEOUT_S = 5.0


async def _check_store(settings: Settings) -> dict[str, Any]:
    try:
        store = open_store(settings.store_url, settings.store_timeout_s)
        await store.open()
        try:
            await store.ping()
            count = len(await store.list_keys())
        finally:
            await store.close()
    except RouterError as exc:
        return {"ok": False, "error": exc.message}
    return {"ok": True, "keys": count}


async def _check_accounts(settings: Settings) -> dict[str, Any]:
    """Every account's state, as the router would see it at start-up."""
    try:
        store = open_store(settings.store_url, settings.store_timeout_s)
        await store.open()
        try:
            pool = AccountPool(
                settings, store, build_vault(settings, load_signing_secret(settings))
            )
            await pool.load()
        finally:
            await store.close()
    except RouterError as exc:
        return {"ok": False, "error": exc.message}
    now = time.time()
    accounts = [account.describe(now) for account in pool.accounts]
    result: dict[str, Any] = {
        "ok": any(account["state"] == "ready" for account in accounts),
        "accounts": accounts,
    }
    if not accounts:
        result["error"] = "no account is configured: log in with `claude`, or set UPSTREAM_API_KEY"
    elif not result["ok"]:
        result["error"] = "no account can serve; see each account's reason and what_to_do"
    return result


async def _check_upstream(settings: Settings) -> dict[str, Any]:
    started = time.perf_counter()
    timeout = aiohttp.ClientTimeout(total=_UPSTREAM_CHECK_TIMEOUT_S)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.head(settings.upstream_base_url + "/v1/messages") as response,
        ):
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        return {"ok": False, "url": settings.upstream_base_url, "error": type(exc).__name__}
    return {
        "ok": True,
        "url": settings.upstream_base_url,
        "status": status,
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
    }


async def diagnose(settings: Settings) -> dict[str, Any]:
    checks = {
        "store": await _check_store(settings),
        "accounts": await _check_accounts(settings),
        "upstream": await _check_upstream(settings),
    }
    return {
        "ok": all(check["ok"] for check in checks.values()),
        "settings": settings.masked(),
        "warnings": settings.warnings(),
        "checks": checks,
    }


def render(report: dict[str, Any]) -> str:
    lines = ["settings:"]
    lines += [f"  {name} = {value}" for name, value in report["settings"].items()]
    lines += [f"warning: {warning}" for warning in report["warnings"]]
    for name, check in report["checks"].items():
        details = ", ".join(
            f"{key}={value}"
            for key, value in check.items()
            if key not in ("ok", "error", "accounts")
        )
        verdict = "ok" if check["ok"] else "FAILED"
        lines.append(f"{name}: {verdict}" + (f" ({details})" if details else ""))
        for account in check.get("accounts", []):
            lines.append(_account_line(account))
        if "error" in check:
            lines.append(f"  -> {check['error']}")
    lines.append("all checks passed" if report["ok"] else "some checks failed")
    return "\n".join(lines)


def _account_line(account: dict[str, Any]) -> str:
    line = (
        f"  {account['name']} ({account['kind']}): {account['state']}"
        f"; token expires {account['token_expires_at'] or '-'}"
        f"; subscription {account['subscription_type'] or '-'}"
    )
    if account["reason"]:
        line += f"\n    why: {account['reason']}"
    if account["what_to_do"]:
        line += f"\n    to do: {account['what_to_do']}"
    return line
