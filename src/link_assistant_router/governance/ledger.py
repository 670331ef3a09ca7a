"""The usage ledger: one row per proxied request, written in batches off the request path.

``record`` prices the request (at the prices of now: a later change of price rewrites no row)
and appends its row to memory; ``flush`` (twice a second, and at shutdown) writes the batch and
adds each key's tokens and cost to its budget windows in one transaction. A flush that fails
keeps its rows for the next one: up to ``MEMORY_ROWS`` in memory, the older ones in a spill file
on local disk (``spill.py``, up to ``LEDGER_SPILL_MB``), written when the store is back; only
what would exceed that is dropped, and counted.
Once a day, under a lease so one process does it, whole days older than the retention are
folded into daily totals.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable

from link_assistant_router.errors import StoreRejected
from link_assistant_router.governance.spill import SpillFile
from link_assistant_router.limits import ALL_WINDOWS, fresh_after, new_start, weighted_tokens
from link_assistant_router.prices import BUILT_IN, PriceTable
from link_assistant_router.requestlog import Outcome, RequestLog, Usage, clean_text
from link_assistant_router.storage.base import Store
from link_assistant_router.storage.records import UsageRow, WindowAddition

__all__ = ["DAY_S", "MAX_PENDING", "UsageLedger", "client_family"]

log = logging.getLogger(__name__)

MAX_PENDING = 200_000  # rows in memory at most (without a spill file, the oldest go first)
MEMORY_ROWS = 20_000  # rows kept in memory while the store is away; the older go to disk
SPILL_BATCH_ROWS = 5_000
SPILL_BATCHES = 4  # batches from disk per flush, so one flush stays short
DAY_S = 86400
_NO_USAGE = Usage()  # a request without an answer's usage (never changed)
# A key's weighted tokens and micro-dollars, recorded and not yet written: (key, tokens, cost, at).
Spent = tuple[str, float, int, float]
_ROLLUP_LEASE = "usage-rollup"
# The lengths a row read back from the spill file may have: rows spilled before the columns
# with defaults (the cost's) were added are shorter.
_ROW_LENGTHS = (len(UsageRow._fields) - len(UsageRow._field_defaults), len(UsageRow._fields))


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
        spill: SpillFile | None = None,
        on_dropped: Callable[[int], None] = lambda count: None,
        memory_rows: int = MEMORY_ROWS,
    ) -> None:
        self._store = store
        self._on_set_aside = on_set_aside
        self.spill = spill
        self._on_dropped = on_dropped
        self._memory_rows = memory_rows
        self._weight = cache_read_weight
        self._retention_days = retention_days
        self._clock = clock
        self._prices = prices
        self._is_subscription = is_subscription
        self._rows: list[UsageRow] = []
        self._spent: list[Spent] = []
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
        if len(self._rows) >= MAX_PENDING:  # no spill file, or it could not keep up
            self._drop(self._rows[: MAX_PENDING // 10], "memory is full")
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
            await self.drain_spilled()
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
            self._hold()
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
        await self.drain_spilled()

    async def drain_spilled(self, batches: int = SPILL_BATCHES) -> None:
        """Send rows waiting on disk to the store, oldest first, a batch at a time."""
        if self.spill is None or not self.spill.rows:
            return
        for _ in range(batches):
            values, path, end = self.spill.take(SPILL_BATCH_ROWS)
            if path is None:
                return
            rows = [
                UsageRow(*row) for row in values if _ROW_LENGTHS[0] <= len(row) <= _ROW_LENGTHS[1]
            ]
            if rows:
                try:
                    await self._store.record_usage(rows, [])
                except StoreRejected:
                    await self._write_isolating(rows)
            self.spill.taken(path, end, len(values))

    def _hold(self) -> None:
        """While the store is away: the oldest rows over the memory bound go to the spill file
        (what it cannot take is dropped and counted); each key's unwritten tokens fold into one
        entry, so memory stays bounded however long the outage."""
        if len(self._spent) > len(self.pending_tokens):
            self._spent = _folded(self._spent)
        excess = len(self._rows) - self._memory_rows
        if excess <= 0 or self.spill is None:
            return  # without a spill file, kept in memory up to MAX_PENDING
        moved = self._rows[:excess]
        try:
            dropped = self.spill.append(moved)
        except OSError as exc:
            log.error("usage ledger: the spill file failed (%s); rows stay in memory", exc)
            return
        del self._rows[:excess]
        if dropped:
            self._drop(moved[-dropped:], "the spill file is full (LEDGER_SPILL_MB)")

    def spill_everything(self) -> None:
        """At shutdown with the store away: every row still in memory goes to disk."""
        if self.spill is not None and self._rows:
            self._memory_rows, memory = 0, self._memory_rows
            self._hold()
            self._memory_rows = memory

    def _drop(self, rows: list[UsageRow], why: str) -> None:
        log.error("usage ledger: %d row(s) dropped: %s", len(rows), why)
        self._on_dropped(len(rows))

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


def _folded(spent: list[Spent]) -> list[Spent]:
    """One entry per key: its tokens and cost summed, at its first request's time."""
    totals: dict[str, Spent] = {}
    for key, tokens, cost, at in spent:
        total = totals.get(key)
        if total is not None:
            tokens, cost, at = total[1] + tokens, total[2] + cost, min(total[3], at)
        totals[key] = (key, tokens, cost, at)
    return list(totals.values())


def _window_additions(spent: list[Spent]) -> list[WindowAddition]:
    """One addition per key and window: the batch's tokens and cost, at the first request's
    time."""
    return [
        WindowAddition(key, window, fresh_after(window, at), new_start(window, at), tokens, cost)
        for key, tokens, cost, at in _folded(spent)
        for window in ALL_WINDOWS
    ]
