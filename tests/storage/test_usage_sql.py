"""The usage ledger on SQLite and PostgreSQL: totals, rollups, and the budget windows it adds to."""

from __future__ import annotations

import uuid
from typing import Any

from link_assistant_router.storage.records import UsageQuery, UsageRow, WindowAddition
from link_assistant_router.storage.sql import SqlStore
from tests.storage.conftest import DAY, TODAY


def row(at: float, **values: Any) -> UsageRow:
    fields: dict[str, Any] = {
        "request_id": "req_" + uuid.uuid4().hex,
        "at": at,
        "key_id": "key-a",
        "account": "acct",
        "model": "claude-sonnet-5",
        "session": None,
        "client": "claude-cli",
        "route": "/v1/messages",
        "status": 200,
        "input_tokens": 10,
        "output_tokens": 5,
        "cache_creation_input_tokens": 1,
        "cache_read_input_tokens": 100,
        "ttfb_ms": 3.5,
        "duration_ms": 9.0,
        "error_type": None,
        "complete": 1,
    }
    fields.update(values)
    return UsageRow(day=int(fields["at"] // DAY), **fields)


async def totals(store: SqlStore, **query: Any) -> dict[str, Any]:
    found = await store.usage_totals(UsageQuery(**query))
    return found[0] if found else {}


async def test_rollups_keep_totals_exact_and_the_raw_table_small(store: SqlStore) -> None:
    rows = [
        row(TODAY - 100 * DAY + 5),
        row(TODAY - 100 * DAY + 50, key_id="key-b", error_type="overloaded_error", complete=0),
        row(TODAY - 99 * DAY + 5, model="claude-haiku-4-5"),
        row(TODAY + 10),
    ]
    await store.record_usage(rows, [])
    before = await store.usage_totals(UsageQuery(group_by="day"))

    moved = await store.roll_up_usage(TODAY // DAY - 90)
    assert moved == 3
    assert await store.usage_totals(UsageQuery(group_by="day")) == before
    everything = await totals(store)
    assert everything["requests"] == 4
    assert (everything["errors"], everything["incomplete"]) == (1, 1)
    assert everything["cache_read_input_tokens"] == 400
    by_model = await store.usage_totals(UsageQuery(group_by="model"))
    assert [(g["group"], g["requests"]) for g in by_model] == [
        ("claude-haiku-4-5", 1),
        ("claude-sonnet-5", 3),
    ]
    assert (await totals(store, key_id="key-b"))["requests"] == 1
    # Old days are whole days: a range that starts inside one leaves it out.
    assert (await totals(store, since=TODAY - 100 * DAY + 1))["requests"] == 2
    assert (await totals(store, since=TODAY - 100 * DAY))["requests"] == 4

    assert await store.roll_up_usage(TODAY // DAY - 90) == 0  # nothing is folded twice
    assert (await totals(store))["requests"] == 4


async def test_recent_rows_are_filtered_by_the_second(store: SqlStore) -> None:
    await store.record_usage([row(TODAY + 10), row(TODAY + 20, account="other")], [])
    assert (await totals(store, since=TODAY + 15))["requests"] == 1
    assert (await totals(store, until=TODAY + 15))["requests"] == 1
    assert (await totals(store, account="other"))["requests"] == 1
    assert (await totals(store, key_id="nobody"))["requests"] == 0


async def test_windows_add_up_and_start_again_once_ended(store: SqlStore) -> None:
    def add(tokens: float, fresh_after: float, started_at: float) -> WindowAddition:
        return WindowAddition("key-a", "day", fresh_after, started_at, tokens)

    await store.record_usage([], [add(10, TODAY, TODAY)])
    await store.record_usage([], [add(5, TODAY, TODAY)])
    assert (await store.window_tokens("key-a"))["day"].tokens == 15
    await store.record_usage([], [add(7, TODAY + DAY, TODAY + DAY)])  # the next day
    window = (await store.window_tokens("key-a"))["day"]
    assert (window.tokens, window.started_at) == (7, TODAY + DAY)


async def test_rollups_keep_costs_tiers_tools_and_unpriced_models(store: SqlStore) -> None:
    old = TODAY - 100 * DAY
    rows = [
        row(old + 5, cost_micros=1_000_001, subscription=1, session="s-1", web_search_requests=2),
        row(old + 6, cost_micros=2, cache_creation_5m_input_tokens=3, session="s-1"),
        row(old + 7, model="claude-unreleased-9", unpriced=1, cache_creation_1h_input_tokens=4),
        row(TODAY + 10, cost_micros=40, subscription=1, session="s-2", web_fetch_requests=1),
    ]
    await store.record_usage(rows, [])
    before = await totals(store)
    sessions_before = await store.usage_totals(UsageQuery(group_by="session"))
    assert [(g["group"], g["cost_micros"]) for g in sessions_before] == [
        ("s-1", 1_000_003),
        ("s-2", 40),
        (None, 0),
    ]

    assert await store.roll_up_usage(TODAY // DAY - 90) == 3
    after = await totals(store)
    assert after == before
    assert (after["cost_micros"], after["api_equivalent_micros"]) == (1_000_043, 1_000_041)
    assert (after["cache_creation_5m_input_tokens"], after["cache_creation_1h_input_tokens"]) == (
        3,
        4,
    )
    assert (after["web_search_requests"], after["web_fetch_requests"]) == (2, 1)
    assert after["unpriced_requests"] == 1
    assert await store.unpriced_models(UsageQuery()) == ["claude-unreleased-9"]
    assert await store.unpriced_models(UsageQuery(since=TODAY)) == []
    # Rollups keep no sessions: their requests become one group, None.
    sessions = await store.usage_totals(UsageQuery(group_by="session"))
    assert [(g["group"], g["requests"], g["cost_micros"]) for g in sessions] == [
        ("s-2", 1, 40),
        (None, 3, 1_000_003),
    ]


async def test_windows_add_up_cost_and_start_it_again_with_the_window(store: SqlStore) -> None:
    def add(micros: int, fresh_after: float, started_at: float) -> WindowAddition:
        return WindowAddition("key-a", "month", fresh_after, started_at, 1.0, micros)

    await store.record_usage([], [add(1_000_000, TODAY, TODAY)])
    await store.record_usage([], [add(250, TODAY, TODAY)])
    assert (await store.window_tokens("key-a"))["month"].cost_micros == 1_000_250
    await store.record_usage([], [add(7, TODAY + 31 * DAY, TODAY + 31 * DAY)])
    window = (await store.window_tokens("key-a"))["month"]
    assert (window.cost_micros, window.tokens, window.started_at) == (7, 1.0, TODAY + 31 * DAY)
