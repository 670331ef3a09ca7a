"""The limit flags shared by ``tokens issue`` and ``tokens update``, and the document they make."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from link_assistant_router.limits import WINDOWS

__all__ = ["LIMIT_NAMES", "limit_options", "limits_document"]

F = TypeVar("F", bound=Callable[..., Any])
LIMIT_NAMES = ("rpm", "concurrency", "budgets", "models", "networks")


def limit_options(command: F) -> F:
    options = [
        click.option(
            "--rpm", type=click.IntRange(min=1), default=None, help="Requests per minute."
        ),
        click.option(
            "--concurrency", type=click.IntRange(min=1), default=None, help="Requests at once."
        ),
        click.option(
            "--budget",
            "budgets",
            multiple=True,
            metavar="WINDOW=TOKENS",
            help=f"A token budget per window ({', '.join(WINDOWS)}); repeatable.",
        ),
        click.option(
            "--model", "models", multiple=True, metavar="GLOB", help="Allowed models; repeatable."
        ),
        click.option(
            "--network",
            "networks",
            multiple=True,
            metavar="CIDR",
            help="Allowed client networks; repeatable.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def limits_document(options: dict[str, Any]) -> dict[str, Any]:
    """The limits the flags set, as the API's document (validated by ``parse_limits``)."""
    document: dict[str, Any] = {}
    for name in ("rpm", "concurrency"):
        if options.get(name) is not None:
            document[name] = options[name]
    budgets: dict[str, Any] = {}
    for text in options.get("budgets") or ():
        window, separator, tokens = text.partition("=")
        if not separator or not tokens.strip().isdigit():
            raise click.BadParameter(
                f"{text!r}: use WINDOW=TOKENS, e.g. 5h=2000000", param_hint="--budget"
            )
        budgets[window.strip()] = int(tokens)
    if budgets:
        document["budgets"] = budgets
    for name in ("models", "networks"):
        if options.get(name):
            document[name] = list(options[name])
    return document
