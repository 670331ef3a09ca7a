"""``link-assistant-router accounts ...``: the account pool from the command line.

These commands work on the store (and the Claude Code homes) directly, with or without a server
running; a running router picks changes up within a few seconds.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import click

from link_assistant_router.accounts.oauth import OAuthClient
from link_assistant_router.accounts.pool import AccountPool
from link_assistant_router.accounts.refresher import Refresher
from link_assistant_router.accounts.vault import build_vault
from link_assistant_router.admin.accounts import AccountAdmin
from link_assistant_router.cli.support import emit, load_settings, run, settings_options
from link_assistant_router.config import Settings
from link_assistant_router.governance.audit import CLI, AuditLog
from link_assistant_router.governance.keys import load_signing_secret
from link_assistant_router.proxy.upstream import UpstreamClient
from link_assistant_router.storage.base import lease_holder
from link_assistant_router.storage.sql import open_store

__all__ = [
    "account_admin",
    "accounts",
    "accounts_add",
    "accounts_disable",
    "accounts_enable",
    "accounts_list",
    "accounts_refresh",
    "accounts_remove",
    "accounts_test",
    "with_accounts",
]


@asynccontextmanager
async def account_admin(settings: Settings) -> AsyncIterator[tuple[AccountAdmin, UpstreamClient]]:
    """The account tools with an open store, an OAuth client and an upstream client."""
    store = open_store(settings.store_url, settings.store_timeout_s)
    await store.open()
    upstream = UpstreamClient(
        settings.upstream_base_url,
        connect_timeout_s=settings.upstream_connect_timeout_s,
        idle_timeout_s=settings.upstream_idle_timeout_s,
        max_connections=4,
    )
    await upstream.open()
    try:
        async with aiohttp.ClientSession() as oauth_session:
            vault = build_vault(settings, load_signing_secret(settings))
            oauth = OAuthClient(oauth_session, settings.oauth_token_url, settings.oauth_client_id)
            refresher = Refresher(
                store, oauth, holder=lease_holder(), margin_s=settings.refresh_margin_s
            )
            audit = AuditLog(store)
            pool = AccountPool(settings, store, vault, refresher, audit=audit)
            await pool.load()
            yield AccountAdmin(pool, store, vault, audit), upstream
    finally:
        await upstream.close()
        await store.close()


def with_accounts(
    action: Callable[..., Coroutine[Any, Any, Any]],
) -> Callable[..., Any]:
    """Run ``action(admin, upstream, **arguments)`` from a synchronous command."""

    @functools.wraps(action)
    def command(**options: Any) -> Any:
        settings = load_settings(options)
        arguments = {k: v for k, v in options.items() if k not in settings.model_fields}

        async def main() -> Any:
            async with account_admin(settings) as (admin, upstream):
                return await action(admin, upstream, **arguments)

        return run(main())

    return command


def _line(account: dict[str, Any]) -> str:
    used = account["utilization_5h"]
    line = (
        f"{account['name']:<20} {account['kind']:<12} {account['state']:<13} "
        f"5h {'-' if used is None else f'{used:.0%}':>4}  "
        f"expires {account['token_expires_at'] or '-'}  requests {account['requests']}"
    )
    if account["reason"]:
        line += f"\n    why: {account['reason']}"
    if account["what_to_do"]:
        line += f"\n    to do: {account['what_to_do']}"
    return line


@click.group()
def accounts() -> None:
    """List, add, remove, test and refresh upstream accounts."""


@accounts.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@settings_options
@with_accounts
async def accounts_list(admin: AccountAdmin, _upstream: UpstreamClient, as_json: bool) -> None:
    """Every account with its state, quota and token expiry (never a token)."""
    listing = admin.list()
    emit(as_json, {"data": listing}, "\n".join(_line(a) for a in listing) or "no accounts")


@accounts.command("add")
@click.option("--name", required=True, help="A name for the account (letters, digits, -_.).")
@click.option("--claude-home", type=click.Path(path_type=Path), help="A Claude Code home.")
@click.option("--oauth-token-file", type=click.File(), help="A file holding a setup token.")
@click.option("--api-key-file", type=click.File(), help="A file holding an Anthropic API key.")
@click.option("--priority", type=int, default=0, show_default=True, help="Lower goes first.")
@click.option("--weight", type=int, default=1, show_default=True, help="Share in round-robin.")
@click.option("--group", default=None, help="A group that keys can be bound to.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@settings_options
@with_accounts
async def accounts_add(
    admin: AccountAdmin,
    _upstream: UpstreamClient,
    name: str,
    claude_home: Path | None,
    oauth_token_file: Any,
    api_key_file: Any,
    priority: int,
    weight: int,
    group: str | None,
    as_json: bool,
) -> None:
    """Add an account: exactly one of --claude-home, --oauth-token-file, --api-key-file."""
    given = [x for x in (claude_home, oauth_token_file, api_key_file) if x is not None]
    if len(given) != 1:
        raise click.UsageError("give one of --claude-home, --oauth-token-file, --api-key-file")
    document: dict[str, Any] = {"name": name, "priority": priority, "weight": weight}
    if group:
        document["group"] = group
    if claude_home is not None:
        document.update(kind="claude-code", claude_home=str(claude_home))
    elif oauth_token_file is not None:
        document.update(kind="oauth-token", token=oauth_token_file.read().strip())
    else:
        document.update(kind="api-key", token=api_key_file.read().strip())
    added = await admin.add(document, CLI)
    emit(as_json, added, "added:\n" + _line(added))


@accounts.command("remove")
@click.argument("name")
@settings_options
@with_accounts
async def accounts_remove(admin: AccountAdmin, _upstream: UpstreamClient, name: str) -> None:
    """Remove an account added with `accounts add` (its state and bindings go too)."""
    await admin.remove(name, CLI)
    click.echo(f"removed {name}")


@accounts.command("disable")
@click.argument("name")
@settings_options
@with_accounts
async def accounts_disable(admin: AccountAdmin, _upstream: UpstreamClient, name: str) -> None:
    """Take an account out of rotation until `accounts enable`."""
    click.echo(_line(await admin.set_disabled(name, True, CLI)))


@accounts.command("enable")
@click.argument("name")
@settings_options
@with_accounts
async def accounts_enable(admin: AccountAdmin, _upstream: UpstreamClient, name: str) -> None:
    """Put a disabled account (or one that needed a login) back in rotation."""
    click.echo(_line(await admin.set_disabled(name, False, CLI)))


@accounts.command("test")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@settings_options
@with_accounts
async def accounts_test(
    admin: AccountAdmin, upstream: UpstreamClient, name: str, as_json: bool
) -> None:
    """Check an account against the upstream with a free count_tokens request."""
    result = await admin.test(name, upstream)
    text = f"{name}: {'ok' if result['ok'] else 'FAILED'}" + (
        f" ({result['error']})" if "error" in result else f" ({result['latency_ms']} ms)"
    )
    emit(as_json, result, text)
    if not result["ok"]:
        raise SystemExit(1)


@accounts.command("refresh")
@click.argument("name")
@settings_options
@with_accounts
async def accounts_refresh(admin: AccountAdmin, _upstream: UpstreamClient, name: str) -> None:
    """Refresh a Claude Code account's login now (one refresh across every process)."""
    click.echo(_line(await admin.refresh(name)))
