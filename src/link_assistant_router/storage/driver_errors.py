"""Database driver errors become ``StoreError`` here (``StoreRejected`` when the data itself is
refused), with messages free of URLs and parameters."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import orjson
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from link_assistant_router.errors import StoreError, StoreRejected

__all__ = ["Breaker", "translated"]

log = logging.getLogger(__name__)

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


class Breaker:
    """After the store fails to answer, calls fail at once for ``pause_s`` (a caller with a
    fallback, such as a cached key record, uses it at once instead of waiting out a deadline),
    then one call goes through to see whether it is back."""

    def __init__(self, pause_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.pause_s = pause_s
        self._clock = clock
        self._open_until = 0.0
        self.down_since: float | None = None  # monotonic time of the first failure, if down

    def check(self) -> None:
        if self._open_until == 0.0:
            return
        now = self._clock()
        if now < self._open_until:
            raise StoreError("the store is unavailable (it failed moments ago)")
        self._open_until = now + self.pause_s  # this call tries; the others wait for it

    def opened(self) -> None:
        now = self._clock()
        self._open_until = now + self.pause_s
        if self.down_since is None:
            self.down_since = now
            log.warning("the store is unavailable; going on without it where possible")

    def closed(self) -> None:
        if self._open_until:
            self._open_until = 0.0
            if self.down_since is not None:
                log.warning("the store is back after %.1f s", self._clock() - self.down_since)
            self.down_since = None

    @property
    def is_open(self) -> bool:
        return self.down_since is not None


def _unavailable(breaker: Breaker | None, message: str) -> StoreError:
    if breaker is not None:
        breaker.opened()
    return StoreError(message)


def translated(
    method: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """Give a store method its deadline (its store's ``timeout_s``: connecting, waiting for a
    pooled connection and running its statements together) and turn database errors into
    StoreError, keeping the message free of URLs and parameters."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        breaker: Breaker | None = getattr(args[0], "breaker", None) if args else None
        if breaker is not None:
            breaker.check()
        deadline = getattr(args[0], "timeout_s", None) if args else None
        try:
            async with asyncio.timeout(deadline):
                result = await method(*args, **kwargs)
        except TimeoutError as exc:
            raise _unavailable(breaker, f"the store did not answer within {deadline:g} s") from exc
        except _REJECTED as exc:
            raise StoreRejected(_message(exc)) from exc
        except (SQLAlchemyError, OSError) as exc:
            raise _unavailable(breaker, _message(exc)) from exc
        if breaker is not None:
            breaker.closed()
        return result

    return wrapper
