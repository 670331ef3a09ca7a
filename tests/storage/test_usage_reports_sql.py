"""Usage reports on SQLite and PostgreSQL: time buckets, whole hours read from the hourly totals
and part hours from the rows (each request exactly once), recent rows, latency percentiles."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from link_assistant_router.storage.records import UsageQuery
from link_assistant_router.storage.sql import SqlStore, open_store
from tests.storage.conftest import DAY, TODAY, migrated_to
from tests.storage.test_usage_sql import row

HOUR = 3600


async def grouped(store: SqlStore, **query: Any) -> list[tuple[object, int]]:
    return [(g["group"], int(g["requests"])) for g in await store.usage_totals(UsageQuery(**query))]  # type: ignore[call-overload]


async def test_requests_are_counted_once_whatever_the_range(store: SqlStore) -> None:
    times = [
        TODAY + 10,
        TODAY + HOUR - 1,
        TODAY + HOUR + 5,
        TODAY + 2 * HOUR + 30,
        TODAY + 5 * HOUR,
    ]
    await store.record_usage([row(at) for at in times], [])
    # Every range, aligned to hours or not: the rows in it, no more, no fewer.
    for since in (None, TODAY, TODAY + 5, TODAY + HOUR - 1, TODAY + HOUR + 6):
        for until in (
            None,
            TODAY + HOUR,
            TODAY + 2 * HOUR + 31,
            TODAY + 5 * HOUR,
            TODAY + 9 * HOUR,
        ):
            expected = sum(
                1
                for at in times
                if (since is None or at >= since) and (until is None or at < until)
            )
            found = await store.usage_totals(UsageQuery(since=since, until=until))
            assert found[0]["requests"] == expected, (since, until)


async def test_hour_and_day_buckets_are_numbers_of_their_length(store: SqlStore) -> None:
    await store.record_usage(
        [row(TODAY + 10), row(TODAY + 20), row(TODAY + 3 * HOUR + 1), row(TODAY + DAY + 1)], []
    )
    assert await grouped(store, group_by="hour") == [
        (TODAY // HOUR, 2),
        (TODAY // HOUR + 3, 1),
        (TODAY // HOUR + 24, 1),
    ]
    assert await grouped(store, group_by="day", since=TODAY + 15) == [
        (TODAY // DAY, 2),
        (TODAY // DAY + 1, 1),
    ]
    assert await grouped(store, group_by="minute", until=TODAY + HOUR) == [(TODAY // 60, 2)]


async def test_folded_days_fall_into_their_first_bucket(store: SqlStore) -> None:
    old = TODAY - 100 * DAY
    await store.record_usage([row(old + 5 * HOUR), row(old + 7 * HOUR), row(TODAY + 1)], [])
    await store.roll_up_usage(TODAY // DAY - 90)
    assert await grouped(store, group_by="hour") == [(old // HOUR, 2), (TODAY // HOUR, 1)]
    assert await grouped(store, group_by="day") == [(old // DAY, 2), (TODAY // DAY, 1)]
    hourly = await _count(store, "usage_hourly")
    assert hourly == 1  # the folded day's hours went with it


async def test_recent_rows_newest_first_filtered_and_paged(store: SqlStore) -> None:
    rows = [
        row(TODAY + 1),
        row(TODAY + 2, error_type="overloaded_error"),
        row(TODAY + 3, model="claude-haiku-4-5"),
        row(TODAY + 4, key_id="key-b"),
    ]
    await store.record_usage(rows, [])
    newest = await store.recent_usage(UsageQuery(), limit=3)
    assert [r.at for r in newest] == [TODAY + 4, TODAY + 3, TODAY + 2]
    assert newest[2] == rows[1]
    older = await store.recent_usage(UsageQuery(), before=newest[-1].at, limit=3)
    assert [r.at for r in older] == [TODAY + 1]
    assert [r.at for r in await store.recent_usage(UsageQuery(key_id="key-a"))] == [
        TODAY + 3,
        TODAY + 2,
        TODAY + 1,
    ]
    errors = await store.recent_usage(UsageQuery(), errors_only=True)
    assert [r.error_type for r in errors] == ["overloaded_error"]
    assert await store.recent_usage(UsageQuery(model="nothing")) == []


async def test_ttfb_percentiles(store: SqlStore) -> None:
    assert await store.ttfb_percentiles(TODAY, TODAY + DAY) is None
    rows = [row(TODAY + n, ttfb_ms=float(n)) for n in range(1, 101)]
    rows.append(row(TODAY + 200, ttfb_ms=None))
    await store.record_usage(rows, [])
    assert await store.ttfb_percentiles(TODAY, TODAY + DAY) == [50.0, 95.0]
    assert await store.ttfb_percentiles(TODAY, TODAY + 11) == [5.0, 10.0]


async def test_the_migration_totals_the_rows_already_there(store_url: str) -> None:
    await migrated_to(store_url, 7)  # before the hourly totals
    engine = create_async_engine(store_url)
    async with engine.begin() as conn:
        for at in (TODAY + 10, TODAY + HOUR + 10):
            await conn.execute(
                text(
                    "INSERT INTO usage_events (request_id, at, day, route, duration_ms)"
                    " VALUES (:id, :at, :day, '/v1/messages', 1.0)"
                ),
                {"id": f"req_{at}", "at": at, "day": int(at // DAY)},
            )
    await engine.dispose()
    store = open_store(store_url)
    await store.open()
    try:
        assert await grouped(store, group_by="hour") == [
            (TODAY // HOUR, 1),
            (TODAY // HOUR + 1, 1),
        ]
        assert await _count(store, "usage_hourly") == 2
    finally:
        await store.close()


async def _count(store: SqlStore, table: str) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT COUNT(*) FROM {table}"))).scalar_one())  # noqa: S608
