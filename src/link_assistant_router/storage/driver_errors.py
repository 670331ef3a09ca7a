"""Database driver errors become ``StoreError`` here (``StoreRejected`` when the data itself is
refused), with messages free of URLs and parameters."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import orjson
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from link_assistant_router.errors import StoreError, StoreRejected

__all__ = ["translated"]

P = ParamSpec("P")
T = TypeVar("T")


# The data itself is refused (a value the database or its JSON cannot hold, a constraint): the
# same rows would fail again, so they are not for retrying. Anything else (connections, locks,
# timeouts) may pass.
_REJECTED = (DataError, IntegrityError, orjson.JSONEncodeError, UnicodeError)


def _message(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    first_line = str(cause).splitlines()[0] if str(cause) else ""
    return f"store error: {type(cause).__name__}: {first_line}"


def translated(
    method: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """Turn database errors into StoreError, keeping the message free of URLs and parameters."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except _REJECTED as exc:
            raise StoreRejected(_message(exc)) from exc
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(_message(exc)) from exc

    return wrapper
