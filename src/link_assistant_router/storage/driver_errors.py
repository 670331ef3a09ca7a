"""Database driver errors become ``StoreError`` here, with messages free of URLs and parameters."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from link_assistant_router.errors import StoreError

__all__ = ["translated"]

P = ParamSpec("P")
T = TypeVar("T")


def translated(
    method: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """Turn database errors into StoreError, keeping the message free of URLs and parameters."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except (SQLAlchemyError, OSError) as exc:
            cause = getattr(exc, "orig", None) or exc
            first_line = str(cause).splitlines()[0] if str(cause) else ""
            raise StoreError(f"store error: {type(cause).__name__}: {first_line}") from exc

    return wrapper
