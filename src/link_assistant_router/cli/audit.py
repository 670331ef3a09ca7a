"""``link-assistant-router audit``: admin actions, newest first, read from the store."""

from __future__ import annotations

from typing import Any

import click
import orjson

from link_assistant_router.admin.audit import audit_report
from link_assistant_router.cli.support import (
    emit,
    load_settings,
    query_params,
    run,
    settings_options,
)
from link_assistant_router.storage.sql import open_store

__all__ = ["audit"]


@click.command()
@click.option("--since", default=None, help="From this time (ISO 8601 or UNIX seconds).")
@click.option("--until", default=None, help="Before this time (ISO 8601 or UNIX seconds).")
@click.option("--action", default=None, help="Only this action, e.g. key.revoke.")
@click.option("--target", default=None, help="Only this key id or account name.")
@click.option("--limit", default=100, show_default=True, help="At most this many records.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@settings_options
def audit(as_json: bool, **options: Any) -> None:
    """Who issued, changed and revoked keys and changed accounts, and when."""
    settings = load_settings(options)
    params = query_params(options)

    async def main() -> dict[str, Any]:
        store = open_store(settings.store_url, settings.store_timeout_s)
        await store.open()
        try:
            return await audit_report(store, params)
        finally:
            await store.close()

    report = run(main())
    lines = [
        f"{row['at']}  {row['actor']:9}  {row['action']:20}  {row['target']}"
        + (f"  {orjson.dumps(row['details']).decode()}" if row["details"] else "")
        for row in report["data"]
    ]
    emit(as_json, report, "\n".join(lines) or "no audit records")
