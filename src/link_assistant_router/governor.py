"""Enforcing a key's limits before a request goes upstream, and the key's own rate-limit headers.

Costs on the hot path: nothing for a key without limits; for allowed networks and models, a
check in memory (the model is parsed from the body only for a key with model patterns); for a
request rate or a concurrency limit, one store transaction (``Store.admit``), which also returns
the key's budget windows; for budgets alone, the windows cached for ``WINDOW_CACHE_S`` plus the
tokens this process recorded and has not flushed yet. Budgets are checked against tokens already
spent: a request that starts under the budget may finish over it, and the next one waits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from link_assistant_router.errors import PermissionDenied, RateLimited, StoreError
from link_assistant_router.ledger import UsageLedger
from link_assistant_router.limits import (
    WINDOWS,
    KeyLimits,
    fresh_after,
    new_start,
    window_end,
)
from link_assistant_router.requestlog import RequestLog
from link_assistant_router.storage import KeyRecord, Store
from link_assistant_router.storage.base import WindowTokens

log = logging.getLogger(__name__)

WINDOW_CACHE_S = 1.0
# A concurrency slot a process never gave back (it crashed) frees itself after this long.
LEASE_S = 900.0
WARNING_AT = 0.75
HEADER_PREFIX = "anthropic-ratelimit-unified-"
# Our windows as Claude Code's headers name them ("5h" and "7d" are the ones it reads).
HEADER_NAMES = {"5h": "5h", "day": "1d", "week": "7d", "month": "1mo"}
CLAIMS = {"5h": "five_hour", "day": "one_day", "week": "seven_day", "month": "one_month"}
_WINDOW_NAMES = {"5h": "5-hour", "day": "daily", "week": "weekly", "month": "monthly"}


@dataclass(frozen=True, slots=True)
class WindowState:
    name: str
    used: float
    budget: int | None
    start: float
    end: float

    @property
    def utilization(self) -> float:
        return self.used / self.budget if self.budget else 0.0


class Governor:
    def __init__(
        self,
        store: Store,
        ledger: UsageLedger,
        *,
        clock: Callable[[], float] = time.time,
        on_reject: Callable[[str], None] | None = None,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._clock = clock
        self._on_reject = on_reject
        self._windows: dict[str, tuple[float, dict[str, WindowTokens]]] = {}
        self._leased: set[str] = set()
        self._releasing: set[asyncio.Task[None]] = set()
        ledger.on_flush(self._forget)

    async def admit(self, key: KeyRecord, entry: RequestLog, body: bytes | None) -> None:
        """Raise unless ``key`` may send this request now; counts it against its limits."""
        limits = key.limits
        if limits is None:
            return
        if limits.networks and not limits.allows_address(entry.remote):
            self._rejected("network")
            raise PermissionDenied("this key may not be used from this network address")
        if limits.models:
            model = entry.model or _model_of(body)
            if model is not None and not limits.allows_model(model):
                self._rejected("model")
                raise PermissionDenied(f"this key may not use the model {model[:100]!r}")
        windows: dict[str, WindowTokens] | None = None
        if limits.rpm is not None or limits.concurrency is not None:
            try:
                admission = await self._store.admit(
                    key.id,
                    entry.request_id,
                    self._clock(),
                    rpm=limits.rpm,
                    concurrency=limits.concurrency,
                    lease_s=LEASE_S,
                )
            except StoreError as exc:
                raise StoreError("this key's limits cannot be checked: the store failed") from exc
            if not admission.admitted:
                reason = admission.reason or "rpm"
                self._rejected(reason)
                what = (
                    f"{limits.rpm} requests per minute"
                    if reason == "rpm"
                    else f"{limits.concurrency} concurrent requests"
                )
                raise RateLimited(f"this key's limit of {what} is reached", admission.retry_after)
            if limits.concurrency is not None:
                self._leased.add(entry.request_id)
            windows = admission.windows
            self._windows[key.id] = (self._clock(), windows)
        if limits.budgets:
            states = await self.windows(key, windows)
            spent = [s for s in states if s.budget is not None and s.used >= s.budget]
            if spent:
                self.release(entry)
                self._rejected("budget")
                now = self._clock()
                last = max(spent, key=lambda s: s.end)
                raise RateLimited(
                    f"this key's {_WINDOW_NAMES[last.name]} token budget of {last.budget:,} "
                    "is spent",
                    last.end - now,
                    dict(rate_headers(states, now)),
                )

    def release(self, entry: RequestLog) -> None:
        """Give back the request's concurrency slot, if it took one (without waiting)."""
        if entry.request_id not in self._leased:
            return
        self._leased.discard(entry.request_id)
        task = asyncio.get_running_loop().create_task(self._release(entry.request_id))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def _release(self, request_id: str) -> None:
        try:
            await self._store.release([request_id])
        except StoreError as exc:
            log.warning("could not free a concurrency slot (it frees itself later): %s", exc)

    async def close(self) -> None:
        """Wait for the slots being given back (at shutdown)."""
        if self._releasing:
            await asyncio.gather(*self._releasing, return_exceptions=True)

    async def windows(
        self, key: KeyRecord, fetched: dict[str, WindowTokens] | None = None
    ) -> list[WindowState]:
        """The key's windows now: stored tokens (cached briefly) plus those not yet flushed."""
        now = self._clock()
        if fetched is None:
            cached = self._windows.get(key.id)
            if cached is not None and now - cached[0] < WINDOW_CACHE_S:
                fetched = cached[1]
            else:
                fetched = await self._store.window_tokens(key.id)
                self._windows[key.id] = (now, fetched)
        return window_states(key.limits, fetched, self._ledger.pending_tokens.get(key.id, 0.0), now)

    def headers_for(self, key: KeyRecord) -> list[tuple[str, str]] | None:
        """The key's own ``anthropic-ratelimit-unified-*`` headers, from the windows ``admit``
        just read; None for a key without budgets (its answers keep the upstream's headers)."""
        if key.limits is None or not key.limits.budgets:
            return None
        cached = self._windows.get(key.id)
        stored = cached[1] if cached is not None else {}
        now = self._clock()
        pending = self._ledger.pending_tokens.get(key.id, 0.0)
        return rate_headers(window_states(key.limits, stored, pending, now), now)

    def _forget(self, keys: set[str]) -> None:
        """Flushed tokens left ``pending``: the next check re-reads these keys' windows."""
        for key in keys:
            cached = self._windows.get(key)
            if cached is not None:
                self._windows[key] = (0.0, cached[1])

    def _rejected(self, reason: str) -> None:
        if self._on_reject is not None:
            self._on_reject(reason)


def window_states(
    limits: KeyLimits | None, stored: dict[str, WindowTokens], pending: float, now: float
) -> list[WindowState]:
    budgets = limits.budgets if limits is not None else {}
    states = []
    for name in WINDOWS:
        window = stored.get(name)
        if window is not None and window.started_at >= fresh_after(name, now):
            used, start = window.tokens + pending, window.started_at
        else:
            used, start = pending, new_start(name, now)
        states.append(WindowState(name, used, budgets.get(name), start, window_end(name, start)))
    return states


def rate_headers(states: list[WindowState], now: float) -> list[tuple[str, str]]:
    """Claude-style unified rate-limit headers for the windows that have a budget."""
    budgeted = [s for s in states if s.budget]
    headers: list[tuple[str, str]] = []
    worst: WindowState | None = None
    for state in budgeted:
        tag = HEADER_NAMES[state.name]
        utilization = state.utilization
        headers.append((f"{HEADER_PREFIX}{tag}-status", _status(utilization)))
        headers.append((f"{HEADER_PREFIX}{tag}-reset", str(int(state.end))))
        headers.append((f"{HEADER_PREFIX}{tag}-utilization", f"{min(utilization, 1.0):.4f}"))
        if worst is None or utilization > worst.utilization:
            worst = state
    if worst is not None:
        headers.append((f"{HEADER_PREFIX}status", _status(worst.utilization)))
        headers.append((f"{HEADER_PREFIX}reset", str(int(worst.end))))
        headers.append((f"{HEADER_PREFIX}representative-claim", CLAIMS[worst.name]))
    return headers


def _status(utilization: float) -> str:
    if utilization >= 1.0:
        return "rejected"
    return "allowed_warning" if utilization >= WARNING_AT else "allowed"


def _model_of(body: bytes | None) -> str | None:
    if not body:
        return None
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    model = document.get("model") if isinstance(document, dict) else None
    return model if isinstance(model, str) else None
