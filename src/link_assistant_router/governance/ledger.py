"""The usage ledger: one row per proxied request, written in batches off the request path.

``record`` prices the request (at the prices of now: a later change of price rewrites no row)
and appends its row to memory; ``flush`` (every second, and at shutdown) writes the batch and
adds each key's tokens and cost to its budget windows in one transaction. A flush that fails
keeps its rows for the next one (up to ``MAX_PENDING``), so a store that is briefly away loses
nothing.
Once a day, under a lease so one process does it, whole days older than the retention are
folded into daily totals.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable

from link_assistant_router.errors import StoreRejected
from link_assistant_router.limits import ALL_WINDOWS, fresh_after, new_start, weighted_tokens
from link_assistant_router.prices import BUILT_IN, PriceTable
from link_assistant_router.requestlog import Outcome, RequestLog, Usage, clean_text
from link_assistant_router.storage.base import Store
from link_assistant_router.storage.records import UsageRow, WindowAddition

__all__ = ["DAY_S", "MAX_PENDING", "UsageLedger", "client_family"]

log = logging.getLogger(__name__)

MAX_PENDING = 100_000
DAY_S = 86400
_NO_USAGE = Usage()  # a request without an answer's usage (never changed)
_ROLLUP_LEASE = "usage-rollup"


def client_family(user_agent: str | None) -> str | None:
    """``claude-cli/2.1.3 (external, cli)`` -> ``claude-cli``; ``OpenAI/Python 1.2`` ->
    ``OpenAI/Python``: the product, without its version."""
    if not user_agent:
        return None
    product = user_agent.split(" ", 1)[0]
    name, _, version = product.rpartition("/")
    if name and version[:1].isdigit():
        product = name
    return product[:60]


class UsageLedger:
    def __init__(
        self,
        store: Store,
        *,
        cache_read_weight: float,
        retention_days: int,
        clock: Callable[[], float] = time.time,
        on_set_aside: Callable[[int], None] = lambda count: None,
        prices: PriceTable = BUILT_IN,
        is_subscription: Callable[[str], bool] = lambda account: False,
    ) -> None:
        self._store = store
        self._on_set_aside = on_set_aside
        self._weight = cache_read_weight
        self._retention_days = retention_days
        self._clock = clock
        self._prices = prices
        self._is_subscription = is_subscription
        self._rows: list[UsageRow] = []
        # Keys' weighted tokens and micro-dollars recorded here and not yet flushed:
        # (key, tokens, cost, at).
        self._spent: list[tuple[str, float, int, float]] = []
        self.pending_tokens: defaultdict[str, float] = defaultdict(float)
        self.pending_cost: defaultdict[str, int] = defaultdict(int)
        self._flushed: list[Callable[[set[str]], None]] = []
        self._rolled_up_day = -1

    def on_flush(self, callback: Callable[[set[str]], None]) -> None:
        """Call ``callback`` with the keys whose windows a flush changed."""
        self._flushed.append(callback)

    def record(self, entry: RequestLog) -> int:
        """Queue the row of a finished request, and its tokens and cost for its key's windows;
        returns its cost in micro-dollars (0 when its model has no price)."""
        if entry.key_id is None:
            return 0
        usage = entry.usage or _NO_USAGE
        now = self._clock()
        elapsed_s = time.perf_counter() - entry.started
        at = now - elapsed_s
        error = None if entry.outcome == Outcome.OK else entry.outcome[:60]
        cost = unpriced = 0
        if usage is not _NO_USAGE:
            # Usage on the batch routes (proxy/batches.py) is a batch's results: half price.
            priced = self._prices.cost(entry.model, usage, batch=entry.route == "batches")
            if priced is not None:
                cost = priced
            elif usage.total():
                unpriced = 1
        five_minutes = usage.cache_creation_5m_input_tokens()
        row = UsageRow(
            entry.request_id,
            at,
            int(at // DAY_S),
            entry.key_id,
            entry.account or "",
            clean_text(entry.model[:100]) if entry.model else "",
            clean_text(entry.session[:200]) if entry.session else None,
            client_family(entry.client),
            entry.path[:200],
            entry.status,
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_creation_input_tokens,
            usage.cache_read_input_tokens,
            None if entry.ttfb is None else round(entry.ttfb * 1000, 2),
            round(elapsed_s * 1000, 2),
            error,
            1 if entry.usage_complete else 0,
            five_minutes,
            usage.cache_creation_input_tokens - five_minutes,
            usage.web_search_requests,
            usage.web_fetch_requests,
            cost,
            1 if entry.account and self._is_subscription(entry.account) else 0,
            unpriced,
        )
        if len(self._rows) >= MAX_PENDING:
            log.error("usage ledger: %d rows wait for the store; dropping the oldest", MAX_PENDING)
            del self._rows[: MAX_PENDING // 10]
        self._rows.append(row)
        if usage is not _NO_USAGE:
            tokens = weighted_tokens(
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_creation_input_tokens,
                usage.cache_read_input_tokens,
                self._weight,
            )
            if tokens or cost:
                self._spent.append((entry.key_id, tokens, cost, now))
                self.pending_tokens[entry.key_id] += tokens
                self.pending_cost[entry.key_id] += cost
        return cost

    async def flush(self) -> None:
        """Write what is queued; while the store is away it stays queued (and the error is
        raised). Rows the store refuses as they are are set aside and counted, never blocking
        the rows behind them."""
        if not self._rows and not self._spent:
            return
        rows, spent = self._rows, self._spent
        self._rows, self._spent = [], []
        additions = _window_additions(spent)
        try:
            try:
                await self._store.record_usage(rows, additions)
            except StoreRejected:
                # Some row is unwritable: the tokens still count; find the rows that fail.
                await self._store.record_usage([], additions)
                spent = []
                await self._write_isolating(rows)
        except BaseException:
            self._rows[:0], self._spent[:0] = rows, spent
            raise
        keys = {key for key, _, _, _ in spent}
        for key, tokens, cost, _ in spent:
            left = self.pending_tokens[key] - tokens
            if left > 1e-6:
                self.pending_tokens[key] = left
            else:
                self.pending_tokens.pop(key, None)
            left_cost = self.pending_cost[key] - cost
            if left_cost > 0:
                self.pending_cost[key] = left_cost
            else:
                self.pending_cost.pop(key, None)
        for callback in self._flushed:
            callback(keys)

    async def _write_isolating(self, rows: list[UsageRow]) -> None:
        """Write ``rows`` in halves until each refused row stands alone, and set those aside.
        Rows written are taken out of ``rows``; on a store that went away, the rest stay in it
        for the caller to queue again."""
        refused: list[tuple[UsageRow, str]] = []
        pending = [rows[:]]
        while pending:
            part = pending.pop()
            try:
                await self._store.record_usage(part, [])
            except StoreRejected as exc:
                if len(part) == 1:
                    refused.append((part[0], exc.message))
                    rows.remove(part[0])
                    continue
                middle = len(part) // 2
                pending += [part[middle:], part[:middle]]
                continue
            for row in part:
                rows.remove(row)
        if refused:
            row, why = refused[0]
            log.error(
                "usage ledger: %d row(s) could not be written and were set aside "
                "(first: request %s, key %s: %s)",
                len(refused),
                row.request_id,
                row.key_id,
                why,
            )
            self._on_set_aside(len(refused))

    async def roll_up(self, holder: str) -> None:
        """Once a day per process (and by one process at a time): fold old days into totals."""
        today = int(self._clock() // DAY_S)
        if self._rolled_up_day == today:
            return
        now = self._clock()
        if not await self._store.acquire_lease(_ROLLUP_LEASE, holder, 600, now):
            return
        try:
            moved = await self._store.roll_up_usage(today - self._retention_days)
            await self._store.purge_limit_counters(now)
        finally:
            await self._store.release_lease(_ROLLUP_LEASE, holder)
        self._rolled_up_day = today
        if moved:
            log.info(
                "usage ledger: %d rows older than %d days folded into daily totals",
                moved,
                self._retention_days,
            )


def _window_additions(spent: list[tuple[str, float, int, float]]) -> list[WindowAddition]:
    """One addition per key and window: the batch's tokens and cost, at the first request's
    time."""
    totals: dict[str, tuple[float, int, float]] = {}
    for key, tokens, cost, at in spent:
        total = totals.get(key)
        totals[key] = (
            (tokens, cost, at)
            if total is None
            else (
                total[0] + tokens,
                total[1] + cost,
                total[2],
            )
        )
    return [
        WindowAddition(key, window, fresh_after(window, at), new_start(window, at), tokens, cost)
        for key, (tokens, cost, at) in totals.items()
        for window in ALL_WINDOWS
    ]
