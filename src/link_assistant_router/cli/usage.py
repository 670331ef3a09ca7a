"""``link-assistant-router usage``: the usage report, read from the store (no server needed)."""

from __future__ import annotations

from typing import Any

import click

from link_assistant_router.admin.usage import (
    GROUPS,
    report_rows,
    usage_csv,
    usage_query,
    usage_report,
)
from link_assistant_router.cli.support import (
    emit,
    load_settings,
    query_params,
    run,
    settings_options,
)
from link_assistant_router.storage.records import USAGE_TOTALS
from link_assistant_router.storage.sql import open_store

__all__ = ["usage"]

_SHORT = {
    "requests": "requests",
    "errors": "errors",
    "incomplete": "incomplete",
    "input_tokens": "input",
    "output_tokens": "output",
    "cache_creation_input_tokens": "cache write",
    "cache_read_input_tokens": "cache read",
}


@click.command()
@click.option("--key", default=None, help="Only this key (its id).")
@click.option("--account", default=None, help="Only this account.")
@click.option("--model", default=None, help="Only this model.")
@click.option("--since", default=None, help="From this time (ISO 8601 or UNIX seconds).")
@click.option("--until", default=None, help="Before this time (ISO 8601 or UNIX seconds).")
@click.option(
    "--group-by",
    type=click.Choice(GROUPS),
    default=None,
    help="One row per group (minute, hour, day: every one in the range, empty ones too).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@settings_options
def usage(as_json: bool, as_csv: bool, **options: Any) -> None:
    """Requests and tokens from the usage ledger, totalled and grouped."""
    settings = load_settings(options)
    params = query_params(options)

    async def main() -> dict[str, Any]:
        query = usage_query(params)
        store = open_store(settings.store_url)
        await store.open()
        try:
            return usage_report(query, await store.usage_totals(query))
        finally:
            await store.close()

    report = run(main())
    if as_csv:
        click.echo(usage_csv(report), nl=False)
    else:
        emit(as_json, report, _table(report))


def _table(report: dict[str, Any]) -> str:
    header = [report["group_by"] or "", *(_SHORT[name] for name in USAGE_TOTALS)]
    rows = [header, *report_rows(report)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    return "\n".join(lines)
