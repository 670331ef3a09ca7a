"""``link-assistant-router usage``: the usage report, read from the store (no server needed)."""

from __future__ import annotations

from typing import Any

import click

from link_assistant_router.admin.usage import (
    GROUPS,
    read_usage_report,
    report_rows,
    usage_csv,
    usage_query,
)
from link_assistant_router.cli.support import (
    emit,
    load_settings,
    query_params,
    run,
    settings_options,
)
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
    "web_search_requests": "searches",
    "cost_usd": "cost $",
    "api_equivalent_usd": "API-equiv. $",
}


@click.command()
@click.option("--key", default=None, help="Only this key (its id).")
@click.option("--account", default=None, help="Only this account.")
@click.option("--model", default=None, help="Only this model.")
@click.option("--since", default=None, help="From this time (ISO 8601 or UNIX seconds).")
@click.option("--until", default=None, help="Before this time (ISO 8601 or UNIX seconds).")
@click.option(
    "--group-by",
    "--by",
    type=click.Choice(GROUPS),
    default=None,
    help="One row per group (minute, hour, day: every one in the range, empty ones too).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@settings_options
def usage(as_json: bool, as_csv: bool, **options: Any) -> None:
    """Requests, tokens and cost from the usage ledger, totalled and grouped."""
    settings = load_settings(options)
    params = query_params(options)

    async def main() -> dict[str, Any]:
        query = usage_query(params)
        store = open_store(settings.store_url, settings.store_timeout_s)
        await store.open()
        try:
            return await read_usage_report(store, query)
        finally:
            await store.close()

    report = run(main())
    if as_csv:
        click.echo(usage_csv(report), nl=False)
        for note in _notes(report):
            click.echo(note, err=True)
    else:
        emit(as_json, report, "\n".join([_table(report), *_notes(report)]))


def _notes(report: dict[str, Any]) -> list[str]:
    """What the numbers need said beside them: costs served by subscriptions, no prices."""
    notes = []
    if report["totals"]["api_equivalent_usd"] != "0.00":
        notes.append(
            "API-equiv.: the part of the cost served by subscription accounts, what it would "
            "have cost at API prices"
        )
    notes += [
        f"no price for model {model}: its requests count as $0 (add it to PRICES_FILE)"
        for model in report["unpriced_models"]
    ]
    return notes


def _table(report: dict[str, Any]) -> str:
    header = [report["group_by"] or "", *_SHORT.values()]
    rows = [header, *report_rows(report, tuple(_SHORT))]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    return "\n".join(lines)
