"""The limit flags shared by ``tokens issue`` and ``tokens update``, and the document they make.

``--budget`` takes tokens (``day=1000000``) or dollars (``'month=$50'``, quoted for the shell;
``total`` is the key's lifetime).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from link_assistant_router.limits import ALL_WINDOWS, WINDOWS

__all__ = ["CLEARABLE_BUDGETS", "LIMIT_NAMES", "limit_options", "limits_document"]

F = TypeVar("F", bound=Callable[..., Any])
LIMIT_NAMES = ("rpm", "concurrency", "budgets", "budgets_usd", "models", "networks")
# What ``--clear`` takes to remove one budget: a window (tokens) or a window-usd (dollars).
CLEARABLE_BUDGETS = (*WINDOWS, *(f"{window}-usd" for window in ALL_WINDOWS))


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
            metavar="WINDOW=TOKENS|WINDOW=$DOLLARS",
            help=f"A token budget per window ({', '.join(WINDOWS)}), or a dollar budget "
            f"('month=$50'; also {ALL_WINDOWS[-1]}, for the key's lifetime); repeatable.",
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
    dollars: dict[str, Any] = {}
    for text in options.get("budgets") or ():
        window, separator, amount = (part.strip() for part in text.partition("="))
        if separator and "$" in amount:
            dollars[window] = amount  # checked by parse_limits
        elif separator and amount.isdigit():
            budgets[window] = int(amount)
        else:
            raise click.BadParameter(
                f"{text!r}: use WINDOW=TOKENS or WINDOW=$DOLLARS, e.g. 5h=2000000 or 'month=$50'",
                param_hint="--budget",
            )
    if budgets:
        document["budgets"] = budgets
    if dollars:
        document["budgets_usd"] = dollars
    for name in ("models", "networks"):
        if options.get(name):
            document[name] = list(options[name])
    return document
