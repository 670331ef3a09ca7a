"""Enforcing a key's limits before a request goes upstream, and the key's own rate-limit headers.

Limits hold across every process sharing the store, and cost the store as little as they can:

- networks and models: a check in memory (the body is parsed for its model only for a key with
  model patterns);
- requests per minute: the store grants each process requests in batches (1, 2, 4, ... up to a
  tenth of the limit); only a used-up batch costs a store call. A process may be left holding
  part of a batch when the minute ends, so the key may get slightly fewer, never more;
- concurrency: each slot is a lease row in the store; a process keeps the slots it took while
  its requests come and go, and gives them back a second after the key's last request ends;
- budgets, in tokens or dollars: the key's windows, read at most once a second per process,
  plus the tokens and cost this process recorded and has not written yet. A request that starts
  under a budget may end over it; the next one waits (until the window ends: 429; a spent
  lifetime budget is final: 403).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from link_assistant_router.errors import InvalidRequest, PermissionDenied, RateLimited, StoreError
from link_assistant_router.governance.ledger import UsageLedger
from link_assistant_router.limits import (
    ALL_WINDOWS,
    LIFETIME,
    KeyLimits,
    fresh_after,
    new_start,
    window_end,
)
from link_assistant_router.prices import usd
from link_assistant_router.requestlog import RequestLog
from link_assistant_router.storage.base import Store
from link_assistant_router.storage.records import KeyRecord, WindowTokens

__all__ = [
    "CLAIMS",
    "HEADER_NAMES",
    "HEADER_PREFIX",
    "LEASE_S",
    "SLOT_IDLE_S",
    "WARNING_AT",
    "WINDOW_CACHE_S",
    "Governor",
    "WindowState",
    "model_of",
    "rate_headers",
    "window_states",
]

log = logging.getLogger(__name__)

WINDOW_CACHE_S = 1.0
# A concurrency slot a process never gave back (it crashed) frees itself after this long;
# slots in use are renewed every half of it.
LEASE_S = 30.0
# A process keeps a key's free slots this long after its last request, for the next ones.
SLOT_IDLE_S = 1.0
# After the store said every slot is taken, how long this process refuses without asking.
_FULL_RECHECK_S = 0.2
WARNING_AT = 0.75
HEADER_PREFIX = "anthropic-ratelimit-unified-"
# Our windows as Claude Code's headers name them ("5h" and "7d" are the ones it reads).
HEADER_NAMES = {"5h": "5h", "day": "1d", "week": "7d", "month": "1mo", LIFETIME: "total"}
CLAIMS = {
    "5h": "five_hour",
    "day": "one_day",
    "week": "seven_day",
    "month": "one_month",
    LIFETIME: "lifetime",
}
_WINDOW_NAMES = {"5h": "5-hour", "day": "daily", "week": "weekly", "month": "monthly"}


@dataclass(frozen=True, slots=True)
class WindowState:
    """A key's standing in one window: tokens against its token budget, micro-dollars against
    its dollar budget (either may be None)."""

    name: str
    used: float
    budget: int | None
    start: float
    end: float
    cost: int = 0
    cost_budget: int | None = None

    @property
    def utilization(self) -> float:
        """The larger share of the two budgets spent (0 without budgets)."""
        tokens = self.used / self.budget if self.budget else 0.0
        dollars = self.cost / self.cost_budget if self.cost_budget else 0.0
        return max(tokens, dollars)

    @property
    def budgeted(self) -> bool:
        return bool(self.budget or self.cost_budget)

    def spent(self) -> str | None:
        """Which budget is spent, as a refusal says it; None while neither is."""
        if self.cost_budget and self.cost >= self.cost_budget:
            return f"budget of ${usd(self.cost_budget)}"
        if self.budget and self.used >= self.budget:
            return f"token budget of {self.budget:,}"
        return None


@dataclass(slots=True)
class _Minute:
    """This process's share of a key's requests in one minute, granted by the store."""

    minute: int = -1
    limit: int = 0  # the rpm the grants were asked under: a new one asks the store again
    granted: int = 0
    used: int = 0
    batch: int = 1
    exhausted: bool = False
    share: int = 0  # what this process was granted the minute before: its share offline
    offline_ceiling: int | None = None  # set when the store is first away this minute
    since: float = 0.0  # this minute's first request here: what its pace is measured over


@dataclass(slots=True)
class _Slots:
    """The key's concurrency slots this process holds in the store, and how many are in use."""

    held: list[str] = field(default_factory=list)
    busy: int = 0
    last_end: float = 0.0
    renewed_at: float = 0.0
    full_until: float = 0.0
    share: int = 0  # the most slots this process held lately: its share offline


class Governor:
    def __init__(
        self,
        store: Store,
        ledger: UsageLedger,
        *,
        clock: Callable[[], float] = time.time,
        on_reject: Callable[[str], None] | None = None,
        when_store_down: str = "local",
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._local = when_store_down == "local"
        self._clock = clock
        self._on_reject = on_reject
        self._windows: dict[str, tuple[float, dict[str, WindowTokens]]] = {}
        self._window_reads: dict[str, asyncio.Future[dict[str, WindowTokens]]] = {}
        self._minutes: dict[str, _Minute] = {}
        self._slots: dict[str, _Slots] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._leased: dict[str, str] = {}  # request id -> key id
        self._headers: dict[str, tuple[int, list[tuple[str, str]]]] = {}  # key id -> (second, ...)
        self._slot_prefix = "slot:" + os.urandom(6).hex()
        self._slot_count = 0
        ledger.on_flush(self._forget)

    async def admit(self, key: KeyRecord, entry: RequestLog, body: bytes | None) -> None:
        """Raise unless ``key`` may send this request now; counts it against its limits."""
        limits = key.limits
        if limits is None:
            return
        if limits.networks and not limits.allows_address(entry.remote):
            self._rejected("network")
            raise PermissionDenied("this key may not be used from this network address")
        if limits.models and (entry.model is not None or body):
            # Fail closed: a key held to some models sends only bodies whose model is plain.
            model = entry.model if entry.model is not None else model_of(body)
            if model is None:
                self._rejected("model")
                raise InvalidRequest(
                    "this key may use only some models, and the request's model cannot be "
                    'read: send a JSON object (UTF-8, no BOM) with one "model" string'
                )
            if not limits.allows_model(model):
                self._rejected("model")
                raise PermissionDenied(f"this key may not use the model {model[:100]!r}")
        try:
            if limits.rpm is not None:
                await self._take_request(key.id, limits.rpm)
            if limits.concurrency is not None:
                await self._take_slot(key.id, limits.concurrency, entry)
            if limits.has_budgets():
                states = await self.windows(key, budgeted_only=True)
        except StoreError as exc:
            self.release(entry)
            raise StoreError(
                "this key's limits cannot be checked while the store is unavailable"
            ) from exc
        if limits.has_budgets():
            self._check_budgets(entry, states)
            entry.rate_headers = self._rate_headers(key.id, states)

    def _rate_headers(self, key_id: str, states: list[WindowState]) -> list[tuple[str, str]]:
        """The key's own rate-limit headers for its answers, from the windows just checked;
        made at most once a second per key and again once its spending is written to the store
        (they cost a tenth of a small request otherwise): what they say may be a second old, as
        the windows read from the store may be. Never changed once made: answers share them."""
        now = self._clock()
        second = int(now)
        made = self._headers.get(key_id)
        if made is None or made[0] != second:
            made = self._headers[key_id] = (second, rate_headers(states, now))
        return made[1]

    def _check_budgets(self, entry: RequestLog, states: list[WindowState]) -> None:
        spent = [state for state in states if state.spent()]
        if not spent:
            return
        self.release(entry)
        self._rejected("budget")
        for state in spent:
            if state.name == LIFETIME:
                raise PermissionDenied(f"this key's lifetime {state.spent()} is spent")
        now = self._clock()
        last = max(spent, key=lambda s: s.end)
        raise RateLimited(
            f"this key's {_WINDOW_NAMES[last.name]} {last.spent()} is spent",
            last.end - now,
            dict(rate_headers(states, now)),
        )

    async def admit_batch(
        self,
        key: KeyRecord,
        entry: RequestLog,
        models: list[str | None],
        worst_case: int,
        held: int = 0,
    ) -> None:
        """``admit`` for a message batch: every request's model (``None``: unreadable) against
        the key's model limits, and the batch's worst case (``max_tokens`` of all its requests;
        ``held``: the worst case of the key's batches not yet counted) against every budget."""
        limits = key.limits
        if limits is None:
            return
        if limits.models:
            for number, model in enumerate(models):
                if model is None:
                    self._rejected("model")
                    raise InvalidRequest(
                        f"requests[{number}].params.model cannot be read, and this key may use "
                        "only some models"
                    )
                if not limits.allows_model(model):
                    self._rejected("model")
                    raise PermissionDenied(
                        f"requests[{number}]: this key may not use the model {model[:100]!r}"
                    )
        await self.admit(key, entry, None)
        if not limits.budgets:
            return
        states = await self.windows(key, budgeted_only=True)
        for state in states:
            if state.budget is None:
                continue
            left = max(0, state.budget - round(state.used))
            if worst_case + held > left:
                self.release(entry)
                self._rejected("budget")
                now = self._clock()
                raise RateLimited(
                    f"this batch could use up to {worst_case:,} tokens (its requests' "
                    f"max_tokens), and the key's batches not yet counted {held:,} more; its "
                    f"{_WINDOW_NAMES[state.name]} token budget has {left:,} left",
                    state.end - now,
                    dict(rate_headers(states, now)),
                )

    async def _take_request(self, key_id: str, rpm: int) -> None:
        """Count a request against the key's rate, asking the store for more only when this
        process has used what it was granted (in batches that double, up to a tenth of the
        limit: a process may hold on to at most that many unused at a minute's end)."""
        now = self._clock()
        minute = int(now // 60)
        state = self._minutes.get(key_id)
        if state is None or state.minute != minute:
            share = state.granted if state is not None and state.minute == minute - 1 else 0
            state = self._minutes[key_id] = _Minute(minute, rpm, share=share, since=now)
        elif state.limit != rpm:  # the key's limit changed this minute
            state.limit, state.exhausted = rpm, False
        if state.used >= state.granted:
            async with self._locks["rpm:" + key_id]:
                if state.used >= state.granted and not state.exhausted:
                    want = min(state.batch, rpm)
                    try:
                        got = await self._store.reserve_requests(key_id, minute, want, rpm)
                        state.exhausted = got < want
                    except StoreError:
                        if not self._local:
                            raise
                        got = min(
                            want, max(0, self._offline_ceiling(state, rpm, now) - state.granted)
                        )
                    state.granted += got
                    state.batch = min(state.batch * 2, max(1, rpm // 10))
                if state.used >= state.granted:
                    self._rejected("rpm")
                    raise RateLimited(
                        f"this key's limit of {rpm} requests per minute is reached",
                        (minute + 1) * 60 - now,
                    )
        state.used += 1

    @staticmethod
    def _offline_ceiling(state: _Minute, rpm: int, now: float) -> int:
        """While the store is away: this minute this process admits at most its last-known
        pace (last minute's grants, or this minute's requests at the rate they came since its
        first one, over a whole minute, as it stood when the store went), never more than the
        limit."""
        if state.offline_ceiling is None:
            elapsed = max(1.0, now - state.since)
            pace = int(state.used * 60 / elapsed)
            state.offline_ceiling = min(rpm, max(state.share, pace, 1))
        return state.offline_ceiling

    async def _take_slot(self, key_id: str, limit: int, entry: RequestLog) -> None:
        """Take a concurrency slot: one this process holds and is not using, else a new one
        from the store. Slots are kept for a second after the key's last request ends."""
        state = self._slots.get(key_id)
        if state is None:
            state = self._slots[key_id] = _Slots()
        if state.busy >= len(state.held):
            now = self._clock()
            async with self._locks["slots:" + key_id]:
                if state.busy >= len(state.held) and now >= state.full_until:
                    self._slot_count += 1
                    slot = f"{self._slot_prefix}:{self._slot_count}"
                    try:
                        taken = await self._store.take_slot(key_id, slot, now, limit, LEASE_S)
                    except StoreError:
                        if not self._local:
                            raise
                        # Offline: as many at once as this process held lately (at least one).
                        taken = state.busy < min(limit, max(state.share, 1))
                    if taken:
                        state.held.append(slot)
                        state.renewed_at = state.renewed_at or now
                        state.share = max(state.share, len(state.held))
                    else:  # they are all taken: spare the store the same question for a while
                        state.full_until = now + _FULL_RECHECK_S
                if state.busy >= len(state.held):
                    self._rejected("concurrency")
                    raise RateLimited(
                        f"this key's limit of {limit} concurrent requests is reached", 1.0
                    )
        state.busy += 1
        self._leased[entry.request_id] = key_id

    def release(self, entry: RequestLog) -> None:
        """The request is over: its concurrency slot is free for this process's next one."""
        key_id = self._leased.pop(entry.request_id, None)
        if key_id is None:
            return
        state = self._slots[key_id]
        state.busy -= 1
        state.last_end = self._clock()
        state.full_until = 0.0

    async def tick(self) -> None:
        """Every second: give back slots idle for a second; renew the leases of the others."""
        now = self._clock()
        idle: list[str] = []
        renew: list[str] = []
        for state in self._slots.values():
            surplus = len(state.held) - state.busy
            if surplus > 0 and now - state.last_end >= SLOT_IDLE_S:
                idle += state.held[-surplus:]
                del state.held[-surplus:]
            if state.held and now - state.renewed_at >= LEASE_S / 2:
                renew += state.held
                state.renewed_at = now
        await self._store.release(idle)
        await self._store.renew_slots(renew, now + LEASE_S)

    async def close(self) -> None:
        """Give back every slot this process holds (at shutdown)."""
        held = [slot for state in self._slots.values() for slot in state.held]
        self._slots.clear()
        await self._store.release(held)

    async def windows(self, key: KeyRecord, *, budgeted_only: bool = False) -> list[WindowState]:
        """The key's windows now: stored tokens and cost (cached briefly) plus those not yet
        flushed (``budgeted_only``: only those it has a budget for, all a request is checked
        against)."""
        now = self._clock()
        cached = self._windows.get(key.id)
        if cached is not None and now - cached[0] < WINDOW_CACHE_S:
            stored = cached[1]
        else:
            try:
                stored = await self._read_windows(key.id, now)
            except StoreError:
                if not self._local or cached is None:
                    raise  # offline and never read: the budget cannot be told
                stored = cached[1]  # offline: the last read, plus what this process spent
        ledger = self._ledger
        return window_states(
            key.limits,
            stored,
            ledger.pending_tokens.get(key.id, 0.0),
            now,
            pending_cost=ledger.pending_cost.get(key.id, 0),
            budgeted_only=budgeted_only,
        )

    async def _read_windows(self, key_id: str, now: float) -> dict[str, WindowTokens]:
        """One store read per key at a time, however many requests wait for it."""
        read = self._window_reads.get(key_id)
        if read is None:
            read = asyncio.ensure_future(self._store.window_tokens(key_id))
            self._window_reads[key_id] = read
            read.add_done_callback(lambda _: self._window_reads.pop(key_id, None))
        fetched = await asyncio.shield(read)
        self._windows[key_id] = (now, fetched)
        return fetched

    def _forget(self, keys: set[str]) -> None:
        """Flushed tokens left ``pending``: the next check re-reads these keys' windows."""
        for key in keys:
            self._headers.pop(key, None)
            cached = self._windows.get(key)
            if cached is not None:
                self._windows[key] = (0.0, cached[1])

    def _rejected(self, reason: str) -> None:
        if self._on_reject is not None:
            self._on_reject(reason)


def window_states(
    limits: KeyLimits | None,
    stored: dict[str, WindowTokens],
    pending: float,
    now: float,
    *,
    pending_cost: int = 0,
    budgeted_only: bool = False,
) -> list[WindowState]:
    """Every window (the lifetime one last) with what was spent in it and the key's budgets
    (``budgeted_only``: only the windows with a budget)."""
    budgets = limits.budgets if limits is not None else {}
    dollars = limits.budgets_usd if limits is not None else {}
    names: tuple[str, ...] = ALL_WINDOWS
    if budgeted_only:
        names = tuple(name for name in ALL_WINDOWS if budgets.get(name) or dollars.get(name))
    states = []
    for name in names:
        window = stored.get(name)
        if window is not None and window.started_at >= fresh_after(name, now):
            used, cost, start = (
                window.tokens + pending,
                window.cost_micros + pending_cost,
                window.started_at,
            )
        else:
            used, cost, start = pending, pending_cost, new_start(name, now)
        states.append(
            WindowState(
                name,
                used,
                budgets.get(name),
                start,
                window_end(name, start),
                cost,
                dollars.get(name),
            )
        )
    return states


def rate_headers(states: list[WindowState], now: float) -> list[tuple[str, str]]:
    """Claude-style unified rate-limit headers for the windows that have a budget, each at the
    larger share spent of its token and dollar budgets. The lifetime window (``total``) has no
    ``reset``."""
    headers: list[tuple[str, str]] = []
    worst: WindowState | None = None
    for state in states:
        if not state.budgeted:
            continue
        tag = HEADER_NAMES[state.name]
        utilization = state.utilization
        headers.append((f"{HEADER_PREFIX}{tag}-status", _status(utilization)))
        if state.end != math.inf:
            headers.append((f"{HEADER_PREFIX}{tag}-reset", str(int(state.end))))
        headers.append((f"{HEADER_PREFIX}{tag}-utilization", f"{min(utilization, 1.0):.4f}"))
        if worst is None or utilization > worst.utilization:
            worst = state
    if worst is not None:
        headers.append((f"{HEADER_PREFIX}status", _status(worst.utilization)))
        if worst.end != math.inf:
            headers.append((f"{HEADER_PREFIX}reset", str(int(worst.end))))
        headers.append((f"{HEADER_PREFIX}representative-claim", CLAIMS[worst.name]))
    return headers


def _status(utilization: float) -> str:
    if utilization >= 1.0:
        return "rejected"
    return "allowed_warning" if utilization >= WARNING_AT else "allowed"


def model_of(body: bytes | None) -> str | None:
    """The ``model`` of a JSON request body, or None when it cannot be read for sure: not a
    JSON object, no string ``model``, or ``model`` given twice (parsers disagree on which wins)."""
    if not body:
        return None
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    model = document.get("model") if isinstance(document, dict) else None
    if not isinstance(model, str):
        return None
    if body.count(b'"model"') > 1 and _model_given_twice(body):
        return None
    return model


def _model_given_twice(body: bytes) -> bool:
    """Whether the top-level object names ``model`` more than once (orjson keeps the last)."""
    top: list[list[tuple[str, object]]] = []

    def pairs(items: list[tuple[str, object]]) -> dict[str, object]:
        top.append(items)
        return dict(items)

    try:
        json.loads(body, object_pairs_hook=pairs)
    except ValueError:
        return True
    return sum(1 for name, _ in top[-1] if name == "model") > 1 if top else False
