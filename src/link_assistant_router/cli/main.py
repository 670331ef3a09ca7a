"""The command line: ``serve`` (the default), ``tokens ...``, ``accounts ...``, ``usage``,
``audit``, ``doctor``.

Every command takes every setting as a flag, built from ``config.setting_specs``; flags win
over environment variables, which win over ``.env``. The ``tokens`` commands work on the store
directly, with or without a running server.
"""

from __future__ import annotations

import asyncio
from typing import Any

import click

from link_assistant_router import __version__
from link_assistant_router.cli.accounts import accounts
from link_assistant_router.cli.audit import audit
from link_assistant_router.cli.support import emit, load_settings, settings_options
from link_assistant_router.cli.tokens import tokens
from link_assistant_router.cli.usage import usage
from link_assistant_router.errors import RouterError

__all__ = ["cli", "doctor", "main", "serve"]


@click.group(invoke_without_command=True)
@click.version_option(__version__, prog_name="link-assistant-router")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Link.Assistant.Router: a self-hosted gateway for the Anthropic API.

    Without a command, runs `serve`.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(serve)


@cli.command()
@settings_options
def serve(**options: Any) -> None:
    """Run the router (the default command)."""
    from link_assistant_router.server import serve as run_server

    settings = load_settings(options)
    try:
        run_server(settings)
    except RouterError as exc:
        raise click.ClickException(exc.message) from exc


cli.add_command(accounts)
cli.add_command(usage)
cli.add_command(audit)
cli.add_command(tokens)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@settings_options
def doctor(as_json: bool, **options: Any) -> None:
    """Check the settings, the store, the upstream credential and the upstream."""
    from link_assistant_router.cli.doctor import diagnose, render

    settings = load_settings(options)
    report = asyncio.run(diagnose(settings))
    emit(as_json, report, render(report))
    if not report["ok"]:
        raise SystemExit(1)


def main() -> None:
    cli(prog_name="link-assistant-router")
