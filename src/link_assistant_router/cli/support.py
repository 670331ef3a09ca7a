"""What every command shares: flags from the settings, errors as messages, JSON or text output."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson
from pydantic import ValidationError

from link_assistant_router.config import Settings, setting_specs
from link_assistant_router.errors import RouterError

__all__ = [
    "SETTING_FIELDS",
    "emit",
    "load_settings",
    "query_params",
    "run",
    "settings_options",
]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
SETTING_FIELDS = {spec.field for spec in setting_specs()}


def settings_options(command: F) -> F:
    """Add one flag per setting to a command."""
    for spec in reversed(setting_specs()):
        if spec.python_type is bool:  # a switch: --disable-metrics
            command = click.option(
                spec.flag,
                spec.field,
                is_flag=True,
                flag_value=True,
                default=None,
                help=f"{spec.help} [env {spec.env}=true]",
            )(command)
            continue
        click_type: Any = (
            click.Path(path_type=Path) if spec.python_type is Path else spec.python_type
        )
        command = click.option(
            spec.flag,
            spec.field,
            type=click_type,
            default=None,
            help=f"{spec.help} [env {spec.env}; default: {spec.default_text}]",
        )(command)
    return command


def load_settings(options: dict[str, Any]) -> Settings:
    """Settings from flags (those given) over the environment and .env, or a clear CLI error."""
    given = {
        name: value
        for name, value in options.items()
        if name in SETTING_FIELDS and value is not None
    }
    env_names = {spec.field: spec.env for spec in setting_specs()}
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False):
            field = str(error["loc"][0]) if error["loc"] else "settings"
            problems.append(f"{env_names.get(field, field)}: {error['msg']}")
        raise click.UsageError("invalid settings:\n  " + "\n  ".join(problems)) from exc


def query_params(options: dict[str, Any]) -> dict[str, str]:
    """A command's own options that were given (not the settings' flags), as the API's query
    parameters: the report commands share the API's parsing of them."""
    return {
        name: str(value)
        for name, value in options.items()
        if name not in SETTING_FIELDS and value is not None
    }


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coroutine)
    except RouterError as exc:
        raise click.ClickException(exc.message) from exc


def emit(as_json: bool, data: Any, text: str) -> None:
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() if as_json else text)
