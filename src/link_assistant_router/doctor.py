"""``doctor``: what the router would run with, and whether each part of it works.

Checks the resolved settings (secrets masked), the store, the upstream credential and whether
the upstream answers. Every check reports what it found; none prints a secret.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from link_assistant_router.config import Settings
from link_assistant_router.credentials import credential_source
from link_assistant_router.errors import NoCredential, RouterError
from link_assistant_router.storage import open_store

_UPSTREAM_CHECK_TIMEOUT_S = 5.0


async def _check_store(settings: Settings) -> dict[str, Any]:
    try:
        store = open_store(settings.store_url)
        await store.open()
        try:
            await store.ping()
            count = len(await store.list_keys())
        finally:
            await store.close()
    except RouterError as exc:
        return {"ok": False, "error": exc.message}
    return {"ok": True, "keys": count}


def _check_credential(settings: Settings) -> dict[str, Any]:
    source = credential_source(settings)
    try:
        credential = source.current()
    except NoCredential as exc:
        return {"ok": False, "error": exc.message}
    details = credential.describe(time.time())
    result: dict[str, Any] = {"ok": not details["expired"], **details}
    if details["expired"]:
        result["error"] = (
            "the token has expired: run `claude` on this machine to refresh the login, "
            "or replace the token"
        )
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
        "credential": _check_credential(settings),
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
            f"{key}={value}" for key, value in check.items() if key not in ("ok", "error")
        )
        verdict = "ok" if check["ok"] else "FAILED"
        lines.append(f"{name}: {verdict}" + (f" ({details})" if details else ""))
        if "error" in check:
            lines.append(f"  -> {check['error']}")
    lines.append("all checks passed" if report["ok"] else "some checks failed")
    return "\n".join(lines)
