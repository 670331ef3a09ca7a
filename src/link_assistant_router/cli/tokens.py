"""``tokens issue | list | show | update | revoke``: the keys, worked on in the store directly,
with or without a running server."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any

import click

from link_assistant_router.accounts.account import settings_accounts
from link_assistant_router.admin.common import check_binding, key_view
from link_assistant_router.cli.limits import (
    CLEARABLE_BUDGETS,
    LIMIT_NAMES,
    limit_options,
    limits_document,
)
from link_assistant_router.cli.support import (
    SETTING_FIELDS,
    emit,
    load_settings,
    run,
    settings_options,
)
from link_assistant_router.governance.audit import CLI, AuditLog
from link_assistant_router.governance.keys import KeyService, load_signing_secret
from link_assistant_router.limits import WINDOWS
from link_assistant_router.storage.records import KeyRecord
from link_assistant_router.storage.sql import open_store

__all__ = [
    "tokens",
    "tokens_issue",
    "tokens_list",
    "tokens_revoke",
    "tokens_show",
    "tokens_update",
    "with_keys",
]


@click.group()
def tokens() -> None:
    """Issue, list, show and revoke la_sk_ keys (works on the store, no server needed)."""


def with_keys(
    action: Callable[..., Coroutine[Any, Any, Any]],
) -> Callable[..., Any]:
    """Run ``action(keys, **arguments)`` with an open store, from a synchronous command."""

    @functools.wraps(action)
    def command(**options: Any) -> Any:
        settings = load_settings(options)
        arguments = {name: value for name, value in options.items() if name not in SETTING_FIELDS}

        async def main() -> Any:
            store = open_store(settings.store_url, settings.store_timeout_s)
            await store.open()
            try:
                if arguments.get("account") is not None or arguments.get("group") is not None:
                    stored = await store.list_accounts()
                    check_binding(
                        arguments.get("account"),
                        arguments.get("group"),
                        [a.name for a in settings_accounts(settings)] + [r.name for r in stored],
                        [r.group for r in stored if r.group],
                    )
                keys = KeyService(store, load_signing_secret(settings), audit=AuditLog(store))
                return await action(keys, **arguments)
            finally:
                await store.close()

        return run(main())

    return command


def _limits_text(record: KeyRecord) -> str:
    if record.limits is None:
        return "\n  no limits"
    return "".join(f"\n  {name}: {value}" for name, value in record.limits.to_dict().items())


def _key_line(record: KeyRecord) -> str:
    view = key_view(record)
    state = "revoked" if record.revoked_at else "active"
    return (
        f"{view['id']}  {state:7}  expires {view['expires_at']}  "
        f"last used {view['last_used_at'] or 'never'}  {view['label']!r}"
    )


@tokens.command("issue")
@click.option("--ttl-hours", type=float, default=24, show_default=True, help="Lifetime in hours.")
@click.option("--label", default="", help="A name to recognise the key by.")
@click.option("--account", default=None, help="Serve this key only from this account.")
@click.option("--group", default=None, help="Serve this key only from this account group.")
@limit_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@settings_options
@with_keys
async def tokens_issue(
    keys: KeyService,
    ttl_hours: float,
    label: str,
    account: str | None,
    group: str | None,
    as_json: bool,
    **limits: Any,
) -> None:
    """Issue a key and print it (this is the only time it is shown)."""
    ttl: float | int = int(ttl_hours) if ttl_hours.is_integer() else ttl_hours
    document = limits_document(limits)
    issued = await keys.issue(
        ttl, label, account=account, group=group, limits=document or None, actor=CLI
    )
    view = key_view(issued.record)
    data = {"token": issued.token, "ttl_hours": ttl, **view}
    text = (
        f"{issued.token}\n\nid: {view['id']}\nlabel: {view['label']!r}\n"
        f"expires: {view['expires_at']}\nThe key is shown only once: store it now."
    )
    emit(as_json, data, text)


@tokens.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@settings_options
@with_keys
async def tokens_list(keys: KeyService, as_json: bool) -> None:
    """List keys (never the keys themselves)."""
    records = await keys.list()
    text = "\n".join(_key_line(record) for record in records) or "no keys issued yet"
    emit(as_json, {"data": [key_view(record) for record in records]}, text)


@tokens.command("show")
@click.argument("key_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@settings_options
@with_keys
async def tokens_show(keys: KeyService, key_id: str, as_json: bool) -> None:
    """Show one key's record."""
    record = await keys.get(key_id)
    emit(as_json, key_view(record), _key_line(record) + _limits_text(record))


@tokens.command("update")
@click.argument("key_id")
@click.option("--label", default=None, help="A new label.")
@limit_options
@click.option(
    "--clear",
    "clear",
    multiple=True,
    type=click.Choice([*LIMIT_NAMES, *CLEARABLE_BUDGETS]),
    help="Remove a limit (a window name removes that token budget, WINDOW-usd that dollar "
    "budget); repeatable.",
)
@click.option("--clear-limits", is_flag=True, help="Remove all the key's limits.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@settings_options
@with_keys
async def tokens_update(
    keys: KeyService,
    key_id: str,
    label: str | None,
    clear: tuple[str, ...],
    clear_limits: bool,
    as_json: bool,
    **limits: Any,
) -> None:
    """Change a key's label or limits; workers and replicas apply it within KEY_CACHE_TTL_S."""
    change: dict[str, Any] = {}
    if label is not None:
        change["label"] = label
    if clear_limits:
        change["limits"] = None
    else:
        document = limits_document(limits)
        for name in clear:
            if name in WINDOWS:
                document.setdefault("budgets", {})[name] = None
            elif name.endswith("-usd"):
                document.setdefault("budgets_usd", {})[name.removesuffix("-usd")] = None
            else:
                document[name] = None
        if document:
            change["limits"] = document
    if not change:
        raise click.UsageError(
            "nothing to change: give --label, a limit, --clear or --clear-limits"
        )
    record = await keys.update(key_id, change, CLI)
    emit(as_json, key_view(record), "updated: " + _key_line(record) + _limits_text(record))


@tokens.command("revoke")
@click.argument("key_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@settings_options
@with_keys
async def tokens_revoke(keys: KeyService, key_id: str, as_json: bool) -> None:
    """Revoke a key; every worker and replica refuses it within KEY_CACHE_TTL_S."""
    record = await keys.revoke(key_id, CLI)
    emit(as_json, key_view(record), "revoked: " + _key_line(record))
