"""The store's migrations, applied when it opens, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from link_assistant_router.storage.migrations import MIGRATIONS
from link_assistant_router.storage.records import UsageQuery
from link_assistant_router.storage.sql import SqlStore, open_store
from tests.storage.conftest import make_key, migrated_to

Migrations = list[tuple[int, str, float]]


async def migrations_recorded(store: SqlStore) -> Migrations:
    async with store.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
        )
        return [(int(row[0]), str(row[1]), float(row[2])) for row in rows]


async def test_open_applies_and_records_every_migration(store: SqlStore) -> None:
    recorded = await migrations_recorded(store)
    assert [(version, name) for version, name, _ in recorded] == [
        (migration.version, migration.name) for migration in MIGRATIONS
    ]
    await store.insert_key(make_key(account="acct", group="grp"))  # the migrated columns exist


async def test_opening_again_does_not_reapply_migrations(store: SqlStore, store_url: str) -> None:
    key = make_key()
    await store.insert_key(key)
    before = await migrations_recorded(store)
    second = open_store(store_url)
    await second.open()
    try:
        assert await migrations_recorded(second) == before
        assert await second.get_key(key.id) == key
    finally:
        await second.close()


@pytest.mark.postgres
async def test_concurrent_opens_on_postgres_apply_migrations_once(postgres_url: str) -> None:
    stores = [open_store(postgres_url) for _ in range(5)]
    try:
        await asyncio.gather(*(store.open() for store in stores))
        recorded = [await migrations_recorded(store) for store in stores]
    finally:
        for store in stores:
            await store.close()
    assert [version for version, _, _ in recorded[0]] == [m.version for m in MIGRATIONS]
    assert all(seen == recorded[0] for seen in recorded)


async def test_rows_written_before_prices_report_without_cost(store_url: str) -> None:
    """A store from before prices (at migration 7) with a ledger row and a window: the
    migrations after it total the row by hour and add the cost columns (0 for old rows), and
    every report still reads it."""
    await migrated_to(store_url, 7)
    engine = create_async_engine(store_url)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO usage_events (request_id, at, day, key_id, account, model, route,"
                " input_tokens, cache_creation_input_tokens, duration_ms)"
                " VALUES ('req_old', 86400.5, 1, 'k', 'a', 'claude-sonnet-5', '/v1/messages',"
                " 10, 7, 1.0)"
            )
        )
        await conn.execute(text("INSERT INTO key_windows VALUES ('k', 'month', 86400, 17)"))
    await engine.dispose()

    store = open_store(store_url)
    await store.open()
    try:
        assert [v for v, _, _ in await migrations_recorded(store)] == [
            m.version for m in MIGRATIONS
        ]
        (totals,) = await store.usage_totals(UsageQuery())
        assert (totals["input_tokens"], totals["cache_creation_input_tokens"]) == (10, 7)
        assert (totals["cost_micros"], totals["unpriced_requests"]) == (0, 0)
        assert await store.roll_up_usage(10) == 1
        (totals,) = await store.usage_totals(UsageQuery())
        assert (totals["requests"], totals["cost_micros"]) == (1, 0)
        window = (await store.window_tokens("k"))["month"]
        assert (window.tokens, window.cost_micros) == (17, 0)
    finally:
        await store.close()
